package objstore_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/stratalog/strata/internal/objstore"
	"github.com/stratalog/strata/internal/objstore/objstoretest"
	"github.com/stratalog/strata/internal/testenv"
)

// s3Config returns the configuration of a fresh bucket.
func s3Config(t testing.TB) objstore.S3Config {
	t.Helper()
	env := testenv.S3(t)
	return objstore.S3Config{
		Bucket:          env.Bucket,
		Endpoint:        env.Endpoint,
		Region:          env.Region,
		AccessKeyID:     env.AccessKeyID,
		SecretAccessKey: env.SecretAccessKey,
		PathStyle:       true,
	}
}

func newS3(t testing.TB, cfg objstore.S3Config) *objstore.S3 {
	t.Helper()
	s, err := objstore.NewS3(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestS3 is the suite's entry point for the S3 backend, at the top of a
// bucket and under a key prefix.
func TestS3(t *testing.T) {
	t.Run("Bucket", func(t *testing.T) {
		objstoretest.Run(t, func(t *testing.T) objstore.Store { return newS3(t, s3Config(t)) })
	})
	t.Run("Prefix", func(t *testing.T) {
		objstoretest.Run(t, func(t *testing.T) objstore.Store {
			cfg := s3Config(t)
			cfg.Prefix = "/tenant/strata/"
			return newS3(t, cfg)
		})
	})
}

func TestS3PrefixIsolation(t *testing.T) {
	cfg := s3Config(t)
	ctx := t.Context()
	a, b, whole := cfg, cfg, cfg
	a.Prefix, b.Prefix = "one", "two/deeper"
	sa, sb, sw := newS3(t, a), newS3(t, b), newS3(t, whole)
	if err := sa.Put(ctx, "k", []byte("from a")); err != nil {
		t.Fatal(err)
	}
	if err := sb.Put(ctx, "k", []byte("from b")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		s    objstore.Store
		want string
	}{{sa, "from a"}, {sb, "from b"}} {
		if got, err := tc.s.Get(ctx, "k"); err != nil || string(got) != tc.want {
			t.Fatalf("Get(k) = %q, %v; want %q", got, err, tc.want)
		}
	}
	if got := keysOf(t, sa, ""); !slices.Equal(got, []string{"k"}) {
		t.Fatalf("List on prefix one = %q, want [k]", got)
	}
	if got := keysOf(t, sw, ""); !slices.Equal(got, []string{"one/k", "two/deeper/k"}) {
		t.Fatalf("List of the whole bucket = %q", got)
	}
	if err := sa.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if got, err := sb.Get(ctx, "k"); err != nil || string(got) != "from b" {
		t.Fatalf("Delete through prefix one touched prefix two: %q, %v", got, err)
	}
}

func keysOf(t *testing.T, s objstore.Store, prefix string) []string {
	t.Helper()
	var keys []string
	if err := s.List(t.Context(), prefix, func(oi objstore.ObjectInfo) error {
		keys = append(keys, oi.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return keys
}

// recorder keeps the headers of every request and can corrupt PUT bodies.
type recorder struct {
	next    http.RoundTripper
	mu      sync.Mutex
	reqs    []http.Header
	methods []string
	corrupt bool // flip one byte of every PUT body
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req.Header.Clone())
	r.methods = append(r.methods, req.Method)
	corrupt := r.corrupt
	r.mu.Unlock()
	if corrupt && req.Method == http.MethodPut && req.Body != nil {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		_ = req.Body.Close()
		body[len(body)/2] ^= 0x01
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = nil
	}
	return r.next.RoundTrip(req)
}

func crc32cBase64(data []byte) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)))
	return base64.StdEncoding.EncodeToString(b[:])
}

// PUT is signed without hashing the payload, carries a CRC32C that the
// service stores, and is a plain (not aws-chunked) body of known length.
func TestS3PutRequest(t *testing.T) {
	cfg := s3Config(t)
	rec := &recorder{}
	s, err := objstore.NewS3WithTransport(t.Context(), cfg, func(next http.RoundTripper) http.RoundTripper {
		rec.next = next
		return rec
	})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("segment "), 512<<10) // 4 MiB
	if err := s.Put(t.Context(), "wire/obj", data); err != nil {
		t.Fatal(err)
	}
	if len(rec.reqs) != 1 || rec.methods[0] != http.MethodPut {
		t.Fatalf("requests = %q, want one PUT", rec.methods)
	}
	h := rec.reqs[0]
	for name, want := range map[string]string{
		"X-Amz-Content-Sha256":  "UNSIGNED-PAYLOAD",
		"X-Amz-Checksum-Crc32c": crc32cBase64(data),
		"Content-Encoding":      "",
		"Expect":                "",
		"X-Amz-Trailer":         "",
	} {
		if got := h.Get(name); got != want {
			t.Errorf("PUT header %s = %q, want %q", name, got, want)
		}
	}

	// The service kept the checksum with the object.
	head, err := s.Client().HeadObject(t.Context(), &s3.HeadObjectInput{
		Bucket:       aws.String(cfg.Bucket),
		Key:          aws.String("wire/obj"),
		ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(head.ChecksumCRC32C); got != crc32cBase64(data) {
		t.Errorf("stored CRC32C = %q, want %q", got, crc32cBase64(data))
	}
}

// A body damaged on the way is refused by the service and not stored.
func TestS3PutCorruptBodyRejected(t *testing.T) {
	cfg := s3Config(t)
	rec := &recorder{corrupt: true}
	s, err := objstore.NewS3WithTransport(t.Context(), cfg, func(next http.RoundTripper) http.RoundTripper {
		rec.next = next
		return rec
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(t.Context(), "corrupt", bytes.Repeat([]byte{7}, 100_000)); err == nil {
		t.Fatal("Put of a corrupted body succeeded")
	} else if !strings.Contains(err.Error(), "BadDigest") && !strings.Contains(err.Error(), "XAmzContentChecksumMismatch") {
		t.Errorf("Put of a corrupted body failed with: %v", err)
	}
	clean := newS3(t, cfg)
	if _, err := clean.Get(t.Context(), "corrupt"); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("Get after the rejected Put = %v, want ErrNotFound", err)
	}
}

func TestS3MissingBucket(t *testing.T) {
	cfg := s3Config(t)
	cfg.Bucket += "-missing"
	s := newS3(t, cfg)
	ctx := t.Context()
	if _, err := s.Get(ctx, "k"); err == nil || errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Get from a missing bucket = %v, want an error other than ErrNotFound", err)
	}
	if err := s.Put(ctx, "k", []byte("x")); err == nil {
		t.Error("Put into a missing bucket succeeded")
	}
	if err := s.List(ctx, "", func(objstore.ObjectInfo) error { return nil }); err == nil {
		t.Error("List of a missing bucket succeeded")
	}
}

func TestOpenS3(t *testing.T) {
	env := testenv.S3(t)
	s, err := objstore.Open(t.Context(), objstore.Config{
		URL:             "s3://" + env.Bucket + "/some/prefix",
		Endpoint:        env.Endpoint,
		Region:          env.Region,
		AccessKeyID:     env.AccessKeyID,
		SecretAccessKey: env.SecretAccessKey,
		PathStyle:       true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*objstore.S3); !ok {
		t.Fatalf("Open(s3://...) = %T, want *objstore.S3", s)
	}
	if err := s.Put(t.Context(), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	whole := newS3(t, objstore.S3Config{
		Bucket: env.Bucket, Endpoint: env.Endpoint, Region: env.Region,
		AccessKeyID: env.AccessKeyID, SecretAccessKey: env.SecretAccessKey, PathStyle: true,
	})
	if got, err := whole.Get(t.Context(), "some/prefix/k"); err != nil || string(got) != "v" {
		t.Fatalf("object under the URL's prefix = %q, %v", got, err)
	}
}

func BenchmarkS3Put(b *testing.B) {
	cfg := s3Config(b)
	s := newS3(b, cfg)
	for _, size := range []int{1 << 20, 8 << 20} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(i * 7)
		}
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			ctx := context.Background()
			b.SetBytes(int64(size))
			for i := 0; b.Loop(); i++ {
				if err := s.Put(ctx, fmt.Sprintf("bench/%d", i%8), data); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("%dMiB-parallel", size>>20), func(b *testing.B) {
			ctx := context.Background()
			b.SetBytes(int64(size))
			var seq sync.Mutex
			n := 0
			b.RunParallel(func(pb *testing.PB) {
				seq.Lock()
				key := fmt.Sprintf("bench/p%d", n)
				n++
				seq.Unlock()
				for pb.Next() {
					if err := s.Put(ctx, key, data); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func BenchmarkS3Get(b *testing.B) {
	s := newS3(b, s3Config(b))
	ctx := context.Background()
	const size = 8 << 20
	if err := s.Put(ctx, "bench/get", make([]byte, size)); err != nil {
		b.Fatal(err)
	}
	b.Run("whole-8MiB", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			if _, err := s.Get(ctx, "bench/get"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("range-64KiB", func(b *testing.B) {
		b.SetBytes(64 << 10)
		for b.Loop() {
			if _, err := s.GetRange(ctx, "bench/get", size/2, 64<<10); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// corruptResponses flips one byte in the middle of every GET response body.
type corruptResponses struct{ next http.RoundTripper }

func (c corruptResponses) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	if err != nil || req.Method != http.MethodGet || resp.StatusCode/100 != 2 || resp.ContentLength <= 0 {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if len(body) > 0 && !strings.HasPrefix(string(body), "<?xml") {
		body[len(body)/2] ^= 0x01
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// A whole-object GET is checked against the CRC32C stored by Put.
func TestS3GetCorruptBodyDetected(t *testing.T) {
	cfg := s3Config(t)
	data := bytes.Repeat([]byte("0123456789"), 10_000)
	if err := newS3(t, cfg).Put(t.Context(), "obj", data); err != nil {
		t.Fatal(err)
	}
	s, err := objstore.NewS3WithTransport(t.Context(), cfg, func(next http.RoundTripper) http.RoundTripper {
		return corruptResponses{next}
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(t.Context(), "obj"); err == nil {
		t.Fatalf("Get of a corrupted body succeeded (%d bytes, equal: %v)", len(got), bytes.Equal(got, data))
	} else {
		t.Logf("Get of a corrupted body: %v", err)
	}
}

// fakeS3 accepts every PUT, recording its headers and body.
type fakeS3 struct {
	mu      sync.Mutex
	headers []http.Header
	bodies  [][]byte
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.headers = append(f.headers, r.Header.Clone())
	f.bodies = append(f.bodies, body)
	f.mu.Unlock()
	w.Header().Set("ETag", `"0"`)
}

// Over HTTPS, as against AWS S3, a PUT has the same shape as over HTTP:
// UNSIGNED-PAYLOAD, a CRC32C header and the plain body, not aws-chunked
// with a trailing checksum.
func TestS3PutRequestTLS(t *testing.T) {
	fake := &fakeS3{}
	srv := httptest.NewTLSServer(fake)
	defer srv.Close()
	s, err := objstore.NewS3WithTransport(t.Context(), objstore.S3Config{
		Bucket: "bucket", Endpoint: srv.URL, Region: "eu-west-1",
		AccessKeyID: "AK", SecretAccessKey: "SK", PathStyle: true,
	}, func(next http.RoundTripper) http.RoundTripper {
		tr := next.(*http.Transport).Clone()
		tr.TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig
		return tr
	})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("x"), 3<<20)
	if err := s.Put(t.Context(), "k", data); err != nil {
		t.Fatal(err)
	}
	if len(fake.headers) != 1 {
		t.Fatalf("%d requests, want 1", len(fake.headers))
	}
	h := fake.headers[0]
	for name, want := range map[string]string{
		"X-Amz-Content-Sha256":  "UNSIGNED-PAYLOAD",
		"X-Amz-Checksum-Crc32c": crc32cBase64(data),
		"Content-Encoding":      "",
		"X-Amz-Trailer":         "",
		"Content-Length":        fmt.Sprint(len(data)),
	} {
		if got := h.Get(name); got != want {
			t.Errorf("PUT header %s = %q, want %q", name, got, want)
		}
	}
	if !bytes.Equal(fake.bodies[0], data) {
		t.Errorf("PUT body is %d bytes that differ from the %d put", len(fake.bodies[0]), len(data))
	}
}

// BenchmarkS3PutClient measures the client side of a PUT alone, against a
// local server that discards the body: signing, checksum, HTTP.
func BenchmarkS3PutClient(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("ETag", `"0"`)
	}))
	defer srv.Close()
	s := newS3(b, objstore.S3Config{
		Bucket: "bucket", Endpoint: srv.URL, AccessKeyID: "AK", SecretAccessKey: "SK", PathStyle: true,
	})
	for _, size := range []int{1 << 20, 8 << 20} {
		data := make([]byte, size)
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				if err := s.Put(context.Background(), "k", data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
