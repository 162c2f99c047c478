package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/testcontainers/testcontainers-go"
)

// dockerPingTimeout bounds the whole Docker detection, so that a machine
// without an engine falls through to local processes at once.
const dockerPingTimeout = 700 * time.Millisecond

var (
	dockerOnce sync.Once
	dockerErr  error
)

// dockerAvailable reports, once per test binary, whether a Docker engine
// answers a ping. STRATA_TEST_DOCKER=0 (or false, off) disables Docker.
func dockerAvailable() error {
	dockerOnce.Do(func() {
		switch strings.ToLower(os.Getenv("STRATA_TEST_DOCKER")) {
		case "0", "false", "off", "no":
			dockerErr = errors.New("disabled by STRATA_TEST_DOCKER")
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), dockerPingTimeout)
		defer cancel()
		dockerErr = pingAny(ctx, dockerHosts())
	})
	return dockerErr
}

// dockerHosts lists where an engine may listen: DOCKER_HOST when set, else
// the usual socket paths.
func dockerHosts() []string {
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		return []string{h}
	}
	hosts := []string{"unix:///var/run/docker.sock"}
	if home, err := os.UserHomeDir(); err == nil {
		hosts = append(hosts,
			"unix://"+filepath.Join(home, ".docker", "run", "docker.sock"),
			"unix://"+filepath.Join(home, ".docker", "desktop", "docker.sock"))
	}
	if xdg := os.Getenv("XDG_RUNTIME_DIR"); xdg != "" {
		hosts = append(hosts, "unix://"+filepath.Join(xdg, "docker.sock"))
	}
	return hosts
}

// pingAny returns nil when one of hosts answers the engine's /_ping.
func pingAny(ctx context.Context, hosts []string) error {
	var msgs []string
	for _, h := range hosts {
		err := pingDocker(ctx, h)
		if err == nil {
			return nil
		}
		msgs = append(msgs, err.Error())
	}
	return fmt.Errorf("no Docker engine answered: %s", strings.Join(msgs, "; "))
}

// pingDocker sends GET /_ping to the engine at host (unix:// or tcp://).
func pingDocker(ctx context.Context, host string) error {
	u, err := url.Parse(host)
	if err != nil {
		return fmt.Errorf("%s: %w", host, err)
	}
	var network, addr string
	switch u.Scheme {
	case "unix":
		network, addr = "unix", u.Path
		if _, err := os.Stat(addr); err != nil {
			return fmt.Errorf("%s: %w", host, err)
		}
	case "tcp":
		network, addr = "tcp", u.Host
		if os.Getenv("DOCKER_TLS_VERIFY") != "" || os.Getenv("DOCKER_CERT_PATH") != "" {
			// TLS engine: that it accepts connections is enough here;
			// testcontainers does the TLS handshake.
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return fmt.Errorf("%s: %w", host, err)
			}
			return c.Close()
		}
	default:
		return fmt.Errorf("%s: unsupported scheme %q", host, u.Scheme)
	}
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
		DisableKeepAlives: true,
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/_ping", nil)
	if err != nil {
		return fmt.Errorf("%s: %w", host, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", host, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: ping answered %s: %s", host, resp.Status, bytes.TrimSpace(body))
	}
	return nil
}

// bufLogger keeps testcontainers' messages out of the test output; they are
// shown when a container fails to start.
type bufLogger struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *bufLogger) Printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(&l.buf, format, args...)
	l.buf.WriteByte('\n')
}

func (l *bufLogger) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// startContainer starts a container and returns host:port of its exposed
// port. The container is terminated by Main, and by the testcontainers
// reaper if the test binary dies first.
func startContainer(ctx context.Context, req testcontainers.ContainerRequest, port string) (string, error) {
	logger := &bufLogger{}
	c, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{
		ContainerRequest: req,
		Started:          true,
		Logger:           logger,
	})
	if err != nil {
		msg := fmt.Sprintf("start container %s: %v", req.Image, err)
		if c != nil {
			msg += "\n" + containerLogTail(c)
			_ = testcontainers.TerminateContainer(c)
		}
		if l := strings.TrimSpace(logger.String()); l != "" {
			msg += "\n" + l
		}
		return "", errors.New(msg)
	}
	atExit(func() { _ = testcontainers.TerminateContainer(c) })
	ep, err := c.PortEndpoint(ctx, port, "")
	if err != nil {
		return "", fmt.Errorf("container %s: endpoint of %s: %w", req.Image, port, err)
	}
	return ep, nil
}

func containerLogTail(c testcontainers.Container) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rc, err := c.Logs(ctx)
	if err != nil {
		return fmt.Sprintf("(no container log: %v)", err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(io.LimitReader(rc, 1<<20))
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}

// imageFromEnv returns the image named by the environment variable key, or
// def.
func imageFromEnv(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
