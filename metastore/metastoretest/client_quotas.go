package metastoretest

import (
	"reflect"
	"sync"
	"testing"

	"github.com/stratalog/strata/metastore"
)

// RunClientQuotas runs the client quota suite; open returns a store over a
// fresh, empty metastore.
func RunClientQuotas(t *testing.T, open func(t *testing.T) metastore.ClientQuotaStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s metastore.ClientQuotaStore)
	}{
		{"Empty", testQuotasEmpty},
		{"SetReplaceRemove", testQuotasSetReplaceRemove},
		{"EntitiesKeptApart", testQuotasEntitiesApart},
		{"VersionAdvances", testQuotasVersion},
		{"ConcurrentAlters", testQuotasConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			if c, ok := s.(interface{ Close() }); ok {
				t.Cleanup(c.Close)
			}
			tc.fn(t, s)
		})
	}
}

func named(n string) metastore.QuotaPart {
	return metastore.QuotaPart{Kind: metastore.QuotaNamed, Name: n}
}

var quotaDefault = metastore.QuotaPart{Kind: metastore.QuotaDefault}

func mustQuotas(t *testing.T, s metastore.ClientQuotaStore) ([]metastore.ClientQuota, int64) {
	t.Helper()
	qs, v, err := s.ClientQuotas(ctx(t))
	if err != nil {
		t.Fatalf("ClientQuotas: %v", err)
	}
	return qs, v
}

func mustAlter(t *testing.T, s metastore.ClientQuotaStore, alts ...metastore.ClientQuotaAlteration) {
	t.Helper()
	if err := s.AlterClientQuotas(ctx(t), alts); err != nil {
		t.Fatalf("AlterClientQuotas: %v", err)
	}
}

func testQuotasEmpty(t *testing.T, s metastore.ClientQuotaStore) {
	qs, v := mustQuotas(t, s)
	if len(qs) != 0 {
		t.Fatalf("fresh store holds quotas %+v", qs)
	}
	v2, err := s.ClientQuotasVersion(ctx(t))
	if err != nil || v2 != v {
		t.Fatalf("ClientQuotasVersion = %d, %v; ClientQuotas said %d", v2, err, v)
	}
}

func testQuotasSetReplaceRemove(t *testing.T, s metastore.ClientQuotaStore) {
	alice := metastore.QuotaEntity{User: named("alice")}
	mustAlter(t, s, metastore.ClientQuotaAlteration{Entity: alice, Set: map[string]float64{
		metastore.QuotaProducerByteRate: 1 << 20, metastore.QuotaRequestPercentage: 12.5}})
	mustAlter(t, s, metastore.ClientQuotaAlteration{Entity: alice,
		Set:    map[string]float64{metastore.QuotaProducerByteRate: 2 << 20},
		Remove: []string{metastore.QuotaRequestPercentage}})
	qs, _ := mustQuotas(t, s)
	want := []metastore.ClientQuota{{Entity: alice, Values: map[string]float64{metastore.QuotaProducerByteRate: 2 << 20}}}
	if !reflect.DeepEqual(qs, want) {
		t.Fatalf("after replace and remove: %+v, want %+v", qs, want)
	}
	// Removing a key that is not there is no error; the last key gone
	// takes the entity with it.
	mustAlter(t, s, metastore.ClientQuotaAlteration{Entity: alice,
		Remove: []string{metastore.QuotaProducerByteRate, metastore.QuotaConsumerByteRate}})
	if qs, _ := mustQuotas(t, s); len(qs) != 0 {
		t.Fatalf("every key removed, store still holds %+v", qs)
	}
}

func testQuotasEntitiesApart(t *testing.T, s metastore.ClientQuotaStore) {
	// The default user, a user named "" and the absent user are three
	// entities; so are their combinations with client ids.
	es := []metastore.QuotaEntity{
		{User: quotaDefault},
		{User: named("")},
		{ClientID: quotaDefault},
		{ClientID: named("")},
		{User: named("bob"), ClientID: named("app")},
		{User: named("bob"), ClientID: quotaDefault},
		{User: named("bob")},
		{User: quotaDefault, ClientID: named("app")},
		{User: quotaDefault, ClientID: quotaDefault},
		{ClientID: named("app")},
		{User: named("bób ü")},
	}
	var alts []metastore.ClientQuotaAlteration
	for i, e := range es {
		alts = append(alts, metastore.ClientQuotaAlteration{Entity: e, Set: map[string]float64{metastore.QuotaConsumerByteRate: float64(1000 + i)}})
	}
	mustAlter(t, s, alts...)
	qs, _ := mustQuotas(t, s)
	if len(qs) != len(es) {
		t.Fatalf("stored %d entities, want %d: %+v", len(qs), len(es), qs)
	}
	for i := 1; i < len(qs); i++ {
		if metastore.CompareQuotaEntity(qs[i-1].Entity, qs[i].Entity) >= 0 {
			t.Fatalf("quotas not in order at %d: %+v then %+v", i, qs[i-1].Entity, qs[i].Entity)
		}
	}
	for i, e := range es {
		found := false
		for _, q := range qs {
			if q.Entity == e {
				found = true
				if v := q.Values[metastore.QuotaConsumerByteRate]; v != float64(1000+i) || len(q.Values) != 1 {
					t.Errorf("entity %+v holds %v, want consumer_byte_rate %d", e, q.Values, 1000+i)
				}
			}
		}
		if !found {
			t.Errorf("entity %+v not stored", e)
		}
	}
}

func testQuotasVersion(t *testing.T, s metastore.ClientQuotaStore) {
	_, v0 := mustQuotas(t, s)
	mustAlter(t, s, metastore.ClientQuotaAlteration{Entity: metastore.QuotaEntity{ClientID: named("c")},
		Set: map[string]float64{metastore.QuotaProducerByteRate: 100}})
	v1, err := s.ClientQuotasVersion(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if v1 <= v0 {
		t.Fatalf("version %d after a change, %d before: it must advance", v1, v0)
	}
	if _, v := mustQuotas(t, s); v != v1 {
		t.Fatalf("ClientQuotas at version %d, ClientQuotasVersion %d", v, v1)
	}
	// Even a change that changes nothing advances it: a node reloads
	// once too often, never too rarely.
	mustAlter(t, s, metastore.ClientQuotaAlteration{Entity: metastore.QuotaEntity{ClientID: named("other")}, Remove: []string{metastore.QuotaProducerByteRate}})
	if v2, _ := s.ClientQuotasVersion(ctx(t)); v2 <= v1 {
		t.Fatalf("version %d after a second change, %d before", v2, v1)
	}
}

func testQuotasConcurrent(t *testing.T, s metastore.ClientQuotaStore) {
	_, v0 := mustQuotas(t, s)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = s.AlterClientQuotas(ctx(t), []metastore.ClientQuotaAlteration{{
				Entity: metastore.QuotaEntity{User: named("u"), ClientID: named(string(rune('a' + i)))},
				Set:    map[string]float64{metastore.QuotaProducerByteRate: float64(i + 1)},
			}})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("alter %d: %v", i, err)
		}
	}
	qs, v := mustQuotas(t, s)
	if len(qs) != n {
		t.Fatalf("%d entities after %d concurrent alters: %+v", len(qs), n, qs)
	}
	if v < v0+n {
		t.Fatalf("version went from %d to %d over %d alters", v0, v, n)
	}
}
