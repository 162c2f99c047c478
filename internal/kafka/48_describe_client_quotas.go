package kafka

import (
	"context"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/metastore"
)

// DescribeClientQuotas v0-v1, as Kafka answers it (KIP-546):
//
//   - Each component filters on one entity type, user or client-id: match
//     type 0 (exact) keeps the entities with that name, 1 (default) those
//     with the type's default, 2 (any) those with the type at all, named
//     or default. An entity must pass every component; with strict it must
//     also have no other type. No component and not strict: every entity.
//   - A type given twice, an unknown type or match type, or an exact
//     match without a name is INVALID_REQUEST for the whole request. The
//     ip type may be asked for alone and matches nothing (Strata keeps no
//     connection-rate quotas).
//   - Entries list the entity's parts, user first, and its values ordered
//     by key. The quotas are read from the metastore, not this node's cache.
func init() {
	register(kmsg.DescribeClientQuotas.Int16(), 0, 1, (*Server).handleDescribeClientQuotas)
}

// Kafka's quota entity types.
const (
	quotaEntityUser     = "user"
	quotaEntityClientID = "client-id"
	quotaEntityIP       = "ip"
)

// quotaEntityParts returns an entity's parts in Kafka's form: type and
// name, a nil name for the default.
func quotaEntityParts(e metastore.QuotaEntity) (types []string, names []*string) {
	add := func(typ string, p metastore.QuotaPart) {
		switch p.Kind {
		case metastore.QuotaDefault:
			types, names = append(types, typ), append(names, nil)
		case metastore.QuotaNamed:
			types, names = append(types, typ), append(names, strPtr(p.Name))
		}
	}
	add(quotaEntityUser, e.User)
	add(quotaEntityClientID, e.ClientID)
	return types, names
}

// validQuotaName reports whether a user or client-id name can be stored:
// UTF-8 without NUL, as PostgreSQL's text requires.
func validQuotaName(s string) bool {
	return utf8.ValidString(s) && !slices.Contains([]byte(s), 0)
}

func (s *Server) handleDescribeClientQuotas(ctx context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.DescribeClientQuotasRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClientQuotasResponse)
	fail := func(code *kerr.Error, msg string) (Reply, error) {
		resp.ErrorCode, resp.ErrorMessage = code.Code, strPtr(msg)
		return respond(resp)
	}
	type filter struct {
		set   bool
		match kmsg.QuotasMatchType
		name  string
	}
	var user, client filter
	ipOnly := false
	for _, c := range req.Components {
		var f *filter
		switch c.EntityType {
		case quotaEntityUser:
			f = &user
		case quotaEntityClientID:
			f = &client
		case quotaEntityIP:
			if ipOnly {
				return fail(kerr.InvalidRequest, "entity type ip given twice")
			}
			ipOnly = true
			continue
		default:
			return fail(kerr.InvalidRequest, "unknown quota entity type "+strconv.Quote(c.EntityType))
		}
		if f.set {
			return fail(kerr.InvalidRequest, "entity type "+c.EntityType+" given twice")
		}
		f.set, f.match = true, c.MatchType
		switch c.MatchType {
		case kmsg.QuotasMatchTypeExact:
			if c.Match == nil {
				return fail(kerr.InvalidRequest, "an exact match of "+c.EntityType+" needs a name")
			}
			f.name = *c.Match
		case kmsg.QuotasMatchTypeDefault, kmsg.QuotasMatchTypeAny:
		default:
			return fail(kerr.InvalidRequest, "unknown match type for "+c.EntityType)
		}
	}
	if ipOnly {
		if user.set || client.set {
			return fail(kerr.InvalidRequest, "entity type ip cannot be combined with user or client-id")
		}
		return respond(resp) // no ip quotas are kept
	}
	qs, _, err := s.quotas.stored(ctx)
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = s.errorCodeMessage("DescribeClientQuotas", err)
		return respond(resp)
	}
	matches := func(f filter, p metastore.QuotaPart) bool {
		if !f.set {
			return !req.Strict || p.Kind == metastore.QuotaAbsent
		}
		switch f.match {
		case kmsg.QuotasMatchTypeExact:
			return p.Kind == metastore.QuotaNamed && p.Name == f.name
		case kmsg.QuotasMatchTypeDefault:
			return p.Kind == metastore.QuotaDefault
		default:
			return p.Kind != metastore.QuotaAbsent
		}
	}
	for _, q := range qs {
		if !matches(user, q.Entity.User) || !matches(client, q.Entity.ClientID) {
			continue
		}
		e := kmsg.NewDescribeClientQuotasResponseEntry()
		types, names := quotaEntityParts(q.Entity)
		for i := range types {
			p := kmsg.NewDescribeClientQuotasResponseEntryEntity()
			p.Type, p.Name = types[i], names[i]
			e.Entity = append(e.Entity, p)
		}
		keys := make([]string, 0, len(q.Values))
		for k := range q.Values {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			v := kmsg.NewDescribeClientQuotasResponseEntryValue()
			v.Key, v.Value = k, q.Values[k]
			e.Values = append(e.Values, v)
		}
		resp.Entries = append(resp.Entries, e)
	}
	return respond(resp)
}
