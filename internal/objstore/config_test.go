package objstore_test

import (
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stratalog/strata/internal/objstore"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg     objstore.Config
		wantErr string // "" for valid
	}{
		{objstore.Config{URL: "s3://bucket"}, ""},
		{objstore.Config{URL: "s3://my-bucket.eu/some/prefix/"}, ""},
		{objstore.Config{URL: "s3://bucket", Endpoint: "http://127.0.0.1:9000", AccessKeyID: "a", SecretAccessKey: "s"}, ""},
		{objstore.Config{URL: "file:///var/lib/strata"}, ""},
		{objstore.Config{URL: "data/objects"}, ""},
		{objstore.Config{URL: "/abs/dir"}, ""},
		{objstore.Config{}, "url is required"},
		{objstore.Config{URL: "s3://"}, "bucket name"},
		{objstore.Config{URL: "s3://Upper"}, "bucket name"},
		{objstore.Config{URL: "s3://ab"}, "bucket name"},
		{objstore.Config{URL: "s3://bucket:9000/x"}, "want s3://bucket"},
		{objstore.Config{URL: "s3://bucket?x=1"}, "want s3://bucket"},
		{objstore.Config{URL: "s3://bucket/a//b"}, "prefix"},
		{objstore.Config{URL: "s3://bucket/../b"}, "prefix"},
		{objstore.Config{URL: "file://"}, "empty directory"},
		{objstore.Config{URL: "gs://bucket"}, "unknown scheme"},
		{objstore.Config{URL: "s3://bucket", Endpoint: "127.0.0.1:9000"}, "endpoint"},
		{objstore.Config{URL: "s3://bucket", Endpoint: "ftp://host"}, "endpoint"},
		{objstore.Config{URL: "s3://bucket", AccessKeyID: "a"}, "go together"},
		{objstore.Config{URL: "s3://bucket", SecretAccessKey: "s"}, "go together"},
	} {
		err := tc.cfg.Validate()
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("Validate(%+v) = %v, want nil", tc.cfg, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("Validate(%+v) = %v, want an error containing %q", tc.cfg, err, tc.wantErr)
		}
	}
}

func TestConfigFlags(t *testing.T) {
	var cfg objstore.Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cfg.RegisterFlags(fs, "objstore.")
	if err := cfg.Validate(); err == nil {
		t.Error("the defaults validate without a URL")
	}
	err := fs.Parse([]string{
		"-objstore.url=s3://bucket/p", "-objstore.endpoint=http://minio:9000", "-objstore.region=eu-west-1",
		"-objstore.access-key-id=AK", "-objstore.secret-access-key=SK", "-objstore.path-style",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := objstore.Config{
		URL: "s3://bucket/p", Endpoint: "http://minio:9000", Region: "eu-west-1",
		AccessKeyID: "AK", SecretAccessKey: "SK", PathStyle: true,
	}
	if cfg != want {
		t.Fatalf("parsed %+v, want %+v", cfg, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenLocal(t *testing.T) {
	dir := t.TempDir()
	for _, url := range []string{"file://" + filepath.Join(dir, "a"), filepath.Join(dir, "b")} {
		s, err := objstore.Open(t.Context(), objstore.Config{URL: url})
		if err != nil {
			t.Fatalf("Open(%s): %v", url, err)
		}
		l, ok := s.(*objstore.Local)
		if !ok {
			t.Fatalf("Open(%s) = %T, want *objstore.Local", url, s)
		}
		if err := l.Put(t.Context(), "k", []byte("v")); err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(dir, filepath.Base(url)); l.Root() != want {
			t.Errorf("Open(%s) root = %s, want %s", url, l.Root(), want)
		}
	}
	if s, err := objstore.Open(t.Context(), objstore.Config{URL: "gs://x"}); err == nil || s != nil {
		t.Fatalf("Open(gs://x) = %v, %v; want nil store and an error", s, err)
	}
}
