package metastore

import (
	"cmp"
	"context"
	"slices"
)

// Client quotas, as Kafka models them (KIP-55, KIP-546): an entity is a
// user, a client id, or both; each part names one user or client id, or
// is the default for all of them. An entity holds values for quota keys
// (QuotaProducerByteRate, ...). Nodes enforce what the store holds; they
// load every quota and reload when ClientQuotasVersion changes.

// The quota keys Strata stores and enforces.
const (
	QuotaProducerByteRate  = "producer_byte_rate"
	QuotaConsumerByteRate  = "consumer_byte_rate"
	QuotaRequestPercentage = "request_percentage"
)

// QuotaKind says what one part of a quota entity is.
type QuotaKind int8

const (
	QuotaAbsent  QuotaKind = iota // the entity has no such part
	QuotaDefault                  // the default: every user (client id) without a quota of its own
	QuotaNamed                    // one user (client id), named
)

// QuotaPart is the user or the client-id part of a quota entity. Name is
// set only when Kind is QuotaNamed; the empty name is a name of its own.
type QuotaPart struct {
	Kind QuotaKind
	Name string
}

// QuotaEntity is what a quota applies to. At least one part is present.
type QuotaEntity struct {
	User     QuotaPart
	ClientID QuotaPart
}

// ClientQuota is one entity's stored quota values, by key.
type ClientQuota struct {
	Entity QuotaEntity
	Values map[string]float64
}

// ClientQuotaAlteration changes one entity's quotas: Set values are
// written, Remove keys deleted. An entity left without values is gone.
type ClientQuotaAlteration struct {
	Entity QuotaEntity
	Set    map[string]float64
	Remove []string
}

// ClientQuotaStore holds client quotas. Values and entities are checked
// by the caller (the front door answers Kafka's errors); the store keeps
// what it is given.
type ClientQuotaStore interface {
	// AlterClientQuotas applies every alteration in one transaction and
	// advances the quota version, so that every node reloads.
	AlterClientQuotas(ctx context.Context, alts []ClientQuotaAlteration) error
	// ClientQuotas returns every entity with at least one value, in
	// SortClientQuotas order, and the version they are at (one snapshot).
	ClientQuotas(ctx context.Context) ([]ClientQuota, int64, error)
	// ClientQuotasVersion returns the quota version: it changes with every
	// AlterClientQuotas and never goes back. A node polls it.
	ClientQuotasVersion(ctx context.Context) (int64, error)
}

// SortClientQuotas orders quotas by user part then client-id part,
// absent before default before names, names in byte order.
func SortClientQuotas(qs []ClientQuota) {
	slices.SortFunc(qs, func(a, b ClientQuota) int { return CompareQuotaEntity(a.Entity, b.Entity) })
}

// CompareQuotaEntity orders entities as SortClientQuotas does.
func CompareQuotaEntity(a, b QuotaEntity) int {
	part := func(x, y QuotaPart) int {
		return cmp.Or(cmp.Compare(x.Kind, y.Kind), cmp.Compare(x.Name, y.Name))
	}
	return cmp.Or(part(a.User, b.User), part(a.ClientID, b.ClientID))
}
