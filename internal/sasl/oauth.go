package sasl

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// invalidTokenStatus is the server's challenge for a rejected token (RFC
// 7628 section 3.2.2), as Kafka sends it. The client answers with a lone
// 0x01, and the exchange then fails.
var invalidTokenStatus = []byte(`{"status":"invalid_token"}`)

// signingAlgorithms are the JWS algorithms accepted for signed tokens:
// the asymmetric ones, since a JWKS published by an identity provider
// holds public keys.
var signingAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512,
	jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512,
	jose.EdDSA,
}

// ClientResponse is the client's first OAUTHBEARER message (RFC 7628
// section 3.1): a GS2 header, then key=value pairs each ended by 0x01,
// then a final 0x01.
type ClientResponse struct {
	AuthzID    string
	Token      string
	Extensions map[string]string
}

var (
	kvKey   = regexp.MustCompile(`^[A-Za-z]+$`)
	kvValue = regexp.MustCompile(`^[\x21-\x7E \t\r\n]*$`)
	// bearer is RFC 6750's b64token after "Bearer ".
	bearer = regexp.MustCompile(`^[Bb][Ee][Aa][Rr][Ee][Rr] +([-A-Za-z0-9._~+/]+=*)$`)
)

// ParseClientResponse parses an OAUTHBEARER client response. It accepts
// what Kafka's server accepts: "n" (no channel binding) and an optional
// authorization id in the GS2 header, an auth pair with a bearer token,
// and other pairs as SASL extensions.
func ParseClientResponse(msg []byte) (ClientResponse, error) {
	var r ClientResponse
	bad := errors.New("malformed OAUTHBEARER client response")
	rest, ok := bytes.CutPrefix(msg, []byte("n,"))
	if !ok {
		return r, bad
	}
	authz, rest, ok := bytes.Cut(rest, []byte(","))
	if !ok {
		return r, bad
	}
	if len(authz) > 0 {
		a, ok := bytes.CutPrefix(authz, []byte("a="))
		if !ok || len(a) == 0 {
			return r, bad
		}
		name, ok := decodeSaslName(string(a))
		if !ok {
			return r, bad
		}
		r.AuthzID = name
	}
	// rest is 0x01 kvpair* 0x01, each kvpair ending in 0x01.
	if len(rest) < 2 || rest[0] != 1 || !bytes.HasSuffix(rest, []byte{1, 1}) {
		return r, bad
	}
	body := rest[1 : len(rest)-1] // kvpairs, each ending in 0x01
	for len(body) > 0 {
		pair, tail, ok := bytes.Cut(body, []byte{1})
		if !ok {
			return r, bad
		}
		body = tail
		k, v, ok := strings.Cut(string(pair), "=")
		if !ok || !kvKey.MatchString(k) || !kvValue.MatchString(v) {
			return r, bad
		}
		if k == "auth" {
			if r.Token != "" {
				return r, bad
			}
			m := bearer.FindStringSubmatch(v)
			if m == nil {
				return r, bad
			}
			r.Token = m[1]
			continue
		}
		if r.Extensions == nil {
			r.Extensions = map[string]string{}
		}
		if _, dup := r.Extensions[k]; dup {
			return r, bad
		}
		r.Extensions[k] = v
	}
	if r.Token == "" {
		return r, bad
	}
	return r, nil
}

// decodeSaslName undoes RFC 5801's escaping of ',' and '=' in a saslname.
func decodeSaslName(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ',':
			return "", false
		case '=':
			if strings.HasPrefix(s[i:], "=2C") {
				b.WriteByte(',')
			} else if strings.HasPrefix(s[i:], "=3D") {
				b.WriteByte('=')
			} else {
				return "", false
			}
			i += 2
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), true
}

type oauthExchange struct {
	s         *Server
	step      int
	rejected  bool
	principal string
	expiry    time.Time
}

func (e *oauthExchange) Next(ctx context.Context, msg []byte) ([]byte, bool, error) {
	e.step++
	if e.step == 2 && e.rejected {
		// The client's acknowledgement of the error status; the
		// exchange fails whatever it sent.
		return nil, false, failed(OAuthBearer)
	}
	if e.step != 1 {
		return nil, false, failed(OAuthBearer)
	}
	r, err := ParseClientResponse(msg)
	if err != nil {
		return nil, false, failed(OAuthBearer)
	}
	name, exp, err := e.s.validateToken(ctx, r.Token)
	if err != nil || (r.AuthzID != "" && r.AuthzID != name) {
		if err != nil {
			e.s.log.Debug("OAUTHBEARER token rejected", "reason", err.Error())
		}
		e.rejected = true
		return slices.Clone(invalidTokenStatus), false, nil
	}
	e.principal = "User:" + name
	e.expiry = exp
	return nil, true, nil
}

func (e *oauthExchange) Principal() string { return e.principal }
func (e *oauthExchange) Expiry() time.Time { return e.expiry }

// tokenClaims are the claims read from a token, besides the principal's.
type tokenClaims struct {
	jwt.Claims
}

// validateToken checks a token and returns its principal's name and
// expiry. Its errors are for the server's log: they name the check that
// failed but never hold the token.
func (s *Server) validateToken(ctx context.Context, token string) (string, time.Time, error) {
	o := s.cfg.OAuthBearer
	header, _, _ := strings.Cut(token, ".")
	hb, err := base64.RawURLEncoding.DecodeString(header)
	if err != nil {
		return "", time.Time{}, errors.New("token header is not base64url")
	}
	var h struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(hb, &h); err != nil {
		return "", time.Time{}, errors.New("token header is not JSON")
	}
	var claims tokenClaims
	extra := map[string]any{}
	if h.Alg == "none" {
		if !o.Unsecured {
			return "", time.Time{}, errors.New("unsecured token while unsecured tokens are off")
		}
		if err := parseUnsecured(token, &claims, &extra); err != nil {
			return "", time.Time{}, err
		}
	} else {
		if s.keys == nil {
			return "", time.Time{}, errors.New("signed token without a JWKS configured")
		}
		tok, err := jwt.ParseSigned(token, signingAlgorithms)
		if err != nil {
			return "", time.Time{}, errors.New("token is not a signed JWT with an accepted algorithm")
		}
		if err := s.keys.verify(ctx, tok, h.Kid, &claims, &extra); err != nil {
			return "", time.Time{}, err
		}
	}
	now := s.now()
	if claims.Expiry == nil {
		return "", time.Time{}, errors.New("token has no exp claim")
	}
	exp := claims.Expiry.Time()
	if h.Alg == "none" {
		// Kafka's unsecured validator checks the expiry only.
		if now.After(exp.Add(o.ClockSkew)) {
			return "", time.Time{}, jwt.ErrExpired
		}
	} else {
		want := jwt.Expected{Issuer: o.Issuer, AnyAudience: jwt.Audience(o.Audience), Time: now}
		if err := claims.ValidateWithLeeway(want, o.ClockSkew); err != nil {
			return "", time.Time{}, err
		}
	}
	name, _ := extra[o.PrincipalClaim].(string)
	if name == "" {
		return "", time.Time{}, fmt.Errorf("token has no string claim %q", o.PrincipalClaim)
	}
	return name, exp, nil
}

// parseUnsecured decodes an unsecured JWT (RFC 7519 section 6): a header
// with alg "none", the claims, and an empty signature.
func parseUnsecured(token string, dest ...any) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[2] != "" {
		return errors.New("unsecured token is not header.claims.")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return errors.New("unsecured token claims are not base64url")
	}
	for _, d := range dest {
		if err := json.Unmarshal(b, d); err != nil {
			return errors.New("unsecured token claims are not a JSON object")
		}
	}
	return nil
}

// keySource holds the JSON Web Key Set that signs tokens, read from a file
// or a URL and read again every refresh interval, or sooner (at most every
// minRefetch) when a token names a key id it lacks, as keys rotate. A
// failed read keeps the previous set and is retried after minRefetch.
type keySource struct {
	cfg     OAuthConfig
	now     func() time.Time
	log     *slog.Logger
	client  *http.Client
	refetch sync.Mutex // one read at a time

	mu      sync.Mutex
	set     jose.JSONWebKeySet
	fetched time.Time // of the set held
	tried   time.Time // last read, successful or not
}

const (
	minRefetch  = 10 * time.Second
	maxJWKSSize = 1 << 20
)

func newKeySource(cfg OAuthConfig, now func() time.Time, log *slog.Logger) (*keySource, error) {
	k := &keySource{cfg: cfg, now: now, log: log, client: &http.Client{Timeout: 10 * time.Second}}
	if err := k.load(context.Background()); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *keySource) load(ctx context.Context) error {
	var data []byte
	var err error
	if k.cfg.JWKSFile != "" {
		data, err = os.ReadFile(k.cfg.JWKSFile)
		if err != nil {
			return fmt.Errorf("sasl: reading the JWKS: %w", err)
		}
	} else {
		data, err = k.get(ctx)
		if err != nil {
			return err
		}
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err != nil {
		return fmt.Errorf("sasl: the JWKS is not a JSON Web Key Set: %w", err)
	}
	k.mu.Lock()
	k.set, k.fetched, k.tried = set, k.now(), k.now()
	k.mu.Unlock()
	return nil
}

// stale reports whether the set should be read again before checking a
// token, given whether the token's key is missing from it.
func (k *keySource) stale(missing bool) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	if now.Sub(k.tried) < minRefetch {
		return false
	}
	return missing || (k.cfg.JWKSRefresh > 0 && now.Sub(k.fetched) >= k.cfg.JWKSRefresh)
}

func (k *keySource) get(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.cfg.JWKSURL, nil)
	if err != nil {
		return nil, fmt.Errorf("sasl: JWKS URL: %w", err)
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("sasl: fetching the JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("sasl: fetching the JWKS: %s", resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSSize+1))
	if err != nil {
		return nil, fmt.Errorf("sasl: fetching the JWKS: %w", err)
	}
	if len(data) > maxJWKSSize {
		return nil, errors.New("sasl: the JWKS is larger than 1 MiB")
	}
	return data, nil
}

// keys returns the keys a token with key id kid may be signed with.
func (k *keySource) keys(ctx context.Context, kid string) []jose.JSONWebKey {
	pick := func() []jose.JSONWebKey {
		k.mu.Lock()
		defer k.mu.Unlock()
		var out []jose.JSONWebKey
		for _, key := range k.set.Keys {
			if key.Use == "enc" || !key.Valid() {
				continue
			}
			if kid == "" || key.KeyID == kid {
				out = append(out, key)
			}
		}
		return out
	}
	keys := pick()
	if k.stale(len(keys) == 0) {
		k.refetch.Lock()
		if k.stale(len(pick()) == 0) { // not read meanwhile by another token
			k.mu.Lock()
			k.tried = k.now()
			k.mu.Unlock()
			if err := k.load(ctx); err != nil {
				k.log.Warn("reading the OAUTHBEARER key set; keeping the previous one", "err", err)
			}
		}
		k.refetch.Unlock()
		keys = pick()
	}
	return keys
}

func (k *keySource) verify(ctx context.Context, tok *jwt.JSONWebToken, kid string, dest ...any) error {
	for _, key := range k.keys(ctx, kid) {
		pub := key.Public()
		if err := tok.Claims(pub.Key, dest...); err == nil {
			return nil
		}
	}
	return errors.New("token signature does not verify with any key of the JWKS")
}
