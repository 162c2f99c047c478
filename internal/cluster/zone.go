package cluster

import "strings"

// zoneSeparators end a zone=NAME field inside a client id.
const zoneSeparators = ",; &|\t"

// ZoneFromClientID returns the zone a client names in its client id, as
// "zone=NAME" at the start of the id or after one of , ; space & | tab,
// up to the next of those characters: "app-1,zone=us-east-1b" and
// "zone=b" name zones us-east-1b and b. The key is matched without regard
// to case. The first non-empty zone wins; "" means none. Clients whose
// Kafka library cannot set client.rack on fetches use this to be served in
// their zone.
func ZoneFromClientID(clientID string) string {
	const key = "zone="
	for i := 0; i+len(key) <= len(clientID); i++ {
		if i > 0 && !strings.ContainsRune(zoneSeparators, rune(clientID[i-1])) {
			continue
		}
		if !strings.EqualFold(clientID[i:i+len(key)], key) {
			continue
		}
		v := clientID[i+len(key):]
		if end := strings.IndexAny(v, zoneSeparators); end >= 0 {
			v = v[:end]
		}
		if v != "" {
			return v
		}
	}
	return ""
}

// ClientZone is the zone of a client: its rack (Fetch's client.rack) when
// set, else the zone in its client id.
func ClientZone(rack, clientID string) string {
	if rack != "" {
		return rack
	}
	return ZoneFromClientID(clientID)
}
