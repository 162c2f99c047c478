package sasl

import (
	"context"
	"time"
)

// keySource holds the JSON Web Key Set that signs OAUTHBEARER tokens.
type keySource struct{}

func newKeySource(cfg OAuthConfig, now func() time.Time) (*keySource, error) { return &keySource{}, nil }

type oauthExchange struct {
	s *Server
}

func (e *oauthExchange) Next(ctx context.Context, msg []byte) ([]byte, bool, error) {
	return nil, false, failed(OAuthBearer)
}
func (e *oauthExchange) Principal() string { return "" }
func (e *oauthExchange) Expiry() time.Time { return time.Time{} }
