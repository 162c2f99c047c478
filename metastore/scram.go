package metastore

import (
	"context"
	"errors"
)

// ErrUnknownScramCredential is returned for a (user, mechanism) without a
// SCRAM credential.
var ErrUnknownScramCredential = errors.New("metastore: unknown SCRAM credential")

// ScramCredential is what a server keeps of one user's password for one
// SCRAM mechanism (RFC 5802 section 3): the salt, the iteration count and
// the two keys derived from the salted password. The password itself and
// the salted password are never stored; the stored key only lets a server
// check a client's proof, and the server key only lets it prove itself.
type ScramCredential struct {
	User       string
	Mechanism  string // "SCRAM-SHA-256" or "SCRAM-SHA-512"
	Salt       []byte
	StoredKey  []byte
	ServerKey  []byte
	Iterations int32
}

// ScramStore keeps SCRAM credentials per (user, mechanism).
type ScramStore interface {
	// ScramCredential returns one credential, or ErrUnknownScramCredential.
	ScramCredential(ctx context.Context, user, mechanism string) (ScramCredential, error)
	// ScramCredentials lists the credentials of the given users, or of
	// every user when users is empty, ordered by user then mechanism.
	ScramCredentials(ctx context.Context, users []string) ([]ScramCredential, error)
	// UpsertScramCredential creates or replaces the credential of
	// (c.User, c.Mechanism).
	UpsertScramCredential(ctx context.Context, c ScramCredential) error
	// DeleteScramCredential deletes one credential, or returns
	// ErrUnknownScramCredential when there is none.
	DeleteScramCredential(ctx context.Context, user, mechanism string) error
}
