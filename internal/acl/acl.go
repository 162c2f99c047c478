// Package acl is Strata's model of Kafka's access control lists and the
// decision that applies them: which principal, from which host, may do
// which operation on which resource. Its numbers are Kafka's wire values,
// so that the front door passes them through unchanged.
//
// The decision follows Kafka's StandardAuthorizer: super users may do
// everything; a Deny that matches wins over any Allow; Read, Write,
// Delete and Alter imply Describe, AlterConfigs implies DescribeConfigs,
// All implies every operation; when no ACL at all names a resource, the
// request is allowed only if AllowIfNoACL is set.
package acl

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// ResourceType is the kind of resource an ACL names (Kafka's values).
type ResourceType int8

const (
	ResourceUnknown         ResourceType = 0
	ResourceAny             ResourceType = 1 // filters only
	ResourceTopic           ResourceType = 2
	ResourceGroup           ResourceType = 3
	ResourceCluster         ResourceType = 4
	ResourceTransactionalID ResourceType = 5
)

// PatternType says how an ACL's resource name matches names.
type PatternType int8

const (
	PatternUnknown  PatternType = 0
	PatternAny      PatternType = 1 // filters only: literal or prefixed, name compared exactly
	PatternMatch    PatternType = 2 // filters only: every ACL that applies to the name
	PatternLiteral  PatternType = 3 // the name, or every name when it is "*"
	PatternPrefixed PatternType = 4 // every name that starts with it
)

// Operation is what a principal does to a resource.
type Operation int8

const (
	OpUnknown         Operation = 0
	OpAny             Operation = 1 // filters only
	OpAll             Operation = 2
	OpRead            Operation = 3
	OpWrite           Operation = 4
	OpCreate          Operation = 5
	OpDelete          Operation = 6
	OpAlter           Operation = 7
	OpDescribe        Operation = 8
	OpClusterAction   Operation = 9
	OpDescribeConfigs Operation = 10
	OpAlterConfigs    Operation = 11
	OpIdempotentWrite Operation = 12
)

// Permission is Allow or Deny.
type Permission int8

const (
	PermissionUnknown Permission = 0
	PermissionAny     Permission = 1 // filters only
	PermissionDeny    Permission = 2
	PermissionAllow   Permission = 3
)

// ClusterName is the only name of the cluster resource, as Kafka has it.
const ClusterName = "kafka-cluster"

// Wildcard is the literal name, principal name or host matching all.
const Wildcard = "*"

// WildcardPrincipal matches every principal.
const WildcardPrincipal = "User:*"

// Binding is one ACL: a resource pattern and the entry that applies to it.
type Binding struct {
	ResourceType ResourceType
	ResourceName string
	PatternType  PatternType
	Principal    string // "User:NAME" or "User:*"
	Host         string // "*" or an IP address
	Operation    Operation
	Permission   Permission
}

func (b Binding) String() string {
	return fmt.Sprintf("%s %s on %s %s:%q for %s from %s", b.Permission, b.Operation,
		b.ResourceType, b.PatternType, b.ResourceName, b.Principal, b.Host)
}

// ErrInvalid is wrapped by the errors of Validate.
var ErrInvalid = errors.New("invalid ACL")

// Validate reports whether b can be stored: a concrete resource type,
// pattern, operation and permission, a User principal, a host that is
// "*" or an IP address, and "kafka-cluster" as the cluster's name.
func (b Binding) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
	}
	switch b.ResourceType {
	case ResourceTopic, ResourceGroup, ResourceTransactionalID:
	case ResourceCluster:
		if b.ResourceName != ClusterName {
			return bad("the cluster resource is named %q", ClusterName)
		}
	default:
		return bad("resource type %s is not supported", b.ResourceType)
	}
	if b.ResourceName == "" {
		return bad("empty resource name")
	}
	if b.PatternType != PatternLiteral && b.PatternType != PatternPrefixed {
		return bad("pattern type %s; an ACL is literal or prefixed", b.PatternType)
	}
	if b.PatternType == PatternPrefixed && b.ResourceName == Wildcard {
		return bad(`a prefixed pattern cannot be "*"; use a literal "*"`)
	}
	name, ok := strings.CutPrefix(b.Principal, "User:")
	if !ok || name == "" {
		return bad("principal %q is not User:NAME", b.Principal)
	}
	if b.Host != Wildcard {
		if _, err := netip.ParseAddr(b.Host); err != nil {
			return bad("host %q is neither * nor an IP address", b.Host)
		}
	}
	if b.Operation < OpAll || b.Operation > OpIdempotentWrite {
		return bad("operation %s", b.Operation)
	}
	if b.Permission != PermissionAllow && b.Permission != PermissionDeny {
		return bad("permission %s", b.Permission)
	}
	return nil
}

// Filter selects ACLs, as DescribeAcls and DeleteAcls send it. A nil
// string matches every value; the Any values match every value.
type Filter struct {
	ResourceType ResourceType
	ResourceName *string
	PatternType  PatternType
	Principal    *string
	Host         *string
	Operation    Operation
	Permission   Permission
}

// Validate refuses a filter whose enums are unknown.
func (f Filter) Validate() error {
	if f.ResourceType < ResourceAny || f.ResourceType > ResourceTransactionalID {
		return fmt.Errorf("%w filter: resource type %s", ErrInvalid, f.ResourceType)
	}
	if f.PatternType < PatternAny || f.PatternType > PatternPrefixed {
		return fmt.Errorf("%w filter: pattern type %s", ErrInvalid, f.PatternType)
	}
	if f.Operation < OpAny || f.Operation > OpIdempotentWrite {
		return fmt.Errorf("%w filter: operation %s", ErrInvalid, f.Operation)
	}
	if f.Permission < PermissionAny || f.Permission > PermissionAllow {
		return fmt.Errorf("%w filter: permission %s", ErrInvalid, f.Permission)
	}
	return nil
}

// Matches reports whether the filter selects b, as Kafka's
// AclBindingFilter does: PatternMatch selects the ACLs that apply to the
// filter's name (the literal name, the literal "*" and every prefix of
// it), the other pattern types compare the name exactly.
func (f Filter) Matches(b Binding) bool {
	if f.ResourceType != ResourceAny && f.ResourceType != b.ResourceType {
		return false
	}
	switch f.PatternType {
	case PatternAny:
		if f.ResourceName != nil && *f.ResourceName != b.ResourceName {
			return false
		}
	case PatternMatch:
		if f.ResourceName != nil && !patternApplies(b.PatternType, b.ResourceName, *f.ResourceName) {
			return false
		}
	default:
		if f.PatternType != b.PatternType || f.ResourceName != nil && *f.ResourceName != b.ResourceName {
			return false
		}
	}
	if f.Principal != nil && *f.Principal != b.Principal {
		return false
	}
	if f.Host != nil && *f.Host != b.Host {
		return false
	}
	if f.Operation != OpAny && f.Operation != b.Operation {
		return false
	}
	return f.Permission == PermissionAny || f.Permission == b.Permission
}

// patternApplies reports whether an ACL pattern covers a resource name.
func patternApplies(p PatternType, pattern, name string) bool {
	switch p {
	case PatternLiteral:
		return pattern == name || pattern == Wildcard
	case PatternPrefixed:
		return strings.HasPrefix(name, pattern)
	}
	return false
}

// Operations lists the operations Kafka defines for each resource type,
// the ones KIP-430's authorized-operations fields report.
var Operations = map[ResourceType][]Operation{
	ResourceTopic:           {OpRead, OpWrite, OpCreate, OpDelete, OpAlter, OpDescribe, OpDescribeConfigs, OpAlterConfigs},
	ResourceGroup:           {OpRead, OpDescribe, OpDelete},
	ResourceCluster:         {OpCreate, OpClusterAction, OpDescribeConfigs, OpAlterConfigs, OpIdempotentWrite, OpAlter, OpDescribe},
	ResourceTransactionalID: {OpDescribe, OpWrite},
}

// implies reports whether an Allow of granted grants op.
func implies(granted, op Operation) bool {
	if granted == op || granted == OpAll {
		return true
	}
	switch op {
	case OpDescribe:
		return granted == OpRead || granted == OpWrite || granted == OpDelete || granted == OpAlter
	case OpDescribeConfigs:
		return granted == OpAlterConfigs
	}
	return false
}

var resourceNames = map[ResourceType]string{ResourceUnknown: "UNKNOWN", ResourceAny: "ANY", ResourceTopic: "TOPIC",
	ResourceGroup: "GROUP", ResourceCluster: "CLUSTER", ResourceTransactionalID: "TRANSACTIONAL_ID"}
var patternNames = map[PatternType]string{PatternUnknown: "UNKNOWN", PatternAny: "ANY", PatternMatch: "MATCH",
	PatternLiteral: "LITERAL", PatternPrefixed: "PREFIXED"}
var opNames = map[Operation]string{OpUnknown: "UNKNOWN", OpAny: "ANY", OpAll: "ALL", OpRead: "READ", OpWrite: "WRITE",
	OpCreate: "CREATE", OpDelete: "DELETE", OpAlter: "ALTER", OpDescribe: "DESCRIBE", OpClusterAction: "CLUSTER_ACTION",
	OpDescribeConfigs: "DESCRIBE_CONFIGS", OpAlterConfigs: "ALTER_CONFIGS", OpIdempotentWrite: "IDEMPOTENT_WRITE"}
var permNames = map[Permission]string{PermissionUnknown: "UNKNOWN", PermissionAny: "ANY", PermissionDeny: "DENY", PermissionAllow: "ALLOW"}

func name[T ~int8](m map[T]string, v T) string {
	if s, ok := m[v]; ok {
		return s
	}
	return fmt.Sprintf("UNKNOWN(%d)", v)
}

func (t ResourceType) String() string { return name(resourceNames, t) }
func (p PatternType) String() string  { return name(patternNames, p) }
func (o Operation) String() string    { return name(opNames, o) }
func (p Permission) String() string   { return name(permNames, p) }

func parse[T ~int8](m map[T]string, s string) (T, bool) {
	norm := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), "-", "_"))
	norm = strings.ReplaceAll(norm, "TRANSACTIONALID", "TRANSACTIONAL_ID")
	norm = strings.ReplaceAll(norm, "IDEMPOTENTWRITE", "IDEMPOTENT_WRITE")
	norm = strings.ReplaceAll(norm, "DESCRIBECONFIGS", "DESCRIBE_CONFIGS")
	norm = strings.ReplaceAll(norm, "ALTERCONFIGS", "ALTER_CONFIGS")
	norm = strings.ReplaceAll(norm, "CLUSTERACTION", "CLUSTER_ACTION")
	for v, n := range m {
		if n == norm && n != "UNKNOWN" {
			return v, true
		}
	}
	return 0, false
}

// ParseResourceType, ParsePatternType, ParseOperation and ParsePermission
// read the names String writes, in any case, with - or _ between words.
func ParseResourceType(s string) (ResourceType, bool) { return parse(resourceNames, s) }
func ParsePatternType(s string) (PatternType, bool)   { return parse(patternNames, s) }
func ParseOperation(s string) (Operation, bool)       { return parse(opNames, s) }
func ParsePermission(s string) (Permission, bool)     { return parse(permNames, s) }
