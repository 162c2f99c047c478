package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// TestTxnConfluentKafka: a confluent-kafka (librdkafka) transactional
// producer commits a transaction over three partitions with
// send_offsets_to_transaction, then aborts one. Each partition holds both
// transactions' records with a marker after each; the group's offset is
// the one the committed transaction sent; a read_committed consumer sees
// the committed records alone. kafka-python (2.0) has no transactions.
func TestTxnConfluentKafka(t *testing.T) {
	python := requireConfluent(t)
	s := startStrata(t, modeDev, strataOpts{InProcess: true})
	const topic, parts, group = "cf-txn", 3, "cf-txn-group"
	createTopic(t, s.KafkaAddr, topic, parts)
	out := run(t, 2*time.Minute, "", python, filepath.Join("testdata", "confluent_txn.py"), s.KafkaAddr, topic, fmt.Sprint(parts), "cf-app", group)
	if !strings.Contains(out, "done") {
		t.Fatalf("confluent_txn.py: %s", out)
	}
	logs := map[int32][]logEntry{}
	for p := range int32(parts) {
		log := rawLog(t, s.KafkaAddr, topic, p)
		logs[p] = log
		if len(log) != 6 || !log[2].Control || !log[2].Commit || !log[5].Control || log[5].Commit {
			t.Fatalf("partition %d: %+v, want 2 records, a commit marker, 2 records, an abort marker", p, log)
		}
		committed, aborted, open := committedValues(log)
		want := []string{fmt.Sprintf("commit-%d-0", p), fmt.Sprintf("commit-%d-1", p)}
		if !slices.Equal(committed, want) || aborted != 2 || open != 0 {
			t.Fatalf("partition %d: committed %v, %d aborted, %d open", p, committed, aborted, open)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	offs, err := kadm.NewClient(newClient(t, s.KafkaAddr)).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup(topic, 0); !ok || o.Err != nil || o.At != 7 {
		t.Fatalf("the group's offset of %s/0: %+v, want 7", topic, o)
	}
	got := readCommitted(t, s.KafkaAddr, topic, logs)
	for p, log := range logs {
		want, _, _ := committedValues(log)
		if !slices.Equal(got[p], want) {
			t.Errorf("read_committed partition %d: %v, want %v", p, got[p], want)
		}
	}
}
