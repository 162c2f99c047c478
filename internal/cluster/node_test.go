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
	if !n.Equal(Node{ID: 3, Host: "broker-3.example", Port: 19092, Rack: "az1", Roles: RoleIngest}) {
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

func TestNodeListenersRoundTrip(t *testing.T) {
	eps := []Endpoint{{"PLAINTEXT", "10.0.0.1", 9092}, {"SASL_SSL", "broker-1.example.com", 9093}, {"V6", "::1", 9094}}
	s := FormatListeners(eps)
	if s != "PLAINTEXT://10.0.0.1:9092,SASL_SSL://broker-1.example.com:9093,V6://[::1]:9094" {
		t.Fatalf("FormatListeners = %q", s)
	}
	if got := ParseListeners(s); !slices.Equal(got, eps) {
		t.Fatalf("ParseListeners(%q) = %+v, want %+v", s, got, eps)
	}
	n := Node{ID: 1, Host: "10.0.0.1", Port: 9092, Listeners: eps}
	if h, p, ok := n.Endpoint("SASL_SSL"); !ok || h != "broker-1.example.com" || p != 9093 {
		t.Fatalf("Endpoint(SASL_SSL) = %s, %d, %v", h, p, ok)
	}
	if _, _, ok := n.Endpoint("SSL"); ok {
		t.Fatal("Endpoint(SSL) found on a node without that listener")
	}
	old := Node{ID: 2, Host: "old.example", Port: 9092}
	if h, p, ok := old.Endpoint("SASL_SSL"); !ok || h != "old.example" || p != 9092 {
		t.Fatalf("a node without listeners: Endpoint = %s, %d, %v; want its host and port", h, p, ok)
	}
}
