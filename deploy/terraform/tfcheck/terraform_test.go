package tfcheck

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/testenv"
)

// terraformBin returns the terraform binary. Without one the test fails in
// CI and is skipped elsewhere.
func terraformBin(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("terraform")
	if err != nil {
		testenv.Missing(t, "terraform is not installed (install Terraform >= 1.11 to run this test): %v", err)
	}
	return bin
}

// offlineEnv is the environment of a terraform command that must not use
// the network: no update check, an empty CLI configuration (no mirrors,
// caches or credentials of the machine), and a proxy that refuses every
// connection, so that an attempt to reach a registry fails at once.
func offlineEnv(t testing.TB) []string {
	t.Helper()
	rc := filepath.Join(t.TempDir(), "terraformrc")
	if err := os.WriteFile(rc, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "TF_") || strings.EqualFold(name, "https_proxy") ||
			strings.EqualFold(name, "http_proxy") || strings.EqualFold(name, "no_proxy") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"CHECKPOINT_DISABLE=1",
		"TF_IN_AUTOMATION=1",
		"TF_INPUT=0",
		"TF_CLI_CONFIG_FILE="+rc,
		"HTTPS_PROXY=http://127.0.0.1:1",
		"HTTP_PROXY=http://127.0.0.1:1",
	)
}

// terraform runs one terraform command in dir and returns its output; a
// non-zero exit fails the test.
func terraform(t testing.TB, env []string, dir string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, terraformBin(t), args...)
	cmd.Dir = dir
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("terraform %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return string(out)
}

// copyTree copies the regular files under src to dst, skipping .terraform
// directories, so that terraform writes its working files into dst.
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".terraform" {
			return filepath.SkipDir
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestTerraformFmt(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	out := terraform(t, offlineEnv(t), root, "fmt", "-check", "-recursive", "-diff")
	if strings.TrimSpace(out) != "" {
		t.Errorf("terraform fmt -check printed:\n%s", out)
	}
}

var testSummary = regexp.MustCompile(`Success! (\d+) passed, 0 failed\.`)

// The provider-free layout module: init, validate and test with no network,
// in a copy, so that nothing is written into the repository.
func TestLayoutModuleOffline(t *testing.T) {
	env := offlineEnv(t)
	src := filepath.Join("..", "modules", "layout")
	dir := filepath.Join(t.TempDir(), "layout")
	copyTree(t, src, dir)

	terraform(t, env, dir, "init", "-backend=false", "-input=false", "-no-color")
	if entries, _ := os.ReadDir(filepath.Join(dir, ".terraform", "providers")); len(entries) != 0 {
		t.Errorf("init installed providers into the layout module: %v", entries)
	}
	if out := terraform(t, env, dir, "validate", "-no-color"); !strings.Contains(out, "The configuration is valid") {
		t.Errorf("validate:\n%s", out)
	}
	out := terraform(t, env, dir, "test", "-no-color")
	m := testSummary.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("terraform test did not report success:\n%s", out)
	}
	if n, _ := strconv.Atoi(m[1]); n < 10 {
		t.Errorf("terraform test ran %d runs, want the whole suite (at least 10):\n%s", n, out)
	}
	if _, err := os.Stat(filepath.Join(src, ".terraform")); err == nil {
		t.Errorf("%s/.terraform exists: terraform must only run in a copy", src)
	}
}

// layoutOutputs applies the layout module (it has no resources, so this only
// computes outputs) with vars and returns its outputs.
func layoutOutputs(t *testing.T, vars map[string]string) map[string]json.RawMessage {
	t.Helper()
	env := offlineEnv(t)
	dir := filepath.Join(t.TempDir(), "layout")
	copyTree(t, filepath.Join("..", "modules", "layout"), dir)
	terraform(t, env, dir, "init", "-backend=false", "-input=false", "-no-color")
	args := []string{"apply", "-auto-approve", "-input=false", "-no-color"}
	for k, v := range vars {
		args = append(args, "-var", k+"="+v)
	}
	terraform(t, env, dir, args...)
	var raw map[string]struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal([]byte(terraform(t, env, dir, "output", "-json")), &raw); err != nil {
		t.Fatal(err)
	}
	out := map[string]json.RawMessage{}
	for k, v := range raw {
		out[k] = v.Value
	}
	return out
}

// Optional: the AWS module and the example need the AWS provider, which is
// only available offline from a local mirror. With
// STRATA_TEST_TF_PLUGIN_DIR set to a directory laid out like
// registry.terraform.io/hashicorp/aws/<version>/<os_arch>/, the AWS module
// is validated and its tests run against a mocked provider, and the example
// is validated.
func TestAWSModuleWithLocalProvider(t *testing.T) {
	pluginDir := os.Getenv("STRATA_TEST_TF_PLUGIN_DIR")
	if pluginDir == "" {
		t.Skip("STRATA_TEST_TF_PLUGIN_DIR is not set: the AWS provider cannot be installed offline")
	}
	env := offlineEnv(t)
	root := t.TempDir()
	copyTree(t, filepath.Join("..", "modules"), filepath.Join(root, "modules"))
	copyTree(t, filepath.Join("..", "examples"), filepath.Join(root, "examples"))

	module := filepath.Join(root, "modules", "strata")
	terraform(t, env, module, "init", "-backend=false", "-input=false", "-no-color", "-plugin-dir="+pluginDir)
	terraform(t, env, module, "validate", "-no-color")
	out := terraform(t, env, module, "test", "-no-color")
	if testSummary.FindStringSubmatch(out) == nil {
		t.Fatalf("terraform test of modules/strata did not report success:\n%s", out)
	}

	example := filepath.Join(root, "examples", "aws")
	terraform(t, env, example, "init", "-backend=false", "-input=false", "-no-color", "-plugin-dir="+pluginDir)
	terraform(t, env, example, "validate", "-no-color")
}
