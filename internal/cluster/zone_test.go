package cluster

import (
	"strings"
	"testing"
)

func TestZoneFromClientID(t *testing.T) {
	for _, c := range []struct{ id, want string }{
		{"", ""},
		{"app-1", ""},
		{"zone=b", "b"},
		{"app-1,zone=us-east-1b", "us-east-1b"},
		{"zone=us-east-1a,app-1", "us-east-1a"},
		{"app zone=eu-west-3c", "eu-west-3c"},
		{"app;zone=z1;x=y", "z1"},
		{"a&zone=z2&b=c", "z2"},
		{"a|zone=z3", "z3"},
		{"ZONE=Upper", "Upper"},
		{"Zone=mixed,zone=second", "mixed"},
		{"myzone=nope", ""},             // not at a field start
		{"app-zone=nope", ""},           // '-' is not a separator
		{"zone=,zone=second", "second"}, // empty value: keep looking
		{"zone=", ""},
		{"zone", ""},
		{"zone=a=b", "a=b"},
		{"x,zone=rack 7", "rack"},
	} {
		if got := ZoneFromClientID(c.id); got != c.want {
			t.Errorf("ZoneFromClientID(%q) = %q, want %q", c.id, got, c.want)
		}
	}
}

func TestClientZone(t *testing.T) {
	if got := ClientZone("rack-a", "app,zone=b"); got != "rack-a" {
		t.Errorf("rack and client id zone: %q, want the rack", got)
	}
	if got := ClientZone("", "app,zone=b"); got != "b" {
		t.Errorf("client id zone only: %q, want b", got)
	}
	if got := ClientZone("", "app"); got != "" {
		t.Errorf("no zone: %q", got)
	}
}

// zoneByFields is ZoneFromClientID written another way: split the id into
// fields at the separators and take the first "zone=" field with a value.
func zoneByFields(id string) string {
	fields := strings.FieldsFunc(id, func(r rune) bool { return strings.ContainsRune(zoneSeparators, r) })
	for _, f := range fields {
		if len(f) > 5 && strings.EqualFold(f[:5], "zone=") {
			return f[5:]
		}
	}
	return ""
}

// FuzzZoneFromClientID checks, for any client id, that the zone is a
// substring of the id that holds no separator, that it follows "zone=" at
// a field start, and that it is the same zone a field-splitting parser
// finds.
func FuzzZoneFromClientID(f *testing.F) {
	for _, s := range []string{"", "zone=b", "app-1,zone=us-east-1b", "x;ZONE=q|y", "zone=,zone=c", "myzone=x", "zone=\xff\xfe", "z,zone=a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		got := ZoneFromClientID(id)
		if want := zoneByFields(id); got != want {
			t.Fatalf("ZoneFromClientID(%q) = %q, field parser says %q", id, got, want)
		}
		if got == "" {
			return
		}
		if strings.ContainsAny(got, zoneSeparators) {
			t.Fatalf("zone %q of %q holds a separator", got, id)
		}
		i := strings.Index(strings.ToLower(id), "zone="+strings.ToLower(got))
		if i < 0 || !strings.Contains(id, got) {
			t.Fatalf("zone %q does not follow zone= in %q", got, id)
		}
		if len(got) > len(id)-5 {
			t.Fatalf("zone %q longer than the id %q allows", got, id)
		}
		if ClientZone("", id) != got || ClientZone("r", id) != "r" {
			t.Fatalf("ClientZone disagrees for %q", id)
		}
	})
}
