package migrations

import (
	"testing"
	"testing/fstest"
)

func TestLoad(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	ms, err := Load(fstest.MapFS{
		"m/0010_later.sql": file("SELECT 10"),
		"m/0002_two.sql":   file("SELECT 2"),
		"m/0001_one.sql":   file("SELECT 1"),
		"m/README.md":      file("not a migration"),
		"m/README":         file("not one either"),
	}, "m")
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, m := range ms {
		got = append(got, m.Version)
	}
	if len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 10 || ms[2].SQL != "SELECT 10" || ms[2].Name != "0010_later.sql" {
		t.Errorf("versions %v, want [1 2 10]", got)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"duplicate version": {"m/0001_a.sql": file("x"), "m/1_b.sql": file("y")},
		"no number":         {"m/init.sql": file("x")},
		"not a number":      {"m/one_init.sql": file("x")},
		"version zero":      {"m/0000_init.sql": file("x")},
		"negative version":  {"m/-1_init.sql": file("x")},
	} {
		if _, err := Load(fsys, "m"); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := Load(fstest.MapFS{}, "missing"); err == nil {
		t.Error("a missing directory: no error")
	}
}
