package client_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratalog/strata/client"
)

// produceN writes perPartition records to each partition of topic; the
// value of the record at offset o of partition p is "p:o".
func produceN(t *testing.T, c *client.Client, topic string, partitions int32, perPartition int) {
	t.Helper()
	ctx := testCtx(t)
	var (
		mu   sync.Mutex
		errs []error
	)
	for p := range partitions {
		for o := range perPartition {
			c.ProduceAsync(ctx, topic, nil, fmt.Appendf(nil, "%d:%d", p, o), func(_ client.Offset, err error) {
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}, client.WithPartition(p))
		}
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if len(errs) > 0 {
		t.Fatalf("produce: %v", errs[0])
	}
}

// committed returns the group's committed offset per partition of topic.
func committed(t *testing.T, c *client.Client, group, topic string) map[int32]int64 {
	t.Helper()
	info, err := c.Admin().DescribeGroup(testCtx(t), group)
	if err != nil {
		t.Fatalf("DescribeGroup %s: %v", group, err)
	}
	out := map[int32]int64{}
	for _, o := range info.Offsets {
		if o.Topic == topic {
			out[o.Partition] = o.Committed
		}
	}
	return out
}

// TestGroupCommitsOnlyProcessed cancels a group consumer in the middle of a
// batch, then starts another member of the group: the committed offsets are
// exactly the records the first handler finished, and the second member
// starts right there, so nothing is skipped and nothing finished is read
// again.
func TestGroupCommitsOnlyProcessed(t *testing.T) {
	c := newClient(t)
	const partitions, perPartition = 2, 50
	topic := newTopic(t, c, partitions)
	group := topic + "-group"
	produceN(t, c, topic, partitions, perPartition)

	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	first, err := client.NewConsumer(ctx, c, group, []string{topic}, client.Bytes{}, client.String{}, client.MaxPollRecords(7))
	if err != nil {
		t.Fatal(err)
	}
	processed := map[int32]int64{} // records finished per partition
	handled := 0
	err = first.Run(ctx, func(ctx context.Context, m client.Message[[]byte, string]) error {
		if m.Value != fmt.Sprintf("%d:%d", m.Partition, m.Offset) {
			t.Errorf("record %d/%d has value %q", m.Partition, m.Offset, m.Value)
		}
		if m.Offset != processed[m.Partition] {
			t.Errorf("partition %d: handler got offset %d, want %d", m.Partition, m.Offset, processed[m.Partition])
		}
		handled++
		if handled == 38 {
			// Shut down in the middle of a 7-record batch, with this
			// record unfinished.
			cancel()
			<-ctx.Done()
			return ctx.Err()
		}
		processed[m.Partition]++
		return nil
	})
	if err != nil {
		t.Fatalf("Run after cancel: %v, want nil", err)
	}
	if handled != 38 {
		t.Fatalf("handler ran %d times after cancel, want 38", handled)
	}

	got := committed(t, c, group, topic)
	for p := range int32(partitions) {
		want := processed[p]
		if want == 0 {
			want = -1 // nothing processed, nothing committed
		}
		if got[p] != want {
			t.Errorf("partition %d: committed %d, processed %d records", p, got[p], processed[p])
		}
	}
	info, err := c.Admin().DescribeGroup(testCtx(t), group)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Members) != 0 || info.State != "Empty" {
		t.Errorf("after Run returned the group is %s with %d members; want Empty, the member left", info.State, len(info.Members))
	}
	// The lag counts the partitions the group committed in; where it
	// never committed, the lag is unknown (-1), as Kafka's tools show it.
	var wantLag int64
	for p := range int32(partitions) {
		if got[p] >= 0 {
			wantLag += int64(perPartition) - got[p]
		}
	}
	if info.TotalLag != wantLag {
		t.Errorf("total lag %d, want %d", info.TotalLag, wantLag)
	}
	for _, o := range info.Offsets {
		if o.Topic == topic && (o.Committed < 0) != (o.Lag < 0) {
			t.Errorf("partition %d: committed %d, lag %d; want a lag exactly where there is a commit", o.Partition, o.Committed, o.Lag)
		}
	}

	// A new member resumes exactly after the processed records.
	ctx2, cancel2 := context.WithTimeout(testCtx(t), 30*time.Second)
	defer cancel2()
	second, err := client.NewConsumer(ctx2, c, group, []string{topic}, client.Bytes{}, client.String{})
	if err != nil {
		t.Fatal(err)
	}
	firstSeen := map[int32]int64{}
	remaining := partitions*perPartition - (handled - 1)
	err = second.Run(ctx2, func(_ context.Context, m client.Message[[]byte, string]) error {
		if _, ok := firstSeen[m.Partition]; !ok {
			firstSeen[m.Partition] = m.Offset
		}
		if m.Offset != processed[m.Partition] {
			t.Errorf("partition %d: second member got offset %d, want %d", m.Partition, m.Offset, processed[m.Partition])
		}
		processed[m.Partition]++
		remaining--
		if remaining == 0 {
			return client.ErrStop
		}
		return nil
	})
	if err != nil {
		t.Fatalf("second Run: %v", err)
	}
	if remaining != 0 {
		t.Fatalf("second member missed %d records", remaining)
	}
	for p := range int32(partitions) {
		if processed[p] != perPartition {
			t.Errorf("partition %d: %d records processed in all, want %d", p, processed[p], perPartition)
		}
	}
	for p, o := range committed(t, c, group, topic) {
		if o != perPartition {
			t.Errorf("partition %d: committed %d at the end, want %d", p, o, perPartition)
		}
	}
}

func TestHandlerErrorStopsAndCommitsBefore(t *testing.T) {
	c := newClient(t)
	topic := newTopic(t, c, 1)
	group := topic + "-group"
	produceN(t, c, topic, 1, 10)
	boom := errors.New("boom")
	cons, err := client.NewConsumer(testCtx(t), c, group, []string{topic}, client.Bytes{}, client.String{})
	if err != nil {
		t.Fatal(err)
	}
	err = cons.Run(testCtx(t), func(_ context.Context, m client.Message[[]byte, string]) error {
		if m.Offset == 5 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), fmt.Sprintf("%s/0@5", topic)) {
		t.Fatalf("Run: %v, want the handler's error naming the record", err)
	}
	if got := committed(t, c, group, topic)[0]; got != 5 {
		t.Errorf("committed %d, want 5: the records before the failed one", got)
	}
}

func TestDecodeErrorStopsAtTheRecord(t *testing.T) {
	c := newClient(t)
	topic := newTopic(t, c, 1)
	group := topic + "-group"
	ctx := testCtx(t)
	for _, v := range []string{`{"user":"a"}`, `{"user":"b"}`, `not json`, `{"user":"c"}`} {
		if _, err := c.Produce(ctx, topic, nil, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := client.NewConsumer(ctx, c, group, []string{topic}, client.Bytes{}, client.JSON[Event]{})
	if err != nil {
		t.Fatal(err)
	}
	var users []string
	err = cons.Run(ctx, func(_ context.Context, m client.Message[[]byte, Event]) error {
		users = append(users, m.Value.User)
		return nil
	})
	var de *client.DecodeError
	if !errors.As(err, &de) || de.Offset != 2 || de.Part != "value" || de.Topic != topic {
		t.Fatalf("Run: %v, want a DecodeError for the value at offset 2", err)
	}
	if !strings.Contains(err.Error(), "reset-offsets") {
		t.Errorf("decode error %q does not say how to move past the record", err)
	}
	if strings.Join(users, ",") != "a,b" {
		t.Errorf("handled %v before the bad record, want a,b", users)
	}
	if got := committed(t, c, group, topic)[0]; got != 2 {
		t.Errorf("committed %d, want 2", got)
	}
}

func TestSeekFromHandler(t *testing.T) {
	c := newClient(t)
	topic := newTopic(t, c, 1)
	produceN(t, c, topic, 1, 20)
	ctx := testCtx(t)
	cons, err := client.NewConsumer(ctx, c, "", []string{topic}, client.Bytes{}, client.String{}, client.MaxPollRecords(50))
	if err != nil {
		t.Fatal(err)
	}
	var offsets []int64
	err = cons.Run(ctx, func(ctx context.Context, m client.Message[[]byte, string]) error {
		offsets = append(offsets, m.Offset)
		if m.Offset == 2 && len(offsets) == 3 {
			// Jump ahead: the rest of this batch must not be delivered.
			return cons.Seek(ctx, topic, 0, client.AtOffset(15))
		}
		if m.Offset == 17 {
			return client.ErrStop
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(offsets); got != "[0 1 2 15 16 17]" {
		t.Errorf("offsets read %s, want [0 1 2 15 16 17]", got)
	}
}

func TestGroupSeekNeedsAssignment(t *testing.T) {
	c := newClient(t)
	topic := newTopic(t, c, 1)
	cons, err := client.NewConsumer(testCtx(t), c, topic+"-group", []string{topic}, client.Bytes{}, client.Bytes{})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	if err := cons.Seek(testCtx(t), topic, 0, client.Beginning()); err == nil || !strings.Contains(err.Error(), "not assigned") {
		t.Fatalf("Seek before any assignment: %v, want an error saying so", err)
	}
}

func TestGroupAdmin(t *testing.T) {
	c := newClient(t)
	ctx := testCtx(t)
	admin := c.Admin()
	topic := newTopic(t, c, 2)
	group := topic + "-group"
	base := time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
	for p := range int32(2) {
		for o := range 10 {
			if _, err := c.Produce(ctx, topic, nil, []byte("v"), client.WithPartition(p),
				client.WithTimestamp(base.Add(time.Duration(o)*time.Minute))); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Consume 4 records of each partition.
	cons, err := client.NewConsumer(ctx, c, group, []string{topic}, client.Bytes{}, client.Bytes{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int32]int{}
	err = cons.Run(ctx, func(ctx context.Context, m client.Message[[]byte, []byte]) error {
		seen[m.Partition]++
		switch {
		case seen[0] == 4 && seen[1] == 4:
			return client.ErrStop
		case seen[m.Partition] == 4:
			// Done with this partition: skip the rest of it.
			return cons.Seek(ctx, m.Topic, m.Partition, client.End())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	groups, err := admin.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var listed *client.GroupSummary
	for i := range groups {
		if groups[i].Name == group {
			listed = &groups[i]
		}
	}
	if listed == nil || listed.ProtocolType != "consumer" || listed.State != "Empty" {
		t.Fatalf("ListGroups: %s is %+v, want an Empty consumer group", group, listed)
	}

	info, err := admin.DescribeGroup(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Offsets) != 2 || info.TotalLag != 12 {
		t.Fatalf("DescribeGroup: %+v, want 2 partitions lagging 12 records in all", info)
	}
	for _, o := range info.Offsets {
		if o.Committed != 4 || o.LogEnd != 10 || o.Lag != 6 {
			t.Errorf("partition %d: committed %d, end %d, lag %d; want 4, 10, 6", o.Partition, o.Committed, o.LogEnd, o.Lag)
		}
	}

	reset := func(to client.Position, partitions ...int32) []client.OffsetReset {
		t.Helper()
		r, err := admin.ResetGroupOffsets(ctx, group, topic, to, partitions...)
		if err != nil {
			t.Fatalf("reset to %v: %v", to, err)
		}
		return r
	}
	r := reset(client.Beginning())
	if len(r) != 2 || r[0].From != 4 || r[0].To != 0 || r[1].To != 0 {
		t.Errorf("reset to beginning: %+v", r)
	}
	r = reset(client.AtOffset(99), 1)
	if len(r) != 1 || r[0].Partition != 1 || r[0].From != 0 || r[0].To != 10 {
		t.Errorf("reset partition 1 to offset 99 (clamped to the end): %+v", r)
	}
	r = reset(client.AtTime(base.Add(150 * time.Second)))
	if r[0].To != 3 || r[1].To != 3 {
		t.Errorf("reset to 2m30s: %+v, want offset 3 in both", r)
	}
	if got := committed(t, c, group, topic); got[0] != 3 || got[1] != 3 {
		t.Errorf("committed after reset: %v", got)
	}

	// Not while a member is active.
	active, err := client.NewConsumer(ctx, c, group, []string{topic}, client.Bytes{}, client.Bytes{})
	if err != nil {
		t.Fatal(err)
	}
	actx, acancel := context.WithCancel(ctx)
	running := make(chan struct{})
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		done <- active.Run(actx, func(ctx context.Context, _ client.Message[[]byte, []byte]) error {
			once.Do(func() { close(running) })
			<-ctx.Done()
			return ctx.Err()
		})
	}()
	select {
	case <-running:
	case <-time.After(30 * time.Second):
		t.Fatal("active member got no record")
	}
	_, err = admin.ResetGroupOffsets(ctx, group, topic, client.End())
	if !errors.Is(err, client.ErrGroupNotEmpty) {
		t.Errorf("reset with an active member: %v, want ErrGroupNotEmpty", err)
	}
	err = admin.DeleteGroup(ctx, group)
	if !errors.Is(err, client.ErrGroupNotEmpty) {
		t.Errorf("delete with an active member: %v, want ErrGroupNotEmpty", err)
	}
	acancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	if err := admin.DeleteGroup(ctx, group); err != nil {
		t.Fatalf("DeleteGroup: %v", err)
	}
	if _, err := admin.DescribeGroup(ctx, group); !errors.Is(err, client.ErrUnknownGroup) {
		t.Errorf("describe deleted group: %v, want ErrUnknownGroup", err)
	}
}

// TestStopAtEnd reads what the partitions held when the consumer was
// created, and returns: records produced afterwards are not read, an empty
// partition does not hold it up, and FromEnd starts n before the end.
func TestStopAtEnd(t *testing.T) {
	c := newClient(t)
	topic := newTopic(t, c, 3)
	produceN(t, c, topic, 2, 5) // partitions 0 and 1; partition 2 stays empty

	// read returns the partition@offset of every record read.
	read := func(start client.Position) []string {
		t.Helper()
		cons, err := client.NewConsumer(testCtx(t), c, "", []string{topic}, client.Bytes{}, client.Bytes{},
			client.StartAt(start), client.StopAt(client.End()))
		if err != nil {
			t.Fatal(err)
		}
		// Produced after the consumer resolved its stop offsets: not read.
		produceN(t, c, topic, 2, 1)
		var got []string
		if err := cons.Run(testCtx(t), func(_ context.Context, m client.Message[[]byte, []byte]) error {
			got = append(got, fmt.Sprintf("%d@%d", m.Partition, m.Offset))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		return got
	}

	got := read(client.Beginning())
	want := []string{"0@0", "0@1", "0@2", "0@3", "0@4", "1@0", "1@1", "1@2", "1@3", "1@4"}
	if !slices.Equal(got, want) {
		t.Fatalf("read %v, want the records there at the start: %v", got, want)
	}
	// Partitions 0 and 1 now end at offset 6: the last two are 4 and 5.
	got = read(client.FromEnd(2))
	want = []string{"0@4", "0@5", "1@4", "1@5"}
	if !slices.Equal(got, want) {
		t.Fatalf("FromEnd(2): read %v, want %v", got, want)
	}

	if _, err := client.NewConsumer(testCtx(t), c, "some-group", []string{topic}, client.Bytes{}, client.Bytes{},
		client.StopAt(client.End())); err == nil || !strings.Contains(err.Error(), "StopAt needs a consumer without a group") {
		t.Fatalf("StopAt with a group: err %v, want one saying it needs no group", err)
	}
}
