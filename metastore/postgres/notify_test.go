package postgres

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestNotificationRoundTrip(t *testing.T) {
	a := uuid.MustParse("0f8e1c2d-3b4a-5968-7788-99aabbccddee")
	b := uuid.MustParse("10000000-0000-0000-0000-000000000001")
	hws := []HighWatermark{{a, 0, 120}, {a, 3, 98}, {b, 2, 5}, {b, 2147483647, 9223372036854775807}}
	payloads := encodeNotifications(hws, maxNotifyPayload)
	want := "0f8e1c2d3b4a5968778899aabbccddee/0:120,3:98;10000000000000000000000000000001/2:5,2147483647:9223372036854775807"
	if len(payloads) != 1 || payloads[0] != want {
		t.Fatalf("payloads %q, want %q", payloads, want)
	}
	got, err := ParseNotification(payloads[0])
	if err != nil || !slices.Equal(got, hws) {
		t.Fatalf("ParseNotification = %v, %v; want %v", got, err, hws)
	}
	if p := encodeNotifications(nil, maxNotifyPayload); len(p) != 0 {
		t.Errorf("no high watermarks encode to %q", p)
	}
}

func TestNotificationSplit(t *testing.T) {
	var hws []HighWatermark
	for topic := range 5 {
		id := uuid.New()
		for p := range int32(400 * (topic + 1)) {
			hws = append(hws, HighWatermark{id, p, int64(p) * 1_000_003})
		}
	}
	payloads := encodeNotifications(hws, maxNotifyPayload)
	if len(payloads) < 2 {
		t.Fatalf("%d high watermarks in %d payload(s)", len(hws), len(payloads))
	}
	var all []HighWatermark
	for _, p := range payloads {
		if len(p) > maxNotifyPayload {
			t.Errorf("payload of %d bytes, limit %d", len(p), maxNotifyPayload)
		}
		got, err := ParseNotification(p)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, got...)
	}
	if !slices.Equal(all, hws) {
		t.Errorf("split payloads decode to %d high watermarks, want the %d encoded", len(all), len(hws))
	}
}

func TestParseNotificationRejects(t *testing.T) {
	id := "0f8e1c2d3b4a5968778899aabbccddee"
	for _, bad := range []string{
		"",
		id,
		id + "/",
		id + "/1",
		id + "/1:",
		id + "/:1",
		id + "/-1:5",
		id + "/1:-5",
		id + "/+1:5",
		id + "/01:5",
		id + "/1:05",
		id + "/2147483648:5",
		id + "/1:9223372036854775808",
		id + "/1:5,",
		id + "/1:5;",
		strings.ToUpper(id) + "/1:5",
		id[:31] + "/1:5",
		id[:31] + "g/1:5",
		"0f8e1c2d-3b4a-5968-7788-99aabbccddee/1:5",
	} {
		if hws, err := ParseNotification(bad); err == nil {
			t.Errorf("ParseNotification(%q) = %v, want an error", bad, hws)
		}
	}
}

// FuzzParseNotification checks that whatever parses re-encodes to a payload
// that parses to the same high watermarks, and that a payload whose groups
// name distinct consecutive topics is the canonical encoding of its result.
func FuzzParseNotification(f *testing.F) {
	f.Add("0f8e1c2d3b4a5968778899aabbccddee/0:120,3:98;10000000000000000000000000000001/2:5")
	f.Add("0f8e1c2d3b4a5968778899aabbccddee/0:0;0f8e1c2d3b4a5968778899aabbccddee/1:1")
	f.Add("00000000000000000000000000000000/2147483647:9223372036854775807")
	f.Add("x/1:2")
	f.Fuzz(func(t *testing.T, payload string) {
		hws, err := ParseNotification(payload)
		if err != nil {
			return
		}
		if len(hws) == 0 {
			t.Fatal("parsed a payload with no high watermark")
		}
		if len(hws) > len(payload)/4 {
			t.Fatalf("%d high watermarks from %d bytes", len(hws), len(payload))
		}
		for _, hw := range hws {
			if hw.Partition < 0 || hw.NextOffset < 0 {
				t.Fatalf("negative value parsed: %+v", hw)
			}
		}
		re := encodeNotifications(hws, len(payload)+64)
		if len(re) != 1 {
			t.Fatalf("re-encoded into %d payloads", len(re))
		}
		again, err := ParseNotification(re[0])
		if err != nil || !slices.Equal(again, hws) {
			t.Fatalf("re-encoded %q parses to %v, %v; want %v", re[0], again, err, hws)
		}
		groups := strings.Split(payload, ";")
		distinct := true
		for i := 1; i < len(groups); i++ {
			if groups[i][:32] == groups[i-1][:32] {
				distinct = false
			}
		}
		if distinct && re[0] != payload {
			t.Fatalf("canonical payload %q re-encoded as %q", payload, re[0])
		}
	})
}
