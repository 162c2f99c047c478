package app_test

import (
	"bufio"
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/stratalog/strata/internal/testenv/proc"
)

const module = "github.com/stratalog/strata/"

// The roles of a node. Each may use metastore, internal/roleapi and the
// leaves, never another role; the front door (internal/kafka) uses none of
// them. internal/cluster, the membership layer every node runs, is not a
// role: the front door reads its view of the cluster.
var roles = []string{"ingest", "reader", "compactor", "internal/groups", "internal/txn"}

// leaves import nothing of this module but other leaves.
var leaves = []string{"internal/recordbatch", "internal/decompress", "internal/segment", "internal/objstore", "internal/bufpool", "internal/roleapi", "internal/topicconfig", "internal/chunk", "internal/crc32c", "internal/version", "internal/acl", "metastore", "internal/sasl"}

// TestImportRules checks docs/architecture.md's rules on who may import
// whom, with the go command's own view of every package's dependencies
// (test files left out): only internal/app knows every role. The SDK is a
// module of its own; its TestModuleGraphIsFranzGo keeps it standing alone.
func TestImportRules(t *testing.T) {
	root, err := proc.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Deps \" \"}}", "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := map[string][]string{} // package -> this module's packages it depends on
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		pkg, ok := strings.CutPrefix(fields[0], module)
		if !ok {
			continue
		}
		deps[pkg] = nil
		for _, d := range fields[1:] {
			if d, ok := strings.CutPrefix(d, module); ok {
				deps[pkg] = append(deps[pkg], d)
			}
		}
	}
	if len(deps) < 20 {
		t.Fatalf("go list named %d packages of the module", len(deps))
	}
	for _, role := range roles {
		for _, other := range roles {
			if other != role && slices.Contains(deps[role], other) {
				t.Errorf("role %s depends on role %s", role, other)
			}
		}
		if slices.Contains(deps["internal/kafka"], role) {
			t.Errorf("the front door internal/kafka depends on role %s", role)
		}
	}
	for _, leaf := range leaves {
		for _, d := range deps[leaf] {
			if !slices.Contains(leaves, d) {
				t.Errorf("leaf %s depends on %s", leaf, d)
			}
		}
	}
}
