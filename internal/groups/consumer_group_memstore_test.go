package groups

import (
	"context"

	"github.com/stratalog/strata/metastore"
)

// The fuzz test's memStore keeps no consumer-protocol groups: the fuzzed
// machine speaks the classic protocol only.

func (*memStore) SaveConsumerGroup(context.Context, metastore.GroupLease, metastore.ConsumerGroupState) error {
	return nil
}

func (*memStore) LoadConsumerGroup(context.Context, string) (metastore.ConsumerGroupState, error) {
	return metastore.ConsumerGroupState{}, metastore.ErrUnknownGroup
}

func (*memStore) DeleteConsumerGroup(context.Context, metastore.GroupLease) error { return nil }

func (*memStore) ListConsumerGroups(context.Context) ([]metastore.ConsumerGroupState, error) {
	return nil, nil
}
