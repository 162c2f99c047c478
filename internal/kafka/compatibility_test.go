package kafka

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite the API table of docs/compatibility.md from the handler registry")

const (
	apiTableBegin = "<!-- api-table: generated from the handler registry; go test ./internal/kafka -run TestCompatibilityDoc -update-docs -->"
	apiTableEnd   = "<!-- api-table end -->"
)

// TestCompatibilityDoc: docs/compatibility.md lists exactly the APIs and
// versions the front door serves, so that a user reads there what a client
// will find.
func TestCompatibilityDoc(t *testing.T) {
	keys := make([]int16, 0, len(registry))
	for k := range registry {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	var b strings.Builder
	b.WriteString(apiTableBegin + "\n\n| key | API | versions | needs |\n|---:|---|---|---|\n")
	for _, k := range keys {
		h := registry[k]
		var roles []string
		for _, n := range []struct {
			bit  needs
			role string
		}{{needIngest, "ingest"}, {needReader, "reader"}, {needGroups, "coordinator"}} {
			if h.needs&n.bit != 0 {
				roles = append(roles, n.role)
			}
		}
		versions := fmt.Sprintf("%d–%d", h.minVersion, h.maxVersion)
		if h.minVersion == h.maxVersion {
			versions = fmt.Sprint(h.minVersion)
		}
		need := strings.Join(roles, ", ")
		if need == "" {
			need = "any node"
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s |\n", k, kmsg.NameForKey(k), versions, need)
	}
	b.WriteString("\n" + apiTableEnd)
	want := b.String()

	path := filepath.Join("..", "..", "docs", "compatibility.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	i, j := strings.Index(text, apiTableBegin), strings.Index(text, apiTableEnd)
	if i < 0 || j < i {
		t.Fatalf("%s has no API table between %q and %q", path, apiTableBegin, apiTableEnd)
	}
	got := text[i : j+len(apiTableEnd)]
	if got == want {
		return
	}
	if *updateDocs {
		if err := os.WriteFile(path, []byte(text[:i]+want+text[j+len(apiTableEnd):]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("%s does not list the APIs served; run go test ./internal/kafka -run TestCompatibilityDoc -update-docs\n--- got:\n%s\n--- want:\n%s", path, got, want)
}
