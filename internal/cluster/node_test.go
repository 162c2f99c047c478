package cluster

import (
	"slices"
	"testing"
)

func TestParseRoles(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Role
	}{
		{"all", AllRoles},
		{"ingest", RoleIngest},
		{"ingest, reader", RoleIngest | RoleReader},
		{"controller,coordinator,compactor", RoleController | RoleCoordinator | RoleCompactor},
		{"reader,all", AllRoles},
	} {
		got, err := ParseRoles(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseRoles(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
		again, err := ParseRoles(got.String())
		if err != nil || again != got {
			t.Errorf("ParseRoles(%q.String() = %q) = %v, %v", c.in, got.String(), again, err)
		}
	}
	for _, bad := range []string{"", "ingest,", "writer", "Ingest"} {
		if r, err := ParseRoles(bad); err == nil {
			t.Errorf("ParseRoles(%q) = %v, want an error", bad, r)
		}
	}
	if got := AllRoles.Names(); !slices.Equal(got, []string{"ingest", "reader", "coordinator", "compactor", "controller"}) {
		t.Errorf("AllRoles.Names() = %v", got)
	}
	if got := rolesFromNames([]string{"reader", "from-the-future", "ingest"}); got != RoleReader|RoleIngest {
		t.Errorf("rolesFromNames ignoring unknown names = %v", got)
	}
	if !AllRoles.Has(RoleReader|RoleIngest) || RoleReader.Has(RoleReader|RoleIngest) {
		t.Error("Has is wrong")
	}
}

func TestNodeFromAddr(t *testing.T) {
	n, err := NodeFromAddr(3, "broker-3.example:19092", "az1", RoleIngest)
	if err != nil {
		t.Fatal(err)
	}
	if n != (Node{ID: 3, Host: "broker-3.example", Port: 19092, Rack: "az1", Roles: RoleIngest}) {
		t.Fatalf("NodeFromAddr = %+v", n)
	}
	if n.Addr() != "broker-3.example:19092" {
		t.Fatalf("Addr() = %q", n.Addr())
	}
	if v6, err := NodeFromAddr(1, "[::1]:9092", "", AllRoles); err != nil || v6.Host != "::1" || v6.Addr() != "[::1]:9092" {
		t.Fatalf("IPv6 address: %+v, %v", v6, err)
	}
	for _, bad := range []string{"nohost", "host:", "host:70000", ":9092", "host:-1"} {
		if _, err := NodeFromAddr(1, bad, "", AllRoles); err == nil {
			t.Errorf("NodeFromAddr(%q) succeeded", bad)
		}
	}
	if _, err := NodeFromAddr(-1, "h:1", "", AllRoles); err == nil {
		t.Error("negative node id accepted")
	}
}
