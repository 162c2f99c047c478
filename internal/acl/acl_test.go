package acl

import (
	"context"
	"errors"
	"testing"
)

func allow(rt ResourceType, name string, pt PatternType, principal string, op Operation) Binding {
	return Binding{ResourceType: rt, ResourceName: name, PatternType: pt, Principal: principal, Host: Wildcard, Operation: op, Permission: PermissionAllow}
}

func deny(b Binding) Binding { b.Permission = PermissionDeny; return b }

func TestAuthorizeDecision(t *testing.T) {
	const alice, bob = "User:alice", "User:bob"
	set := NewSet([]Binding{
		allow(ResourceTopic, "orders", PatternLiteral, alice, OpWrite),
		allow(ResourceTopic, "logs-", PatternPrefixed, alice, OpRead),
		deny(allow(ResourceTopic, "logs-secret", PatternLiteral, alice, OpRead)),
		allow(ResourceTopic, "public", PatternLiteral, WildcardPrincipal, OpAll),
		deny(allow(ResourceTopic, "public", PatternLiteral, bob, OpAll)),
		allow(ResourceTopic, "cfg", PatternLiteral, alice, OpAlterConfigs),
		allow(ResourceGroup, "*", PatternLiteral, alice, OpRead),
		{ResourceType: ResourceTopic, ResourceName: "hosted", PatternType: PatternLiteral, Principal: alice, Host: "10.0.0.1", Operation: OpRead, Permission: PermissionAllow},
	})
	strict := &Policy{SuperUsers: []string{"User:root"}}
	open := &Policy{AllowIfNoACL: true}
	cases := []struct {
		name      string
		p         *Policy
		principal string
		host      string
		op        Operation
		rt        ResourceType
		res       string
		want      bool
	}{
		{"literal allow", strict, alice, "1.2.3.4", OpWrite, ResourceTopic, "orders", true},
		{"other op", strict, alice, "1.2.3.4", OpRead, ResourceTopic, "orders", false},
		{"write implies describe", strict, alice, "1.2.3.4", OpDescribe, ResourceTopic, "orders", true},
		{"other principal", strict, bob, "1.2.3.4", OpWrite, ResourceTopic, "orders", false},
		{"prefixed", strict, alice, "1.2.3.4", OpRead, ResourceTopic, "logs-app", true},
		{"prefix is not a match of a shorter name", strict, alice, "1.2.3.4", OpRead, ResourceTopic, "logs", false},
		{"deny wins over prefixed allow", strict, alice, "1.2.3.4", OpRead, ResourceTopic, "logs-secret", false},
		{"deny of read leaves describe", strict, alice, "1.2.3.4", OpDescribe, ResourceTopic, "logs-secret", true},
		{"wildcard principal", strict, alice, "1.2.3.4", OpDelete, ResourceTopic, "public", true},
		{"deny all beats wildcard allow", strict, bob, "1.2.3.4", OpRead, ResourceTopic, "public", false},
		{"alter configs implies describe configs", strict, alice, "1.2.3.4", OpDescribeConfigs, ResourceTopic, "cfg", true},
		{"alter configs is not alter", strict, alice, "1.2.3.4", OpAlter, ResourceTopic, "cfg", false},
		{"wildcard resource", strict, alice, "1.2.3.4", OpRead, ResourceGroup, "any-group", true},
		{"host matches", strict, alice, "10.0.0.1", OpRead, ResourceTopic, "hosted", true},
		{"host differs", strict, alice, "10.0.0.2", OpRead, ResourceTopic, "hosted", false},
		{"no acl, strict", strict, alice, "1.2.3.4", OpRead, ResourceTopic, "nobody", false},
		{"no acl, open", open, alice, "1.2.3.4", OpRead, ResourceTopic, "nobody", true},
		{"acl for others, open", open, bob, "1.2.3.4", OpWrite, ResourceTopic, "orders", false},
		{"super user", strict, "User:root", "1.2.3.4", OpDelete, ResourceTopic, "logs-secret", true},
		{"cluster without acl", strict, alice, "1.2.3.4", OpCreate, ResourceCluster, ClusterName, false},
	}
	for _, c := range cases {
		if got := set.Authorize(c.p, c.principal, c.host, c.op, c.rt, c.res); got != c.want {
			t.Errorf("%s: Authorize(%s, %s, %s, %s %q) = %v, want %v", c.name, c.principal, c.host, c.op, c.rt, c.res, got, c.want)
		}
	}
}

func TestAuthorizedOperations(t *testing.T) {
	set := NewSet([]Binding{allow(ResourceTopic, "t", PatternLiteral, "User:a", OpRead)})
	got := set.AuthorizedOperations(&Policy{}, "User:a", "h", ResourceTopic, "t")
	if want := int32(1<<OpRead | 1<<OpDescribe); got != want {
		t.Fatalf("authorized operations %b, want %b", got, want)
	}
	got = set.AuthorizedOperations(&Policy{SuperUsers: []string{"User:su"}}, "User:su", "h", ResourceGroup, "g")
	if want := int32(1<<OpRead | 1<<OpDescribe | 1<<OpDelete); got != want {
		t.Fatalf("super user's group operations %b, want %b", got, want)
	}
}

func TestFilterMatches(t *testing.T) {
	lit := allow(ResourceTopic, "orders", PatternLiteral, "User:a", OpRead)
	pre := allow(ResourceTopic, "ord", PatternPrefixed, "User:a", OpRead)
	star := allow(ResourceTopic, "*", PatternLiteral, "User:a", OpRead)
	grp := allow(ResourceGroup, "orders", PatternLiteral, "User:a", OpRead)
	s := func(v string) *string { return &v }
	cases := []struct {
		name string
		f    Filter
		want []bool // lit, pre, star, grp
	}{
		{"everything", Filter{ResourceType: ResourceAny, PatternType: PatternAny, Operation: OpAny, Permission: PermissionAny}, []bool{true, true, true, true}},
		{"match", Filter{ResourceType: ResourceTopic, ResourceName: s("orders"), PatternType: PatternMatch, Operation: OpAny, Permission: PermissionAny}, []bool{true, true, true, false}},
		{"any compares the name", Filter{ResourceType: ResourceAny, ResourceName: s("orders"), PatternType: PatternAny, Operation: OpAny, Permission: PermissionAny}, []bool{true, false, false, true}},
		{"prefixed", Filter{ResourceType: ResourceTopic, PatternType: PatternPrefixed, Operation: OpAny, Permission: PermissionAny}, []bool{false, true, false, false}},
		{"operation", Filter{ResourceType: ResourceAny, PatternType: PatternAny, Operation: OpWrite, Permission: PermissionAny}, []bool{false, false, false, false}},
		{"principal", Filter{ResourceType: ResourceAny, PatternType: PatternAny, Principal: s("User:b"), Operation: OpAny, Permission: PermissionAny}, []bool{false, false, false, false}},
		{"deny only", Filter{ResourceType: ResourceAny, PatternType: PatternAny, Operation: OpAny, Permission: PermissionDeny}, []bool{false, false, false, false}},
	}
	for _, c := range cases {
		for i, b := range []Binding{lit, pre, star, grp} {
			if got := c.f.Matches(b); got != c.want[i] {
				t.Errorf("%s: Matches(%v) = %v, want %v", c.name, b, got, c.want[i])
			}
		}
	}
}

func TestValidate(t *testing.T) {
	good := allow(ResourceTopic, "t", PatternLiteral, "User:a", OpRead)
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []Binding{}
	for _, f := range []func(*Binding){
		func(b *Binding) { b.ResourceType = ResourceAny },
		func(b *Binding) { b.ResourceType = ResourceCluster },
		func(b *Binding) { b.PatternType = PatternMatch },
		func(b *Binding) { b.Principal = "alice" },
		func(b *Binding) { b.Host = "example.com" },
		func(b *Binding) { b.Operation = OpAny },
		func(b *Binding) { b.Permission = PermissionAny },
		func(b *Binding) { b.ResourceName = "" },
	} {
		b := good
		f(&b)
		bad = append(bad, b)
	}
	for _, b := range bad {
		if err := b.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("Validate(%v) = %v, want ErrInvalid", b, err)
		}
	}
}

func TestParseNames(t *testing.T) {
	for op := OpAll; op <= OpIdempotentWrite; op++ {
		if got, ok := ParseOperation(op.String()); !ok || got != op {
			t.Errorf("ParseOperation(%q) = %v, %v", op.String(), got, ok)
		}
	}
	if got, ok := ParseResourceType("transactional-id"); !ok || got != ResourceTransactionalID {
		t.Errorf("ParseResourceType(transactional-id) = %v, %v", got, ok)
	}
	if got, ok := ParseOperation("IdempotentWrite"); !ok || got != OpIdempotentWrite {
		t.Errorf("ParseOperation(IdempotentWrite) = %v, %v", got, ok)
	}
}

// BenchmarkAuthorizeProduce is the check a Produce request makes per
// topic: Write on the topic, with a few hundred ACLs in the set.
func BenchmarkAuthorizeProduce(b *testing.B) {
	var bs []Binding
	for i := range 200 {
		bs = append(bs, allow(ResourceTopic, "topic-"+string(rune('a'+i%26))+string(rune('a'+i/26)), PatternLiteral, "User:app", OpWrite))
	}
	for i := range 20 {
		bs = append(bs, allow(ResourceTopic, "pre"+string(rune('a'+i))+"-", PatternPrefixed, "User:app", OpRead))
	}
	bs = append(bs, allow(ResourceTopic, "orders", PatternLiteral, "User:app", OpWrite))
	set := NewSet(bs)
	p := &Policy{SuperUsers: []string{"User:admin"}}
	b.ReportAllocs()
	for b.Loop() {
		if !set.Authorize(p, "User:app", "10.1.2.3", OpWrite, ResourceTopic, "orders") {
			b.Fatal("denied")
		}
	}
}

// versionedSource serves ACL lists at given versions, for the cache.
type versionedSource struct {
	bs  []Binding
	ver int64
}

func (s *versionedSource) ACLVersion(context.Context) (int64, error) { return s.ver, nil }
func (s *versionedSource) ListACLs(context.Context) ([]Binding, int64, error) {
	return s.bs, s.ver, nil
}
func (s *versionedSource) CreateACLs(_ context.Context, bs []Binding) error {
	s.bs = append(s.bs, bs...)
	s.ver++
	return nil
}
func (s *versionedSource) DeleteACLs(context.Context, []Filter) ([][]Binding, error) { return nil, nil }

// TestCacheKeepsTheNewest: a read of an older version finishing late
// does not replace the ACLs of a newer one.
func TestCacheKeepsTheNewest(t *testing.T) {
	ctx := context.Background()
	src := &versionedSource{ver: 1}
	c := NewCache(src, nil)
	if err := c.CreateACLs(ctx, "User:admin", "test", []Binding{allow(ResourceTopic, "t", PatternLiteral, "User:a", OpRead)}); err != nil {
		t.Fatal(err)
	}
	if c.Set().Len() != 1 {
		t.Fatalf("after create: %d ACLs", c.Set().Len())
	}
	stale := &versionedSource{ver: 1} // what a poll read before the create
	c.src = stale
	if err := c.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Set().Len() != 1 {
		t.Errorf("a late read of version 1 replaced version 2: %d ACLs", c.Set().Len())
	}
}
