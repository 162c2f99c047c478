package proc

import (
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestStrata(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs strata")
	}
	dir := t.TempDir()
	bin, err := BuildStrata(dir)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	s, err := StartStrata(bin, dir, "dev", "-data-dir", filepath.Join(dir, "data"),
		"-admin.listen-address="+admin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Kill)
	if s.AdminAddr != admin {
		t.Errorf("AdminAddr %q, want the given %q", s.AdminAddr, admin)
	}
	if s.KafkaAddr == "" || s.KafkaAddr == admin || !strings.HasPrefix(s.KafkaAddr, "127.0.0.1:") {
		t.Errorf("KafkaAddr %q, want a free port of 127.0.0.1", s.KafkaAddr)
	}
	serves := func() {
		t.Helper()
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
	}
	serves()

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

	// Started again, it serves on the same addresses; killed, it says so.
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	serves()
	if s.Starts() != 2 {
		t.Errorf("Starts %d, want 2", s.Starts())
	}
	if err := s.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if code, exited := s.Wait(10 * time.Second); !exited || code != -1 {
		t.Fatalf("after SIGKILL: exited %v, code %d", exited, code)
	}
	if err := s.Stop(); err == nil || !strings.Contains(err.Error(), "exited before Stop") {
		t.Errorf("Stop of a killed strata: %v, want an error saying it had exited", err)
	}
	if log := s.LogTail(); strings.Count(log, "=== ") != 2 || !strings.Contains(log, "strata is serving") {
		t.Errorf("log of both starts not kept:\n%s", log)
	}
}
