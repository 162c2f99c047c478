package cluster

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/stratalog/strata/metastore"
)

// Role is a set of the roles a node runs.
type Role uint8

// The roles, as `strata serve --roles` names them.
const (
	RoleIngest Role = 1 << iota
	RoleReader
	RoleCoordinator
	RoleCompactor
	RoleController

	// AllRoles is every role: `strata serve` without --roles, and `strata dev`.
	AllRoles = RoleIngest | RoleReader | RoleCoordinator | RoleCompactor | RoleController
)

var roleNames = []struct {
	role Role
	name string
}{
	{RoleIngest, "ingest"},
	{RoleReader, "reader"},
	{RoleCoordinator, "coordinator"},
	{RoleCompactor, "compactor"},
	{RoleController, "controller"},
}

// ParseRoles parses a comma-separated list of role names, or "all". Spaces
// around names are ignored; an unknown name is an error.
func ParseRoles(s string) (Role, error) {
	var r Role
	for name := range strings.SplitSeq(s, ",") {
		name = strings.TrimSpace(name)
		if name == "all" {
			r |= AllRoles
			continue
		}
		one, ok := roleByName(name)
		if !ok {
			return 0, fmt.Errorf("unknown role %q (want ingest, reader, coordinator, compactor, controller or all)", name)
		}
		r |= one
	}
	return r, nil
}

func roleByName(name string) (Role, bool) {
	for _, rn := range roleNames {
		if rn.name == name {
			return rn.role, true
		}
	}
	return 0, false
}

// rolesFromNames builds a Role from registry names, ignoring names this
// version does not know (a newer node's roles).
func rolesFromNames(names []string) Role {
	var r Role
	for _, n := range names {
		if one, ok := roleByName(n); ok {
			r |= one
		}
	}
	return r
}

// Has reports whether r includes every role of o.
func (r Role) Has(o Role) bool { return r&o == o }

// Names returns the role names of r, in a fixed order.
func (r Role) Names() []string {
	names := []string{}
	for _, rn := range roleNames {
		if r.Has(rn.role) {
			names = append(names, rn.name)
		}
	}
	return names
}

// String returns the comma-separated role names of r.
func (r Role) String() string { return strings.Join(r.Names(), ",") }

// Node is a live node as the cluster sees it.
type Node struct {
	ID    int32
	Host  string
	Port  int32
	Rack  string // zone; "" when none
	Roles Role
	// Listeners are the node's advertised address on each of its Kafka
	// listeners; Host and Port are the first one's. Empty for a node that
	// registered only Host and Port: those serve every listener.
	Listeners []Endpoint
}

// Equal reports whether n and o are the same node with the same addresses.
func (n Node) Equal(o Node) bool {
	return n.ID == o.ID && n.Host == o.Host && n.Port == o.Port && n.Rack == o.Rack && n.Roles == o.Roles &&
		slices.Equal(n.Listeners, o.Listeners)
}

// Endpoint is a node's advertised address on one named listener.
type Endpoint struct {
	Listener string
	Host     string
	Port     int32
}

// Endpoint returns n's advertised address on the named listener; false
// when n has listeners but not that one (Kafka leaves such a node out of
// the answers to clients of that listener).
func (n Node) Endpoint(listener string) (host string, port int32, ok bool) {
	if len(n.Listeners) == 0 {
		return n.Host, n.Port, true
	}
	for _, e := range n.Listeners {
		if e.Listener == listener {
			return e.Host, e.Port, true
		}
	}
	return "", 0, false
}

// FormatListeners writes endpoints in Kafka's advertised.listeners form,
// "NAME://host:port,...", as the node registry keeps them.
func FormatListeners(eps []Endpoint) string {
	parts := make([]string, len(eps))
	for i, e := range eps {
		parts[i] = e.Listener + "://" + net.JoinHostPort(e.Host, strconv.Itoa(int(e.Port)))
	}
	return strings.Join(parts, ",")
}

// ParseListeners reads what FormatListeners wrote. Entries it cannot read
// (a newer node's) are left out.
func ParseListeners(s string) []Endpoint {
	var out []Endpoint
	for entry := range strings.SplitSeq(s, ",") {
		name, addr, ok := strings.Cut(strings.TrimSpace(entry), "://")
		if !ok || name == "" {
			continue
		}
		host, portStr, err := net.SplitHostPort(addr)
		if err != nil {
			continue
		}
		port, err := strconv.ParseUint(portStr, 10, 16)
		if err != nil {
			continue
		}
		out = append(out, Endpoint{Listener: name, Host: host, Port: int32(port)})
	}
	return out
}

// Addr returns host:port.
func (n Node) Addr() string { return net.JoinHostPort(n.Host, strconv.Itoa(int(n.Port))) }

// Validate reports a node that cannot be registered.
func (n Node) Validate() error {
	switch {
	case n.ID < 0:
		return fmt.Errorf("node id %d: want >= 0", n.ID)
	case n.Host == "":
		return fmt.Errorf("node %d: empty advertised host", n.ID)
	case n.Port <= 0 || n.Port > 65535:
		return fmt.Errorf("node %d: advertised port %d out of range", n.ID, n.Port)
	}
	return nil
}

// NodeFromAddr builds a Node from an advertised host:port.
func NodeFromAddr(id int32, addr, rack string, roles Role) (Node, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return Node{}, fmt.Errorf("advertised address %q: %w", addr, err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return Node{}, fmt.Errorf("advertised address %q: bad port: %w", addr, err)
	}
	n := Node{ID: id, Host: host, Port: int32(p), Rack: rack, Roles: roles}
	return n, n.Validate()
}

func nodeFromInfo(info metastore.NodeInfo) Node {
	return Node{ID: info.ID, Host: info.Host, Port: info.Port, Rack: info.Rack, Roles: rolesFromNames(info.Roles),
		Listeners: ParseListeners(info.Listeners)}
}
