package groups

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzConsumerGroupHeartbeat feeds the consumer-protocol state machine
// heartbeats built from arbitrary bytes (any epoch, member, instance,
// subscription, regex, assignor and owned partitions, unknown topics
// included) and expirations: it never panics, never gives a partition to
// two members, and what it persists decodes to the same group.
func FuzzConsumerGroupHeartbeat(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0, 1, 2, 0, 0, 3})
	f.Add([]byte("\x00\x01\x00\x00\x02\x01\x05\x03\xff\x04\x00\x00\x01\x02"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newCGSim(t)
		next := func() byte {
			if len(data) == 0 {
				return 0
			}
			b := data[0]
			data = data[1:]
			return b
		}
		topics := []uuid.UUID{topicA, topicB, topicC}
		regexes := []string{"ord.*", "(", "pay|ord", ".*", "[a-"}
		for steps := 0; len(data) > 0 && steps < 200; steps++ {
			op := next()
			if op%8 == 7 {
				s.now = s.now.Add(time.Duration(next()) * time.Second)
				s.cg.expire(s.now)
				s.checkOwnership()
				continue
			}
			r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
			r.Version = int16(next() % 2)
			r.Group = "g"
			r.MemberID = fmt.Sprintf("m%d", next()%4)
			if next()%5 == 0 {
				r.MemberID = ""
			}
			r.MemberEpoch = int32(int8(next())) % 8
			if b := next(); b%3 == 0 {
				r.InstanceID = kmsg.StringPtr(fmt.Sprintf("i%d", b%2))
			}
			r.RebalanceTimeoutMillis = int32(next()%3) * 10_000
			if r.RebalanceTimeoutMillis == 0 {
				r.RebalanceTimeoutMillis = -1
			}
			switch next() % 4 {
			case 0:
				r.SubscribedTopicNames = []string{"orders"}
			case 1:
				r.SubscribedTopicNames = []string{"payments", "orders", "nope"}
			case 2:
				r.SubscribedTopicRegex = kmsg.StringPtr(regexes[next()%byte(len(regexes))])
			}
			switch next() % 4 {
			case 0:
				r.ServerAssignor = kmsg.StringPtr("range")
			case 1:
				r.ServerAssignor = kmsg.StringPtr("bogus")
			}
			if n := next() % 4; n > 0 {
				r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
				for range n - 1 {
					r.Topics = append(r.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{
						TopicID: topics[next()%3], Partitions: []int32{int32(int8(next())) % 8},
					})
				}
			}
			s.send(r)
		}
		enc, err := s.cg.encode()
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodeConsumerGroup(enc, s.now, s.cfg)
		if err != nil {
			t.Fatalf("decode what was encoded: %v", err)
		}
		again, err := back.encode()
		if err != nil || string(again) != string(enc) {
			t.Fatalf("round trip changed the state:\n%s\n%s", enc, again)
		}
	})
}
