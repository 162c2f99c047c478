package sasl

import (
	"context"
	"errors"
	"flag"
	"strings"
	"sync"
	"testing"

	"github.com/xdg-go/scram"

	"github.com/stratalog/strata/metastore"
)

// memCreds is a credential table for the package's own tests; the
// metastore backends are tested against the same interface in
// metastore/metastoretest.
type memCreds struct {
	mu sync.Mutex
	m  map[[2]string]metastore.ScramCredential
}

func (c *memCreds) ScramCredential(_ context.Context, user, mech string) (metastore.ScramCredential, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[[2]string{user, mech}]
	if !ok {
		return metastore.ScramCredential{}, metastore.ErrUnknownScramCredential
	}
	return v, nil
}

func newCreds(t testing.TB, users map[string]string, mechs ...string) *memCreds {
	t.Helper()
	c := &memCreds{m: map[[2]string]metastore.ScramCredential{}}
	for u, p := range users {
		for _, m := range mechs {
			cr, err := NewCredential(m, u, p, MinIterations)
			if err != nil {
				t.Fatal(err)
			}
			c.m[[2]string{u, m}] = cr
		}
	}
	return c
}

func testServer(t testing.TB, creds Credentials, mechs ...string) *Server {
	t.Helper()
	cfg := Config{}
	cfg.RegisterFlags(flag.NewFlagSet("t", flag.PanicOnError))
	if mechs != nil {
		cfg.Mechanisms = mechs
	}
	s, err := NewServer(cfg, creds, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkFailure asserts err is an authentication failure whose text gives
// nothing away.
func checkFailure(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if !errors.Is(err, ErrAuthenticationFailed) {
		t.Fatalf("err = %v, want ErrAuthenticationFailed", err)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Fatalf("error %q contains %q", err, s)
		}
	}
}

func TestPlain(t *testing.T) {
	creds := newCreds(t, map[string]string{"alice": "s3cret-pass", "bob": "other"}, ScramSHA512)
	// bob has only a SHA-256 credential.
	cr, _ := NewCredential(ScramSHA256, "carol", "carol-pass", MinIterations)
	creds.m[[2]string{"carol", ScramSHA256}] = cr
	s := testServer(t, creds)
	ctx := context.Background()

	for _, tc := range []struct {
		name, msg, principal string
	}{
		{"ok", "\x00alice\x00s3cret-pass", "User:alice"},
		{"authzid same", "alice\x00alice\x00s3cret-pass", "User:alice"},
		{"sha256 only", "\x00carol\x00carol-pass", "User:carol"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ex, err := s.Start(Plain)
			if err != nil {
				t.Fatal(err)
			}
			_, done, err := ex.Next(ctx, []byte(tc.msg))
			if err != nil || !done || ex.Principal() != tc.principal {
				t.Fatalf("done=%v err=%v principal=%q", done, err, ex.Principal())
			}
		})
	}
	for _, tc := range []struct{ name, msg string }{
		{"wrong password", "\x00alice\x00wrong"},
		{"unknown user", "\x00mallory\x00s3cret-pass"},
		{"other authzid", "bob\x00alice\x00s3cret-pass"},
		{"two fields", "alice\x00s3cret-pass"},
		{"four fields", "\x00alice\x00s3cret-pass\x00"},
		{"empty password", "\x00alice\x00"},
		{"empty", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ex, _ := s.Start(Plain)
			_, done, err := ex.Next(ctx, []byte(tc.msg))
			if done || ex.Principal() != "" {
				t.Fatal("authenticated")
			}
			checkFailure(t, err, "s3cret-pass", "wrong", "mallory", "alice")
		})
	}
	// The same error, whatever was wrong.
	var texts []string
	for _, msg := range []string{"\x00alice\x00wrong", "\x00mallory\x00x", "garbage"} {
		ex, _ := s.Start(Plain)
		_, _, err := ex.Next(ctx, []byte(msg))
		texts = append(texts, err.Error())
	}
	if texts[0] != texts[1] || texts[1] != texts[2] {
		t.Fatalf("errors differ: %q", texts)
	}
}

func TestUnsupportedMechanism(t *testing.T) {
	s := testServer(t, newCreds(t, nil), ScramSHA256)
	if _, err := s.Start(Plain); !errors.Is(err, ErrUnsupportedMechanism) {
		t.Fatalf("PLAIN: %v", err)
	}
	if _, err := s.Start("GSSAPI"); !errors.Is(err, ErrUnsupportedMechanism) {
		t.Fatalf("GSSAPI: %v", err)
	}
	if got := s.Mechanisms(); len(got) != 1 || got[0] != ScramSHA256 {
		t.Fatalf("Mechanisms() = %v", got)
	}
}

// scramClient runs xdg-go/scram's client against ex.
func scramClient(t *testing.T, ex Exchange, mech, user, pass string) (done bool, err error) {
	t.Helper()
	fcn := scram.SHA256
	if mech == ScramSHA512 {
		fcn = scram.SHA512
	}
	cl, cerr := fcn.NewClientUnprepped(user, pass, "")
	if cerr != nil {
		t.Fatal(cerr)
	}
	conv := cl.NewConversation()
	msg, cerr := conv.Step("")
	if cerr != nil {
		t.Fatal(cerr)
	}
	ctx := context.Background()
	for {
		reply, done, err := ex.Next(ctx, []byte(msg))
		if err != nil || done {
			if done {
				// The client checks the server's signature.
				if _, cerr := conv.Step(string(reply)); cerr != nil || !conv.Valid() {
					t.Fatalf("client rejects the server's final message %q: %v", reply, cerr)
				}
			}
			return done, err
		}
		msg, cerr = conv.Step(string(reply))
		if cerr != nil {
			t.Fatalf("client step: %v", cerr)
		}
	}
}

func TestScram(t *testing.T) {
	for _, mech := range []string{ScramSHA256, ScramSHA512} {
		t.Run(mech, func(t *testing.T) {
			creds := newCreds(t, map[string]string{"alice": "pa55word", "a,b=c": "x"}, mech)
			s := testServer(t, creds)
			ex, _ := s.Start(mech)
			if done, err := scramClient(t, ex, mech, "alice", "pa55word"); !done || err != nil {
				t.Fatalf("done=%v err=%v", done, err)
			}
			if ex.Principal() != "User:alice" || !ex.Expiry().IsZero() {
				t.Fatalf("principal %q expiry %v", ex.Principal(), ex.Expiry())
			}
			// A user name with the characters SCRAM escapes.
			ex, _ = s.Start(mech)
			if done, err := scramClient(t, ex, mech, "a,b=c", "x"); !done || err != nil || ex.Principal() != "User:a,b=c" {
				t.Fatalf("escaped name: done=%v err=%v principal=%q", done, err, ex.Principal())
			}

			ex, _ = s.Start(mech)
			done, err := scramClient(t, ex, mech, "alice", "wrong")
			if done {
				t.Fatal("wrong password accepted")
			}
			checkFailure(t, err, "wrong", "pa55word")
			wrongText := err.Error()

			ex, _ = s.Start(mech)
			done, err = scramClient(t, ex, mech, "mallory", "pa55word")
			if done {
				t.Fatal("unknown user accepted")
			}
			checkFailure(t, err, "mallory", "pa55word")
			if err.Error() != wrongText {
				t.Fatalf("unknown user %q, wrong password %q", err, wrongText)
			}
			// The other SCRAM mechanism has no credential for alice.
			other := ScramSHA512
			if mech == ScramSHA512 {
				other = ScramSHA256
			}
			ex, _ = s.Start(other)
			if done, err := scramClient(t, ex, other, "alice", "pa55word"); done || err == nil {
				t.Fatal("authenticated with a mechanism without a credential")
			}
		})
	}
}

// An unknown user's salt is the same on every attempt, as a known user's.
func TestScramUnknownUserSaltStable(t *testing.T) {
	s := testServer(t, newCreds(t, nil))
	first := func() string {
		ex, _ := s.Start(ScramSHA256)
		reply, _, err := ex.Next(context.Background(), []byte("n,,n=ghost,r=abcdefgh"))
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(string(reply), ",")
		return parts[1] + "," + parts[2]
	}
	if a, b := first(), first(); a != b {
		t.Fatalf("salts differ: %q %q", a, b)
	}
}

func TestScramBadMessages(t *testing.T) {
	creds := newCreds(t, map[string]string{"alice": "pw"}, ScramSHA256)
	s := testServer(t, creds)
	ctx := context.Background()
	for _, first := range []string{"", "garbage", "p=tls-unique,,n=alice,r=abc", "n,a=bob,n=alice,r=abc", "n,,n=alice", "n,,m=ext,n=alice,r=abc"} {
		ex, _ := s.Start(ScramSHA256)
		if _, done, err := ex.Next(ctx, []byte(first)); err == nil || done {
			t.Errorf("client-first %q accepted", first)
		} else {
			checkFailure(t, err)
		}
	}
	ex, _ := s.Start(ScramSHA256)
	if _, _, err := ex.Next(ctx, []byte("n,,n=alice,r=abc")); err != nil {
		t.Fatal(err)
	}
	if _, done, err := ex.Next(ctx, []byte("c=biws,r=abc,p=AAAA")); err == nil || done {
		t.Fatal("bad client-final accepted")
	}
	if _, done, err := ex.Next(ctx, []byte("c=biws")); err == nil || done {
		t.Fatal("message after failure accepted")
	}
}

func TestCredentialBounds(t *testing.T) {
	for _, it := range []int{1, MinIterations - 1, MaxIterations + 1} {
		if _, err := NewCredential(ScramSHA256, "u", "p", it); !errors.Is(err, ErrUnacceptableCredential) {
			t.Errorf("iterations %d: %v", it, err)
		}
	}
	if _, err := NewCredential(ScramSHA256, "u", "", 0); !errors.Is(err, ErrUnacceptableCredential) {
		t.Errorf("empty password: %v", err)
	}
	if _, err := NewCredential("SCRAM-SHA-1", "u", "p", 0); !errors.Is(err, ErrUnsupportedMechanism) {
		t.Errorf("SHA-1: %v", err)
	}
}

// RFC 7677's test vector: user "user", password "pencil".
func TestScramRFC7677Vector(t *testing.T) {
	salt := "W22ZaJ0SNY7soEsUEjb6gQ=="
	creds := &memCreds{m: map[[2]string]metastore.ScramCredential{}}
	saltB, _ := b64(salt)
	salted, err := SaltedPassword(ScramSHA256, "pencil", saltB, 4096)
	if err != nil {
		t.Fatal(err)
	}
	c, err := CredentialFromSaltedPassword(ScramSHA256, "user", saltB, salted, 4096)
	if err != nil {
		t.Fatal(err)
	}
	creds.m[[2]string{"user", ScramSHA256}] = c
	s := testServer(t, creds)
	ex, _ := s.Start(ScramSHA256)
	sx := ex.(*scramExchange)
	sx.conv = nil
	// Replace the server nonce with RFC 7677's.
	srv, _ := scram.SHA256.NewServer(sx.lookup)
	sx.conv = srv.WithNonceGenerator(func() string { return "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0" }).NewConversation()
	ctx := context.Background()
	r1, _, err := ex.Next(ctx, []byte("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"))
	if err != nil || string(r1) != "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s="+salt+",i=4096" {
		t.Fatalf("server-first %q %v", r1, err)
	}
	r2, done, err := ex.Next(ctx, []byte("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="))
	if err != nil || !done || string(r2) != "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=" {
		t.Fatalf("server-final %q done=%v %v", r2, done, err)
	}
}
