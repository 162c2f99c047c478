// Package tfcheck checks Strata's Terraform code without Terraform's
// providers: every reference (var.X, local.X, module.X.Y, resources, data
// sources) must name something its module declares, and every module call
// must pass only, and at least, the variables the called module requires.
// Terraform itself reports these only after `terraform init`, which needs the
// provider registry; this package parses the .tf files with hcl/v2 instead.
//
// The tests of this package also run `terraform fmt`, and `terraform init`,
// `validate` and `test` on the provider-free layout module.
package tfcheck

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Module is what the .tf files of one directory declare.
type Module struct {
	Dir       string
	Variables map[string]Variable
	Locals    map[string]hcl.Range
	Outputs   map[string]hcl.Range
	// Resources holds managed resources as "type.name", data sources as
	// "data.type.name" and ephemeral resources as "ephemeral.type.name".
	Resources map[string]hcl.Range
	Calls     map[string]*Call
	// Providers lists the provider local names the module configures or
	// requires (provider blocks and terraform.required_providers).
	Providers []string

	files []*hclsyntax.Body
}

// Variable is a declared input variable.
type Variable struct {
	Range    hcl.Range
	Required bool // no default
	// Default is the default value when it is a constant, else cty.NilVal.
	Default cty.Value
}

// Call is a module block.
type Call struct {
	Name   string
	Source string
	Range  hcl.Range
	Inputs map[string]hcl.Range
}

// Local reports whether the called module is a directory of this repository.
func (c *Call) Local() bool {
	return strings.HasPrefix(c.Source, "./") || strings.HasPrefix(c.Source, "../")
}

// Problem is one broken reference or module call.
type Problem struct {
	Range hcl.Range
	Msg   string
}

func (p Problem) String() string {
	return fmt.Sprintf("%s:%d: %s", p.Range.Filename, p.Range.Start.Line, p.Msg)
}

// Meta-arguments of a module block that are not input variables.
var moduleMetaArgs = map[string]bool{
	"source": true, "version": true, "count": true, "for_each": true,
	"depends_on": true, "providers": true,
}

// LoadModule parses every .tf file of dir.
func LoadModule(dir string) (*Module, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("%s: no .tf files", dir)
	}
	sort.Strings(paths)
	m := &Module{
		Dir:       dir,
		Variables: map[string]Variable{},
		Locals:    map[string]hcl.Range{},
		Outputs:   map[string]hcl.Range{},
		Resources: map[string]hcl.Range{},
		Calls:     map[string]*Call{},
	}
	parser := hclparse.NewParser()
	for _, path := range paths {
		f, diags := parser.ParseHCLFile(path)
		if diags.HasErrors() {
			return nil, fmt.Errorf("parse %s: %w", path, diags)
		}
		body := f.Body.(*hclsyntax.Body)
		m.files = append(m.files, body)
		if err := m.declare(body); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Module) declare(body *hclsyntax.Body) error {
	dup := func(kind, name string, r hcl.Range) error {
		return fmt.Errorf("%s:%d: %s %q declared twice", r.Filename, r.Start.Line, kind, name)
	}
	for _, b := range body.Blocks {
		switch b.Type {
		case "variable":
			if _, ok := m.Variables[b.Labels[0]]; ok {
				return dup("variable", b.Labels[0], b.DefRange())
			}
			v := Variable{Range: b.DefRange(), Required: true, Default: cty.NilVal}
			if a, ok := b.Body.Attributes["default"]; ok {
				v.Required = false
				if val, diags := a.Expr.Value(nil); !diags.HasErrors() {
					v.Default = val
				}
			}
			m.Variables[b.Labels[0]] = v
		case "locals":
			for name, a := range b.Body.Attributes {
				if _, ok := m.Locals[name]; ok {
					return dup("local", name, a.SrcRange)
				}
				m.Locals[name] = a.SrcRange
			}
		case "output":
			if _, ok := m.Outputs[b.Labels[0]]; ok {
				return dup("output", b.Labels[0], b.DefRange())
			}
			m.Outputs[b.Labels[0]] = b.DefRange()
		case "resource", "data", "ephemeral":
			key := b.Labels[0] + "." + b.Labels[1]
			if b.Type != "resource" {
				key = b.Type + "." + key
			}
			if _, ok := m.Resources[key]; ok {
				return dup(b.Type, key, b.DefRange())
			}
			m.Resources[key] = b.DefRange()
		case "module":
			c := &Call{Name: b.Labels[0], Range: b.DefRange(), Inputs: map[string]hcl.Range{}}
			for name, a := range b.Body.Attributes {
				if name == "source" {
					v, diags := a.Expr.Value(nil)
					if diags.HasErrors() || v.Type() != cty.String {
						return fmt.Errorf("%s:%d: module %q: source must be a literal string", a.SrcRange.Filename, a.SrcRange.Start.Line, c.Name)
					}
					c.Source = v.AsString()
					continue
				}
				if !moduleMetaArgs[name] {
					c.Inputs[name] = a.SrcRange
				}
			}
			if _, ok := m.Calls[c.Name]; ok {
				return dup("module", c.Name, c.Range)
			}
			m.Calls[c.Name] = c
		case "provider":
			m.Providers = append(m.Providers, b.Labels[0])
		case "terraform":
			for _, tb := range b.Body.Blocks {
				if tb.Type == "required_providers" {
					for name := range tb.Body.Attributes {
						m.Providers = append(m.Providers, name)
					}
				}
			}
		}
	}
	return nil
}

// scope is what a reference may name at one place: the module, plus the
// names bound there (each, count, self, dynamic block iterators).
type scope struct {
	m     *Module
	extra map[string]bool
	// outputsOf returns the outputs of a called module, nil when unknown
	// (not a local module).
	outputsOf func(call string) map[string]hcl.Range
}

func (s scope) with(names ...string) scope {
	extra := map[string]bool{}
	for k := range s.extra {
		extra[k] = true
	}
	for _, n := range names {
		extra[n] = true
	}
	s.extra = extra
	return s
}

// Roots that are always valid in a module.
var builtinRoots = map[string]bool{"path": true, "terraform": true}

func (s scope) check(tr hcl.Traversal) *Problem {
	root := tr.RootName()
	attr := func(i int) (string, bool) {
		if i >= len(tr) {
			return "", false
		}
		a, ok := tr[i].(hcl.TraverseAttr)
		return a.Name, ok
	}
	bad := func(format string, args ...any) *Problem {
		return &Problem{Range: tr.SourceRange(), Msg: fmt.Sprintf(format, args...)}
	}
	if s.extra[root] || builtinRoots[root] {
		return nil
	}
	switch root {
	case "var":
		name, _ := attr(1)
		if _, ok := s.m.Variables[name]; !ok {
			return bad("var.%s is not declared", name)
		}
	case "local":
		name, _ := attr(1)
		if _, ok := s.m.Locals[name]; !ok {
			return bad("local.%s is not declared", name)
		}
	case "module":
		name, _ := attr(1)
		if _, ok := s.m.Calls[name]; !ok {
			return bad("module.%s is not declared", name)
		}
		out, ok := attr(2)
		if !ok {
			return nil
		}
		if outputs := s.outputsOf(name); outputs != nil {
			if _, ok := outputs[out]; !ok {
				return bad("module.%s has no output %q", name, out)
			}
		}
	case "data", "ephemeral":
		typ, _ := attr(1)
		name, _ := attr(2)
		key := root + "." + typ + "." + name
		if _, ok := s.m.Resources[key]; !ok {
			return bad("%s is not declared", key)
		}
	default:
		name, ok := attr(1)
		if !ok {
			return bad("%s is neither a declared name nor a resource reference", root)
		}
		key := root + "." + name
		if _, ok := s.m.Resources[key]; !ok {
			return bad("resource %s is not declared", key)
		}
	}
	return nil
}

func (s scope) expr(e hclsyntax.Expression, out *[]Problem) {
	for _, tr := range hclsyntax.Variables(e) {
		if p := s.check(tr); p != nil {
			*out = append(*out, *p)
		}
	}
}

// body checks every expression of a block body. blockType is the type of
// the block the body belongs to ("" for a file).
func (s scope) body(blockType string, b *hclsyntax.Body, out *[]Problem) {
	for name, a := range b.Attributes {
		switch {
		case blockType == "variable" && name == "type":
			continue // a type constraint such as list(string), not references
		case blockType == "lifecycle" && name == "ignore_changes":
			continue // attribute names of the resource itself
		case blockType == "module" && name == "providers", name == "provider":
			continue // provider references
		}
		s.expr(a.Expr, out)
	}
	for _, nb := range b.Blocks {
		inner := s
		switch nb.Type {
		case "terraform", "moved", "removed", "check":
			// Settings, refactoring records that may name resources that
			// no longer exist, and checks with their own scoped data
			// sources: not checked.
			continue
		case "dynamic":
			iter := nb.Labels[0]
			if a, ok := nb.Body.Attributes["iterator"]; ok {
				if tr, diags := hcl.AbsTraversalForExpr(a.Expr); !diags.HasErrors() {
					iter = tr.RootName()
				}
			}
			if fe, ok := nb.Body.Attributes["for_each"]; ok {
				s.expr(fe.Expr, out)
			}
			for _, cb := range nb.Body.Blocks {
				if cb.Type == "content" {
					s.with(iter).body("content", cb.Body, out)
				}
			}
			continue
		case "resource", "data", "ephemeral":
			inner = s.with("count", "each", "self")
		case "module":
			inner = s.with("count", "each")
		case "provisioner", "connection", "postcondition":
			inner = s.with("self")
		}
		inner.body(nb.Type, nb.Body, out)
	}
}

// CheckModule checks the references and module calls of m. Local modules
// that m calls are loaded from disk.
func CheckModule(m *Module) []Problem {
	var problems []Problem
	called := map[string]*Module{}
	for name, c := range m.Calls {
		if !c.Local() {
			continue
		}
		callee, err := LoadModule(filepath.Join(m.Dir, c.Source))
		if err != nil {
			problems = append(problems, Problem{Range: c.Range, Msg: fmt.Sprintf("module %q: %v", name, err)})
			continue
		}
		called[name] = callee
		for input, r := range c.Inputs {
			if _, ok := callee.Variables[input]; !ok {
				problems = append(problems, Problem{Range: r, Msg: fmt.Sprintf("module %q (%s) has no variable %q", name, c.Source, input)})
			}
		}
		for v, decl := range callee.Variables {
			if _, given := c.Inputs[v]; decl.Required && !given {
				problems = append(problems, Problem{Range: c.Range, Msg: fmt.Sprintf("module %q (%s): required variable %q is not given", name, c.Source, v)})
			}
		}
	}
	s := scope{m: m, outputsOf: func(call string) map[string]hcl.Range {
		if callee := called[call]; callee != nil {
			return callee.Outputs
		}
		return nil
	}}
	for _, f := range m.files {
		s.body("", f, &problems)
	}
	sortProblems(problems)
	return problems
}

// CheckTests checks the references of a module's .tftest.hcl files (in dir
// and dir/tests): variables given to runs must be module variables, and
// assertions may name the module's outputs, variables and resources, and
// earlier runs.
func CheckTests(m *Module) ([]Problem, error) {
	var paths []string
	for _, pattern := range []string{"*.tftest.hcl", filepath.Join("tests", "*.tftest.hcl")} {
		p, err := filepath.Glob(filepath.Join(m.Dir, pattern))
		if err != nil {
			return nil, err
		}
		paths = append(paths, p...)
	}
	sort.Strings(paths)
	var problems []Problem
	parser := hclparse.NewParser()
	for _, path := range paths {
		f, diags := parser.ParseHCLFile(path)
		if diags.HasErrors() {
			return nil, fmt.Errorf("parse %s: %w", path, diags)
		}
		problems = append(problems, checkTestFile(m, f.Body.(*hclsyntax.Body))...)
	}
	sortProblems(problems)
	return problems, nil
}

func checkTestFile(m *Module, body *hclsyntax.Body) []Problem {
	var problems []Problem
	bad := func(r hcl.Range, format string, args ...any) {
		problems = append(problems, Problem{Range: r, Msg: fmt.Sprintf(format, args...)})
	}
	checkVariables := func(b *hclsyntax.Block) {
		for name, a := range b.Body.Attributes {
			if _, ok := m.Variables[name]; !ok {
				bad(a.SrcRange, "the module has no variable %q", name)
			}
		}
	}
	runs := map[string]bool{}
	// A reference in a test file: output.X, var.X, run.X, or anything a
	// module expression may name.
	check := func(e hclsyntax.Expression) {
		for _, tr := range hclsyntax.Variables(e) {
			name := ""
			if len(tr) > 1 {
				if a, ok := tr[1].(hcl.TraverseAttr); ok {
					name = a.Name
				}
			}
			switch tr.RootName() {
			case "output":
				if _, ok := m.Outputs[name]; !ok {
					bad(tr.SourceRange(), "the module has no output %q", name)
				}
			case "run":
				if !runs[name] {
					bad(tr.SourceRange(), "no earlier run %q", name)
				}
			default:
				s := scope{m: m, outputsOf: func(string) map[string]hcl.Range { return nil }}
				if p := s.check(tr); p != nil {
					problems = append(problems, *p)
				}
			}
		}
	}
	for _, b := range body.Blocks {
		switch b.Type {
		case "variables":
			checkVariables(b)
		case "override_resource", "override_data":
			if a, ok := b.Body.Attributes["target"]; ok {
				check(a.Expr)
			}
		case "run":
			if _, other := blockOf(b.Body, "module"); other {
				runs[b.Labels[0]] = true
				continue // tests another module
			}
			for _, rb := range b.Body.Blocks {
				switch rb.Type {
				case "variables":
					checkVariables(rb)
				case "assert":
					for _, a := range rb.Body.Attributes {
						check(a.Expr)
					}
				}
			}
			if a, ok := b.Body.Attributes["expect_failures"]; ok {
				check(a.Expr)
			}
			runs[b.Labels[0]] = true
		}
	}
	return problems
}

func blockOf(b *hclsyntax.Body, typ string) (*hclsyntax.Block, bool) {
	for _, nb := range b.Blocks {
		if nb.Type == typ {
			return nb, true
		}
	}
	return nil, false
}

// ModuleDirs returns every directory under root that holds .tf files,
// skipping .terraform directories.
func ModuleDirs(root string) ([]string, error) {
	seen := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".terraform" {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".tf") {
			seen[filepath.Dir(path)] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	dirs := make([]string, 0, len(seen))
	for d := range seen {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	return dirs, nil
}

// CheckTree checks every module under root and its tests.
func CheckTree(root string) ([]Problem, error) {
	dirs, err := ModuleDirs(root)
	if err != nil {
		return nil, err
	}
	if len(dirs) == 0 {
		return nil, fmt.Errorf("%s: no Terraform modules", root)
	}
	var problems []Problem
	for _, dir := range dirs {
		m, err := LoadModule(dir)
		if err != nil {
			return nil, err
		}
		problems = append(problems, CheckModule(m)...)
		tp, err := CheckTests(m)
		if err != nil {
			return nil, err
		}
		problems = append(problems, tp...)
	}
	return problems, nil
}

func sortProblems(p []Problem) {
	sort.Slice(p, func(i, j int) bool {
		a, b := p[i].Range, p[j].Range
		if a.Filename != b.Filename {
			return a.Filename < b.Filename
		}
		if a.Start.Line != b.Start.Line {
			return a.Start.Line < b.Start.Line
		}
		return p[i].Msg < p[j].Msg
	})
}
