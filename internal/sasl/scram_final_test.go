package sasl

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
)

// librdkafkaFinal answers a server-first-message as librdkafka before 2.0
// does: the client-final-message's nonce is the client nonce followed by
// the whole server nonce (the client nonce twice), and the proof is over
// that message.
func librdkafkaFinal(t *testing.T, mech, bare, serverFirst, cnonce, password string, repeat bool, change func(string) string) (final string, serverSig string) {
	t.Helper()
	attrs := map[string]string{}
	for _, f := range strings.Split(serverFirst, ",") {
		attrs[f[:1]] = f[2:]
	}
	salt, err := base64.StdEncoding.DecodeString(attrs["s"])
	if err != nil {
		t.Fatal(err)
	}
	iters, _ := strconv.Atoi(attrs["i"])
	salted, err := SaltedPassword(mech, password, salt, iters)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := scramHash(mech)
	clientKey := mac(h, salted, "Client Key")
	sum := h()
	sum.Write(clientKey)
	storedKey := sum.Sum(nil)
	nonce := attrs["r"]
	if repeat {
		nonce = cnonce + nonce
	}
	if change != nil {
		nonce = change(nonce)
	}
	withoutProof := "c=biws,r=" + nonce
	authMessage := bare + "," + serverFirst + "," + withoutProof
	sig := mac(h, storedKey, authMessage)
	proof := make([]byte, len(sig))
	for i := range sig {
		proof[i] = clientKey[i] ^ sig[i]
	}
	return withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof),
		"v=" + base64.StdEncoding.EncodeToString(mac(h, mac(h, salted, "Server Key"), authMessage))
}

// TestScramRepeatedClientNonce: a client-final nonce that ends with the
// server's is accepted, as Kafka accepts it from librdkafka; one that does
// not end with it is refused.
func TestScramRepeatedClientNonce(t *testing.T) {
	for _, mech := range []string{ScramSHA256, ScramSHA512} {
		creds := newCreds(t, map[string]string{"alice": "pa55word"}, mech)
		s := testServer(t, creds)
		for _, tc := range []struct {
			name   string
			repeat bool
			nonce  func(string) string
			ok     bool
		}{
			{"exact", false, nil, true},
			{"client-nonce-repeated", true, nil, true},
			{"nonce-not-ending-with-the-servers", false, func(n string) string { return n[:len(n)-1] + "x" }, false},
		} {
			ex, _ := s.Start(mech)
			const cnonce = "fyko+d2lbbFgONR=v\\@x"
			bare := "n=alice,r=" + cnonce
			sf, done, err := ex.Next(context.Background(), []byte("n,,"+bare))
			if err != nil || done {
				t.Fatalf("%s %s: first message: done %v, %v", mech, tc.name, done, err)
			}
			final, wantSig := librdkafkaFinal(t, mech, bare, string(sf), cnonce, "pa55word", tc.repeat, tc.nonce)
			reply, done, err := ex.Next(context.Background(), []byte(final))
			if tc.ok {
				if err != nil || !done || !hmac.Equal(reply, []byte(wantSig)) || ex.Principal() != "User:alice" {
					t.Errorf("%s %s: done %v, err %v, reply %q (want %q)", mech, tc.name, done, err, reply, wantSig)
				}
			} else if err == nil || done {
				t.Errorf("%s %s: accepted", mech, tc.name)
			}
		}
	}
}
