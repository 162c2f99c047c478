package metastore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Errors of the compaction methods.
var (
	// ErrChunksChanged means the chunk rows a ChunkSwap replaces are no
	// longer exactly those it names (a concurrent swap, retention or topic
	// deletion changed them). Nothing was written.
	ErrChunksChanged = errors.New("metastore: chunks changed since they were read")
	// ErrInvalidSwap means a ChunkSwap is malformed: its old rows are not
	// contiguous, or its new rows do not tile the same offsets.
	ErrInvalidSwap = errors.New("metastore: invalid chunk swap")
	// ErrObjectClaimed means the object key of a commit or swap was
	// claimed by the orphan collection (ClaimOrphans): its object is
	// deleted or about to be. Nothing was written; the data must be
	// written again under a new key.
	ErrObjectClaimed = errors.New("metastore: object claimed by the orphan collection")
	// ErrObjectExists means a commit names an object key that was
	// committed already: committing it again would store its batches
	// twice. Nothing was written.
	ErrObjectExists = errors.New("metastore: object already committed")
)

// ClaimedLevel is the level of the objects row of a claimed orphan (see
// CompactionStore.ClaimOrphans): a tombstone that holds the key, so that no
// commit or swap can take it, after its object is deleted.
const ClaimedLevel int16 = -1

// Backlog is a partition's level-0 backlog: the chunks that ingest wrote and
// the compactor has not merged yet. Backends keep it up to date as chunk rows
// are inserted and deleted, so that finding the partitions to merge is an
// index lookup, not a scan of the chunk index.
type Backlog struct {
	TopicID   uuid.UUID
	Partition int32
	// Level0Chunks and Level0Bytes count the partition's level-0 chunk rows
	// and their compressed bytes.
	Level0Chunks int
	Level0Bytes  int64
	// FirstLevel0Offset is the base offset of the partition's first level-0
	// chunk, -1 when there is none. Level-0 chunks always follow the
	// partition's level-1 chunks.
	FirstLevel0Offset int64
	// OldestLevel0 is when the object holding the first level-0 chunk was
	// committed; zero when there is none.
	OldestLevel0 time.Time
	// CleanedOffset is the key compaction checkpoint of a compacted topic:
	// offsets below it hold at most one record per key (as of the last
	// cleaning). 0 when never cleaned.
	CleanedOffset int64
}

// MergeThresholds say when a partition's level-0 backlog is due for a merge:
// as soon as any one of them is reached.
type MergeThresholds struct {
	// MinBytes: the level-0 chunks hold at least this many compressed
	// bytes (and there is at least one).
	MinBytes int64
	// MaxAge: the oldest level-0 chunk was committed at least this long
	// ago.
	MaxAge time.Duration
	// MinChunks: the partition has more level-0 chunks than this.
	MinChunks int
}

// ChunkRef identifies a chunk row as the compactor read it.
type ChunkRef struct {
	BaseOffset int64
	EndOffset  int64
	ObjectKey  string
}

// Ref returns the row's identity.
func (c Chunk) Ref() ChunkRef {
	return ChunkRef{BaseOffset: c.BaseOffset, EndOffset: c.EndOffset, ObjectKey: c.ObjectKey}
}

// ChunkSwap replaces a contiguous run of a partition's chunk rows with the
// chunks of one new (level 1) object, in one transaction.
type ChunkSwap struct {
	TopicID   uuid.UUID
	Partition int32
	// Old are the rows replaced, in offset order, without gap. The swap
	// fails with ErrChunksChanged unless the partition's rows in
	// [Old[0].BaseOffset, Old[n-1].EndOffset) are exactly these.
	Old []ChunkRef
	// ObjectKey and ObjectSize describe the new object; it gets an objects
	// row of level 1.
	ObjectKey  string
	ObjectSize int64
	// New are the new rows, in offset order. They tile exactly the offsets
	// of Old. Their TopicID, Partition, ObjectKey, ObjectSize and Level are
	// taken from the swap (level 1); Skip must be empty.
	New []Chunk
	// CleanedOffset, when positive, sets the partition's key compaction
	// checkpoint (Backlog.CleanedOffset) in the same transaction.
	CleanedOffset int64
}

// Validate checks the shape of the swap; the error wraps ErrInvalidSwap.
func (s ChunkSwap) Validate() error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s/%d: %s", ErrInvalidSwap, s.TopicID, s.Partition, fmt.Sprintf(format, args...))
	}
	if len(s.Old) == 0 || len(s.New) == 0 {
		return fail("%d old and %d new rows", len(s.Old), len(s.New))
	}
	if s.ObjectKey == "" || s.ObjectSize <= 0 {
		return fail("object %q of %d bytes", s.ObjectKey, s.ObjectSize)
	}
	for i, o := range s.Old {
		if o.EndOffset <= o.BaseOffset || o.BaseOffset < 0 {
			return fail("old row %d is [%d, %d)", i, o.BaseOffset, o.EndOffset)
		}
		if i > 0 && o.BaseOffset != s.Old[i-1].EndOffset {
			return fail("old row %d starts at %d, the previous ends at %d", i, o.BaseOffset, s.Old[i-1].EndOffset)
		}
		if o.ObjectKey == s.ObjectKey {
			return fail("old row %d is already in object %s", i, o.ObjectKey)
		}
	}
	at := s.Old[0].BaseOffset
	for i, c := range s.New {
		switch {
		case c.BaseOffset != at:
			return fail("new row %d starts at %d, want %d", i, c.BaseOffset, at)
		case c.EndOffset <= c.BaseOffset:
			return fail("new row %d is [%d, %d)", i, c.BaseOffset, c.EndOffset)
		case c.Start < 0 || c.Length <= 0 || c.Start+c.Length > s.ObjectSize:
			return fail("new row %d: bytes %d+%d of a %d-byte object", i, c.Start, c.Length, s.ObjectSize)
		case c.RawLength < 0 || c.BatchCount < 0:
			return fail("new row %d: raw length %d, %d batches", i, c.RawLength, c.BatchCount)
		case len(c.Skip) > 0:
			return fail("new row %d has a skip list", i)
		}
		at = c.EndOffset
	}
	if end := s.Old[len(s.Old)-1].EndOffset; at != end {
		return fail("new rows end at %d, old rows at %d", at, end)
	}
	return nil
}

// ValidateObjectSwap checks the shape of the swaps of one SwapObject: each
// valid, at least one, all naming the same object, no partition twice. The
// error wraps ErrInvalidSwap.
func ValidateObjectSwap(swaps []ChunkSwap) error {
	if len(swaps) == 0 {
		return fmt.Errorf("%w: no swaps", ErrInvalidSwap)
	}
	seen := make(map[PartitionKey]bool, len(swaps))
	for i, s := range swaps {
		if err := s.Validate(); err != nil {
			return err
		}
		if s.ObjectKey != swaps[0].ObjectKey || s.ObjectSize != swaps[0].ObjectSize {
			return fmt.Errorf("%w: swap %d names object %s of %d bytes, swap 0 %s of %d", ErrInvalidSwap,
				i, s.ObjectKey, s.ObjectSize, swaps[0].ObjectKey, swaps[0].ObjectSize)
		}
		k := PartitionKey{TopicID: s.TopicID, Partition: s.Partition}
		if seen[k] {
			return fmt.Errorf("%w: %s/%d swapped twice", ErrInvalidSwap, s.TopicID, s.Partition)
		}
		seen[k] = true
	}
	return nil
}

// SwapChunks applies one ChunkSwap with s.SwapObject: ErrInvalidSwap for
// a malformed swap, ErrChunksChanged (nothing written) when the old rows
// are not exactly there any more.
func SwapChunks(ctx context.Context, s CompactionStore, swap ChunkSwap) error {
	results, err := s.SwapObject(ctx, []ChunkSwap{swap})
	if err != nil {
		return err
	}
	return results[0]
}

// ObjectRef is an objects row.
type ObjectRef struct {
	Key   string
	Size  int64
	Level int16
}

// LevelStats counts the objects rows of one level.
type LevelStats struct {
	Level        int16
	Objects      int64
	Bytes        int64
	Unreferenced int64 // rows marked unreferenced, waiting for deletion
}

// CompactionStats summarises the metastore for the compactor's gauges.
type CompactionStats struct {
	Levels []LevelStats // ordered by level; claimed orphans left out
	// OrphanClaims counts the rows of claimed orphans, kept until
	// PruneOrphanClaims removes them.
	OrphanClaims int64
	// ChunkRows is the number of chunk rows; MaxPartitionChunkRows the most
	// rows any one partition has.
	ChunkRows             int64
	MaxPartitionChunkRows int64
	// Level0Chunks is the total backlog; OldestLevel0 the commit time of
	// the oldest unmerged level-0 chunk (zero when there is none).
	Level0Chunks int64
	OldestLevel0 time.Time
}

// CompactionStore is what the compactor needs from the metastore besides
// Store. metastore/postgres and metastore/sqlite implement it;
// metastoretest.RunCompaction is its conformance suite.
//
// Object rows are marked unreferenced (with the time) in the transaction
// that deletes their last chunk row, whoever deletes it: a swap, retention or
// DeleteTopic.
type CompactionStore interface {
	// Backlogs returns the partitions whose level-0 backlog reaches one of
	// the thresholds (see MergeThresholds), oldest backlog first, at most
	// limit.
	Backlogs(ctx context.Context, due MergeThresholds, limit int) ([]Backlog, error)
	// PartitionBacklog returns one partition's backlog (zero counts and
	// FirstLevel0Offset -1 when it has none).
	PartitionBacklog(ctx context.Context, topicID uuid.UUID, partition int32) (Backlog, error)
	// SwapObject swaps one new level-1 object into the chunk index: one
	// ChunkSwap per partition the object holds, each naming the object's
	// key and size, no partition twice (ValidateObjectSwap). It runs in one
	// transaction, which inserts the objects row and applies every swap
	// whose old rows are still exactly there; a swap whose rows changed
	// (or whose partition is gone) is left out. The swaps of one object may
	// be applied by several calls, each with other partitions: a call finds
	// the objects row of an earlier one and clears its unreferenced mark,
	// should the earlier call's rows be gone already. It returns one error per
	// swap, in order: nil when applied, wrapping ErrChunksChanged when left
	// out. When every swap is left out nothing is written, not even the
	// objects row. err wraps ErrInvalidSwap for malformed swaps,
	// ErrObjectClaimed when the orphan collection claimed the object's key
	// (then nothing was written), or is the failure of the transaction
	// (then nothing was written).
	SwapObject(ctx context.Context, swaps []ChunkSwap) (results []error, err error)
	// DropChunksBelowStart deletes the partition's chunk rows that lie
	// wholly below its log start offset and returns how many it deleted.
	DropChunksBelowStart(ctx context.Context, topicID uuid.UUID, partition int32) (int, error)
	// MarkStrayObjects marks unreferenced the objects rows created more
	// than minAge ago that no chunk references and that are not marked yet
	// (commits whose every chunk was rejected, rows older than the marking)
	// and returns how many it marked. Claimed orphans are not marked.
	MarkStrayObjects(ctx context.Context, minAge time.Duration) (int, error)
	// UnreferencedObjects returns up to limit objects marked unreferenced
	// more than grace ago, oldest mark first. Claimed orphans are not
	// among them.
	UnreferencedObjects(ctx context.Context, grace time.Duration, limit int) ([]ObjectRef, error)
	// DeleteObjectRows deletes the rows of the given objects that are
	// marked unreferenced and returns how many it deleted. Rows of claimed
	// orphans stay.
	DeleteObjectRows(ctx context.Context, keys []string) (int, error)
	// ClaimOrphans claims the objects of keys that have no objects row, so
	// that they may be deleted: in one statement it inserts a row of level
	// ClaimedLevel for each, and returns the keys claimed, by this call or
	// an earlier one. Keys with any other row are left out. The claim and
	// a commit (or swap) of the same key insert the same primary key, so
	// whichever comes first wins, whatever the clocks say: a commit after
	// the claim fails with ErrObjectClaimed, a claim after the commit
	// leaves the key out. Only the objects of the keys returned may be
	// deleted.
	ClaimOrphans(ctx context.Context, keys []string) ([]string, error)
	// PruneOrphanClaims deletes the rows of orphans claimed more than
	// retention ago, by the metastore's clock, and returns how many.
	// Until then, a commit of their key fails.
	PruneOrphanClaims(ctx context.Context, retention time.Duration) (int, error)
	// CompactionStats counts objects and chunk rows.
	CompactionStats(ctx context.Context) (CompactionStats, error)
	// AcquireLease takes or renews the named lease for holder until ttl from
	// now; false when another holder has it and it has not expired.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	// ReleaseLease gives the lease up if holder has it.
	ReleaseLease(ctx context.Context, name, holder string) error
}
