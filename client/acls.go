package client

import (
	"context"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ACL is one access control list entry, as Kafka models it: Permission
// (allow or deny) of Operation on the resource, for Principal connecting
// from Host. The names are Kafka's, in lower case with dashes:
// resource types topic, group, cluster, transactional-id; pattern types
// literal, prefixed; operations all, read, write, create, delete, alter,
// describe, cluster-action, describe-configs, alter-configs,
// idempotent-write.
type ACL struct {
	ResourceType string `json:"resource_type"`
	ResourceName string `json:"resource_name"`
	PatternType  string `json:"pattern_type"`
	Principal    string `json:"principal"` // User:NAME, or User:* for everyone
	Host         string `json:"host"`      // an IP address, or * for any
	Operation    string `json:"operation"`
	Permission   string `json:"permission"`
}

// ACLFilter selects ACLs, as DescribeAcls and DeleteAcls take it. An
// empty field matches every value. PatternType may also be "any" (the
// default: literal or prefixed, the name compared exactly) or "match"
// (every ACL that applies to the name: the literal name, the literal "*"
// and the prefixes of it).
type ACLFilter struct {
	ResourceType string
	ResourceName string
	PatternType  string
	Principal    string
	Host         string
	Operation    string
	Permission   string
}

// CreateACLs stores ACLs. It needs Alter on the cluster. The ACLs are
// checked by the broker one by one: the error names the first refused.
func (a *Admin) CreateACLs(ctx context.Context, acls []ACL) error {
	req := kmsg.NewPtrCreateACLsRequest()
	for _, x := range acls {
		c := kmsg.NewCreateACLsRequestCreation()
		var err error
		if c.ResourceType, err = parseACLEnum(x.ResourceType, kmsg.ParseACLResourceType, false); err != nil {
			return a.c.wrap("create acls", x.ResourceName, err)
		}
		if c.ResourcePatternType, err = parseACLEnum(x.PatternType, kmsg.ParseACLResourcePatternType, false); err != nil {
			return a.c.wrap("create acls", x.ResourceName, err)
		}
		if c.Operation, err = parseACLEnum(x.Operation, kmsg.ParseACLOperation, false); err != nil {
			return a.c.wrap("create acls", x.ResourceName, err)
		}
		if c.PermissionType, err = parseACLEnum(x.Permission, kmsg.ParseACLPermissionType, false); err != nil {
			return a.c.wrap("create acls", x.ResourceName, err)
		}
		c.ResourceName, c.Principal, c.Host = x.ResourceName, x.Principal, x.Host
		req.Creations = append(req.Creations, c)
	}
	resp, err := req.RequestWith(ctx, a.c.akc)
	if err != nil {
		return a.c.wrap("create acls", "", err)
	}
	for i, r := range resp.Results {
		if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
			msg := ""
			if r.ErrorMessage != nil {
				msg = *r.ErrorMessage
			}
			name := ""
			if i < len(acls) {
				name = acls[i].ResourceName
			}
			return a.c.wrap("create acls", name, withMessage(err, msg))
		}
	}
	return nil
}

// ListACLs returns the ACLs the filter selects. It needs Describe on the
// cluster.
func (a *Admin) ListACLs(ctx context.Context, f ACLFilter) ([]ACL, error) {
	req := kmsg.NewPtrDescribeACLsRequest()
	var err error
	if req.ResourceType, req.ResourcePatternType, req.Operation, req.PermissionType, err = f.enums(); err != nil {
		return nil, a.c.wrap("list acls", f.ResourceName, err)
	}
	req.ResourceName, req.Principal, req.Host = optional(f.ResourceName), optional(f.Principal), optional(f.Host)
	resp, err := req.RequestWith(ctx, a.c.akc)
	if err != nil {
		return nil, a.c.wrap("list acls", "", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		msg := ""
		if resp.ErrorMessage != nil {
			msg = *resp.ErrorMessage
		}
		return nil, a.c.wrap("list acls", "", withMessage(err, msg))
	}
	out := []ACL{}
	for _, r := range resp.Resources {
		for _, x := range r.ACLs {
			out = append(out, ACL{
				ResourceType: aclName(r.ResourceType.String()), ResourceName: r.ResourceName,
				PatternType: aclName(r.ResourcePatternType.String()), Principal: x.Principal, Host: x.Host,
				Operation: aclName(x.Operation.String()), Permission: aclName(x.PermissionType.String()),
			})
		}
	}
	return out, nil
}

// DeleteACLs deletes the ACLs the filter selects and returns them. It
// needs Alter on the cluster.
func (a *Admin) DeleteACLs(ctx context.Context, f ACLFilter) ([]ACL, error) {
	req := kmsg.NewPtrDeleteACLsRequest()
	flt := kmsg.NewDeleteACLsRequestFilter()
	var err error
	if flt.ResourceType, flt.ResourcePatternType, flt.Operation, flt.PermissionType, err = f.enums(); err != nil {
		return nil, a.c.wrap("delete acls", f.ResourceName, err)
	}
	flt.ResourceName, flt.Principal, flt.Host = optional(f.ResourceName), optional(f.Principal), optional(f.Host)
	req.Filters = append(req.Filters, flt)
	resp, err := req.RequestWith(ctx, a.c.akc)
	if err != nil {
		return nil, a.c.wrap("delete acls", "", err)
	}
	out := []ACL{}
	for _, r := range resp.Results {
		if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
			msg := ""
			if r.ErrorMessage != nil {
				msg = *r.ErrorMessage
			}
			return nil, a.c.wrap("delete acls", "", withMessage(err, msg))
		}
		for _, m := range r.MatchingACLs {
			out = append(out, ACL{
				ResourceType: aclName(m.ResourceType.String()), ResourceName: m.ResourceName,
				PatternType: aclName(m.ResourcePatternType.String()), Principal: m.Principal, Host: m.Host,
				Operation: aclName(m.Operation.String()), Permission: aclName(m.PermissionType.String()),
			})
		}
	}
	return out, nil
}

func (f ACLFilter) enums() (kmsg.ACLResourceType, kmsg.ACLResourcePatternType, kmsg.ACLOperation, kmsg.ACLPermissionType, error) {
	rt, err := parseACLEnum(f.ResourceType, kmsg.ParseACLResourceType, true)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	pt, err := parseACLEnum(f.PatternType, kmsg.ParseACLResourcePatternType, true)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	op, err := parseACLEnum(f.Operation, kmsg.ParseACLOperation, true)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	perm, err := parseACLEnum(f.Permission, kmsg.ParseACLPermissionType, true)
	return rt, pt, op, perm, err
}

// parseACLEnum reads a name such as "transactional-id" or "DESCRIBE_CONFIGS";
// empty is "any" where a filter allows it.
func parseACLEnum[T ~int8](s string, parse func(string) (T, error), filter bool) (T, error) {
	if s == "" {
		if !filter {
			return 0, fmt.Errorf("%w: a field of the ACL is empty", ErrInvalidACL)
		}
		s = "any"
	}
	v, err := parse(strings.NewReplacer("-", "", "_", "").Replace(strings.ToLower(s)))
	if err != nil || !filter && (strings.EqualFold(s, "any") || strings.EqualFold(s, "match")) {
		return 0, fmt.Errorf("%w: %q", ErrInvalidACL, s)
	}
	return v, nil
}

// ErrInvalidACL is matched by the error of an ACL or filter with a name
// that is not Kafka's.
var ErrInvalidACL = fmt.Errorf("invalid ACL")

// aclName turns kmsg's names (TRANSACTIONAL_ID) into the SDK's.
func aclName(s string) string {
	return strings.ReplaceAll(strings.ToLower(s), "_", "-")
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
