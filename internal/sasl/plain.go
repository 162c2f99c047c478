package sasl

import (
	"bytes"
	"context"
	"errors"
	"time"
	"unicode/utf8"

	"github.com/stratalog/strata/metastore"
)

// plainExchange checks RFC 4616's single message, authzid NUL authcid NUL
// passwd, against the user's stored SCRAM credentials: the password is
// salted with each stored credential's salt and iterations and the derived
// stored key compared in constant time. Passwords are never stored.
type plainExchange struct {
	s         *Server
	done      bool
	principal string
}

// ParsePlain splits a PLAIN message into its authorization id, user and
// password. It fails unless there are exactly three fields, the user and
// password are not empty and all are UTF-8 (RFC 4616 section 2).
func ParsePlain(msg []byte) (authzid, user, password string, ok bool) {
	parts := bytes.Split(msg, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 || len(parts[2]) == 0 || !utf8.Valid(msg) {
		return "", "", "", false
	}
	return string(parts[0]), string(parts[1]), string(parts[2]), true
}

func (e *plainExchange) Next(ctx context.Context, msg []byte) ([]byte, bool, error) {
	if e.done {
		return nil, false, failed(Plain)
	}
	e.done = true
	authzid, user, password, ok := ParsePlain(msg)
	if !ok || (authzid != "" && authzid != user) {
		return nil, false, failed(Plain)
	}
	found := false
	for _, m := range []string{ScramSHA512, ScramSHA256} {
		c, err := e.s.creds.ScramCredential(ctx, user, m)
		if errors.Is(err, metastore.ErrUnknownScramCredential) {
			continue
		}
		if err != nil {
			e.s.log.Warn("looking up a SCRAM credential for PLAIN", "err", err)
			return nil, false, failed(Plain)
		}
		found = true
		if checkPassword(c, password) {
			e.principal = "User:" + user
			return nil, true, nil
		}
	}
	if !found {
		// Spend the time a known user costs, so that timing does not
		// tell an unknown user from a wrong password.
		_, _ = SaltedPassword(ScramSHA512, password, e.s.secret, DefaultIterations)
	}
	return nil, false, failed(Plain)
}

func (e *plainExchange) Principal() string { return e.principal }
func (e *plainExchange) Expiry() time.Time { return time.Time{} }
