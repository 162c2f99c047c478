package sasl

import (
	"crypto/subtle"
	"encoding/base64"
	"strings"

	"github.com/xdg-go/scram"
)

// scramFinal checks a client-final-message as Kafka's server does, and
// returns the server-final-message. It differs from RFC 5802's strict
// reading in one way clients depend on: the message's nonce must end with
// the nonce of the server-first-message, not equal it, because librdkafka
// before 2.0 sends the client nonce twice (and Kafka accepts that). The
// proof is checked over the message as sent.
//
// clientFirst is the whole client-first-message (GS2 header included),
// serverFirst the server-first-message, nonce its r attribute.
func scramFinal(mechanism string, cred scram.StoredCredentials, clientFirst, serverFirst, nonce, clientFinal string) (string, bool) {
	h, ok := scramHash(mechanism)
	if !ok {
		return "", false
	}
	gs2, bare, ok := cutGS2(clientFirst)
	if !ok {
		return "", false
	}
	i := strings.LastIndex(clientFinal, ",p=")
	if i < 0 {
		return "", false
	}
	withoutProof, proofB64 := clientFinal[:i], clientFinal[i+len(",p="):]
	var cb, r string
	for _, f := range strings.Split(withoutProof, ",") {
		switch {
		case strings.HasPrefix(f, "c="):
			cb = f[2:]
		case strings.HasPrefix(f, "r="):
			r = f[2:]
		}
	}
	if got, err := base64.StdEncoding.DecodeString(cb); err != nil || string(got) != gs2 {
		return "", false
	}
	if nonce == "" || !strings.HasSuffix(r, nonce) {
		return "", false
	}
	proof, err := base64.StdEncoding.DecodeString(proofB64)
	if err != nil || len(proof) != h().Size() {
		return "", false
	}
	authMessage := bare + "," + serverFirst + "," + withoutProof
	sig := mac(h, cred.StoredKey, authMessage)
	clientKey := make([]byte, len(proof))
	for j := range proof {
		clientKey[j] = proof[j] ^ sig[j]
	}
	sum := h()
	sum.Write(clientKey)
	if subtle.ConstantTimeCompare(sum.Sum(nil), cred.StoredKey) != 1 {
		return "", false
	}
	return "v=" + base64.StdEncoding.EncodeToString(mac(h, cred.ServerKey, authMessage)), true
}

// cutGS2 splits a client-first-message into its GS2 header ("n,," or
// "n,a=NAME,") and the bare message after it.
func cutGS2(msg string) (gs2, bare string, ok bool) {
	first := strings.IndexByte(msg, ',')
	if first < 0 {
		return "", "", false
	}
	second := strings.IndexByte(msg[first+1:], ',')
	if second < 0 {
		return "", "", false
	}
	n := first + 1 + second + 1
	return msg[:n], msg[n:], true
}

// serverNonce is the r attribute of a server-first-message.
func serverNonce(serverFirst string) string {
	for _, f := range strings.Split(serverFirst, ",") {
		if strings.HasPrefix(f, "r=") {
			return f[2:]
		}
	}
	return ""
}
