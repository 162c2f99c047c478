package metastoretest

import (
	"context"
	"slices"
	"testing"

	"github.com/stratalog/strata/internal/acl"
	"github.com/stratalog/strata/metastore"
)

// RunACLs runs the ACL suite. open returns a store over a fresh, empty
// metastore, once per subtest; the suite closes it.
func RunACLs(t *testing.T, open func(t *testing.T) metastore.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s metastore.Store)
	}{
		{"CreateListDelete", testACLCreateListDelete},
		{"VersionMovesWithEveryChange", testACLVersion},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			defer s.Close()
			tc.fn(t, s)
		})
	}
}

func aclBinding(name string, pt acl.PatternType, op acl.Operation, perm acl.Permission) acl.Binding {
	return acl.Binding{ResourceType: acl.ResourceTopic, ResourceName: name, PatternType: pt,
		Principal: "User:alice", Host: "*", Operation: op, Permission: perm}
}

func testACLCreateListDelete(t *testing.T, s metastore.Store) {
	ctx := context.Background()
	a := aclBinding("orders", acl.PatternLiteral, acl.OpRead, acl.PermissionAllow)
	b := aclBinding("ord", acl.PatternPrefixed, acl.OpWrite, acl.PermissionDeny)
	c := acl.Binding{ResourceType: acl.ResourceCluster, ResourceName: acl.ClusterName, PatternType: acl.PatternLiteral,
		Principal: "User:*", Host: "10.0.0.1", Operation: acl.OpIdempotentWrite, Permission: acl.PermissionAllow}
	if err := s.CreateACLs(ctx, []acl.Binding{a, b, c}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateACLs(ctx, []acl.Binding{a}); err != nil { // again: a no-op
		t.Fatal(err)
	}
	got, _, err := s.ListACLs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || !slices.Contains(got, a) || !slices.Contains(got, b) || !slices.Contains(got, c) {
		t.Fatalf("ListACLs = %v, want the 3 created", got)
	}
	name := "orders"
	deleted, err := s.DeleteACLs(ctx, []acl.Filter{
		{ResourceType: acl.ResourceTopic, ResourceName: &name, PatternType: acl.PatternMatch, Operation: acl.OpAny, Permission: acl.PermissionAny},
		{ResourceType: acl.ResourceTopic, PatternType: acl.PatternPrefixed, Operation: acl.OpAny, Permission: acl.PermissionAny},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(deleted) != 2 || len(deleted[0]) != 2 || len(deleted[1]) != 1 || deleted[1][0] != b {
		t.Fatalf("DeleteACLs = %v, want [a b] [b]", deleted)
	}
	got, _, err = s.ListACLs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != c {
		t.Fatalf("after delete ListACLs = %v, want [%v]", got, c)
	}
}

func testACLVersion(t *testing.T, s metastore.Store) {
	ctx := context.Background()
	v0, err := s.ACLVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateACLs(ctx, []acl.Binding{aclBinding("t", acl.PatternLiteral, acl.OpRead, acl.PermissionAllow)}); err != nil {
		t.Fatal(err)
	}
	v1, err := s.ACLVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, lv, err := s.ListACLs(ctx); err != nil || lv != v1 {
		t.Fatalf("ListACLs version %d, %v; want %d", lv, err, v1)
	}
	if _, err := s.DeleteACLs(ctx, []acl.Filter{{ResourceType: acl.ResourceAny, PatternType: acl.PatternAny, Operation: acl.OpAny, Permission: acl.PermissionAny}}); err != nil {
		t.Fatal(err)
	}
	v2, err := s.ACLVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v1 == v0 || v2 == v1 || v2 == v0 {
		t.Fatalf("versions %d, %d, %d: every change must move it", v0, v1, v2)
	}
}
