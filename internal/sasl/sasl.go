// Package sasl is the server side of the SASL mechanisms Strata's Kafka
// listeners offer: PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC
// 7677), checked against the SCRAM credentials in the metastore, and
// OAUTHBEARER (RFC 7628), checked against a JSON Web Key Set.
//
// The package knows nothing of the Kafka protocol: the front door's
// SaslHandshake and SaslAuthenticate handlers pick a mechanism with
// Server.Start and pass the client's messages to the Exchange it returns.
// An exchange that fails says so with an error whose text is safe to send
// to the client: it never says whether the user, the password, the proof
// or the token was wrong, and never contains a password or a token.
package sasl

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/stratalog/strata/metastore"
)

// Mechanism names, as clients send them in SaslHandshake.
const (
	Plain       = "PLAIN"
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
	OAuthBearer = "OAUTHBEARER"
)

// AllMechanisms lists the mechanisms this package implements.
var AllMechanisms = []string{Plain, ScramSHA256, ScramSHA512, OAuthBearer}

// Errors. An exchange's error wraps ErrAuthenticationFailed; Start returns
// ErrUnsupportedMechanism for a mechanism that is not enabled.
var (
	ErrUnsupportedMechanism = errors.New("unsupported SASL mechanism")
	ErrAuthenticationFailed = errors.New("authentication failed: invalid credentials")
)

// failed is the error of a failed exchange: the same text for every cause.
func failed(mechanism string) error {
	return fmt.Errorf("%w with SASL mechanism %s", ErrAuthenticationFailed, mechanism)
}

// Defaults.
const (
	DefaultMechanisms     = "SCRAM-SHA-256,SCRAM-SHA-512,PLAIN"
	DefaultPrincipalClaim = "sub"
	DefaultClockSkew      = 30 * time.Second
	DefaultJWKSRefresh    = time.Hour
)

// Config holds the -kafka.sasl.* flags.
type Config struct {
	// Mechanisms are the mechanisms offered to clients, in the order
	// SaslHandshake lists them.
	Mechanisms []string
	// OAuthBearer configures the OAUTHBEARER mechanism.
	OAuthBearer OAuthConfig
}

// OAuthConfig configures how OAUTHBEARER tokens are checked.
type OAuthConfig struct {
	// JWKSFile and JWKSURL name the JSON Web Key Set whose keys sign the
	// tokens (one of them). The set is read again every JWKSRefresh, and
	// sooner when a token names a key id the set lacks.
	JWKSFile    string
	JWKSURL     string
	JWKSRefresh time.Duration
	// Issuer, when set, must equal the token's iss claim.
	Issuer string
	// Audience, when set, must share a value with the token's aud claim.
	Audience []string
	// PrincipalClaim names the claim whose string value is the principal's
	// name (the principal is "User:" + that value).
	PrincipalClaim string
	// ClockSkew is the leeway allowed on exp, nbf and iat.
	ClockSkew time.Duration
	// Unsecured accepts Kafka's unsecured tokens (alg "none", no
	// signature), checking only their expiry. For development only.
	Unsecured bool
}

// RegisterFlags registers the -kafka.sasl.* flags on fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.Mechanisms = splitList(DefaultMechanisms)
	fs.Var((*listValue)(&c.Mechanisms), "kafka.sasl.mechanisms", "SASL mechanisms offered on SASL listeners, comma-separated, from PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER (default "+DefaultMechanisms+")")
	o := &c.OAuthBearer
	fs.StringVar(&o.JWKSFile, "kafka.sasl.oauthbearer.jwks-file", "", "file holding the JSON Web Key Set that signs OAUTHBEARER tokens")
	fs.StringVar(&o.JWKSURL, "kafka.sasl.oauthbearer.jwks-url", "", "URL of the JSON Web Key Set that signs OAUTHBEARER tokens")
	fs.DurationVar(&o.JWKSRefresh, "kafka.sasl.oauthbearer.jwks-refresh", DefaultJWKSRefresh, "how often the JSON Web Key Set is read again")
	fs.StringVar(&o.Issuer, "kafka.sasl.oauthbearer.issuer", "", "required iss claim of OAUTHBEARER tokens (empty: not checked)")
	fs.Var((*listValue)(&o.Audience), "kafka.sasl.oauthbearer.audience", "accepted aud claims of OAUTHBEARER tokens, comma-separated (empty: not checked)")
	fs.StringVar(&o.PrincipalClaim, "kafka.sasl.oauthbearer.principal-claim", DefaultPrincipalClaim, "claim of OAUTHBEARER tokens that names the principal")
	fs.DurationVar(&o.ClockSkew, "kafka.sasl.oauthbearer.clock-skew", DefaultClockSkew, "leeway on the exp, nbf and iat claims of OAUTHBEARER tokens")
	fs.BoolVar(&o.Unsecured, "kafka.sasl.oauthbearer.unsecured", false, "accept unsigned (alg none) OAUTHBEARER tokens, checking only their expiry; for development only")
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	seen := map[string]bool{}
	for _, m := range c.Mechanisms {
		if !slices.Contains(AllMechanisms, m) {
			return fmt.Errorf("-kafka.sasl.mechanisms: unknown mechanism %q (want %s)", m, strings.Join(AllMechanisms, ", "))
		}
		if seen[m] {
			return fmt.Errorf("-kafka.sasl.mechanisms: %s given twice", m)
		}
		seen[m] = true
	}
	o := c.OAuthBearer
	if o.JWKSFile != "" && o.JWKSURL != "" {
		return errors.New("-kafka.sasl.oauthbearer.jwks-file and -kafka.sasl.oauthbearer.jwks-url are exclusive")
	}
	if seen[OAuthBearer] && o.JWKSFile == "" && o.JWKSURL == "" && !o.Unsecured {
		return errors.New("OAUTHBEARER needs -kafka.sasl.oauthbearer.jwks-file or -kafka.sasl.oauthbearer.jwks-url (or -kafka.sasl.oauthbearer.unsecured for development)")
	}
	if o.JWKSURL != "" && !strings.HasPrefix(o.JWKSURL, "https://") && !strings.HasPrefix(o.JWKSURL, "http://") {
		return errors.New("-kafka.sasl.oauthbearer.jwks-url must be an http or https URL")
	}
	if o.PrincipalClaim == "" {
		return errors.New("-kafka.sasl.oauthbearer.principal-claim must not be empty")
	}
	if o.ClockSkew < 0 || o.JWKSRefresh < 0 {
		return errors.New("-kafka.sasl.oauthbearer.clock-skew and -kafka.sasl.oauthbearer.jwks-refresh must not be negative")
	}
	return nil
}

// Credentials is where the server looks SCRAM credentials up (PLAIN checks
// passwords against them too); metastore.ScramStore satisfies it. It
// returns metastore.ErrUnknownScramCredential when there is none.
type Credentials interface {
	ScramCredential(ctx context.Context, user, mechanism string) (metastore.ScramCredential, error)
}

// Server starts authentications with the enabled mechanisms. It is safe
// for concurrent use.
type Server struct {
	cfg   Config
	creds Credentials
	log   *slog.Logger
	now   func() time.Time
	// secret makes the fake salt of an unknown user, so that a client
	// cannot tell a known user from an unknown one by the salt it gets.
	secret []byte
	keys   *keySource // nil without a JWKS
}

// NewServer returns a server for cfg, which must have passed Validate.
// creds may be nil when neither PLAIN nor SCRAM is enabled. With a JWKS
// configured, NewServer reads it once and fails if it cannot.
func NewServer(cfg Config, creds Credentials, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, creds: creds, log: log.With("component", "sasl"), now: time.Now, secret: make([]byte, 32)}
	rand.Read(s.secret)
	for _, m := range cfg.Mechanisms {
		if m != OAuthBearer && creds == nil {
			return nil, fmt.Errorf("sasl: %s needs a credential store", m)
		}
	}
	if slices.Contains(cfg.Mechanisms, OAuthBearer) && (cfg.OAuthBearer.JWKSFile != "" || cfg.OAuthBearer.JWKSURL != "") {
		ks, err := newKeySource(cfg.OAuthBearer, s.now, s.log)
		if err != nil {
			return nil, err
		}
		s.keys = ks
	}
	return s, nil
}

// Mechanisms lists the enabled mechanisms, for SaslHandshake's reply.
func (s *Server) Mechanisms() []string { return slices.Clone(s.cfg.Mechanisms) }

// Start begins one authentication with mechanism; ErrUnsupportedMechanism
// for a mechanism that is not enabled.
func (s *Server) Start(mechanism string) (Exchange, error) {
	if !slices.Contains(s.cfg.Mechanisms, mechanism) {
		return nil, ErrUnsupportedMechanism
	}
	switch mechanism {
	case Plain:
		return &plainExchange{s: s}, nil
	case ScramSHA256, ScramSHA512:
		return newScramExchange(s, mechanism), nil
	case OAuthBearer:
		return &oauthExchange{s: s}, nil
	}
	return nil, ErrUnsupportedMechanism
}

// Exchange is one authentication in progress.
type Exchange interface {
	// Next takes the client's next message and returns the server's reply.
	// done: authenticated, Principal is set. err != nil: authentication
	// failed (errors.Is(err, ErrAuthenticationFailed)); the error's text is
	// safe to send to the client and never says which part was wrong.
	Next(ctx context.Context, msg []byte) (reply []byte, done bool, err error)
	// Principal is "User:NAME" once done.
	Principal() string
	// Expiry is zero if the credential has no expiry (an OAUTHBEARER
	// token's exp otherwise).
	Expiry() time.Time
}

// listValue is a comma-separated flag.
type listValue []string

func (v *listValue) String() string {
	if v == nil {
		return ""
	}
	return strings.Join(*v, ",")
}

func (v *listValue) Set(s string) error {
	*v = splitList(s)
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
