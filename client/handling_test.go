package client_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratalog/strata/client"
)

// produceValues writes values, in order, to partition 0 of topic.
func produceValues(t *testing.T, c *client.Client, topic string, values ...string) {
	t.Helper()
	for _, v := range values {
		if _, err := c.Produce(testCtx(t), topic, nil, []byte(v), client.WithPartition(0)); err != nil {
			t.Fatal(err)
		}
	}
}

// With PartitionConcurrency the handler runs for several partitions at
// once, each partition's records still in offset order, and every record
// is committed.
func TestPartitionConcurrency(t *testing.T) {
	c := newClient(t)
	const partitions, perPartition = 4, 40
	topic := newTopic(t, c, partitions)
	group := topic + "-group"
	produceN(t, c, topic, partitions, perPartition)

	ctx := testCtx(t)
	cs, err := client.NewConsumer(ctx, c, group, []string{topic}, client.Bytes{}, client.String{},
		client.PartitionConcurrency(partitions), client.MaxPollRecords(1000))
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu        sync.Mutex
		next      = map[int32]int64{}
		inside    int
		maxInside int
		together  = make(chan struct{}) // closed once two handlers overlap
		closeOnce sync.Once
		total     atomic.Int64
	)
	err = cs.Run(ctx, func(ctx context.Context, m client.Message[[]byte, string]) error {
		mu.Lock()
		if m.Offset != next[m.Partition] {
			t.Errorf("partition %d: offset %d handled, want %d", m.Partition, m.Offset, next[m.Partition])
		}
		next[m.Partition] = m.Offset + 1
		inside++
		maxInside = max(maxInside, inside)
		if inside >= 2 {
			closeOnce.Do(func() { close(together) })
		}
		mu.Unlock()
		// The first record of a partition waits, bounded, for another
		// partition's handler to run beside it: with one handler at a
		// time that never happens and the bound passes.
		if m.Offset == 0 {
			select {
			case <-together:
			case <-time.After(5 * time.Second):
			}
		}
		mu.Lock()
		inside--
		mu.Unlock()
		if total.Add(1) == partitions*perPartition {
			return client.ErrStop
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if maxInside < 2 || maxInside > partitions {
		t.Errorf("at most %d handlers ran at once, want 2 to %d", maxInside, partitions)
	}
	for p, o := range committed(t, c, group, topic) {
		if o != perPartition {
			t.Errorf("partition %d committed at %d, want %d", p, o, perPartition)
		}
	}
}

// RunBatches hands over consecutive records of one partition; a batch that
// fails with StopOnError commits none of its records, and the next member
// gets the batch again.
func TestRunBatchesStopOnError(t *testing.T) {
	c := newClient(t)
	topic := newTopic(t, c, 2)
	group := topic + "-group"
	produceN(t, c, topic, 2, 30)

	ctx := testCtx(t)
	cs, err := client.NewConsumer(ctx, c, group, []string{topic}, client.Bytes{}, client.String{}, client.MaxPollRecords(7))
	if err != nil {
		t.Fatal(err)
	}
	var failedAt int64 = -1
	boom := errors.New("boom")
	err = cs.RunBatches(ctx, func(_ context.Context, ms []client.Message[[]byte, string]) error {
		for i, m := range ms {
			if m.Partition != ms[0].Partition || m.Offset != ms[0].Offset+int64(i) {
				t.Fatalf("batch not consecutive records of one partition: %d/%d at %d", m.Partition, m.Offset, i)
			}
		}
		if ms[0].Partition == 0 && ms[0].Offset <= 10 && 10 <= ms[len(ms)-1].Offset {
			failedAt = ms[0].Offset
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("RunBatches returned %v, want the handler's error", err)
	}
	got := committed(t, c, group, topic)[0]
	if failedAt < 0 || got > failedAt {
		t.Fatalf("partition 0 committed at %d; the failed batch started at %d and must be delivered again", got, failedAt)
	}

	// The next member starts at the committed offset, so the failed batch
	// comes again, in full.
	cs2, err := client.NewConsumer(ctx, c, group, []string{topic}, client.Bytes{}, client.String{})
	if err != nil {
		t.Fatal(err)
	}
	var again bool
	err = cs2.RunBatches(ctx, func(_ context.Context, ms []client.Message[[]byte, string]) error {
		for _, m := range ms {
			if m.Partition == 0 && m.Offset == failedAt {
				again = true
			}
		}
		if again {
			return client.ErrStop
		}
		return nil
	})
	if err != nil || !again {
		t.Fatalf("second member: err %v, failed batch delivered again: %v", err, again)
	}
}

// SkipOnError commits past the records the handler fails on.
func TestSkipOnError(t *testing.T) {
	c := newClient(t)
	topic := newTopic(t, c, 1)
	group := topic + "-group"
	produceValues(t, c, topic, "a", "bad", "b", "bad", "c")

	ctx := testCtx(t)
	cs, err := client.NewConsumer(ctx, c, group, []string{topic}, client.Bytes{}, client.String{}, client.OnHandlerError(client.SkipOnError()))
	if err != nil {
		t.Fatal(err)
	}
	var handled []string
	err = cs.Run(ctx, func(_ context.Context, m client.Message[[]byte, string]) error {
		if m.Value == "bad" {
			return errors.New("cannot process")
		}
		handled = append(handled, m.Value)
		if m.Value == "c" {
			return client.ErrStop
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(handled, ",") != "a,b,c" {
		t.Errorf("handled %v, want a, b, c", handled)
	}
	if got := committed(t, c, group, topic)[0]; got != 5 {
		t.Errorf("committed at %d, want 5: past the skipped records", got)
	}
}

// DeadLetter writes the records the handler fails on, and those that do
// not decode, to the dead-letter topic with where they came from and why,
// and commits past them.
func TestDeadLetter(t *testing.T) {
	c := newClient(t)
	topic := newTopic(t, c, 1)
	dlq := topic + "-dlq"
	if _, err := c.Admin().CreateTopic(testCtx(t), dlq, 1, nil); err != nil {
		t.Fatal(err)
	}
	group := topic + "-group"
	produceValues(t, c, topic, `{"n":1}`, `{"n":-1}`, `not json`, `{"n":2}`)

	type event struct {
		N int `json:"n"`
	}
	ctx := testCtx(t)
	if _, err := client.NewConsumer(ctx, c, group, []string{topic}, client.Bytes{}, client.JSON[event]{},
		client.OnHandlerError(client.DeadLetter(topic))); err == nil {
		t.Fatal("a dead-letter topic that the consumer reads was accepted")
	}
	cs, err := client.NewConsumer(ctx, c, group, []string{topic}, client.Bytes{}, client.JSON[event]{},
		client.OnHandlerError(client.DeadLetter(dlq)))
	if err != nil {
		t.Fatal(err)
	}
	var handled []int
	err = cs.Run(ctx, func(_ context.Context, m client.Message[[]byte, event]) error {
		if m.Value.N < 0 {
			return errors.New("negative n")
		}
		handled = append(handled, m.Value.N)
		if m.Value.N == 2 {
			return client.ErrStop
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(handled) != "[1 2]" {
		t.Errorf("handled %v, want [1 2]", handled)
	}
	if got := committed(t, c, group, topic)[0]; got != 4 {
		t.Errorf("committed at %d, want 4", got)
	}

	dead, err := client.NewConsumer(ctx, c, "", []string{dlq}, client.Bytes{}, client.String{}, client.StopAt(client.End()))
	if err != nil {
		t.Fatal(err)
	}
	type letter struct{ value, offset, errText string }
	var letters []letter
	err = dead.Run(ctx, func(_ context.Context, m client.Message[[]byte, string]) error {
		h := map[string]string{}
		for _, x := range m.Headers {
			h[x.Key] = string(x.Value)
		}
		if h[client.DeadLetterTopicHeader] != topic || h[client.DeadLetterPartitionHeader] != "0" {
			t.Errorf("dead letter %q has origin headers %v", m.Value, h)
		}
		letters = append(letters, letter{m.Value, h[client.DeadLetterOffsetHeader], h[client.DeadLetterErrorHeader]})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(letters) != 2 {
		t.Fatalf("%d dead letters, want 2: %+v", len(letters), letters)
	}
	for i, want := range []struct{ value, offset, errPart string }{
		{`{"n":-1}`, "1", "negative n"},
		{`not json`, "2", "decode"},
	} {
		l := letters[i]
		if l.value != want.value || l.offset != want.offset || !strings.Contains(l.errText, want.errPart) {
			t.Errorf("dead letter %d: %+v, want value %s from offset %s, error with %q", i, l, want.value, want.offset, want.errPart)
		}
		if _, err := strconv.Atoi(l.offset); err != nil {
			t.Errorf("offset header %q is not a number", l.offset)
		}
	}
}

func TestConsumerOptionChecks(t *testing.T) {
	c := newClient(t)
	topic := newTopic(t, c, 1)
	for name, opt := range map[string]client.ConsumerOption{
		"no dead-letter topic": client.OnHandlerError(client.DeadLetter("")),
		"zero concurrency":     client.PartitionConcurrency(0),
	} {
		if _, err := client.NewConsumer(testCtx(t), c, "g", []string{topic}, client.Bytes{}, client.Bytes{}, opt); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
