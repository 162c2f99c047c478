package proc

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestVersionLess(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"9.6", "15", true},
		{"15", "9.6", false},
		{"15", "16", true},
		{"16", "16", false},
		{"13", "13.1", true},
	} {
		if got := versionLess(tc.a, tc.b); got != tc.want {
			t.Errorf("versionLess(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestRepoRoot(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(mod, []byte("module github.com/stratalog/strata\n")) {
		t.Fatalf("%s/go.mod is not this module's", root)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if rel, err := filepath.Rel(root, wd); err != nil || rel != filepath.Join("internal", "testenv", "proc") {
		t.Fatalf("root %s is not three levels above %s", root, wd)
	}
}

func TestFreeAddrNeverRepeats(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		addr, err := FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(addr, "127.0.0.1:") || seen[addr] {
			t.Fatalf("FreeAddr gave %q (seen before: %v)", addr, seen[addr])
		}
		seen[addr] = true
	}
}

func TestProcessLogsExitsAndSignals(t *testing.T) {
	log := filepath.Join(t.TempDir(), "child.log")
	p, err := Start("child", exec.Command("sh", "-c", "echo out; echo err >&2; exit 3"), log)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Wait(10 * time.Second) {
		t.Fatal("child did not exit")
	}
	if p.Running() || p.ExitCode() != 3 || p.Err() == nil {
		t.Fatalf("running %v, exit code %d, err %v; want exited 3", p.Running(), p.ExitCode(), p.Err())
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); len(lines) != 3 ||
		!strings.HasPrefix(lines[0], "=== ") || !strings.HasSuffix(lines[0], "sh -c echo out; echo err >&2; exit 3") ||
		lines[1] != "out" || lines[2] != "err" {
		t.Fatalf("log:\n%s\nwant the start line, then out and err", b)
	}
	if tail := LogTail(log, 1); tail != "    err" {
		t.Errorf("LogTail(1) = %q, want the last line indented", tail)
	}

	// Stop: the signal first, SIGKILL to the group after the grace.
	p, err = Start("sleeper", exec.Command("sh", "-c", "trap '' TERM; echo trapped; sleep 60 & wait"), log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.WaitReady(ctx, func(context.Context) error {
		if b, _ := os.ReadFile(log); !bytes.HasSuffix(b, []byte("trapped\n")) {
			return errors.New("no trap yet")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if p.Stop(syscall.SIGTERM, 100*time.Millisecond) {
		t.Error("Stop says a child that ignores SIGTERM exited within the grace")
	}
	if p.Running() || p.ExitCode() != -1 {
		t.Errorf("after Stop: running %v, exit code %d; want killed", p.Running(), p.ExitCode())
	}
	var ee *exec.ExitError
	if !errors.As(p.Err(), &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("after Stop: %v, want killed by SIGKILL", p.Err())
	}
}

func TestWaitReadyEndsWithTheProcess(t *testing.T) {
	log := filepath.Join(t.TempDir(), "child.log")
	p, err := Start("quitter", exec.Command("sh", "-c", "echo giving up; exit 1"), log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	err = p.WaitReady(ctx, func(context.Context) error { return errors.New("not yet") })
	if err == nil || !strings.Contains(err.Error(), "exited during start-up") || !strings.Contains(err.Error(), "giving up") {
		t.Fatalf("WaitReady: %v; want the exit and the log's tail", err)
	}
	if time.Since(start) > 30*time.Second {
		t.Errorf("WaitReady took %v to notice the exit", time.Since(start))
	}
}
