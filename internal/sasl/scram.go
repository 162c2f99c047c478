package sasl

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"hash"
	"time"

	"github.com/xdg-go/scram"

	"github.com/stratalog/strata/metastore"
)

// Iteration bounds of SCRAM credentials, as Kafka's: fewer than
// MinIterations makes guessing from a stolen credential cheap, more than
// MaxIterations makes every authentication expensive for the server.
const (
	MinIterations     = 4096
	MaxIterations     = 16384
	DefaultIterations = 8192
	saltLen           = 32
)

// ErrUnacceptableCredential is returned for a credential whose iteration
// count is out of bounds or whose salt or password is empty.
var ErrUnacceptableCredential = errors.New("sasl: unacceptable SCRAM credential")

// IsScram reports whether mechanism is one of the SCRAM mechanisms.
func IsScram(mechanism string) bool {
	return mechanism == ScramSHA256 || mechanism == ScramSHA512
}

func scramHash(mechanism string) (func() hash.Hash, bool) {
	switch mechanism {
	case ScramSHA256:
		return sha256.New, true
	case ScramSHA512:
		return sha512.New, true
	}
	return nil, false
}

// SaltedPassword is RFC 5802's Hi(password, salt, iterations), with the
// password's UTF-8 bytes as Kafka uses them (no SASLprep).
func SaltedPassword(mechanism, password string, salt []byte, iterations int) ([]byte, error) {
	h, ok := scramHash(mechanism)
	if !ok {
		return nil, ErrUnsupportedMechanism
	}
	return pbkdf2.Key(h, password, salt, iterations, h().Size())
}

// CredentialFromSaltedPassword derives the stored and server keys from a
// salted password, as AlterUserScramCredentials sends it.
func CredentialFromSaltedPassword(mechanism, user string, salt, salted []byte, iterations int) (metastore.ScramCredential, error) {
	h, ok := scramHash(mechanism)
	if !ok {
		return metastore.ScramCredential{}, ErrUnsupportedMechanism
	}
	if iterations < MinIterations || iterations > MaxIterations || len(salt) == 0 || len(salted) == 0 {
		return metastore.ScramCredential{}, ErrUnacceptableCredential
	}
	clientKey := mac(h, salted, "Client Key")
	sum := h()
	sum.Write(clientKey)
	return metastore.ScramCredential{
		User:       user,
		Mechanism:  mechanism,
		Salt:       append([]byte(nil), salt...),
		StoredKey:  sum.Sum(nil),
		ServerKey:  mac(h, salted, "Server Key"),
		Iterations: int32(iterations),
	}, nil
}

// NewCredential makes a credential for password with a random salt.
// Iterations 0 means DefaultIterations.
func NewCredential(mechanism, user, password string, iterations int) (metastore.ScramCredential, error) {
	if iterations == 0 {
		iterations = DefaultIterations
	}
	if password == "" {
		return metastore.ScramCredential{}, ErrUnacceptableCredential
	}
	if iterations < MinIterations || iterations > MaxIterations {
		return metastore.ScramCredential{}, ErrUnacceptableCredential
	}
	salt := make([]byte, saltLen)
	rand.Read(salt)
	salted, err := SaltedPassword(mechanism, password, salt, iterations)
	if err != nil {
		return metastore.ScramCredential{}, err
	}
	return CredentialFromSaltedPassword(mechanism, user, salt, salted, iterations)
}

// storedIterationsOK bounds the iteration count of a stored credential
// the server is willing to spend on: every path that stores credentials
// keeps to [MinIterations, MaxIterations].
func storedIterationsOK(n int32) bool {
	return n >= MinIterations && n <= MaxIterations
}

// checkPassword reports whether password matches c, comparing the derived
// stored key in constant time.
func checkPassword(c metastore.ScramCredential, password string) bool {
	if !storedIterationsOK(c.Iterations) {
		return false
	}
	salted, err := SaltedPassword(c.Mechanism, password, c.Salt, int(c.Iterations))
	if err != nil {
		return false
	}
	d, err := CredentialFromSaltedPassword(c.Mechanism, c.User, c.Salt, salted, MinIterations)
	if err != nil {
		return false
	}
	return hmac.Equal(d.StoredKey, c.StoredKey)
}

func mac(h func() hash.Hash, key []byte, msg string) []byte {
	m := hmac.New(h, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// scramExchange runs RFC 5802's server conversation with xdg-go/scram,
// which works from the stored key and server key and never needs the
// password.
type scramExchange struct {
	s         *Server
	mechanism string
	conv      *scram.ServerConversation
	ctx       context.Context // of the current Next, for the credential lookup
	unknown   bool            // the user has no credential: fail at the end
	step      int
	principal string
	// What the final step checks the client's proof against (see
	// scramFinal): the first two messages and the credential.
	clientFirst, serverFirst string
	cred                     scram.StoredCredentials
}

func newScramExchange(s *Server, mechanism string) *scramExchange {
	e := &scramExchange{s: s, mechanism: mechanism}
	fcn := scram.SHA256
	if mechanism == ScramSHA512 {
		fcn = scram.SHA512
	}
	srv, err := fcn.NewServer(e.lookup)
	if err != nil {
		// Only fails for a nil lookup.
		panic(err)
	}
	e.conv = srv.NewConversation()
	return e
}

// lookup finds the user's credential. An unknown user gets a made-up one
// with a salt that depends only on the user's name, so that the server's
// first message looks the same for a known and an unknown user; the
// exchange then fails at its end, as a wrong password does.
func (e *scramExchange) lookup(user string) (scram.StoredCredentials, error) {
	c, err := e.s.creds.ScramCredential(e.ctx, user, e.mechanism)
	switch {
	case errors.Is(err, metastore.ErrUnknownScramCredential):
		e.unknown = true
		h, _ := scramHash(e.mechanism)
		m := hmac.New(h, e.s.secret)
		m.Write([]byte(e.mechanism + "\x00" + user))
		salt := m.Sum(nil)[:saltLen]
		key := make([]byte, h().Size())
		rand.Read(key)
		return scram.StoredCredentials{
			KeyFactors: scram.KeyFactors{Salt: string(salt), Iters: DefaultIterations},
			StoredKey:  key,
			ServerKey:  key,
		}, nil
	case err != nil:
		e.s.log.Warn("looking up a SCRAM credential", "mechanism", e.mechanism, "err", err)
		return scram.StoredCredentials{}, err
	}
	if !storedIterationsOK(c.Iterations) {
		e.s.log.Warn("stored SCRAM credential has an iteration count out of bounds", "mechanism", e.mechanism, "iterations", c.Iterations)
		return scram.StoredCredentials{}, ErrUnacceptableCredential
	}
	e.cred = scram.StoredCredentials{
		KeyFactors: scram.KeyFactors{Salt: string(c.Salt), Iters: int(c.Iterations)},
		StoredKey:  c.StoredKey,
		ServerKey:  c.ServerKey,
	}
	return e.cred, nil
}

func (e *scramExchange) Next(ctx context.Context, msg []byte) ([]byte, bool, error) {
	e.ctx = ctx
	defer func() { e.ctx = nil }()
	e.step++
	switch e.step {
	case 1:
		reply, err := e.conv.Step(string(msg))
		if err != nil {
			return nil, false, failed(e.mechanism)
		}
		// Kafka accepts an authorization id only when it names the
		// authenticating user.
		if a := e.conv.AuthzID(); a != "" && a != e.conv.Username() {
			return nil, false, failed(e.mechanism)
		}
		e.clientFirst, e.serverFirst = string(msg), reply
		return []byte(reply), false, nil
	case 2:
		reply, ok := scramFinal(e.mechanism, e.cred, e.clientFirst, e.serverFirst, serverNonce(e.serverFirst), string(msg))
		if !ok || e.unknown {
			return nil, false, failed(e.mechanism)
		}
		e.principal = "User:" + e.conv.Username()
		return []byte(reply), true, nil
	}
	return nil, false, failed(e.mechanism)
}

func (e *scramExchange) Principal() string { return e.principal }
func (e *scramExchange) Expiry() time.Time { return time.Time{} }
