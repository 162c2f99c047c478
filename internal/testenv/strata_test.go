package testenv_test

import (
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/testenv"
)

func TestStartStrata(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs strata")
	}
	dir := t.TempDir()
	bin, err := testenv.BuildStrata(dir)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := testenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	s, err := testenv.StartStrata(bin, dir, "dev", "-data-dir", filepath.Join(dir, "data"),
		"-admin.listen-address="+admin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	if s.AdminAddr != admin {
		t.Errorf("AdminAddr %q, want the given %q", s.AdminAddr, admin)
	}
	if s.KafkaAddr == "" || s.KafkaAddr == admin || !strings.HasPrefix(s.KafkaAddr, "127.0.0.1:") {
		t.Errorf("KafkaAddr %q, want a free port of 127.0.0.1", s.KafkaAddr)
	}

	resp, err := http.Get("http://" + s.AdminAddr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz: %s", resp.Status)
	}
	c, err := net.DialTimeout("tcp", s.KafkaAddr, 5*time.Second)
	if err != nil {
		t.Errorf("Kafka listener: %v", err)
	} else {
		c.Close()
	}

	if err := s.Stop(); err != nil {
		t.Errorf("Stop: %v\n%s", err, s.LogTail())
	}
	select {
	case <-s.Exited():
	default:
		t.Fatal("process still running after Stop")
	}
	if _, err := http.Get("http://" + s.AdminAddr + "/readyz"); err == nil {
		t.Error("/readyz still answers after Stop")
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if s.LogTail() == "" {
		t.Error("no log captured")
	}
}
