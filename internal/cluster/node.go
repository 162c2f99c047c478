package cluster

import (
	"fmt"
	"net"
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
	return Node{ID: info.ID, Host: info.Host, Port: info.Port, Rack: info.Rack, Roles: rolesFromNames(info.Roles)}
}
