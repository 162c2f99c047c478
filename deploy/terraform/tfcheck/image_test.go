package tfcheck

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/stratalog/strata/internal/app"
)

var repoRoot = filepath.Join("..", "..", "..")

// dockerfile is the parsed Dockerfile: instructions with line continuations
// joined, comments dropped, split into stages.
type dockerfile struct {
	stages [][]string // each stage starts with its FROM line
}

func readDockerfile(t testing.TB) dockerfile {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var d dockerfile
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if cont, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(line)
		instr := strings.Join(strings.Fields(cur.String()), " ")
		cur.Reset()
		if instr == "" {
			continue
		}
		if strings.HasPrefix(strings.ToUpper(instr), "FROM ") {
			d.stages = append(d.stages, nil)
		}
		if len(d.stages) == 0 {
			t.Fatalf("Dockerfile: %q before the first FROM", instr)
		}
		d.stages[len(d.stages)-1] = append(d.stages[len(d.stages)-1], instr)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(d.stages) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a builder and a final stage", len(d.stages))
	}
	return d
}

// args returns the arguments of the instructions named op in stage s.
func (d dockerfile) args(s int, op string) []string {
	var out []string
	for _, instr := range d.stages[s] {
		name, rest, _ := strings.Cut(instr, " ")
		if strings.EqualFold(name, op) {
			out = append(out, rest)
		}
	}
	return out
}

// goVersion returns the "go" directive of go.mod as major.minor numbers.
func goModVersion(t testing.TB) (int, int) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+)\.(\d+)`).FindStringSubmatch(string(data))
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	return major, minor
}

func TestDockerfile(t *testing.T) {
	d := readDockerfile(t)
	build, final := 0, len(d.stages)-1

	// The builder's Go is at least the one go.mod asks for.
	from := d.args(build, "FROM")[0]
	m := regexp.MustCompile(`golang:(\d+)\.(\d+)`).FindStringSubmatch(from)
	if m == nil {
		t.Fatalf("builder stage %q does not use a golang image with a version", from)
	}
	wantMajor, wantMinor := goModVersion(t)
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	if major < wantMajor || major == wantMajor && minor < wantMinor {
		t.Errorf("builder uses Go %d.%d, go.mod needs %d.%d", major, minor, wantMajor, wantMinor)
	}

	// It builds the strata command, statically (the final image has no libc).
	runs := strings.Join(d.args(build, "RUN"), "\n")
	if !strings.Contains(runs, "./cmd/strata") || !strings.Contains(runs, "CGO_ENABLED=0") {
		t.Errorf("builder must build ./cmd/strata with CGO_ENABLED=0:\n%s", runs)
	}
	if _, err := os.Stat(filepath.Join(repoRoot, "cmd", "strata")); err != nil {
		t.Errorf("the builder builds ./cmd/strata: %v", err)
	}

	// The final stage runs as a non-root user.
	users := d.args(final, "USER")
	if len(users) == 0 {
		t.Fatal("final stage has no USER: it would run as root")
	}
	if u, _, _ := strings.Cut(users[len(users)-1], ":"); u == "root" || u == "0" {
		t.Errorf("final stage runs as %q", users[len(users)-1])
	}

	// It exposes the ports strata listens on by default and that the
	// Terraform layout maps.
	var exposed []string
	for _, e := range d.args(final, "EXPOSE") {
		exposed = append(exposed, strings.Fields(e)...)
	}
	var cfg app.Config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	for _, f := range []string{"kafka.listen-address", "admin.listen-address"} {
		def := fs.Lookup(f).DefValue
		_, port, _ := strings.Cut(def, ":")
		if !contains(exposed, port) {
			t.Errorf("EXPOSE %v lacks port %s of %s's default %q", exposed, port, f, def)
		}
	}
	for name, port := range layoutContainerPorts(t) {
		if !contains(exposed, strconv.Itoa(port)) {
			t.Errorf("the layout's %s port %d is not exposed (EXPOSE %v)", name, port, exposed)
		}
	}

	// The entry point is `strata serve`, from where the binary was copied.
	eps := d.args(final, "ENTRYPOINT")
	if len(eps) != 1 {
		t.Fatalf("final stage has %d ENTRYPOINTs, want 1", len(eps))
	}
	var ep []string
	if err := json.Unmarshal([]byte(eps[0]), &ep); err != nil {
		t.Fatalf("ENTRYPOINT %s is not in exec form: %v", eps[0], err)
	}
	if len(ep) < 2 || ep[1] != "serve" {
		t.Errorf("ENTRYPOINT %v, want the strata binary then serve", ep)
	}
	copied := false
	for _, c := range d.args(final, "COPY") {
		f := strings.Fields(c)
		copied = copied || f[len(f)-1] == ep[0]
	}
	if !copied {
		t.Errorf("ENTRYPOINT runs %s, which no COPY of the final stage writes", ep[0])
	}

	// `go mod download` runs before the sources are copied, so that its
	// layer stays cached; it reads the go.mod of every module of the
	// repository that the binary is built from (the SDK in client/ too).
	var early []string
	for _, instr := range d.stages[build] {
		if strings.HasPrefix(instr, "RUN ") && strings.Contains(instr, "go mod download") {
			break
		}
		if name, rest, _ := strings.Cut(instr, " "); strings.EqualFold(name, "COPY") {
			early = append(early, strings.Fields(rest)...)
		}
	}
	for _, dir := range localModules(t) {
		for _, f := range []string{"go.mod", "go.sum"} {
			if want := path.Join(dir, f); !contains(early, want) {
				t.Errorf("the builder does not COPY %s before go mod download (COPY %v)", want, early)
			}
		}
	}
}

// localModules returns the directories, relative to the repository root,
// of the modules ./cmd/strata is built from: the root module and those its
// go.mod replaces with a directory of the repository.
func localModules(t testing.TB) []string {
	t.Helper()
	var dirs []string
	for _, d := range goList(t, "-m", "-f",
		"{{if .Main}}.{{else}}{{with .Replace}}{{if not .Version}}{{.Path}}{{end}}{{end}}{{end}}", "all") {
		dirs = append(dirs, path.Clean(d))
	}
	if len(dirs) < 2 {
		t.Fatalf("go list -m found %v, want the root module and client/", dirs)
	}
	return dirs
}

// goList runs `go list args...` at the repository root, without a go.work
// as the image build resolves modules, and returns the words it prints.
func goList(t testing.TB, args ...string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", append([]string{"list"}, args...)...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v", strings.Join(args, " "), err)
	}
	return strings.Fields(string(out))
}

// layoutContainerPorts reads the container ports from the layout module.
func layoutContainerPorts(t testing.TB) map[string]int {
	t.Helper()
	f, diags := hclparse.NewParser().ParseHCLFile(filepath.Join("..", "modules", "layout", "main.tf"))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	ports := map[string]int{}
	for _, b := range f.Body.(*hclsyntax.Body).Blocks {
		if b.Type != "locals" {
			continue
		}
		for name, a := range b.Body.Attributes {
			if !strings.HasPrefix(name, "container_") || !strings.HasSuffix(name, "_port") {
				continue
			}
			v, diags := a.Expr.Value(nil)
			if diags.HasErrors() {
				t.Fatalf("layout local %s is not a constant: %v", name, diags)
			}
			n, _ := v.AsBigFloat().Int64()
			ports[name] = int(n)
		}
	}
	if len(ports) != 2 {
		t.Fatalf("want the kafka and admin container ports in the layout, got %v", ports)
	}
	return ports
}

// The build context must contain every package the binary is built from.
func TestDockerignoreKeepsTheSources(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, strings.TrimPrefix(line, "/"))
		}
	}
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	// The packages of the root module, and of the modules it replaces
	// with a directory of the repository (client/).
	var needed []string
	for _, dir := range goList(t, "-deps", "-f",
		"{{with .Module}}{{if or .Main (and .Replace (not .Replace.Version))}}{{$.Dir}}{{end}}{{end}}", "./cmd/strata") {
		rel, err := filepath.Rel(root, dir)
		if err != nil {
			t.Fatal(err)
		}
		needed = append(needed, filepath.ToSlash(rel))
	}
	if len(needed) < 2 {
		t.Fatalf("go list found too few packages: %v", needed)
	}
	for _, dir := range localModules(t) {
		needed = append(needed, path.Join(dir, "go.mod"), path.Join(dir, "go.sum"))
	}
	for _, path := range needed {
		// A pattern excludes a path when it matches the path or one of
		// its parent directories.
		parts := strings.Split(path, "/")
		for i := 1; i <= len(parts); i++ {
			prefix := strings.Join(parts[:i], "/")
			for _, p := range patterns {
				if ok, _ := filepath.Match(p, prefix); ok {
					t.Errorf(".dockerignore pattern %q excludes %s, which the image needs", p, path)
				}
			}
		}
	}
}
