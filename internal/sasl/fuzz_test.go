package sasl

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"
)

// The fuzz targets feed client messages to real exchanges: whatever the
// input, no panic, and either success or ErrAuthenticationFailed with the
// one fixed text.

func fuzzServer(f *testing.F) *Server {
	creds := newCreds(f, map[string]string{"alice": "pw"}, ScramSHA256, ScramSHA512)
	cfg := Config{}
	cfg.RegisterFlags(flag.NewFlagSet("f", flag.PanicOnError))
	cfg.Mechanisms = AllMechanisms
	cfg.OAuthBearer.Unsecured = true
	s, err := NewServer(cfg, creds, nil)
	if err != nil {
		f.Fatal(err)
	}
	return s
}

func checkFuzzErr(t *testing.T, mech string, err error) {
	if err == nil {
		return
	}
	if !errors.Is(err, ErrAuthenticationFailed) || err.Error() != failed(mech).Error() {
		t.Fatalf("error %q", err)
	}
}

func FuzzScramClientFirst(f *testing.F) {
	s := fuzzServer(f)
	for _, seed := range []string{
		"n,,n=alice,r=rOprNGfwEbeRWgbNEkqO",
		"n,a=alice,n=alice,r=abc",
		"y,,n=a=2Cb=3Dc,r=xyz",
		"p=tls-server-end-point,,n=alice,r=abc",
		"n,,n=alice,r=abc,ext=1",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		for _, mech := range []string{ScramSHA256, ScramSHA512} {
			ex, _ := s.Start(mech)
			reply, done, err := ex.Next(context.Background(), []byte(msg))
			if done {
				t.Fatal("authenticated by a client-first message")
			}
			checkFuzzErr(t, mech, err)
			if err == nil && !strings.HasPrefix(string(reply), "r=") {
				t.Fatalf("server-first %q", reply)
			}
		}
	})
}

func FuzzScramClientFinal(f *testing.F) {
	s := fuzzServer(f)
	f.Add("n,,n=alice,r=abc", "c=biws,r=abc%s,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
	f.Add("n,,n=alice,r=abc", "c=biws,r=abc%s,p=AAAA")
	f.Add("y,,n=alice,r=abc", "c=eSws,r=abc%s,x=1,p=AAAA")
	f.Add("n,,n=ghost,r=abc", "c=biws,r=abc%s,p=")
	f.Fuzz(func(t *testing.T, first, final string) {
		ex, _ := s.Start(ScramSHA256)
		reply, _, err := ex.Next(context.Background(), []byte(first))
		if err != nil {
			return
		}
		// Let the final message carry the server's nonce.
		nonce, _, _ := strings.Cut(strings.TrimPrefix(string(reply), "r="), ",")
		if len(nonce) > 3 {
			final = strings.Replace(final, "%s", nonce[3:], 1)
		}
		_, done, err := ex.Next(context.Background(), []byte(final))
		if done {
			t.Fatal("authenticated without the password")
		}
		checkFuzzErr(t, ScramSHA256, err)
		if err == nil {
			t.Fatal("client-final neither succeeded nor failed")
		}
	})
}

func FuzzPlain(f *testing.F) {
	s := fuzzServer(f)
	f.Add([]byte("\x00alice\x00pw"))
	f.Add([]byte("alice\x00alice\x00pw"))
	f.Add([]byte("\x00alice\x00wrong"))
	f.Add([]byte("\x00\x00"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		ex, _ := s.Start(Plain)
		_, done, err := ex.Next(context.Background(), msg)
		checkFuzzErr(t, Plain, err)
		if done {
			a, u, p, ok := ParsePlain(msg)
			if !ok || u != "alice" || p != "pw" || (a != "" && a != u) || ex.Principal() != "User:alice" {
				t.Fatalf("authenticated %q as %q", msg, ex.Principal())
			}
		}
	})
}

func FuzzOAuthBearerClientResponse(f *testing.F) {
	s := fuzzServer(f)
	tok := unsecured(map[string]any{"sub": "dev", "exp": time.Now().Add(24 * time.Hour).Unix()})
	f.Add(clientResponse("", tok))
	f.Add(clientResponse("dev", tok))
	f.Add([]byte("n,a=a=2Cb,\x01host=h\x01port=9092\x01auth=Bearer " + tok + "\x01\x01"))
	f.Add([]byte("n,,\x01auth=Bearer x\x01\x01"))
	f.Add([]byte("\x01"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		ex, _ := s.Start(OAuthBearer)
		reply, done, err := ex.Next(context.Background(), msg)
		checkFuzzErr(t, OAuthBearer, err)
		if err == nil && !done {
			if !bytes.Equal(reply, invalidTokenStatus) {
				t.Fatalf("challenge %q", reply)
			}
			_, done, err = ex.Next(context.Background(), []byte{1})
			if done || err == nil {
				t.Fatal("exchange went on after the error status")
			}
		}
		if done {
			if _, err := ParseClientResponse(msg); err != nil {
				t.Fatalf("authenticated by an unparsable response %q", msg)
			}
		}
	})
}
