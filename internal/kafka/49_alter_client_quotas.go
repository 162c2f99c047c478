package kafka

import (
	"context"
	"math"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/metastore"
)

// AlterClientQuotas v0-v1, as Kafka answers it (KIP-546):
//
//   - Each entry names an entity (user, client-id or both; a null name is
//     the type's default) and operations: set a key to a value, or remove
//     it. The keys are producer_byte_rate and consumer_byte_rate (whole
//     bytes per second) and request_percentage (percent of one core); each
//     value must be positive. Kafka's ip entities and
//     controller_mutation_rate are not kept: INVALID_REQUEST.
//   - An entry with an unknown, repeated or missing entity type, a name
//     that is not UTF-8 or holds NUL, an unknown or repeated key, or a bad
//     value gets INVALID_REQUEST with a message and changes nothing; the
//     other entries are applied, all in one metastore transaction.
//   - validate_only checks the entries and applies none.
//   - The quotas apply on this node at once, on every other node at its
//     next version check (-kafka.quota.refresh-interval).
func init() {
	register(kmsg.AlterClientQuotas.Int16(), 0, 1, (*Server).handleAlterClientQuotas)
}

func (s *Server) handleAlterClientQuotas(ctx context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.AlterClientQuotasRequest)
	resp := req.ResponseKind().(*kmsg.AlterClientQuotasResponse)
	var alts []metastore.ClientQuotaAlteration
	var applied []int // entries of resp that alts change
	for _, e := range req.Entries {
		re := kmsg.NewAlterClientQuotasResponseEntry()
		for _, p := range e.Entity {
			rp := kmsg.NewAlterClientQuotasResponseEntryEntity()
			rp.Type, rp.Name = p.Type, p.Name
			re.Entity = append(re.Entity, rp)
		}
		alt, err := quotaAlteration(e)
		if err != nil {
			re.ErrorCode, re.ErrorMessage = kerr.InvalidRequest.Code, strPtr(err.Error())
		} else if !req.ValidateOnly {
			alts = append(alts, alt)
			applied = append(applied, len(resp.Entries))
		}
		resp.Entries = append(resp.Entries, re)
	}
	if len(alts) > 0 {
		if err := s.quotas.alter(ctx, alts); err != nil {
			code, msg := s.errorCodeMessage("AlterClientQuotas", err)
			for _, i := range applied {
				resp.Entries[i].ErrorCode, resp.Entries[i].ErrorMessage = code, msg
			}
		}
	}
	return respond(resp)
}

// quotaAlteration checks one entry and returns what it changes.
func quotaAlteration(e kmsg.AlterClientQuotasRequestEntry) (metastore.ClientQuotaAlteration, error) {
	var alt metastore.ClientQuotaAlteration
	if len(e.Entity) == 0 {
		return alt, errorf(kerr.InvalidRequest, "the entity has no type")
	}
	for _, p := range e.Entity {
		var part *metastore.QuotaPart
		switch p.Type {
		case quotaEntityUser:
			part = &alt.Entity.User
		case quotaEntityClientID:
			part = &alt.Entity.ClientID
		case quotaEntityIP:
			return alt, errorf(kerr.InvalidRequest, "ip quotas (connection_creation_rate) are not supported")
		default:
			return alt, errorf(kerr.InvalidRequest, "unknown quota entity type %s", strconv.Quote(p.Type))
		}
		if part.Kind != metastore.QuotaAbsent {
			return alt, errorf(kerr.InvalidRequest, "entity type %s given twice", p.Type)
		}
		if p.Name == nil {
			part.Kind = metastore.QuotaDefault
			continue
		}
		if !validQuotaName(*p.Name) {
			return alt, errorf(kerr.InvalidRequest, "the %s name is not UTF-8 text without NUL", p.Type)
		}
		*part = metastore.QuotaPart{Kind: metastore.QuotaNamed, Name: *p.Name}
	}
	seen := map[string]bool{}
	for _, op := range e.Ops {
		if seen[op.Key] {
			return alt, errorf(kerr.InvalidRequest, "key %s given twice", strconv.Quote(op.Key))
		}
		seen[op.Key] = true
		switch op.Key {
		case metastore.QuotaProducerByteRate, metastore.QuotaConsumerByteRate, metastore.QuotaRequestPercentage:
		case "controller_mutation_rate":
			return alt, errorf(kerr.InvalidRequest, "controller_mutation_rate is not supported")
		default:
			return alt, errorf(kerr.InvalidRequest, "unknown quota key %s", strconv.Quote(op.Key))
		}
		if op.Remove {
			alt.Remove = append(alt.Remove, op.Key)
			continue
		}
		v := op.Value
		if math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
			return alt, errorf(kerr.InvalidRequest, "%s must be positive, not %v", op.Key, v)
		}
		if op.Key != metastore.QuotaRequestPercentage && (v != math.Trunc(v) || v > math.MaxInt64) {
			return alt, errorf(kerr.InvalidRequest, "%s must be a whole number of bytes per second, not %v", op.Key, v)
		}
		if alt.Set == nil {
			alt.Set = map[string]float64{}
		}
		alt.Set[op.Key] = v
	}
	return alt, nil
}
