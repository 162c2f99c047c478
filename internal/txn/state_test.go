package txn

import (
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/metastore"
)

var (
	t0  = time.UnixMilli(1_700_000_000_000)
	tpA = metastore.TopicPartition{Topic: "a", Partition: 0}
	tpB = metastore.TopicPartition{Topic: "b", Partition: 3}
)

// row is a stored transaction of producer 10 at epoch 4 in state st.
func row(st metastore.TxnState) metastore.Transaction {
	r := metastore.Transaction{TransactionalID: "app", ProducerID: 10, ProducerEpoch: 4, State: st, TimeoutMs: 1000, Version: 3}
	if st == metastore.TxnOngoing {
		r.Partitions = []metastore.TopicPartition{tpA}
		r.Groups = []string{"g"}
		r.StartTime = t0
	}
	return r
}

var allStates = []metastore.TxnState{
	metastore.TxnEmpty, metastore.TxnOngoing, metastore.TxnPrepareCommit,
	metastore.TxnPrepareAbort, metastore.TxnCompleteCommit, metastore.TxnCompleteAbort,
}

func wantErr(t *testing.T, what string, r Result, e *kerr.Error) {
	t.Helper()
	if r.Err != e {
		t.Fatalf("%s: error %v, want %v", what, r.Err, e)
	}
	if e != nil && (r.Write || r.End != nil) {
		t.Fatalf("%s: refused with %v but writes %+v", what, e, r)
	}
}

func TestInitNewID(t *testing.T) {
	r := Init(metastore.Transaction{}, false, "app", 1000, 60000, 77, -1, -1, t0)
	wantErr(t, "init", r, nil)
	if !r.Write || r.End != nil || r.Next.ProducerID != 77 || r.Next.ProducerEpoch != 0 || r.Next.State != metastore.TxnEmpty || r.Next.TimeoutMs != 1000 || r.Next.Version != 0 {
		t.Fatalf("init of a new id: %+v", r)
	}
}

func TestInitTimeoutBounds(t *testing.T) {
	for _, ms := range []int32{0, -1, 60001} {
		wantErr(t, "timeout", Init(metastore.Transaction{}, false, "app", ms, 60000, 77, -1, -1, t0), kerr.InvalidTransactionTimeout)
	}
	wantErr(t, "max timeout", Init(metastore.Transaction{}, false, "app", 60000, 60000, 77, -1, -1, t0), nil)
}

func TestInitUnknownRecovery(t *testing.T) {
	wantErr(t, "recover unknown id", Init(metastore.Transaction{}, false, "app", 1000, 60000, 77, 5, 2, t0), kerr.InvalidProducerIDMapping)
}

// TestInitBumpsEpoch: from every state without an open transaction, a new
// instance gets the next epoch and an Empty transaction.
func TestInitBumpsEpoch(t *testing.T) {
	for _, st := range []metastore.TxnState{metastore.TxnEmpty, metastore.TxnCompleteCommit, metastore.TxnCompleteAbort} {
		r := Init(row(st), true, "app", 2000, 60000, 77, -1, -1, t0)
		wantErr(t, string(st), r, nil)
		if !r.Write || r.End != nil || r.Next.ProducerID != 10 || r.Next.ProducerEpoch != 5 || r.Next.State != metastore.TxnEmpty || r.Next.TimeoutMs != 2000 || r.Next.Version != 3 {
			t.Fatalf("%s: %+v", st, r)
		}
	}
}

// TestInitAbortsOpenTransaction: the previous instance's open transaction
// is aborted with the new epoch on its markers, which fences it.
func TestInitAbortsOpenTransaction(t *testing.T) {
	r := Init(row(metastore.TxnOngoing), true, "app", 1000, 60000, 77, -1, -1, t0)
	wantErr(t, "init over ongoing", r, nil)
	want := &Decision{Commit: false, ProducerID: 10, ProducerEpoch: 5, Partitions: []metastore.TopicPartition{tpA}}
	if !reflect.DeepEqual(r.End, want) {
		t.Fatalf("decision %+v, want %+v", r.End, want)
	}
	if r.Next.State != metastore.TxnEmpty || r.Next.ProducerEpoch != 5 || r.Next.Partitions != nil || r.Next.Groups != nil || !r.Next.StartTime.IsZero() {
		t.Fatalf("next %+v", r.Next)
	}
}

func TestInitDuringPrepare(t *testing.T) {
	for _, st := range []metastore.TxnState{metastore.TxnPrepareCommit, metastore.TxnPrepareAbort} {
		wantErr(t, string(st), Init(row(st), true, "app", 1000, 60000, 77, -1, -1, t0), kerr.ConcurrentTransactions)
	}
}

func TestInitEpochExhausted(t *testing.T) {
	cur := row(metastore.TxnCompleteCommit)
	cur.ProducerEpoch = MaxEpoch - 1
	r := Init(cur, true, "app", 1000, 60000, 77, -1, -1, t0)
	if r.Next.ProducerID != 77 || r.Next.ProducerEpoch != 0 {
		t.Fatalf("exhausted epoch: %+v", r.Next)
	}
}

// TestInitRecovery is KIP-360: a producer names its current id and epoch.
func TestInitRecovery(t *testing.T) {
	cur := row(metastore.TxnCompleteAbort)
	if r := Init(cur, true, "app", 1000, 60000, 77, 10, 4, t0); r.Err != nil || r.Next.ProducerEpoch != 5 {
		t.Fatalf("recovery at the current epoch: %+v", r)
	}
	wantErr(t, "stale epoch", Init(cur, true, "app", 1000, 60000, 77, 10, 3, t0), kerr.ProducerFenced)
	wantErr(t, "other id", Init(cur, true, "app", 1000, 60000, 77, 11, 4, t0), kerr.InvalidProducerIDMapping)
}

// TestProducerChecks: every request of a producer is refused when the id is
// unknown or not the transaction's, when the epoch is not current, and
// while a decision is being written.
func TestProducerChecks(t *testing.T) {
	reqs := map[string]func(cur metastore.Transaction, exists bool, pid int64, epoch int16) Result{
		"AddPartitions": func(c metastore.Transaction, ok bool, p int64, e int16) Result {
			return AddPartitions(c, ok, p, e, []metastore.TopicPartition{tpB}, t0)
		},
		"AddOffsets": func(c metastore.Transaction, ok bool, p int64, e int16) Result {
			return AddOffsets(c, ok, p, e, "g2", t0)
		},
		"OffsetCommit": func(c metastore.Transaction, ok bool, p int64, e int16) Result {
			return OffsetCommit(c, ok, p, e, "g", nil)
		},
		"EndCommit": func(c metastore.Transaction, ok bool, p int64, e int16) Result { return End(c, ok, p, e, true, t0) },
		"EndAbort":  func(c metastore.Transaction, ok bool, p int64, e int16) Result { return End(c, ok, p, e, false, t0) },
	}
	for name, req := range reqs {
		wantErr(t, name+" unknown id", req(metastore.Transaction{}, false, 10, 4), kerr.InvalidProducerIDMapping)
		wantErr(t, name+" other id", req(row(metastore.TxnOngoing), true, 11, 4), kerr.InvalidProducerIDMapping)
		wantErr(t, name+" older epoch", req(row(metastore.TxnOngoing), true, 10, 3), kerr.ProducerFenced)
		wantErr(t, name+" newer epoch", req(row(metastore.TxnOngoing), true, 10, 5), kerr.ProducerFenced)
		wantErr(t, name+" prepare commit", req(row(metastore.TxnPrepareCommit), true, 10, 4), kerr.ConcurrentTransactions)
		wantErr(t, name+" prepare abort", req(row(metastore.TxnPrepareAbort), true, 10, 4), kerr.ConcurrentTransactions)
	}
}

// TestAddPartitionsBegins: from a state without an open transaction,
// adding partitions begins one at now, forgetting the last one's
// partitions and groups.
func TestAddPartitionsBegins(t *testing.T) {
	for _, st := range []metastore.TxnState{metastore.TxnEmpty, metastore.TxnCompleteCommit, metastore.TxnCompleteAbort} {
		cur := row(st)
		cur.Partitions = []metastore.TopicPartition{tpA} // the last transaction's
		cur.Groups = []string{"old"}
		r := AddPartitions(cur, true, 10, 4, []metastore.TopicPartition{tpB, tpB}, t0.Add(time.Second))
		wantErr(t, string(st), r, nil)
		if !r.Write || r.End != nil || r.Next.State != metastore.TxnOngoing || !r.Next.StartTime.Equal(t0.Add(time.Second)) ||
			!reflect.DeepEqual(r.Next.Partitions, []metastore.TopicPartition{tpB}) || r.Next.Groups != nil {
			t.Fatalf("%s: %+v", st, r)
		}
	}
}

func TestAddPartitionsToOngoing(t *testing.T) {
	cur := row(metastore.TxnOngoing)
	r := AddPartitions(cur, true, 10, 4, []metastore.TopicPartition{tpB}, t0.Add(time.Second))
	if !r.Write || !reflect.DeepEqual(r.Next.Partitions, []metastore.TopicPartition{tpA, tpB}) || !r.Next.StartTime.Equal(t0) {
		t.Fatalf("add to ongoing: %+v", r)
	}
	if len(cur.Partitions) != 1 {
		t.Fatalf("the stored row was modified: %v", cur.Partitions)
	}
	// Adding what is already there writes nothing.
	if r := AddPartitions(cur, true, 10, 4, []metastore.TopicPartition{tpA}, t0); r.Err != nil || r.Write {
		t.Fatalf("re-add: %+v", r)
	}
}

func TestAddOffsets(t *testing.T) {
	r := AddOffsets(row(metastore.TxnEmpty), true, 10, 4, "g", t0)
	if r.Err != nil || !r.Write || r.Next.State != metastore.TxnOngoing || !reflect.DeepEqual(r.Next.Groups, []string{"g"}) {
		t.Fatalf("add offsets to empty: %+v", r)
	}
	r = AddOffsets(row(metastore.TxnOngoing), true, 10, 4, "a-group", t0)
	if r.Err != nil || !r.Write || !reflect.DeepEqual(r.Next.Groups, []string{"a-group", "g"}) {
		t.Fatalf("add a second group: %+v", r)
	}
	if r := AddOffsets(row(metastore.TxnOngoing), true, 10, 4, "g", t0); r.Err != nil || r.Write {
		t.Fatalf("re-add a group: %+v", r)
	}
}

func TestOffsetCommit(t *testing.T) {
	o := func(p int32, off int64) metastore.GroupOffset {
		return metastore.GroupOffset{Topic: "in", Partition: p, Offset: off, LeaderEpoch: -1}
	}
	r := OffsetCommit(row(metastore.TxnOngoing), true, 10, 4, "g", []metastore.GroupOffset{o(1, 5), o(0, 3)})
	if r.Err != nil || !r.Write || len(r.Next.PendingOffsets) != 2 || r.Next.PendingOffsets[0].Partition != 0 {
		t.Fatalf("commit to an added group: %+v", r)
	}
	// A later commit of a partition replaces its pending offset.
	r = OffsetCommit(r.Next, true, 10, 4, "g", []metastore.GroupOffset{o(1, 8)})
	if len(r.Next.PendingOffsets) != 2 || r.Next.PendingOffsets[1].Offset != 8 {
		t.Fatalf("second commit: %+v", r.Next.PendingOffsets)
	}
	// They become the decision's on commit, and go with an abort.
	if e := End(r.Next, true, 10, 4, true, t0); len(e.End.Offsets) != 2 || len(e.Next.PendingOffsets) != 0 {
		t.Fatalf("commit: decision %+v, row %+v", e.End, e.Next)
	}
	if e := End(r.Next, true, 10, 4, false, t0); len(e.End.Offsets) != 0 || len(e.Next.PendingOffsets) != 0 {
		t.Fatalf("abort: decision %+v, row %+v", e.End, e.Next)
	}
	if r := OffsetCommit(row(metastore.TxnOngoing), true, 10, 4, "g", nil); r.Err != nil || r.Write {
		t.Fatalf("commit of no offsets: %+v", r)
	}
	wantErr(t, "group not added", OffsetCommit(row(metastore.TxnOngoing), true, 10, 4, "other", nil), kerr.InvalidTxnState)
	for _, st := range []metastore.TxnState{metastore.TxnEmpty, metastore.TxnCompleteCommit, metastore.TxnCompleteAbort} {
		cur := row(st)
		cur.Groups = []string{"g"}
		wantErr(t, "no open transaction "+string(st), OffsetCommit(cur, true, 10, 4, "g", nil), kerr.InvalidTxnState)
	}
}

func TestEndOngoing(t *testing.T) {
	for _, commit := range []bool{true, false} {
		r := End(row(metastore.TxnOngoing), true, 10, 4, commit, t0)
		wantErr(t, "end", r, nil)
		want := &Decision{Commit: commit, ProducerID: 10, ProducerEpoch: 4, Partitions: []metastore.TopicPartition{tpA}}
		wantState := metastore.TxnCompleteAbort
		if commit {
			want.Groups = []string{"g"}
			wantState = metastore.TxnCompleteCommit
		}
		if !r.Write || !reflect.DeepEqual(r.End, want) || r.Next.State != wantState || !r.Next.StartTime.IsZero() || r.Next.ProducerEpoch != 4 {
			t.Fatalf("commit=%v: %+v (decision %+v)", commit, r, r.End)
		}
	}
}

// TestEndRetry: a retried EndTxn of the transaction that just ended the
// same way succeeds without writing; the opposite outcome is refused.
func TestEndRetry(t *testing.T) {
	if r := End(row(metastore.TxnCompleteCommit), true, 10, 4, true, t0); r.Err != nil || r.Write || r.End != nil {
		t.Fatalf("retried commit: %+v", r)
	}
	if r := End(row(metastore.TxnCompleteAbort), true, 10, 4, false, t0); r.Err != nil || r.Write || r.End != nil {
		t.Fatalf("retried abort: %+v", r)
	}
	wantErr(t, "abort after commit", End(row(metastore.TxnCompleteCommit), true, 10, 4, false, t0), kerr.InvalidTxnState)
	wantErr(t, "commit after abort", End(row(metastore.TxnCompleteAbort), true, 10, 4, true, t0), kerr.InvalidTxnState)
}

func TestEndEmpty(t *testing.T) {
	for _, commit := range []bool{true, false} {
		wantErr(t, "end with nothing open", End(row(metastore.TxnEmpty), true, 10, 4, commit, t0), kerr.InvalidTxnState)
	}
}

// TestTimeout: only an Ongoing transaction past its timeout is aborted, with
// an epoch bump that fences its producer.
func TestTimeout(t *testing.T) {
	for _, st := range allStates {
		if st == metastore.TxnOngoing {
			continue
		}
		if r := Timeout(row(st), t0.Add(time.Hour)); r.Write || r.End != nil {
			t.Fatalf("%s timed out: %+v", st, r)
		}
	}
	cur := row(metastore.TxnOngoing)
	if r := Timeout(cur, t0.Add(999*time.Millisecond)); r.Write {
		t.Fatalf("aborted before its timeout: %+v", r)
	}
	r := Timeout(cur, t0.Add(time.Second))
	want := &Decision{Commit: false, ProducerID: 10, ProducerEpoch: 5, Partitions: []metastore.TopicPartition{tpA}}
	if !r.Write || !reflect.DeepEqual(r.End, want) || r.Next.State != metastore.TxnCompleteAbort || r.Next.ProducerEpoch != 5 {
		t.Fatalf("timeout: %+v", r)
	}
	// The fenced producer's EndTxn fails; its new instance carries on.
	wantErr(t, "zombie end", End(r.Next, true, 10, 4, true, t0), kerr.ProducerFenced)
	if i := Init(r.Next, true, "app", 1000, 60000, 77, -1, -1, t0); i.Err != nil || i.Next.ProducerEpoch != 6 || i.End != nil {
		t.Fatalf("init after timeout: %+v", i)
	}
}
