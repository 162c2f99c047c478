package objstore

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/stratalog/strata/internal/crc32c"
)

// S3Config configures an S3 store.
type S3Config struct {
	// Bucket holds the objects; it must exist.
	Bucket string
	// Prefix is put, followed by "/", before every key; empty for none.
	// Leading and trailing slashes are ignored.
	Prefix string
	// Endpoint is the service URL, e.g. "http://127.0.0.1:9000" for MinIO;
	// empty for AWS S3.
	Endpoint string
	// Region is the signing region; empty: from the AWS environment, else
	// us-east-1.
	Region string
	// AccessKeyID and SecretAccessKey (and the optional SessionToken) are
	// static credentials; when AccessKeyID is empty the AWS default
	// credential chain is used (environment, shared files, instance role).
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	// PathStyle addresses the bucket in the path (endpoint/bucket/key)
	// instead of the host name, as MinIO usually needs.
	PathStyle bool
	// MaxIdleConnsPerHost bounds the idle connections kept for reuse; 0
	// means DefaultMaxIdleConnsPerHost. Keep it at least at the number of
	// requests in flight at once, or connections are closed and reopened.
	MaxIdleConnsPerHost int

	// wrapTransport, when set, wraps the HTTP transport (tests observe or
	// tamper with requests).
	wrapTransport func(http.RoundTripper) http.RoundTripper
}

// DefaultMaxIdleConnsPerHost is the idle connection pool size per S3 host.
const DefaultMaxIdleConnsPerHost = 256

// S3 stores objects in an S3 bucket through aws-sdk-go-v2. It works with AWS
// S3 and with S3-compatible services such as MinIO, over HTTP or HTTPS.
type S3 struct {
	client *s3.Client
	bucket string
	prefix string // "" or ends in "/"
}

// unsignedPayload signs PutObject with UNSIGNED-PAYLOAD instead of the
// SHA-256 of the body, which costs about as much CPU as the rest of the
// PUT. Integrity comes from the CRC32C checksum header instead.
var unsignedPayload = s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)

// NewS3 returns a store for the bucket described by cfg. It does not contact
// the service.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("objstore: s3: empty bucket name")
	}
	if cfg.AccessKeyID != "" && cfg.SecretAccessKey == "" {
		return nil, errors.New("objstore: s3: access key id without secret access key")
	}
	maxIdle := cfg.MaxIdleConnsPerHost
	if maxIdle <= 0 {
		maxIdle = DefaultMaxIdleConnsPerHost
	}
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConns = 0 // no global limit; bounded per host below
		tr.MaxIdleConnsPerHost = maxIdle
		tr.IdleConnTimeout = 90 * time.Second
	})
	opts := []func(*config.LoadOptions) error{config.WithHTTPClient(httpClient)}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken)))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("objstore: s3: load AWS config: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	if cfg.wrapTransport != nil {
		// After LoadDefaultConfig, which may have added a CA bundle to the
		// transport.
		bc, ok := awsCfg.HTTPClient.(*awshttp.BuildableClient)
		if !ok {
			return nil, fmt.Errorf("objstore: s3: HTTP client is a %T", awsCfg.HTTPClient)
		}
		awsCfg.HTTPClient = &http.Client{Transport: cfg.wrapTransport(bc.GetTransport())}
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
		// No "Expect: 100-continue" on large PUTs: it costs a round trip
		// per object and only saves bandwidth on requests that fail.
		o.ContinueHeaderThresholdBytes = -1
		// Ranged GETs carry no checksum to validate; do not log each one.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	prefix := strings.Trim(cfg.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	return &S3{client: client, bucket: cfg.Bucket, prefix: prefix}, nil
}

// Client returns the underlying S3 client.
func (s *S3) Client() *s3.Client { return s.client }

func (s *S3) name(key string) string { return s.bucket + "/" + s.prefix + key }

// Put uploads data with one PutObject request.
//
// The request carries no SHA-256 of the payload: it is signed with
// UNSIGNED-PAYLOAD, and its integrity is checked by the service against the
// x-amz-checksum-crc32c header computed here. Computing the CRC32C before
// the call matters: when the SDK computes a request checksum itself over
// plain HTTP it also hashes the payload with SHA-256 (its aws-chunked
// trailing checksum, which avoids that, is only used over HTTPS). With the
// header already present the SDK computes nothing, so the same request
// shape (UNSIGNED-PAYLOAD, CRC32C header, plain Content-Length body, no
// aws-chunked encoding and no RequestChecksumCalculation setting needed) is
// sent over HTTP and HTTPS. MinIO accepts it over plain HTTP and refuses a
// body that does not match the checksum (XAmzContentChecksumMismatch; AWS S3
// answers BadDigest). The tests check the headers on the wire and the
// refusal.
func (s *S3) Put(ctx context.Context, key string, data []byte) error {
	if err := ValidateKey(key); err != nil {
		return fmt.Errorf("s3 put: %w", err)
	}
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc32c.Checksum(data))
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:            aws.String(s.bucket),
		Key:               aws.String(s.prefix + key),
		Body:              bytes.NewReader(data),
		ContentLength:     aws.Int64(int64(len(data))),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c,
		ChecksumCRC32C:    aws.String(base64.StdEncoding.EncodeToString(sum[:])),
	}, unsignedPayload)
	if err != nil {
		return s.mapErr(OpPut, key, err)
	}
	return nil
}

// Get downloads the whole object. The SDK checks the body against the
// CRC32C stored by Put (response checksum validation, on by default).
func (s *S3) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ValidateKey(key); err != nil {
		return nil, fmt.Errorf("s3 get: %w", err)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.prefix + key),
	})
	if err != nil {
		return nil, s.mapErr(OpGet, key, err)
	}
	defer func() { _ = out.Body.Close() }()
	buf, err := readBody(out.Body, aws.ToInt64(out.ContentLength))
	if err != nil {
		return nil, fmt.Errorf("s3 get %s: %w", s.name(key), err)
	}
	return buf, nil
}

// readBody reads a response body of the announced length (negative when
// unknown) to its end, so that the SDK's response checksum validation,
// which runs at EOF, reports a corrupt body.
func readBody(body io.Reader, length int64) ([]byte, error) {
	if length < 0 {
		return io.ReadAll(body)
	}
	buf := make([]byte, length)
	if _, err := io.ReadFull(body, buf); err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	var extra [1]byte
	for {
		n, err := body.Read(extra[:])
		if n > 0 {
			return nil, fmt.Errorf("read body: longer than its content length %d", length)
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read body: %w", err)
		}
	}
}

// GetRange downloads bytes [off, off+n) with one ranged GetObject request.
// A zero-length range needs a HeadObject request instead, since HTTP ranges
// cannot be empty.
func (s *S3) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	if err := ValidateKey(key); err != nil {
		return nil, fmt.Errorf("s3 get_range: %w", err)
	}
	if off < 0 || n < 0 {
		return nil, fmt.Errorf("s3 get_range %s: %w", s.name(key), checkRange(off, n, 0))
	}
	if n == 0 {
		head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{
			Bucket: aws.String(s.bucket),
			Key:    aws.String(s.prefix + key),
		})
		if err != nil {
			return nil, s.mapErr(OpGetRange, key, err)
		}
		if err := checkRange(off, n, aws.ToInt64(head.ContentLength)); err != nil {
			return nil, fmt.Errorf("s3 get_range %s: %w", s.name(key), err)
		}
		return []byte{}, nil
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.prefix + key),
		Range:  aws.String("bytes=" + strconv.FormatInt(off, 10) + "-" + strconv.FormatInt(off+n-1, 10)),
	})
	if err != nil {
		err = s.mapErr(OpGetRange, key, err)
		if errors.Is(err, ErrInvalidRange) {
			// 416: off is at or past the end (or the object is empty).
			return nil, fmt.Errorf("s3 get_range %s: %w: bytes [%d, %d) start at or after the end of the object",
				s.name(key), ErrInvalidRange, off, off+n)
		}
		return nil, err
	}
	defer func() { _ = out.Body.Close() }()
	body, err := readBody(out.Body, aws.ToInt64(out.ContentLength))
	if err != nil {
		return nil, fmt.Errorf("s3 get_range %s: %w", s.name(key), err)
	}
	cr := aws.ToString(out.ContentRange)
	if cr == "" {
		// The service ignored the Range header and sent the whole object.
		if err := checkRange(off, n, int64(len(body))); err != nil {
			return nil, fmt.Errorf("s3 get_range %s: %w", s.name(key), err)
		}
		return body[off : off+n : off+n], nil
	}
	start, _, size, err := parseContentRange(cr)
	if err != nil {
		return nil, fmt.Errorf("s3 get_range %s: %w", s.name(key), err)
	}
	if err := checkRange(off, n, size); err != nil {
		return nil, fmt.Errorf("s3 get_range %s: %w", s.name(key), err)
	}
	if start != off || int64(len(body)) != n {
		return nil, fmt.Errorf("s3 get_range %s: asked bytes [%d, %d), got %d bytes from Content-Range %q",
			s.name(key), off, off+n, len(body), cr)
	}
	return body, nil
}

// parseContentRange parses "bytes first-last/size" with a known size, the
// form S3 sends with a ranged GET.
func parseContentRange(v string) (first, last, size int64, err error) {
	bad := func() (int64, int64, int64, error) {
		return 0, 0, 0, fmt.Errorf("malformed Content-Range %q", v)
	}
	rest, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return bad()
	}
	rng, total, ok := strings.Cut(rest, "/")
	if !ok {
		return bad()
	}
	a, b, ok := strings.Cut(rng, "-")
	if !ok {
		return bad()
	}
	if first, err = parseDecimal(a); err != nil {
		return bad()
	}
	if last, err = parseDecimal(b); err != nil {
		return bad()
	}
	if size, err = parseDecimal(total); err != nil {
		return bad()
	}
	if first > last || last >= size {
		return bad()
	}
	return first, last, size, nil
}

// parseDecimal parses a non-negative decimal without sign or leading zeros.
func parseDecimal(s string) (int64, error) {
	if s == "" || s[0] == '+' || s[0] == '-' || (len(s) > 1 && s[0] == '0') {
		return 0, strconv.ErrSyntax
	}
	return strconv.ParseInt(s, 10, 64)
}

// Delete removes the object; S3 reports success for a missing one.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return fmt.Errorf("s3 delete: %w", err)
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.prefix + key),
	})
	if err != nil {
		if err = s.mapErr(OpDelete, key, err); errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	}
	return nil
}

// List pages through ListObjectsV2, which returns keys in byte-wise order.
func (s *S3) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket),
		Prefix: aws.String(s.prefix + prefix),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("s3 list %s: %w", s.name(prefix), err)
		}
		for _, o := range page.Contents {
			key, ok := strings.CutPrefix(aws.ToString(o.Key), s.prefix)
			if !ok {
				continue
			}
			info := ObjectInfo{Key: key, Size: aws.ToInt64(o.Size), LastModified: aws.ToTime(o.LastModified)}
			if err := fn(info); err != nil {
				return err
			}
		}
	}
	return nil
}

// httpStatusError is an error that knows the HTTP status of the response.
type httpStatusError interface {
	error
	HTTPStatusCode() int
}

// mapErr turns the service's "no such key" into ErrNotFound and "invalid
// range" into ErrInvalidRange. A missing bucket stays a plain error: it is a
// configuration problem, not a missing object.
func (s *S3) mapErr(op, key string, err error) error {
	var code string
	if ae, ok := errors.AsType[smithy.APIError](err); ok {
		code = ae.ErrorCode()
	}
	status := 0
	if se, ok := errors.AsType[httpStatusError](err); ok {
		status = se.HTTPStatusCode()
	}
	switch {
	case code == "NoSuchBucket":
	case code == "NoSuchKey" || code == "NotFound" || status == http.StatusNotFound:
		return fmt.Errorf("s3 %s %s: %w", op, s.name(key), ErrNotFound)
	case code == "InvalidRange" || status == http.StatusRequestedRangeNotSatisfiable:
		return fmt.Errorf("s3 %s %s: %w", op, s.name(key), ErrInvalidRange)
	}
	return fmt.Errorf("s3 %s %s: %w", op, s.name(key), err)
}
