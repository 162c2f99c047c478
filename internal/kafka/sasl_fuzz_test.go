package kafka

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/sasl"
	"github.com/stratalog/strata/metastore"
)

// FuzzSASLDispatch feeds arbitrary input to a connection of a
// SASL_PLAINTEXT listener, through the real dispatch: SaslHandshake in both
// framings, SaslAuthenticate with PLAIN, SCRAM and OAUTHBEARER messages,
// raw v0 tokens, and requests before and after authentication. Whatever
// comes, the server logs no error, closes the connection when the client
// goes, and writes only whole frames.
//
//	go test -run '^$' -fuzz FuzzSASLDispatch -fuzztime 60s ./internal/kafka/
func FuzzSASLDispatch(f *testing.F) {
	for _, s := range saslSeeds() {
		f.Add(s)
	}
	s, catcher := newSASLDispatchServer(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		conn := &fuzzConn{in: bytes.NewReader(data)}
		s.serveConn(conn)
		if msgs := catcher.take(); len(msgs) > 0 {
			t.Fatalf("server logged errors: %v", msgs)
		}
		if !conn.closed {
			t.Fatal("connection not closed after the client went away")
		}
		out := conn.out.Bytes()
		for len(out) > 0 {
			if len(out) < 4 {
				t.Fatalf("%d bytes left, not a frame", len(out))
			}
			n := binary.BigEndian.Uint32(out)
			if uint64(n) > uint64(len(out)-4) {
				t.Fatalf("frame of %d bytes with %d left", n, len(out)-4)
			}
			out = out[4+n:]
		}
	})
}

// TestSASLDispatchSeeds: the seeds authenticate and reach a request behind
// the gate, so that fuzzing starts from exchanges that work.
func TestSASLDispatchSeeds(t *testing.T) {
	s, catcher := newSASLDispatchServer(t)
	for i, seed := range saslSeeds()[:2] {
		conn := &fuzzConn{in: bytes.NewReader(seed)}
		s.serveConn(conn)
		if msgs := catcher.take(); len(msgs) > 0 {
			t.Fatalf("seed %d: server logged errors: %v", i, msgs)
		}
		// ApiVersions, SaslHandshake, SaslAuthenticate and Metadata are
		// all answered: four frames.
		out, frames := conn.out.Bytes(), 0
		for len(out) >= 4 {
			out = out[4+binary.BigEndian.Uint32(out):]
			frames++
		}
		if frames != 4 {
			t.Errorf("seed %d: %d responses, want 4 (the exchange and a Metadata behind it)", i, frames)
		}
	}
}

// newSASLDispatchServer is newDispatchServer with one SASL_PLAINTEXT
// listener offering every mechanism (OAUTHBEARER unsecured), a user
// alice, and no delay after failures, so that fuzzing stays fast.
func newSASLDispatchServer(tb testing.TB) (*Server, *errorCatcher) {
	s, catcher := newDispatchServer(tb, func(c *Config) {
		c.Listeners = "SASL_PLAINTEXT://127.0.0.1:0"
		c.SASL.Mechanisms = sasl.AllMechanisms
		c.SASL.OAuthBearer.Unsecured = true
	})
	srv, err := sasl.NewServer(s.cfg.SASL, s.meta.(sasl.Credentials), nil)
	if err != nil {
		tb.Fatal(err)
	}
	s.sasl = srv
	s.authFailures = &failureDelay{m: map[string]*addrFailures{}} // no delay
	c, err := sasl.NewCredential(sasl.ScramSHA256, "alice", "alice-secret", 4096)
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.meta.(interface {
		UpsertScramCredential(context.Context, metastore.ScramCredential) error
	}).UpsertScramCredential(context.Background(), c); err != nil {
		tb.Fatal(err)
	}
	return s, catcher
}

// saslSeeds are inputs that authenticate (PLAIN with SaslAuthenticate;
// PLAIN in the v0 framing) and then ask for Metadata, and the first steps
// of the other mechanisms.
func saslSeeds() [][]byte {
	frame := func(req kmsg.Request, v int16, corr int32) []byte {
		req.SetVersion(v)
		return encodeRequest(req, corr)
	}
	handshake := func(v int16, mech string) []byte {
		r := kmsg.NewPtrSASLHandshakeRequest()
		r.Mechanism = mech
		return frame(r, v, 2)
	}
	authenticate := func(token string) []byte {
		r := kmsg.NewPtrSASLAuthenticateRequest()
		r.SASLAuthBytes = []byte(token)
		return frame(r, 2, 3)
	}
	apiVersions := frame(kmsg.NewPtrApiVersionsRequest(), 0, 1)
	metadata := frame(kmsg.NewPtrMetadataRequest(), 9, 4)
	raw := func(token string) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(token))), token...)
	}
	join := func(parts ...[]byte) []byte {
		var out []byte
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	plainToken := "\x00alice\x00alice-secret"
	return [][]byte{
		join(apiVersions, handshake(1, sasl.Plain), authenticate(plainToken), metadata),
		join(apiVersions, handshake(0, sasl.Plain), raw(plainToken), metadata),
		join(handshake(1, sasl.Plain), authenticate("\x00alice\x00wrong"), metadata),
		join(handshake(1, sasl.ScramSHA256), authenticate("n,,n=alice,r=rOprNGfwEbeRWgbNEkqO"), authenticate("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")),
		join(handshake(1, sasl.ScramSHA512), authenticate("n,,n=alice,r=abc")),
		join(handshake(1, sasl.OAuthBearer), authenticate("n,,\x01auth=Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.\x01\x01"), metadata),
		join(handshake(1, sasl.OAuthBearer), authenticate("n,a=bob,\x01auth=Bearer x\x01\x01"), authenticate("\x01")),
		join(metadata),
	}
}
