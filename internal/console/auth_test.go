package console_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stratalog/strata/internal/apptest"
)

// TestConsoleNeedsTheAdminToken checks that the console is guarded as
// pprof is: with -admin.token-file every page needs the bearer token.
func TestConsoleNeedsTheAdminToken(t *testing.T) {
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	node := apptest.Start(t, apptest.Dev, "-admin.token-file="+file)
	for _, tc := range []struct {
		auth string
		want int
	}{
		{"", http.StatusUnauthorized},
		{"Bearer wrong", http.StatusUnauthorized},
		{"Bearer s3cret", http.StatusOK},
	} {
		for _, path := range []string{"/ui/", "/ui/topics", "/ui/groups"} {
			req, _ := http.NewRequest(http.MethodGet, "http://"+node.AdminAddr+path, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("GET %s with %q: %s, want %d", path, tc.auth, resp.Status, tc.want)
			}
		}
	}
}

// TestConsoleCanBeTurnedOff checks -console.enabled=false.
func TestConsoleCanBeTurnedOff(t *testing.T) {
	node := apptest.Start(t, apptest.Dev, "-console.enabled=false")
	resp, err := http.Get("http://" + node.AdminAddr + "/ui/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /ui/ with the console off: %s, want 404", resp.Status)
	}
}
