package kafka

import (
	"github.com/stratalog/strata/internal/acl"
)

// aclFilter reads a DescribeAcls or DeleteAcls filter. Version 0 has no
// pattern type: its filters are literal, as in Kafka.
func aclFilter(version int16, rt int8, name *string, pt int8, principal, host *string, op, perm int8) acl.Filter {
	f := acl.Filter{
		ResourceType: acl.ResourceType(rt),
		ResourceName: name,
		PatternType:  acl.PatternType(pt),
		Principal:    principal,
		Host:         host,
		Operation:    acl.Operation(op),
		Permission:   acl.Permission(perm),
	}
	if version == 0 {
		f.PatternType = acl.PatternLiteral
	}
	return f
}
