package objstore

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strings"
)

// Config selects and configures a store for Open.
type Config struct {
	// URL is "s3://bucket/optional/prefix", "file:///some/dir" or a plain
	// directory path.
	URL string
	// The S3 settings below are ignored for a directory.
	Endpoint        string
	Region          string
	AccessKeyID     string
	SecretAccessKey string
	// SecretAccessKeyFile names a file holding the secret access key, so
	// that the key appears neither on the command line nor in the
	// configuration file. It wins over SecretAccessKey.
	SecretAccessKeyFile string
	PathStyle           bool
}

// RegisterFlags registers the flags of c, with their defaults, on fs. Each
// flag name starts with prefix, e.g. "objstore." gives "objstore.url".
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.StringVar(&c.URL, prefix+"url", "", "object store location: s3://bucket/optional/prefix, file:///some/dir or a directory path")
	fs.StringVar(&c.Endpoint, prefix+"endpoint", "", "S3 endpoint URL, e.g. http://127.0.0.1:9000 for MinIO; empty for AWS S3")
	fs.StringVar(&c.Region, prefix+"region", "", "S3 region; empty: from the AWS environment, else us-east-1")
	fs.StringVar(&c.AccessKeyID, prefix+"access-key-id", "", "S3 access key id; empty: the AWS default credential chain")
	fs.StringVar(&c.SecretAccessKey, prefix+"secret-access-key", "", "S3 secret access key (prefer "+prefix+"secret-access-key-file or the environment)")
	fs.StringVar(&c.SecretAccessKeyFile, prefix+"secret-access-key-file", "", "file holding the S3 secret access key; wins over "+prefix+"secret-access-key")
	fs.BoolVar(&c.PathStyle, prefix+"path-style", false, "address S3 buckets in the URL path instead of the host name (MinIO)")
}

// location is a parsed Config.URL: an S3 bucket and prefix, or a directory.
type location struct {
	bucket, prefix string // s3
	dir            string // local
}

func parseLocation(raw string) (location, error) {
	if raw == "" {
		return location{}, errors.New("objstore: url is required")
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return location{dir: raw}, nil
	}
	switch strings.ToLower(scheme) {
	case "file":
		if rest == "" {
			return location{}, fmt.Errorf("objstore: url %q: empty directory", raw)
		}
		return location{dir: rest}, nil
	case "s3":
		u, err := url.Parse(raw)
		if err != nil {
			return location{}, fmt.Errorf("objstore: url %q: %w", raw, err)
		}
		if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Port() != "" {
			return location{}, fmt.Errorf("objstore: url %q: want s3://bucket/optional/prefix", raw)
		}
		if err := checkBucket(u.Host); err != nil {
			return location{}, fmt.Errorf("objstore: url %q: %w", raw, err)
		}
		prefix := strings.Trim(u.Path, "/")
		if prefix != "" {
			if err := ValidateKey(prefix); err != nil {
				return location{}, fmt.Errorf("objstore: url %q: prefix: %w", raw, err)
			}
		}
		return location{bucket: u.Host, prefix: prefix}, nil
	}
	return location{}, fmt.Errorf("objstore: url %q: unknown scheme %q (want s3 or file)", raw, scheme)
}

// checkBucket applies the S3 bucket naming rules that matter for addressing.
func checkBucket(b string) error {
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("bucket name %q: want 3 to 63 characters", b)
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return fmt.Errorf("bucket name %q: only lower-case letters, digits, '-' and '.'", b)
		}
	}
	return nil
}

// Validate reports a setting that cannot work.
func (c *Config) Validate() error {
	if _, err := parseLocation(c.URL); err != nil {
		return err
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil {
			return fmt.Errorf("objstore: endpoint %q: %w", c.Endpoint, err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("objstore: endpoint %q: want http://host[:port] or https://host[:port]", c.Endpoint)
		}
	}
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		return errors.New("objstore: access key id and secret access key go together")
	}
	return nil
}

// Open validates cfg and returns the store it describes.
func Open(ctx context.Context, cfg Config) (Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	loc, err := parseLocation(cfg.URL)
	if err != nil {
		return nil, err
	}
	if loc.bucket == "" {
		l, err := NewLocal(loc.dir)
		if err != nil {
			return nil, err
		}
		return l, nil
	}
	s, err := NewS3(ctx, S3Config{
		Bucket:          loc.bucket,
		Prefix:          loc.prefix,
		Endpoint:        cfg.Endpoint,
		Region:          cfg.Region,
		AccessKeyID:     cfg.AccessKeyID,
		SecretAccessKey: cfg.SecretAccessKey,
		PathStyle:       cfg.PathStyle,
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}
