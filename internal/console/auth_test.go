package console_test

import (
	"context"
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

// TestConsoleBadInput: what a user mistypes gets a page that says so with
// a 4xx status, never a 500 or a hang.
func TestConsoleBadInput(t *testing.T) {
	c := startCluster(t)
	base := "http://" + c.node.AdminAddr
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/ui/topics/no-such-topic", http.StatusNotFound},
		{"/ui/topics/no-such-topic/messages", http.StatusNotFound},
		{"/ui/groups/no-such-group", http.StatusNotFound},
		{"/ui/topics/orders/messages?partition=-1", http.StatusBadRequest},
		{"/ui/topics/orders/messages?partition=99", http.StatusBadRequest},
		{"/ui/topics/orders/messages?partition=x", http.StatusBadRequest},
		{"/ui/topics/orders/messages?from=yesterday", http.StatusBadRequest},
		{"/ui/topics/orders/messages?from=timestamp&timestamp=soon", http.StatusBadRequest},
		{"/ui/topics/orders/messages?from=offset&offset=-5", http.StatusBadRequest},
		{"/ui/topics/orders/messages?from=offset&offset=999999999", http.StatusOK}, // clamped to the end
		{"/ui/topics/orders/messages?from=timestamp&timestamp=2000-01-01T00:00:00Z", http.StatusOK},
		{"/ui/no-such-page", http.StatusNotFound},
	} {
		resp, err := http.Get(base + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET %s: %s, want %d", tc.path, resp.Status, tc.want)
		}
	}
	// Looking at a missing topic does not create it.
	topics, err := c.adm.ListTopics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if topics.Has("no-such-topic") {
		t.Errorf("browsing no-such-topic created it")
	}
}
