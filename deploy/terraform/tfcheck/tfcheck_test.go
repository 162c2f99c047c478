package tfcheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// A small module tree using every kind of reference the checker knows. It
// must come out clean; each case below adds one mistake to it.
var goodTree = map[string]string{
	"mod/variables.tf": `
variable "required" {
  type = string
}
variable "optional" {
  type    = list(string)
  default = []
}
`,
	"mod/outputs.tf": `
output "out" {
  value = var.required
}
`,
	"root/main.tf": `
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", configuration_aliases = [aws.other] }
  }
}

variable "things" {
  type = map(object({ a = string, b = optional(number, 1) }))
}

locals {
  names = [for k, v in var.things : "${k}-${v.a}"]
  first = local.names[0]
}

data "aws_caller_identity" "me" {}

ephemeral "aws_secretsmanager_random_password" "pw" {}

resource "aws_s3_bucket" "b" {
  count  = 2
  bucket = "${local.first}-${count.index}"
  lifecycle {
    ignore_changes = [tags, bucket]
    precondition {
      condition     = length(var.things) > 0
      error_message = "no things"
    }
  }
}

resource "aws_thing" "t" {
  for_each = var.things
  provider = aws.other
  name     = each.key
  bucket   = aws_s3_bucket.b[0].id
  account  = data.aws_caller_identity.me.account_id
  secret   = ephemeral.aws_secretsmanager_random_password.pw.random_password
  where    = path.module
  dynamic "rule" {
    for_each = local.names
    iterator = r
    content {
      v = r.value
      dynamic "inner" {
        for_each = [1]
        content {
          w = "${inner.value}-${r.key}"
        }
      }
    }
  }
  dynamic "statement" {
    for_each = local.names
    content {
      v = statement.value
    }
  }
}

module "m" {
  source   = "../mod"
  count    = 1
  required = data.aws_caller_identity.me.account_id
}

module "m2" {
  source    = "../mod"
  required  = "x"
  optional  = [module.m[0].out]
  providers = { aws = aws.other }
}

output "o" {
  value = module.m2.out
}
`,
}

func TestCheckModule(t *testing.T) {
	cases := []struct {
		name string
		bad  string // added to root/bad.tf; empty: the tree as it is
		want string // expected in the one problem reported
	}{
		{name: "clean"},
		{name: "undeclared variable", bad: `output "bad" { value = var.nope }`, want: "var.nope is not declared"},
		{name: "undeclared local", bad: `output "bad" { value = local.nope }`, want: "local.nope is not declared"},
		{name: "undeclared resource", bad: `output "bad" { value = aws_s3_bucket.nope.id }`, want: "resource aws_s3_bucket.nope is not declared"},
		{name: "undeclared data source", bad: `output "bad" { value = data.aws_caller_identity.you.id }`, want: "data.aws_caller_identity.you is not declared"},
		{name: "undeclared ephemeral", bad: `output "bad" { value = ephemeral.aws_secretsmanager_random_password.x.random_password }`, want: "ephemeral.aws_secretsmanager_random_password.x is not declared"},
		{name: "undeclared module", bad: `output "bad" { value = module.nope.out }`, want: "module.nope is not declared"},
		{name: "undeclared module output", bad: `output "bad" { value = module.m2.nope }`, want: `module.m2 has no output "nope"`},
		{name: "unknown module input", bad: "module \"bad\" {\n  source   = \"../mod\"\n  required = \"x\"\n  typo     = 1\n}", want: `has no variable "typo"`},
		{name: "missing required input", bad: "module \"bad\" {\n  source = \"../mod\"\n}", want: `required variable "required" is not given`},
		{name: "iterator outside its dynamic block", bad: `output "bad" { value = statement.value }`, want: "resource statement.value is not declared"},
		{name: "reference inside a nested block", bad: "resource \"aws_x\" \"y\" {\n  rule {\n    v = var.nope\n  }\n}", want: "var.nope is not declared"},
		{name: "reference inside a for expression", bad: `output "bad" { value = [for x in var.things : local.nope] }`, want: "local.nope is not declared"},
		{name: "bare name", bad: `output "bad" { value = something }`, want: "something is neither a declared name nor a resource reference"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, goodTree)
			if tc.bad != "" {
				writeFiles(t, dir, map[string]string{"root/bad.tf": tc.bad + "\n"})
			}
			m, err := LoadModule(filepath.Join(dir, "root"))
			if err != nil {
				t.Fatal(err)
			}
			problems := CheckModule(m)
			if tc.want == "" {
				if len(problems) != 0 {
					t.Fatalf("want no problems, got %v", problems)
				}
				return
			}
			if len(problems) != 1 || !strings.Contains(problems[0].Msg, tc.want) {
				t.Fatalf("want one problem %q, got %v", tc.want, problems)
			}
			if got := problems[0].Range.Filename; filepath.Base(got) != "bad.tf" {
				t.Errorf("problem reported in %s, want bad.tf", got)
			}
		})
	}
}

func TestLoadModuleErrors(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"no files", map[string]string{"x/README": "no terraform here"}, "no .tf files"},
		{"syntax error", map[string]string{"x/main.tf": `variable "a" {`}, "parse"},
		{"duplicate variable", map[string]string{"x/a.tf": `variable "a" {}`, "x/b.tf": `variable "a" {}`}, `variable "a" declared twice`},
		{"computed module source", map[string]string{"x/main.tf": `module "m" { source = var.s }`}, "source must be a literal string"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tc.files)
			_, err := LoadModule(filepath.Join(dir, "x"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error containing %q, got %v", tc.want, err)
			}
		})
	}
}

func TestCheckModuleMissingCallee(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"root/main.tf": "module \"m\" {\n  source = \"./absent\"\n}\n"})
	m, err := LoadModule(filepath.Join(dir, "root"))
	if err != nil {
		t.Fatal(err)
	}
	problems := CheckModule(m)
	if len(problems) != 1 || !strings.Contains(problems[0].Msg, "no .tf files") {
		t.Fatalf("want the missing module reported, got %v", problems)
	}
}

func TestCheckTests(t *testing.T) {
	module := map[string]string{"m/main.tf": `
variable "name" {
  type = string
}
resource "aws_lb" "kafka" {
  name = var.name
}
output "ports" {
  value = [9092]
}
`}
	cases := []struct {
		name string
		test string
		want []string
	}{
		{name: "clean", test: `
variables {
  name = "a"
}
override_resource {
  target = aws_lb.kafka
}
run "first" {
  variables {
    name = "b"
  }
  assert {
    condition     = output.ports == [9092] && aws_lb.kafka.name == var.name
    error_message = "x"
  }
}
run "second" {
  assert {
    condition     = run.first.ports == output.ports
    error_message = "x"
  }
  expect_failures = [var.name, aws_lb.kafka, output.ports]
}
run "elsewhere" {
  module {
    source = "./other"
  }
  assert {
    condition     = output.anything
    error_message = "another module's outputs are not checked"
  }
}
`},
		{name: "unknown names", test: `
variables {
  nmae = "a"
}
run "first" {
  variables {
    typo = 1
  }
  assert {
    condition     = output.nope == run.later.x
    error_message = "x"
  }
  expect_failures = [var.nope, aws_lb.other]
}
run "later" {}
`, want: []string{
			`the module has no variable "nmae"`,
			`the module has no variable "typo"`,
			`the module has no output "nope"`,
			`no earlier run "later"`,
			"var.nope is not declared",
			"resource aws_lb.other is not declared",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, module)
			writeFiles(t, dir, map[string]string{"m/tests/m.tftest.hcl": tc.test})
			m, err := LoadModule(filepath.Join(dir, "m"))
			if err != nil {
				t.Fatal(err)
			}
			problems, err := CheckTests(m)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range problems {
				got = append(got, p.Msg)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("want %d problems %q, got %q", len(tc.want), tc.want, got)
			}
			for _, w := range tc.want {
				found := false
				for _, g := range got {
					found = found || strings.Contains(g, w)
				}
				if !found {
					t.Errorf("missing problem %q in %q", w, got)
				}
			}
		})
	}
}

// The repository's own Terraform: every module, example and test file.
func TestRepositoryReferences(t *testing.T) {
	dirs, err := ModuleDirs("..")
	if err != nil {
		t.Fatal(err)
	}
	var rel []string
	for _, d := range dirs {
		r, _ := filepath.Rel("..", d)
		rel = append(rel, filepath.ToSlash(r))
	}
	for _, want := range []string{"examples/aws", "modules/layout", "modules/strata"} {
		if !contains(rel, want) {
			t.Errorf("module %s not found; found %v", want, rel)
		}
	}
	problems, err := CheckTree("..")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// The layout module must stay provider-free, so that it can be initialised
// and tested offline, and the AWS module must use it.
func TestLayoutModuleIsProviderFree(t *testing.T) {
	layout, err := LoadModule(filepath.Join("..", "modules", "layout"))
	if err != nil {
		t.Fatal(err)
	}
	if len(layout.Resources) != 0 || len(layout.Providers) != 0 || len(layout.Calls) != 0 {
		t.Errorf("layout declares resources %v, providers %v, modules %v; it must declare none",
			keys(layout.Resources), layout.Providers, keys(layout.Calls))
	}
	aws, err := LoadModule(filepath.Join("..", "modules", "strata"))
	if err != nil {
		t.Fatal(err)
	}
	if c := aws.Calls["layout"]; c == nil || c.Source != "../layout" {
		t.Errorf("modules/strata must call ../layout, calls %v", keys(aws.Calls))
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
