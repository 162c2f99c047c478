package client

import (
	"context"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The client quota keys a Strata broker enforces, as Kafka names them.
const (
	QuotaProducerByteRate  = "producer_byte_rate" // bytes of produce requests per second
	QuotaConsumerByteRate  = "consumer_byte_rate" // bytes of fetch responses per second
	QuotaRequestPercentage = "request_percentage" // percent of one core's time handling requests
)

// QuotaPart is the user or the client-id part of a quota entity: a name,
// or the default that applies to every user (client id) without a quota
// of its own.
type QuotaPart struct {
	Name    string `json:"name,omitempty"`
	Default bool   `json:"default,omitempty"`
}

// QuotaEntity is what a client quota applies to, as Kafka's entities: a
// user, a client id, or both; a nil part is absent.
type QuotaEntity struct {
	User     *QuotaPart `json:"user,omitempty"`
	ClientID *QuotaPart `json:"client_id,omitempty"`
}

// String renders the entity as kafka-configs does: "user=alice,
// client-id=<default>".
func (e QuotaEntity) String() string {
	var parts []string
	for _, p := range []struct {
		typ  string
		part *QuotaPart
	}{{"user", e.User}, {"client-id", e.ClientID}} {
		switch {
		case p.part == nil:
		case p.part.Default:
			parts = append(parts, p.typ+"=<default>")
		default:
			parts = append(parts, p.typ+"="+p.part.Name)
		}
	}
	return strings.Join(parts, ", ")
}

func (e QuotaEntity) kadm() kadm.ClientQuotaEntity {
	var out kadm.ClientQuotaEntity
	add := func(typ string, p *QuotaPart) {
		if p == nil {
			return
		}
		c := kadm.ClientQuotaEntityComponent{Type: typ}
		if !p.Default {
			c.Name = kadm.StringPtr(p.Name)
		}
		out = append(out, c)
	}
	add("user", e.User)
	add("client-id", e.ClientID)
	return out
}

// ClientQuota is one entity's quotas.
type ClientQuota struct {
	Entity QuotaEntity        `json:"entity"`
	Values map[string]float64 `json:"values"`
}

// DescribeClientQuotas returns the quotas of the entities that match
// filter: each part filter has matches that part exactly (a name, or the
// default); a part it lacks matches anything, or, with strict, only
// entities without that part. The zero filter returns every quota. The
// result is sorted by entity.
func (a *Admin) DescribeClientQuotas(ctx context.Context, filter QuotaEntity, strict bool) ([]ClientQuota, error) {
	var comps []kadm.DescribeClientQuotaComponent
	for _, c := range filter.kadm() {
		d := kadm.DescribeClientQuotaComponent{Type: c.Type, MatchType: kmsg.QuotasMatchTypeDefault}
		if c.Name != nil {
			d.MatchType, d.MatchName = kmsg.QuotasMatchTypeExact, c.Name
		}
		comps = append(comps, d)
	}
	qs, err := a.c.adm.DescribeClientQuotas(ctx, strict, comps)
	if err != nil {
		return nil, a.c.wrap("describe client quotas", filter.String(), err)
	}
	out := make([]ClientQuota, 0, len(qs))
	for _, q := range qs {
		var cq ClientQuota
		for _, c := range q.Entity {
			p := &QuotaPart{Default: c.Name == nil}
			if c.Name != nil {
				p.Name = *c.Name
			}
			switch c.Type {
			case "user":
				cq.Entity.User = p
			case "client-id":
				cq.Entity.ClientID = p
			}
		}
		cq.Values = make(map[string]float64, len(q.Values))
		for _, v := range q.Values {
			cq.Values[v.Key] = v.Value
		}
		out = append(out, cq)
	}
	slices.SortFunc(out, func(x, y ClientQuota) int { return strings.Compare(x.Entity.sortKey(), y.Entity.sortKey()) })
	return out, nil
}

// sortKey orders entities: user ones first, defaults before names.
func (e QuotaEntity) sortKey() string {
	k := func(p *QuotaPart) string {
		switch {
		case p == nil:
			return "2"
		case p.Default:
			return "0"
		}
		return "1" + p.Name
	}
	return k(e.User) + "\x00" + k(e.ClientID)
}

// AlterClientQuotas sets the quotas in set and removes those in remove
// for one entity, leaving its others as they are.
func (a *Admin) AlterClientQuotas(ctx context.Context, e QuotaEntity, set map[string]float64, remove []string) error {
	entry := kadm.AlterClientQuotaEntry{Entity: e.kadm()}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		entry.Ops = append(entry.Ops, kadm.AlterClientQuotaOp{Key: k, Value: set[k]})
	}
	for _, k := range remove {
		entry.Ops = append(entry.Ops, kadm.AlterClientQuotaOp{Key: k, Remove: true})
	}
	res, err := a.c.adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{entry})
	if err != nil {
		return a.c.wrap("alter client quotas", e.String(), err)
	}
	for _, r := range res {
		if r.Err != nil {
			return a.c.wrap("alter client quotas", e.String(), withMessage(r.Err, r.ErrMessage))
		}
	}
	return nil
}
