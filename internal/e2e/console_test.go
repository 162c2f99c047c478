package e2e

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stratalog/strata/internal/testenv"
)

// TestDevBannerNamesTheConsole: strata dev serves the web console by
// default, says where in its banner, and the page there answers.
func TestDevBannerNamesTheConsole(t *testing.T) {
	s := testenv.StartStrata(t, "dev", "-data-dir", filepath.Join(t.TempDir(), "data"))
	waitBanner(t, s, 1)
	url := "http://" + s.AdminAddr + "/ui/"
	if !strings.Contains(s.LogTail(), "Web console:            "+url+"\n") {
		t.Fatalf("the banner does not name %s:\n%s", url, s.LogTail())
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "<h2>Nodes</h2>") {
		t.Errorf("GET %s: %s\n%s", url, resp.Status, body)
	}
}
