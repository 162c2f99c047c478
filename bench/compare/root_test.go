package main

import (
	"os"
	"path/filepath"
	"testing"
)

// The harness is a module of its own in bench/: it must still build the
// broker of the repository around it, not look for cmd/strata in bench/.
func TestRepoRootIsTheBrokersModule(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	want, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if root != want {
		t.Fatalf("repoRoot() = %s, want %s", root, want)
	}
	if _, err := os.Stat(filepath.Join(root, "cmd", "strata")); err != nil {
		t.Errorf("no cmd/strata in %s: %v", root, err)
	}
	bench, err := os.ReadFile(filepath.Join("..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if declaresModule(bench, brokerModule) {
		t.Errorf("bench/go.mod read as the broker's module")
	}
	if !declaresModule([]byte("// c\nmodule \"github.com/stratalog/strata\"\n\ngo 1.26\n"), brokerModule) {
		t.Errorf("a quoted module path is not recognised")
	}
}
