package version

import (
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	got := Info{Version: "v1.2.3", Commit: "0123456789abcdef0123", Modified: true, GoVersion: "go1.26.8"}.String()
	if want := "strata v1.2.3 (commit 0123456789ab-modified, go1.26.8)"; got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
	if g := Get(); g.Version != Version || !strings.HasPrefix(g.GoVersion, "go") || g.Commit == "" {
		t.Fatalf("Get() = %+v", g)
	}
}
