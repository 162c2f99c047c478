package kafka

import (
	"context"
	"errors"
	"flag"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/xdg-go/scram"

	"github.com/stratalog/strata/internal/sasl"
	"github.com/stratalog/strata/metastore"
)

// withScramStore is a startServer option: serve the SCRAM credential APIs
// from the test's metastore, as internal/app wires them.
func withScramStore(s *Server) {
	s.scram = s.meta.(metastore.ScramStore)
	for k, h := range registry {
		if h.needs&needScram != 0 {
			s.handlers[k] = h
		}
	}
}

func TestScramCredentialAPIsAdvertised(t *testing.T) {
	for _, with := range []bool{false, true} {
		opts := []any{noDataPath{}}
		if with {
			opts = append(opts, withScramStore)
		}
		s := startServer(t, opts...)
		_, adm := s.clients(t)
		vs, err := adm.ApiVersions(testContext(t))
		if err != nil {
			t.Fatal(err)
		}
		v := vs[testNodeID]
		for _, key := range []kmsg.Key{kmsg.DescribeUserSCRAMCredentials, kmsg.AlterUserSCRAMCredentials} {
			lo, hi, ok := v.KeyVersions(key.Int16())
			if ok != with || (ok && (lo != 0 || hi != 0)) {
				t.Errorf("with store %v: %s advertised %v %d-%d", with, key.Name(), ok, lo, hi)
			}
		}
	}
}

func TestScramCredentialsWithKadm(t *testing.T) {
	s := startServer(t, noDataPath{}, withScramStore)
	_, adm := s.clients(t)
	ctx := testContext(t)

	// Nothing yet: describing everyone is an empty answer, a named user
	// RESOURCE_NOT_FOUND.
	all, err := adm.DescribeUserSCRAMs(ctx)
	if err != nil || len(all) != 0 {
		t.Fatalf("empty describe: %v %v", all, err)
	}
	d, err := adm.DescribeUserSCRAMs(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(d["alice"].Err, kerr.ResourceNotFound) {
		t.Fatalf("unknown user: %+v", d["alice"])
	}

	res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "alice", Mechanism: kadm.ScramSha512, Iterations: 8192, Password: "alice-secret"},
		{User: "alice", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "alice-secret"},
		{User: "bob", Mechanism: kadm.ScramSha256, Password: "bob-secret"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Error(); err != nil || len(res) != 2 {
		t.Fatalf("upsert: %+v %v", res, err)
	}
	all, err = adm.DescribeUserSCRAMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || len(all["alice"].CredInfos) != 2 || len(all["bob"].CredInfos) != 1 {
		t.Fatalf("describe all: %+v", all)
	}
	got := map[kadm.ScramMechanism]int32{}
	for _, ci := range all["alice"].CredInfos {
		got[ci.Mechanism] = ci.Iterations
	}
	if got[kadm.ScramSha512] != 8192 || got[kadm.ScramSha256] != 4096 {
		t.Fatalf("alice's credentials: %+v", got)
	}
	// The stored credential is the salt and keys, never the password or
	// the salted password.
	stored, err := s.store.ScramCredential(ctx, "alice", sasl.ScramSHA512)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]byte{stored.Salt, stored.StoredKey, stored.ServerKey} {
		if string(b) == "alice-secret" {
			t.Fatal("password stored")
		}
	}

	// What kadm stored authenticates with the server side of SCRAM and
	// PLAIN: the salted password the client sent became the right keys.
	var cfg sasl.Config
	cfg.RegisterFlags(flag.NewFlagSet("t", flag.PanicOnError))
	srv, err := sasl.NewServer(cfg, s.store, nil)
	if err != nil {
		t.Fatal(err)
	}
	scramLogin(t, srv, sasl.ScramSHA512, scram.SHA512, "alice", "alice-secret", true)
	scramLogin(t, srv, sasl.ScramSHA256, scram.SHA256, "bob", "bob-secret", true)
	scramLogin(t, srv, sasl.ScramSHA256, scram.SHA256, "bob", "alice-secret", false)
	ex, _ := srv.Start(sasl.Plain)
	if _, done, err := ex.Next(ctx, []byte("\x00alice\x00alice-secret")); !done || err != nil {
		t.Fatalf("PLAIN with a kadm-made credential: %v", err)
	}

	// Per-user errors, nothing applied for a user with an invalid
	// alteration; other users go through.
	res, err = adm.AlterUserSCRAMs(ctx,
		[]kadm.DeleteSCRAM{
			{User: "bob", Mechanism: kadm.ScramSha512},   // does not exist
			{User: "alice", Mechanism: kadm.ScramSha256}, // fine
		},
		[]kadm.UpsertSCRAM{
			{User: "bob", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "new-bob"},
			{User: "carol", Mechanism: kadm.ScramSha256, Iterations: 1000, Salt: []byte("salt"), SaltedPassword: []byte("salted")},
			{User: "dave", Mechanism: kadm.ScramSha256, Iterations: 20000, Salt: []byte("salt"), SaltedPassword: []byte("salted")},
		})
	if err != nil {
		t.Fatal(err)
	}
	wantErr := map[string]error{"bob": kerr.ResourceNotFound, "alice": nil, "carol": kerr.UnacceptableCredential, "dave": kerr.UnacceptableCredential}
	for user, want := range wantErr {
		if r, ok := res[user]; !ok || !errors.Is(r.Err, want) || (want == nil && r.Err != nil) {
			t.Errorf("%s: %+v, want %v", user, r, want)
		}
	}
	scramLogin(t, srv, sasl.ScramSHA256, scram.SHA256, "bob", "bob-secret", true) // unchanged
	if _, err := s.store.ScramCredential(ctx, "alice", sasl.ScramSHA256); !errors.Is(err, metastore.ErrUnknownScramCredential) {
		t.Fatalf("alice's SHA-256 credential not deleted: %v", err)
	}
	for _, u := range []string{"carol", "dave"} {
		if c, _ := s.store.ScramCredentials(ctx, []string{u}); len(c) != 0 {
			t.Errorf("%s stored despite the error", u)
		}
	}

	// Describing the same user twice; a known and an unknown user.
	req := kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()
	for _, n := range []string{"alice", "alice", "bob", "nobody"} {
		u := kmsg.NewDescribeUserSCRAMCredentialsRequestUser()
		u.Name = n
		req.Users = append(req.Users, u)
	}
	cl, _ := s.clients(t)
	dresp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]int16{}
	for _, r := range dresp.Results {
		codes[r.User] = r.ErrorCode
	}
	if len(dresp.Results) != 3 || codes["alice"] != kerr.DuplicateResource.Code || codes["bob"] != 0 || codes["nobody"] != kerr.ResourceNotFound.Code {
		t.Fatalf("describe results %+v", dresp.Results)
	}
}

// kadm checks mechanisms and duplicates less than the broker must; these
// go on the wire as a raw request.
func TestAlterScramCredentialsRawErrors(t *testing.T) {
	s := startServer(t, noDataPath{}, withScramStore)
	cl, _ := s.clients(t)
	ctx := testContext(t)
	up := func(name string, mech int8) kmsg.AlterUserSCRAMCredentialsRequestUpsertion {
		u := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
		u.Name, u.Mechanism, u.Iterations = name, mech, 4096
		u.Salt, u.SaltedPassword = []byte("0123456789"), make([]byte, 32)
		return u
	}
	del := func(name string, mech int8) kmsg.AlterUserSCRAMCredentialsRequestDeletion {
		d := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
		d.Name, d.Mechanism = name, mech
		return d
	}
	req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	req.Upsertions = append(req.Upsertions, up("u-mech", 3), up("u-dup", 1), up("u-dup", 1), up("u-ok", 2), up("", 1), up("u-both", 1))
	empty := up("u-empty-salt", 1)
	empty.Salt = nil
	req.Upsertions = append(req.Upsertions, empty)
	req.Deletions = append(req.Deletions, del("u-both", 1), del("u-unknown-mech", 0))
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int16{
		"u-mech":         kerr.UnsupportedSaslMechanism.Code,
		"u-unknown-mech": kerr.UnsupportedSaslMechanism.Code,
		"u-dup":          kerr.DuplicateResource.Code,
		"u-both":         kerr.DuplicateResource.Code,
		"u-ok":           0,
		"":               kerr.UnacceptableCredential.Code,
		"u-empty-salt":   kerr.UnacceptableCredential.Code,
	}
	if len(resp.Results) != len(want) {
		t.Fatalf("%d results, want %d: %+v", len(resp.Results), len(want), resp.Results)
	}
	for _, r := range resp.Results {
		if w, ok := want[r.User]; !ok || r.ErrorCode != w {
			t.Errorf("%q: code %d (%v), want %d", r.User, r.ErrorCode, r.ErrorMessage, w)
		}
	}
	all, err := s.store.ScramCredentials(ctx, nil)
	if err != nil || len(all) != 1 || all[0].User != "u-ok" || all[0].Mechanism != sasl.ScramSHA512 {
		t.Fatalf("stored %+v %v", all, err)
	}
}

func scramLogin(t *testing.T, srv *sasl.Server, mech string, fcn scram.HashGeneratorFcn, user, pass string, wantOK bool) {
	t.Helper()
	cl, err := fcn.NewClientUnprepped(user, pass, "")
	if err != nil {
		t.Fatal(err)
	}
	conv := cl.NewConversation()
	ex, err := srv.Start(mech)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := conv.Step("")
	ctx := context.Background()
	reply, _, err := ex.Next(ctx, []byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	msg, err = conv.Step(string(reply))
	if err != nil {
		t.Fatal(err)
	}
	_, done, err := ex.Next(ctx, []byte(msg))
	if done != wantOK || (err == nil) != wantOK {
		t.Fatalf("%s %s: done %v err %v, want ok %v", mech, user, done, err, wantOK)
	}
	if done && ex.Principal() != "User:"+user {
		t.Fatalf("principal %q", ex.Principal())
	}
}
