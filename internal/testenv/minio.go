package testenv

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/stratalog/strata/internal/testenv/proc"
)

// Environment variables read by S3.
const (
	envS3Endpoint  = "STRATA_TEST_S3_ENDPOINT"
	envS3AccessKey = "STRATA_TEST_S3_ACCESS_KEY"
	envS3SecretKey = "STRATA_TEST_S3_SECRET_KEY"
	envS3Region    = "STRATA_TEST_S3_REGION"
	envMinioImage  = "STRATA_TEST_MINIO_IMAGE"
)

// Credentials of the MinIO servers started here.
const (
	minioUser     = "strata-test"
	minioPassword = "strata-test-secret"
	defaultRegion = "us-east-1"
)

// S3Env describes a bucket on an S3-compatible endpoint. Endpoint is a URL
// (http://host:port); clients must use path-style addressing.
type S3Env struct {
	Endpoint        string
	Region          string
	AccessKeyID     string
	SecretAccessKey string
	Bucket          string
}

// s3Server is the S3 endpoint of this test binary.
type s3Server struct {
	source string        // "env", "docker" or "local"
	env    S3Env         // without Bucket
	client *s3.Client    // nil when there is no endpoint
	proc   *proc.Process // local server only
	setup  setup         // why no endpoint, when client is nil
}

var (
	s3Once    sync.Once
	s3srv     *s3Server
	bucketSeq atomic.Int64
)

// S3 returns a fresh, empty bucket, emptied and removed when the test ends.
// Without an S3 endpoint the test is skipped, or fails when CI=true.
func S3(t testing.TB) S3Env {
	t.Helper()
	return s3Endpoint().bucket(t)
}

// bucket creates a bucket on the endpoint, removed when the test ends.
func (s *s3Server) bucket(t testing.TB) S3Env {
	t.Helper()
	if s.client == nil {
		unavailable(t, "S3 endpoint", &s.setup)
		return S3Env{}
	}
	name := fmt.Sprintf("strata-test-%s-%d", runID, bucketSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := createBucket(ctx, s.client, name, s.env.Region); err != nil {
		t.Fatalf("testenv: create bucket %s on %s endpoint %s: %v", name, s.source, s.env.Endpoint, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := removeBucket(ctx, s.client, name); err != nil {
			t.Logf("testenv: remove bucket %s: %v", name, err)
		}
	})
	env := s.env
	env.Bucket = name
	return env
}

// s3Endpoint finds or starts the endpoint, once per test binary.
func s3Endpoint() *s3Server {
	s3Once.Do(func() { s3srv = findS3() })
	return s3srv
}

func findS3() *s3Server {
	s := &s3Server{}
	if endpoint := os.Getenv(envS3Endpoint); endpoint != "" {
		// Explicitly configured: the only source tried.
		if !strings.Contains(endpoint, "://") {
			endpoint = "http://" + endpoint
		}
		region := os.Getenv(envS3Region)
		if region == "" {
			region = defaultRegion
		}
		env := S3Env{
			Endpoint:        endpoint,
			Region:          region,
			AccessKeyID:     os.Getenv(envS3AccessKey),
			SecretAccessKey: os.Getenv(envS3SecretKey),
		}
		if err := s.connect("env", env); err != nil {
			s.setup.fail(envS3Endpoint, err)
			s.setup.fatal = true
		}
		return s
	}
	s.setup.fail("environment", errors.New(envS3Endpoint+" not set"))

	if err := dockerAvailable(); err != nil {
		s.setup.fail("docker", err)
	} else if env, err := startMinioContainer(); err != nil {
		s.setup.fail("docker", err)
	} else if err := s.connect("docker", env); err != nil {
		s.setup.fail("docker", err)
	} else {
		return s
	}

	env, proc, err := startLocalMinio()
	if err == nil {
		s.proc = proc
		err = s.connect("local", env)
	}
	if err != nil {
		s.setup.fail("local", err)
	}
	return s
}

func newS3Client(env S3Env) *s3.Client {
	return s3.New(s3.Options{
		Region:       env.Region,
		BaseEndpoint: aws.String(env.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(env.AccessKeyID, env.SecretAccessKey, ""),
	})
}

// connect checks that the endpoint answers an authenticated request.
func (s *s3Server) connect(source string, env S3Env) error {
	client := newS3Client(env)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := client.ListBuckets(ctx, &s3.ListBucketsInput{}); err != nil {
		return fmt.Errorf("list buckets on %s: %w", env.Endpoint, err)
	}
	s.source, s.env, s.client = source, env, client
	return nil
}

func createBucket(ctx context.Context, client *s3.Client, name, region string) error {
	in := &s3.CreateBucketInput{Bucket: aws.String(name)}
	if region != defaultRegion {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{
			LocationConstraint: types.BucketLocationConstraint(region),
		}
	}
	_, err := client.CreateBucket(ctx, in)
	return err
}

// removeBucket deletes every object and unfinished upload of a bucket, then
// the bucket.
func removeBucket(ctx context.Context, client *s3.Client, name string) error {
	var errs []error
	uploads := s3.NewListMultipartUploadsPaginator(client, &s3.ListMultipartUploadsInput{Bucket: aws.String(name)})
	for uploads.HasMorePages() {
		page, err := uploads.NextPage(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("list uploads: %w", err))
			break
		}
		for _, u := range page.Uploads {
			if _, err := client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
				Bucket: aws.String(name), Key: u.Key, UploadId: u.UploadId,
			}); err != nil {
				errs = append(errs, fmt.Errorf("abort upload %s: %w", aws.ToString(u.Key), err))
			}
		}
	}
	objects := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: aws.String(name)})
	for objects.HasMorePages() {
		page, err := objects.NextPage(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("list objects: %w", err))
			break
		}
		if len(page.Contents) == 0 {
			continue
		}
		ids := make([]types.ObjectIdentifier, len(page.Contents))
		for i, o := range page.Contents {
			ids[i] = types.ObjectIdentifier{Key: o.Key}
		}
		out, err := client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: aws.String(name),
			Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("delete objects: %w", err))
			break
		}
		for _, e := range out.Errors {
			errs = append(errs, fmt.Errorf("delete %s: %s", aws.ToString(e.Key), aws.ToString(e.Message)))
		}
	}
	if _, err := client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(name)}); err != nil {
		errs = append(errs, fmt.Errorf("delete bucket: %w", err))
	}
	return errors.Join(errs...)
}

func startMinioContainer() (S3Env, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ep, err := startContainer(ctx, testcontainers.ContainerRequest{
		Image:        imageFromEnv(envMinioImage, "minio/minio:latest"),
		ExposedPorts: []string{"9000/tcp"},
		Env: map[string]string{
			"MINIO_ROOT_USER":     minioUser,
			"MINIO_ROOT_PASSWORD": minioPassword,
			"MINIO_BROWSER":       "off",
		},
		Cmd:        []string{"server", "/data"},
		WaitingFor: wait.ForHTTP("/minio/health/live").WithPort("9000/tcp").WithStartupTimeout(2 * time.Minute),
	}, "9000/tcp")
	if err != nil {
		return S3Env{}, err
	}
	return minioEnv("http://" + ep), nil
}

func minioEnv(endpoint string) S3Env {
	return S3Env{
		Endpoint:        endpoint,
		Region:          defaultRegion,
		AccessKeyID:     minioUser,
		SecretAccessKey: minioPassword,
	}
}

// startLocalMinio runs a single-drive MinIO server in a temporary
// directory.
func startLocalMinio() (S3Env, *proc.Process, error) {
	bin, err := proc.MinioBinary()
	if err != nil {
		return S3Env{}, nil, err
	}
	dir, err := serverDir("minio")
	if err != nil {
		return S3Env{}, nil, err
	}
	data := filepath.Join(dir, "data")
	logPath := filepath.Join(dir, "minio.log")
	ok := false
	defer func() {
		// On failure keep the log the error points to; the directory
		// goes once this test binary has ended (removeStaleDirs).
		if !ok {
			_ = os.RemoveAll(data)
		}
	}()
	httpClient := &http.Client{Timeout: time.Second}

	// The port is free when picked but may be taken before the server
	// binds it: try again with another one.
	for attempt := 0; ; attempt++ {
		port, err := proc.FreePort()
		if err != nil {
			return S3Env{}, nil, err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		cmd := exec.Command(bin, "server",
			"--address", addr,
			"--certs-dir", filepath.Join(dir, "certs"),
			data)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(),
			"MINIO_ROOT_USER="+minioUser,
			"MINIO_ROOT_PASSWORD="+minioPassword,
			"MINIO_BROWSER=off",
			"MINIO_UPDATE=off",
			"MINIO_CI_CD=on",
		)
		p, err := proc.Start("minio", cmd, logPath)
		if err != nil {
			return S3Env{}, nil, err
		}
		env := minioEnv("http://" + addr)
		client := newS3Client(env)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err = p.WaitReady(ctx, func(ctx context.Context) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, env.Endpoint+"/minio/health/live", nil)
			if err != nil {
				return err
			}
			resp, err := httpClient.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("health: %s", resp.Status)
			}
			// Live comes before the object layer is up; wait for
			// requests to be served too.
			_, err = client.ListBuckets(ctx, &s3.ListBucketsInput{})
			return err
		})
		cancel()
		if err == nil {
			ok = true
			atExit(func() {
				p.Stop(syscall.SIGTERM, 10*time.Second)
				_ = os.RemoveAll(dir)
			})
			return env, p, nil
		}
		p.Stop(syscall.SIGTERM, 5*time.Second)
		if attempt == 2 || !portInUse(err) {
			return S3Env{}, nil, err
		}
	}
}
