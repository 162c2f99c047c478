package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/internal/testenv/proc"
)

// TestDevHelpShowsDevDefaults: `strata dev -h` shows what dev runs with,
// not the defaults of serve.
func TestDevHelpShowsDevDefaults(t *testing.T) {
	out, err := exec.Command(testenv.StrataBinary(t), "dev", "-h").CombinedOutput()
	if err != nil {
		t.Fatalf("strata dev -h: %v\n%s", err, out)
	}
	for _, want := range []string{
		`host:port of the Kafka listener (default "127.0.0.1:9092")`,
		`(default "127.0.0.1:9644")`,
		`(default ".strata/meta.db")`,
		`(default ".strata/objects")`,
		`-data-dir string`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("strata dev -h does not show %s:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), `(default ":9092")`) {
		t.Errorf("strata dev -h shows serve's listen address:\n%s", out)
	}
}

// TestDevDataDirFromEnvironment: STRATA_DATA_DIR moves dev's data, not
// only the folder its banner names.
func TestDevDataDirFromEnvironment(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "elsewhere")
	s := testenv.NewStrata(t, "dev")
	s.Env = append(s.Env, "STRATA_DATA_DIR="+dir)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	waitBanner(t, s, 1)
	if !strings.Contains(s.LogTail(), "Data:                   "+dir+" ") {
		t.Errorf("the banner does not name %s:\n%s", dir, s.LogTail())
	}
	for _, p := range []string{"meta.db", "objects"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("%s not in STRATA_DATA_DIR: %v", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(s.LogPath), ".strata")); err == nil {
		t.Errorf("dev wrote .strata in its working directory although STRATA_DATA_DIR is set")
	}
}

// TestDevBannerOnlyWhenServing: after a kill -9, a restarted dev waits out
// its old registration before it serves; the banner saying it runs comes
// after that, so a client that connects on seeing it is answered at once.
func TestDevBannerOnlyWhenServing(t *testing.T) {
	s := testenv.StartStrata(t, "dev", "-data-dir", filepath.Join(t.TempDir(), "data"))
	waitBanner(t, s, 1)
	s.Kill()
	if _, err := s.Spawn(); err != nil {
		t.Fatal(err)
	}
	waitBanner(t, s, 2)
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.KafkaAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// The old registration lives for a lease (several seconds): a banner
	// printed before joining would leave this request waiting for it.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		t.Fatalf("no answer within 2s of the banner: %v\n%s", err, s.LogTail())
	}
}

// waitBanner waits until the log holds n of dev's "running" banners.
func waitBanner(t *testing.T, s *proc.Strata, n int) {
	t.Helper()
	testenv.WaitFor(t, time.Minute, "strata dev's banner", func() bool {
		return strings.Count(s.LogTail(), "Strata dev is running.") >= n
	})
}

// TestVersion: `strata version` names the build, and a running node
// exports the same as strata_build_info, for dashboards.
func TestVersion(t *testing.T) {
	out, err := exec.Command(testenv.StrataBinary(t), "version").CombinedOutput()
	if err != nil {
		t.Fatalf("strata version: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`^strata (\S+) \(commit (\S+), (go\S+)\)\n$`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("strata version printed %q", out)
	}
	s := testenv.StartStrata(t, "dev", "-data-dir", filepath.Join(t.TempDir(), "data"))
	resp, err := http.Get("http://" + s.AdminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	commit := strings.TrimSuffix(m[2], "-modified")
	want := regexp.MustCompile(`strata_build_info\{commit="` + regexp.QuoteMeta(commit) + `[^"]*",goversion="` +
		regexp.QuoteMeta(m[3]) + `",version="` + regexp.QuoteMeta(m[1]) + `"\} 1`)
	if !want.Match(body) {
		t.Errorf("/metrics has no strata_build_info matching %s", want)
	}
}
