package testenv_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/stratalog/strata/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func connect(t *testing.T, dbURL string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("connect to %s: %v", dbURL, err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func TestPostgresURLGivesSeparateEmptyDatabases(t *testing.T) {
	ctx := context.Background()
	url1, url2 := testenv.PostgresURL(t), testenv.PostgresURL(t)
	if url1 == url2 {
		t.Fatalf("two calls returned the same URL %s", url1)
	}
	c1, c2 := connect(t, url1), connect(t, url2)

	var db1, db2 string
	if err := c1.QueryRow(ctx, "SELECT current_database()").Scan(&db1); err != nil {
		t.Fatal(err)
	}
	if err := c2.QueryRow(ctx, "SELECT current_database()").Scan(&db2); err != nil {
		t.Fatal(err)
	}
	if db1 == db2 {
		t.Fatalf("both URLs lead to database %s", db1)
	}
	for u, db := range map[string]string{url1: db1, url2: db2} {
		if path, _, _ := strings.Cut(u, "?"); !strings.HasSuffix(path, "/"+db) {
			t.Errorf("URL %s does not name its database %s", u, db)
		}
	}

	var tables int
	if err := c1.QueryRow(ctx,
		"SELECT count(*) FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')",
	).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Fatalf("fresh database has %d tables", tables)
	}

	// A table made in one database is not seen in the other.
	if _, err := c1.Exec(ctx, "CREATE TABLE t (v int); INSERT INTO t VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	var v int
	if err := c1.QueryRow(ctx, "SELECT v FROM t").Scan(&v); err != nil || v != 42 {
		t.Fatalf("read back from first database: v=%d err=%v", v, err)
	}
	_, err := c2.Exec(ctx, "SELECT v FROM t")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != pgerrcode.UndefinedTable {
		t.Fatalf("table of the first database seen from the second: err=%v", err)
	}
}

func TestPostgresURLDatabaseDroppedAfterTest(t *testing.T) {
	var dbURL string
	t.Run("user", func(t *testing.T) {
		dbURL = testenv.PostgresURL(t)
		c := connect(t, dbURL)
		if _, err := c.Exec(context.Background(), "CREATE TABLE t (v int)"); err != nil {
			t.Fatal(err)
		}
	})
	if t.Failed() || dbURL == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err == nil {
		_ = conn.Close(ctx)
		t.Fatalf("database %s still exists after its test ended", dbURL)
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != pgerrcode.InvalidCatalogName {
		t.Fatalf("connect to dropped database: want %s (database does not exist), got %v", pgerrcode.InvalidCatalogName, err)
	}
}

func TestPostgresURLParallel(t *testing.T) {
	seen := make(chan string, 8)
	t.Run("group", func(t *testing.T) {
		for i := range cap(seen) {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				t.Parallel()
				c := connect(t, testenv.PostgresURL(t))
				var db string
				if err := c.QueryRow(context.Background(), "SELECT current_database()").Scan(&db); err != nil {
					t.Fatal(err)
				}
				seen <- db
			})
		}
	})
	close(seen)
	names := map[string]bool{}
	for db := range seen {
		if names[db] {
			t.Errorf("database %s handed out twice", db)
		}
		names[db] = true
	}
	if !t.Failed() && len(names) != cap(seen) {
		t.Errorf("got %d databases from %d parallel tests", len(names), cap(seen))
	}
}

// s3Client talks to env directly, as a user of the bucket would.
func s3Client(env testenv.S3Env) *s3.Client {
	return s3.New(s3.Options{
		Region:       env.Region,
		BaseEndpoint: aws.String(env.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(env.AccessKeyID, env.SecretAccessKey, ""),
	})
}

func putObject(t *testing.T, c *s3.Client, bucket, key string, data []byte) {
	t.Helper()
	if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data),
	}); err != nil {
		t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
}

func TestS3GivesSeparateBuckets(t *testing.T) {
	ctx := context.Background()
	env1, env2 := testenv.S3(t), testenv.S3(t)
	if env1.Bucket == "" || env1.Bucket == env2.Bucket {
		t.Fatalf("buckets %q and %q: want two different names", env1.Bucket, env2.Bucket)
	}
	if u, err := url.Parse(env1.Endpoint); err != nil || u.Scheme == "" || u.Host == "" {
		t.Fatalf("endpoint %q is not a URL: %v", env1.Endpoint, err)
	}
	if env1.Region == "" || env1.AccessKeyID == "" {
		t.Fatalf("incomplete environment %+v", env1)
	}
	c := s3Client(env1)

	want := []byte("segment bytes \x00\x01\x02")
	putObject(t, c, env1.Bucket, "a/b/object", want)
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(env1.Bucket), Key: aws.String("a/b/object")})
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	_, err = got.ReadFrom(out.Body)
	out.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("read back %q, want %q", got.Bytes(), want)
	}

	// The second bucket is empty: the object is not there.
	_, err = s3Client(env2).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(env2.Bucket), Key: aws.String("a/b/object")})
	var noKey *types.NoSuchKey
	if !errors.As(err, &noKey) {
		t.Fatalf("object of bucket %s found in bucket %s: err=%v", env1.Bucket, env2.Bucket, err)
	}
	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(env2.Bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Contents) != 0 {
		t.Fatalf("fresh bucket holds %d objects", len(list.Contents))
	}
}

func TestS3BucketRemovedAfterTest(t *testing.T) {
	var env testenv.S3Env
	t.Run("user", func(t *testing.T) {
		env = testenv.S3(t)
		c := s3Client(env)
		for i := range 5 {
			putObject(t, c, env.Bucket, fmt.Sprintf("p%d/obj-%d", i%2, i), []byte{byte(i)})
		}
	})
	if t.Failed() || env.Bucket == "" {
		return
	}
	_, err := s3Client(env).HeadBucket(context.Background(), &s3.HeadBucketInput{Bucket: aws.String(env.Bucket)})
	var notFound *types.NotFound
	if !errors.As(err, &notFound) {
		t.Fatalf("bucket %s after its test ended: want not found, got err=%v", env.Bucket, err)
	}
}

func TestS3Parallel(t *testing.T) {
	seen := make(chan string, 8)
	t.Run("group", func(t *testing.T) {
		for i := range cap(seen) {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				t.Parallel()
				env := testenv.S3(t)
				putObject(t, s3Client(env), env.Bucket, "k", []byte("v"))
				seen <- env.Bucket
			})
		}
	})
	close(seen)
	names := map[string]bool{}
	for b := range seen {
		if names[b] {
			t.Errorf("bucket %s handed out twice", b)
		}
		names[b] = true
	}
	if !t.Failed() && len(names) != cap(seen) {
		t.Errorf("got %d buckets from %d parallel tests", len(names), cap(seen))
	}
}
