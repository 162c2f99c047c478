package client_test

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// sdkModules are the modules a program that imports the SDK may get in its
// go.sum: this module, franz-go and what franz-go needs.
var sdkModules = []string{
	"github.com/stratalog/strata/client",
	"github.com/twmb/franz-go",
	"github.com/twmb/franz-go/pkg/kadm",
	"github.com/twmb/franz-go/pkg/kmsg",
	"github.com/klauspost/compress",
	"github.com/pierrec/lz4/v4",
}

// TestModuleGraphIsFranzGo guards what users of the SDK inherit: the module
// graph of client/ (test dependencies included, which is why the tests
// import nothing of the broker's module) is what `go mod tidy` puts in a
// user's go.sum. Without a go.work, as a user resolves it.
func TestModuleGraphIsFranzGo(t *testing.T) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Path}}", "all")
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("go list -m all: %v\n%s", err, stderr)
	}
	mods := strings.Fields(string(out))
	for _, m := range mods {
		if !slices.Contains(sdkModules, m) {
			t.Errorf("client/go.mod brings %s into the go.sum of every program using the SDK", m)
		}
	}
	if !slices.Contains(mods, "github.com/twmb/franz-go") {
		t.Errorf("module graph %v lacks franz-go: go list did not list the client module", mods)
	}
}
