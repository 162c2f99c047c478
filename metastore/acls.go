package metastore

import (
	"context"

	"github.com/stratalog/strata/internal/acl"
)

// ACLStore keeps the access control lists. Every change bumps one version
// number, which every node polls to know when to read the ACLs again
// (acl.Cache); so the interface is the acl.Source a cache reads.
type ACLStore interface {
	// CreateACLs stores bindings; one already stored is left as it is.
	// The bindings are valid (acl.Binding.Validate).
	CreateACLs(ctx context.Context, bindings []acl.Binding) error
	// DeleteACLs deletes, in one transaction, every stored ACL that a
	// filter matches, and returns the deleted ones, one list per filter
	// (an ACL two filters match is in both lists).
	DeleteACLs(ctx context.Context, filters []acl.Filter) ([][]acl.Binding, error)
	// ListACLs returns every ACL and the version they are at.
	ListACLs(ctx context.Context) ([]acl.Binding, int64, error)
	// ACLVersion returns the ACLs' version, which changes with every
	// change of the ACLs.
	ACLVersion(ctx context.Context) (int64, error)
}

var _ acl.Source = ACLStore(nil)
