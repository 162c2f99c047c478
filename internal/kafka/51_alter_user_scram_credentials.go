package kafka

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
	"github.com/stratalog/strata/internal/sasl"
	"github.com/stratalog/strata/metastore"
)

// AlterUserScramCredentials v0: creates, replaces and deletes SCRAM
// credentials. The client sends the salt and the salted password, never
// the password; the broker keeps only the stored and server keys derived
// from them. As in Kafka, each user named gets one result, and a user's
// alterations are applied only when all of them are valid: an empty name
// or salt is UNACCEPTABLE_CREDENTIAL, an unknown mechanism
// UNSUPPORTED_SASL_MECHANISM, fewer than 4096 or more than 16384
// iterations UNACCEPTABLE_CREDENTIAL, the same (user, mechanism) twice
// DUPLICATE_RESOURCE, and deleting a credential that does not exist
// RESOURCE_NOT_FOUND.
func init() {
	registerNeeding(kmsg.AlterUserSCRAMCredentials.Int16(), 0, 0, needScram, (*Server).handleAlterUserScram)
}

// userAlteration is one user's part of the request.
type userAlteration struct {
	code    int16
	msg     string
	deletes []string // mechanisms
	upserts []metastore.ScramCredential
}

func (u *userAlteration) fail(err *kerr.Error, msg string) {
	if u.code == 0 {
		u.code, u.msg = err.Code, msg
	}
}

func (s *Server) handleAlterUserScram(ctx context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.AlterUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
	// As Kafka: Alter on the cluster, else every user named fails.
	if !s.authz(r).cluster(acl.OpAlter) {
		seen := map[string]bool{}
		for _, name := range append(scramDeletionNames(req), scramUpsertionNames(req)...) {
			if seen[name] {
				continue
			}
			seen[name] = true
			res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
			res.User, res.ErrorCode = name, kerr.ClusterAuthorizationFailed.Code
			res.ErrorMessage = strPtr("not authorized to alter SCRAM credentials")
			resp.Results = append(resp.Results, res)
		}
		return respond(resp)
	}

	var order []string
	users := map[string]*userAlteration{}
	seen := map[[2]string]int{}
	get := func(name string) *userAlteration {
		u, ok := users[name]
		if !ok {
			u = &userAlteration{}
			users[name] = u
			order = append(order, name)
		}
		return u
	}
	check := func(u *userAlteration, name string, code int8) (string, bool) {
		if name == "" {
			u.fail(kerr.UnacceptableCredential, "username must not be empty")
			return "", false
		}
		mech := scramMechanismName(code)
		if mech == "" {
			u.fail(kerr.UnsupportedSaslMechanism, "unknown SCRAM mechanism")
			return "", false
		}
		key := [2]string{name, mech}
		seen[key]++
		if seen[key] > 1 {
			u.fail(kerr.DuplicateResource, "a user credential cannot be altered twice in the same request")
			return "", false
		}
		return mech, true
	}
	for _, d := range req.Deletions {
		u := get(d.Name)
		if mech, ok := check(u, d.Name, d.Mechanism); ok {
			u.deletes = append(u.deletes, mech)
		}
	}
	for _, up := range req.Upsertions {
		u := get(up.Name)
		mech, ok := check(u, up.Name, up.Mechanism)
		if !ok {
			continue
		}
		switch {
		case up.Iterations < sasl.MinIterations:
			u.fail(kerr.UnacceptableCredential, "too few iterations")
			continue
		case up.Iterations > sasl.MaxIterations:
			u.fail(kerr.UnacceptableCredential, "too many iterations")
			continue
		}
		c, err := sasl.CredentialFromSaltedPassword(mech, up.Name, up.Salt, up.SaltedPassword, int(up.Iterations))
		if err != nil {
			u.fail(kerr.UnacceptableCredential, "salt and salted password must not be empty")
			continue
		}
		u.upserts = append(u.upserts, c)
	}

	for _, name := range order {
		u := users[name]
		if u.code == 0 {
			s.applyScramAlteration(ctx, r, name, u)
		}
		res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		res.User = name
		res.ErrorCode = u.code
		if u.msg != "" {
			res.ErrorMessage = strPtr(u.msg)
		}
		resp.Results = append(resp.Results, res)
	}
	return respond(resp)
}

// applyScramAlteration writes one user's valid alterations. Deletions of
// credentials that do not exist fail the user's whole alteration, checked
// before anything is written.
func (s *Server) applyScramAlteration(ctx context.Context, r *request, name string, u *userAlteration) {
	unavailable := func(err error) {
		code, msg := s.errorCodeMessage("AlterUserScramCredentials", err)
		if u.code == 0 {
			u.code, u.msg = code, *msg
		}
	}
	for _, mech := range u.deletes {
		if _, err := s.scram.ScramCredential(ctx, name, mech); errors.Is(err, metastore.ErrUnknownScramCredential) {
			u.fail(kerr.ResourceNotFound, "attempt to delete a user credential that does not exist")
			return
		} else if err != nil {
			unavailable(err)
			return
		}
	}
	for _, mech := range u.deletes {
		err := s.scram.DeleteScramCredential(ctx, name, mech)
		if errors.Is(err, metastore.ErrUnknownScramCredential) {
			// Deleted meanwhile by another request: the outcome is the same.
			err = nil
		}
		if err != nil {
			unavailable(err)
			return
		}
		s.audit.Info("SCRAM credential deleted", "principal", r.principal(), "address", r.conn.nc.RemoteAddr().String(),
			"user", name, "mechanism", mech)
	}
	for _, c := range u.upserts {
		if err := s.scram.UpsertScramCredential(ctx, c); err != nil {
			unavailable(err)
			return
		}
		s.audit.Info("SCRAM credential set", "principal", r.principal(), "address", r.conn.nc.RemoteAddr().String(),
			"user", name, "mechanism", c.Mechanism, "iterations", c.Iterations)
	}
}

func scramDeletionNames(req *kmsg.AlterUserSCRAMCredentialsRequest) []string {
	out := make([]string, 0, len(req.Deletions))
	for _, d := range req.Deletions {
		out = append(out, d.Name)
	}
	return out
}

func scramUpsertionNames(req *kmsg.AlterUserSCRAMCredentialsRequest) []string {
	out := make([]string, 0, len(req.Upsertions))
	for _, u := range req.Upsertions {
		out = append(out, u.Name)
	}
	return out
}
