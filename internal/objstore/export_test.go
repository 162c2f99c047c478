package objstore

import (
	"context"
	"net/http"
)

// NewS3WithTransport is NewS3 with the HTTP transport wrapped by wrap, for
// tests that observe or tamper with requests.
func NewS3WithTransport(ctx context.Context, cfg S3Config, wrap func(http.RoundTripper) http.RoundTripper) (*S3, error) {
	cfg.wrapTransport = wrap
	return NewS3(ctx, cfg)
}
