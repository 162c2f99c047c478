package chaos

import (
	"context"
	"errors"
	"fmt"
	"net"
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
	proc *proc
}

// MinioBinary finds the MinIO server: STRATA_MINIO_BIN, else bin/minio
// under the repository root (found from the working directory up), else
// minio on PATH.
func MinioBinary() (string, error) {
	if p := os.Getenv("STRATA_MINIO_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("chaos: STRATA_MINIO_BIN: %w", err)
		}
		return p, nil
	}
	if root, err := repoRoot(); err == nil {
		p := filepath.Join(root, "bin", "minio")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p, nil
	}
	return "", errors.New("chaos: no MinIO binary: set STRATA_MINIO_BIN, build bin/minio (make tools) or put minio on PATH")
}

// StartMinio starts MinIO with its data under dir and creates the bucket.
func StartMinio(ctx context.Context, bin, dir string) (*Minio, error) {
	addr, err := freeAddr()
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
	hc := &http.Client{Timeout: time.Second}
	cl := m.client()
	for {
		req, _ := http.NewRequestWithContext(deadline, http.MethodGet, m.URL()+"/minio/health/live", nil)
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				actx, acancel := context.WithTimeout(deadline, 2*time.Second)
				_, err = cl.ListBuckets(actx, &s3.ListBucketsInput{})
				acancel()
				if err == nil {
					return nil
				}
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("chaos: minio exited during start-up (%s):\n%s", p.exited(), logTail(m.logPath, 20))
		case <-deadline.Done():
			return fmt.Errorf("chaos: minio not ready: %v\n%s", err, logTail(m.logPath, 20))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Kill sends SIGKILL.
func (m *Minio) Kill() {
	m.mu.Lock()
	p := m.proc
	m.mu.Unlock()
	if p != nil && p.running() {
		p.kill()
	}
}

// Stop stops the server.
func (m *Minio) Stop() {
	m.mu.Lock()
	p := m.proc
	m.mu.Unlock()
	if p != nil && p.running() {
		p.stop(syscall.SIGTERM, 10*time.Second)
	}
}

// freeAddr returns an address of 127.0.0.1 whose port was free a moment
// ago and that no earlier call returned.
func freeAddr() (string, error) {
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", fmt.Errorf("chaos: find a free port: %w", err)
		}
		addr := l.Addr().String()
		l.Close()
		if _, dup := handedOut.LoadOrStore(addr, true); !dup {
			return addr, nil
		}
	}
	return "", errors.New("chaos: find a free port: 100 tries gave ports already handed out")
}

var handedOut sync.Map

// repoRoot is the nearest directory from the working directory up that
// holds a go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("chaos: no go.mod above the working directory")
		}
		dir = parent
	}
}
