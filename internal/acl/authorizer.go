package acl

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Set is an immutable index of ACLs for the decision: literal patterns by
// resource type and name, prefixed patterns by resource type.
type Set struct {
	literal  map[ResourceType]map[string][]Binding
	prefixed map[ResourceType][]Binding
	n        int
}

// NewSet indexes bindings.
func NewSet(bindings []Binding) *Set {
	s := &Set{literal: map[ResourceType]map[string][]Binding{}, prefixed: map[ResourceType][]Binding{}, n: len(bindings)}
	for _, b := range bindings {
		switch b.PatternType {
		case PatternLiteral:
			m := s.literal[b.ResourceType]
			if m == nil {
				m = map[string][]Binding{}
				s.literal[b.ResourceType] = m
			}
			m[b.ResourceName] = append(m[b.ResourceName], b)
		case PatternPrefixed:
			s.prefixed[b.ResourceType] = append(s.prefixed[b.ResourceType], b)
		}
	}
	return s
}

// Len is the number of ACLs in the set.
func (s *Set) Len() int { return s.n }

// Policy is the part of the decision that is not ACLs.
type Policy struct {
	// SuperUsers may do everything, whatever the ACLs say.
	SuperUsers []string
	// AllowIfNoACL allows a request on a resource that no ACL names, as
	// Kafka's allow.everyone.if.no.acl.found.
	AllowIfNoACL bool
}

// Authorize decides whether principal, connected from host, may do op on
// the resource of type rt named name.
func (s *Set) Authorize(p *Policy, principal, host string, op Operation, rt ResourceType, name string) bool {
	for _, su := range p.SuperUsers {
		if su == principal {
			return true
		}
	}
	found, allowed := false, false
	visit := func(bs []Binding) bool { // false: denied
		for i := range bs {
			b := &bs[i]
			found = true
			if b.Principal != principal && b.Principal != WildcardPrincipal || b.Host != host && b.Host != Wildcard {
				continue
			}
			if b.Permission == PermissionDeny {
				if b.Operation == op || b.Operation == OpAll {
					return false
				}
				continue
			}
			if !allowed && implies(b.Operation, op) {
				allowed = true
			}
		}
		return true
	}
	if m := s.literal[rt]; m != nil {
		if !visit(m[name]) {
			return false
		}
		if name != Wildcard && !visit(m[Wildcard]) {
			return false
		}
	}
	for i := range s.prefixed[rt] {
		b := &s.prefixed[rt][i]
		if strings.HasPrefix(name, b.ResourceName) && !visit(s.prefixed[rt][i:i+1]) {
			return false
		}
	}
	if !found {
		return p.AllowIfNoACL
	}
	return allowed
}

// AuthorizedOperations is KIP-430's bit field of the operations principal
// may do on the resource: bit n set for operation n.
func (s *Set) AuthorizedOperations(p *Policy, principal, host string, rt ResourceType, name string) int32 {
	var bits int32
	for _, op := range Operations[rt] {
		if s.Authorize(p, principal, host, op, rt, name) {
			bits |= 1 << op
		}
	}
	return bits
}

// Source is where a Cache reads ACLs: the metastore.
type Source interface {
	// ACLVersion is a number that changes whenever the ACLs change.
	ACLVersion(ctx context.Context) (int64, error)
	// ListACLs returns every ACL and the version they are at.
	ListACLs(ctx context.Context) ([]Binding, int64, error)
	CreateACLs(ctx context.Context, bindings []Binding) error
	// DeleteACLs deletes the ACLs each filter matches and returns them,
	// one list per filter.
	DeleteACLs(ctx context.Context, filters []Filter) ([][]Binding, error)
}

// Cache is a node's copy of the ACLs and the decision over it. It polls
// the source's version, so that a change made through any node is
// enforced here within a poll interval plus a read; a change made through
// this node is enforced at once.
type Cache struct {
	src    Source
	log    *slog.Logger // the audit log
	mu     sync.Mutex   // orders the stores of set and ver
	set    atomic.Pointer[Set]
	ver    atomic.Int64
	loaded atomic.Bool
}

// NewCache returns a cache over src; audit receives every ACL change.
// Load or Run fills it; until then every resource has no ACL.
func NewCache(src Source, audit *slog.Logger) *Cache {
	if audit == nil {
		audit = slog.New(slog.DiscardHandler)
	}
	c := &Cache{src: src, log: audit}
	c.set.Store(NewSet(nil))
	c.ver.Store(-1)
	return c
}

// Load reads every ACL from the source.
func (c *Cache) Load(ctx context.Context) error {
	bs, v, err := c.src.ListACLs(ctx)
	if err != nil {
		return err
	}
	set := NewSet(bs)
	// A poll's read may finish after the read of a change made through
	// this node: the older never replaces the newer. Versions only grow.
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.loaded.Load() || v >= c.ver.Load() {
		c.set.Store(set)
		c.ver.Store(v)
		c.loaded.Store(true)
	}
	return nil
}

// Refresh reloads the ACLs when the source's version moved.
func (c *Cache) Refresh(ctx context.Context) error {
	v, err := c.src.ACLVersion(ctx)
	if err != nil {
		return err
	}
	if c.loaded.Load() && v == c.ver.Load() {
		return nil
	}
	return c.Load(ctx)
}

// Run refreshes the cache every interval until ctx ends. A failed
// refresh keeps the ACLs last read and is logged.
func (c *Cache) Run(ctx context.Context, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		if err := c.Refresh(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			if !failing {
				log.Warn("reading ACLs failed; enforcing the ACLs last read", "err", err)
			}
			failing = true
		} else if failing {
			log.Info("reading ACLs again")
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Set returns the ACLs last read. A request decides with one Set, so
// that a refresh in the middle does not split its answer.
func (c *Cache) Set() *Set { return c.set.Load() }

// CreateACLs stores bindings, logs each one, and reloads the cache.
func (c *Cache) CreateACLs(ctx context.Context, principal, addr string, bindings []Binding) error {
	if err := c.src.CreateACLs(ctx, bindings); err != nil {
		return err
	}
	for _, b := range bindings {
		c.audit("acl created", principal, addr, b)
	}
	return c.Load(ctx)
}

// DeleteACLs deletes what filters match, logs each deleted ACL, and
// reloads the cache.
func (c *Cache) DeleteACLs(ctx context.Context, principal, addr string, filters []Filter) ([][]Binding, error) {
	deleted, err := c.src.DeleteACLs(ctx, filters)
	if err != nil {
		return nil, err
	}
	for _, bs := range deleted {
		for _, b := range bs {
			c.audit("acl deleted", principal, addr, b)
		}
	}
	return deleted, c.Load(ctx)
}

// DescribeACLs returns the stored ACLs the filter matches, read from the
// source so that a change made through any node shows at once.
func (c *Cache) DescribeACLs(ctx context.Context, f Filter) ([]Binding, error) {
	bs, _, err := c.src.ListACLs(ctx)
	if err != nil {
		return nil, err
	}
	out := bs[:0]
	for _, b := range bs {
		if f.Matches(b) {
			out = append(out, b)
		}
	}
	return out, nil
}

func (c *Cache) audit(msg, principal, addr string, b Binding) {
	c.log.Info(msg, "principal", principal, "address", addr, "resource_type", b.ResourceType.String(),
		"resource", b.ResourceName, "pattern", b.PatternType.String(), "acl_principal", b.Principal,
		"acl_host", b.Host, "acl_operation", b.Operation.String(), "acl_permission", b.Permission.String())
}

// AuthorizeAny reports whether principal may do op on some resource of
// type rt, as Kafka's authorizeByResourceType: an Allow naming the
// principal that a Deny does not cancel on the name it names, or, with
// AllowIfNoACL, no ACL of the type at all.
func (s *Set) AuthorizeAny(p *Policy, principal, host string, op Operation, rt ResourceType) bool {
	for _, su := range p.SuperUsers {
		if su == principal {
			return true
		}
	}
	if len(s.literal[rt]) == 0 && len(s.prefixed[rt]) == 0 {
		return p.AllowIfNoACL
	}
	try := func(b *Binding) bool {
		return b.Permission == PermissionAllow && implies(b.Operation, op) &&
			(b.Principal == principal || b.Principal == WildcardPrincipal) && (b.Host == host || b.Host == Wildcard) &&
			s.Authorize(p, principal, host, op, rt, b.ResourceName)
	}
	for _, bs := range s.literal[rt] {
		for i := range bs {
			if try(&bs[i]) {
				return true
			}
		}
	}
	for i := range s.prefixed[rt] {
		if try(&s.prefixed[rt][i]) {
			return true
		}
	}
	return false
}
