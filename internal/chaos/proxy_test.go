package chaos

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/jackc/pgx/v5"

	"github.com/stratalog/strata/internal/testenv"
)

// s3Through is an S3 client that reaches env's bucket through p, retrying
// nothing, so that each fault shows as the client's own error.
func s3Through(env testenv.S3Env, p *S3Proxy) *s3.Client {
	return s3.New(s3.Options{
		Region:       env.Region,
		BaseEndpoint: aws.String(p.URL()),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(env.AccessKeyID, env.SecretAccessKey, ""),
		Retryer:      aws.NopRetryer{},
	})
}

// TestS3ProxyFaults: through the proxy a real MinIO bucket answers as each
// fault says: 500 InternalError and 503 SlowDown without the request
// reaching the store, a lost response after it was applied, a timeout,
// a delay, and listings whose LastModified are moved back by the skew.
func TestS3ProxyFaults(t *testing.T) {
	env := testenv.S3(t)
	p, err := NewS3Proxy("test", env.Endpoint, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	cl := s3Through(env, p)
	ctx := context.Background()
	put := func(ctx context.Context, key string) error {
		_, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(env.Bucket), Key: aws.String(key), Body: bytes.NewReader([]byte("x"))})
		return err
	}
	exists := func(key string) bool {
		direct := s3.New(s3.Options{Region: env.Region, BaseEndpoint: aws.String(env.Endpoint), UsePathStyle: true,
			Credentials: credentials.NewStaticCredentialsProvider(env.AccessKeyID, env.SecretAccessKey, "")})
		_, err := direct.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(env.Bucket), Key: aws.String(key)})
		return err == nil
	}
	code := func(err error) string {
		var ae smithy.APIError
		if errors.As(err, &ae) {
			return ae.ErrorCode()
		}
		return ""
	}

	if err := put(ctx, "plain"); err != nil || !exists("plain") {
		t.Fatalf("healthy put: %v", err)
	}

	p.inject(s3Fault{kind: FaultS3Error, ratio: 1})
	if err := put(ctx, "e500"); code(err) != "InternalError" || exists("e500") {
		t.Errorf("s3-500: error %v (code %q), stored %v; want InternalError and nothing stored", err, code(err), exists("e500"))
	}
	p.inject(s3Fault{kind: FaultS3SlowDown, ratio: 1})
	if err := put(ctx, "e503"); code(err) != "SlowDown" || exists("e503") {
		t.Errorf("s3-503: error %v (code %q), stored %v; want SlowDown and nothing stored", err, code(err), exists("e503"))
	}
	p.inject(s3Fault{kind: FaultS3LostResponse, ratio: 1})
	if err := put(ctx, "lost"); err == nil || !exists("lost") {
		t.Errorf("s3-lost-response: error %v, stored %v; want an error and the object stored", err, exists("lost"))
	}
	p.inject(s3Fault{kind: FaultS3Timeout, ratio: 1})
	tctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err = put(tctx, "timeout")
	cancel()
	if err == nil || exists("timeout") {
		t.Errorf("s3-timeout: error %v, stored %v; want an error and nothing stored", err, exists("timeout"))
	}
	p.inject(s3Fault{kind: FaultS3Slow, ratio: 1, delay: 300 * time.Millisecond, mode: "response"})
	began := time.Now()
	if err := put(ctx, "slow"); err != nil || time.Since(began) < 300*time.Millisecond || !exists("slow") {
		t.Errorf("s3-slow: error %v after %v; want success after at least 300ms", err, time.Since(began))
	}

	p.inject(s3Fault{skew: time.Hour})
	out, err := cl.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(env.Bucket)})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range out.Contents {
		if age := time.Since(aws.ToTime(o.LastModified)); age < 59*time.Minute || age > 61*time.Minute {
			t.Errorf("skewed listing: %s is %v old, want about an hour", aws.ToString(o.Key), age)
		}
	}
	p.Heal()
	if err := put(ctx, "healed"); err != nil {
		t.Errorf("after heal: %v", err)
	}

	// The write hook: before-put never reaches the store.
	called := make(chan bool, 1)
	p.OnNextWrite(false, func(after bool) { called <- after })
	if err := put(ctx, "hooked"); err == nil || exists("hooked") {
		t.Errorf("before-put hook: error %v, stored %v; want an error and nothing stored", err, exists("hooked"))
	}
	if after := <-called; after {
		t.Error("before-put hook called after the write")
	}
	if n, f := p.Counts(); n == 0 || f == 0 {
		t.Errorf("counts %d requests, %d faulted", n, f)
	}
}

// TestTCPProxyCutAndDelay: a PostgreSQL connection through the proxy dies
// when cut, new ones are refused until healed, and a delay shows in the
// round trip.
func TestTCPProxyCutAndDelay(t *testing.T) {
	url := testenv.PostgresURL(t)
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	server := net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	p, err := NewTCPProxy("test", server)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	through := strings.Replace(url, server, p.Addr(), 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, through)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	ping := func(c *pgx.Conn) error {
		var one int
		return c.QueryRow(ctx, "SELECT 1").Scan(&one)
	}
	if err := ping(conn); err != nil {
		t.Fatal(err)
	}
	if n := p.Cut(); n != 1 {
		t.Errorf("cut %d connections, want 1", n)
	}
	if err := ping(conn); err == nil {
		t.Error("query on a cut connection succeeded")
	}
	cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
	if c, err := pgx.Connect(cctx, through); err == nil {
		c.Close(ctx)
		t.Error("connected while cut")
	}
	ccancel()
	p.Heal()
	conn2, err := pgx.Connect(ctx, through)
	if err != nil {
		t.Fatalf("after heal: %v", err)
	}
	defer conn2.Close(ctx)
	p.Delay(100 * time.Millisecond)
	began := time.Now()
	if err := ping(conn2); err != nil {
		t.Fatal(err)
	}
	if rtt := time.Since(began); rtt < 200*time.Millisecond {
		t.Errorf("round trip %v with 100ms each way, want at least 200ms", rtt)
	}
	p.Heal()
}
