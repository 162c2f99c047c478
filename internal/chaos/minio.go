package chaos

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	procs "github.com/stratalog/strata/internal/testenv/proc"
)

// Credentials and bucket of the MinIO server the harness starts.
const (
	minioUser     = "strata-chaos"
	minioPassword = "strata-chaos-secret"
	minioRegion   = "us-east-1"
	minioBucket   = "strata"
)

// Minio is a single-drive MinIO server on a fixed port and data
// directory, so that it can be killed and started again on the same data.
type Minio struct {
	bin, data, logPath string
	addr               string

	mu   sync.Mutex
	proc *procs.Process
}

// MinioBinary finds the MinIO server as the tests do (see
// proc.MinioBinary).
func MinioBinary() (string, error) {
	bin, err := procs.MinioBinary()
	if err != nil {
		return "", fmt.Errorf("chaos: %w", err)
	}
	return bin, nil
}

// StartMinio starts MinIO with its data under dir and creates the bucket.
func StartMinio(ctx context.Context, bin, dir string) (*Minio, error) {
	addr, err := procs.FreeAddr()
	if err != nil {
		return nil, err
	}
	m := &Minio{bin: bin, data: filepath.Join(dir, "minio"), logPath: filepath.Join(dir, "minio.log"), addr: addr}
	if err := m.Start(ctx); err != nil {
		return nil, err
	}
	if _, err := m.client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(minioBucket)}); err != nil {
		m.Stop()
		return nil, fmt.Errorf("chaos: create bucket: %w", err)
	}
	return m, nil
}

// URL is the server's endpoint.
func (m *Minio) URL() string { return "http://" + m.addr }

func (m *Minio) client() *s3.Client {
	return s3.New(s3.Options{
		Region:       minioRegion,
		BaseEndpoint: aws.String(m.URL()),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(minioUser, minioPassword, ""),
	})
}

// Start starts the server (again) and waits until it serves requests.
func (m *Minio) Start(ctx context.Context) error {
	cmd := exec.Command(m.bin, "server", "--address", m.addr, "--certs-dir", m.data+"-certs", m.data)
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+minioUser,
		"MINIO_ROOT_PASSWORD="+minioPassword,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CI_CD=on",
	)
	p, err := startProc("minio", cmd, m.logPath, nil)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.proc = p
	m.mu.Unlock()
	deadline, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cl := m.client()
	err = p.WaitReady(deadline, func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.URL()+"/minio/health/live", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("health: %s", resp.Status)
		}
		_, err = cl.ListBuckets(ctx, &s3.ListBucketsInput{})
		return err
	})
	if err != nil {
		return fmt.Errorf("chaos: %w", err)
	}
	return nil
}

// Kill sends SIGKILL.
func (m *Minio) Kill() {
	m.mu.Lock()
	p := m.proc
	m.mu.Unlock()
	if p != nil && p.Running() {
		p.Kill()
	}
}

// Stop stops the server.
func (m *Minio) Stop() {
	m.mu.Lock()
	p := m.proc
	m.mu.Unlock()
	if p != nil && p.Running() {
		p.Stop(syscall.SIGTERM, 10*time.Second)
	}
}
