package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
	"github.com/stratalog/strata/internal/cluster"
)

// internalTopic is one of Kafka's internal topics. Strata keeps what Kafka
// stores in them in the metastore, so they hold no records here, but
// Metadata lists them, marked internal, as Kafka does: tools show them
// (kcat -L), and clients leave them out of regex subscriptions by that
// mark. They cannot be created, and Produce to them is refused with
// INVALID_TOPIC_EXCEPTION, as Kafka refuses it to clients.
type internalTopic struct {
	name       string
	partitions int32
}

// internalTopics is every internal topic Strata lists, the one place to
// add one (__transaction_state, with transactions).
var internalTopics = []internalTopic{
	// Kafka's default offsets.topic.num.partitions.
	{name: "__consumer_offsets", partitions: 50},
}

// internalTopicNamed returns the internal topic called name.
func internalTopicNamed(name string) (internalTopic, bool) {
	for _, t := range internalTopics {
		if t.name == name {
			return t, true
		}
	}
	return internalTopic{}, false
}

// errInternalTopicWrite is Kafka's answer to a Produce to an internal topic.
func errInternalTopicWrite(name string) error {
	return errorf(kerr.InvalidTopicException, "cannot append to internal topic %s", name)
}

// errInternalTopicExists is Kafka's answer to creating an internal topic.
func errInternalTopicExists(name string) error {
	return errorf(kerr.TopicAlreadyExists, "topic %q already exists: it is internal", name)
}

// metadataInternalTopic describes an internal topic: its partitions are
// led in turn by the live brokers that coordinate groups (as in Kafka,
// where the leader of a __consumer_offsets partition coordinates its
// groups), or by every broker when none does, at epoch 0.
func metadataInternalTopic(t internalTopic, view metadataView, req *kmsg.MetadataRequest) kmsg.MetadataResponseTopic {
	leaders := make([]int32, 0, len(view.brokers))
	for _, n := range view.brokers {
		if n.Roles.Has(cluster.RoleCoordinator) {
			leaders = append(leaders, n.ID)
		}
	}
	if len(leaders) == 0 {
		for _, n := range view.brokers {
			leaders = append(leaders, n.ID)
		}
	}
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic = strPtr(t.name)
	mt.IsInternal = true
	if req.IncludeTopicAuthorizedOperations {
		mt.AuthorizedOperations = view.az.ops(acl.ResourceTopic, t.name)
	}
	mt.Partitions = make([]kmsg.MetadataResponseTopicPartition, 0, t.partitions)
	for p := int32(0); p < t.partitions; p++ {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = p
		mp.LeaderEpoch = 0
		if len(leaders) == 0 {
			mp.Leader, mp.ErrorCode = -1, kerr.LeaderNotAvailable.Code
			mp.Replicas = []int32{}
		} else {
			mp.Leader = leaders[int(p)%len(leaders)]
			mp.Replicas = readReplicas(mp.Leader, view.brokers)
		}
		mp.ISR = mp.Replicas
		mp.OfflineReplicas = []int32{}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}
