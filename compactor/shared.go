package compactor

import (
	"sync"

	"github.com/google/uuid"

	"github.com/stratalog/strata/internal/segment"
	"github.com/stratalog/strata/metastore"
)

// sharedReads lets the partitions merged in one round share the GETs of the
// level-0 objects they read. A level-0 object holds one chunk of each
// partition ingest wrote to during one flush, so partitions with steady
// traffic all have a chunk in every object: read chunk by chunk, the object
// is fetched once per partition.
//
// The partitions due in a round are taken in waves, consecutive partitions
// of the backlog list whose level-0 bytes together fit in the budget
// (Config.ObjectCacheBytes). Within a wave, the first partition that needs a
// chunk of a small level-0 object (up to Config.WholeObjectMaxBytes) GETs
// the whole object, keeps a copy of the chunks of the wave's partitions not
// merged yet, and lets the object go; those partitions then find their
// chunks here instead of fetching them. Only chunk copies are kept, never
// whole objects, so the budget holds what the wave will merge and no more:
// with thousands of partitions an object holds chunks of many partitions
// that are not due in this round.
//
// A whole GET pays off when the object's bytes the wave does not need cost
// less than the ranged GETs it saves. Before each one, lookup estimates how
// many chunks the other partitions of the wave will take from the object,
// from what the round's earlier whole GETs found, and counts each saved GET
// as worth requestBytes of transfer. Many partitions with small chunks in
// small objects (thousands of partitions, or a steady load) are read whole;
// a wave of a few partitions whose chunks are a small part of large objects
// (a backlog larger than the budget) is read with ranged GETs, rather than
// downloading every object once per wave.
//
// Each object is fetched whole at most once per wave. Chunks that do not fit
// in the budget, level-1 chunks, chunks of large objects and chunks needed
// when no other partition of the wave is left are read with ranged GETs.
// What is kept is forgotten when the next wave starts and when the round
// ends; a copy is handed out once, to the partition it belongs to.
type sharedReads struct {
	budget   int64
	wholeMax int64

	mu      sync.Mutex
	pending map[metastore.PartitionKey]bool               // the wave's partitions not merged yet
	chunks  map[metastore.PartitionKey]map[chunkAt][]byte // compressed copies kept for them
	used    int64                                         // bytes in chunks
	fetched map[string]bool                               // objects fetched whole in this wave
	flights map[string]chan struct{}                      // whole GETs in flight, closed when done

	// What the round's whole GETs found: offered sums, over the GETs, the
	// other partitions of the wave still to be merged; kept and keptBytes
	// the chunks of theirs the objects held.
	offered, kept, keptBytes int64
}

// requestBytes is what one GET is counted as worth in transfer: a GET costs
// a round trip before its first byte (a few ms on MinIO next door, tens of
// ms on S3), in which one connection moves hundreds of KiB. Low, so that
// whole GETs are chosen only when they save many GETs.
const requestBytes = 256 << 10

// chunkAt locates a chunk: its object and its first byte in it.
type chunkAt struct {
	object string
	start  int64
}

// newSharedReads returns nil, reading every chunk with its own ranged GET,
// when the configuration leaves no room for sharing.
func newSharedReads(cfg Config) *sharedReads {
	if cfg.ObjectCacheBytes <= 0 || cfg.WholeObjectMaxBytes <= 0 {
		return nil
	}
	return &sharedReads{budget: cfg.ObjectCacheBytes, wholeMax: cfg.WholeObjectMaxBytes, flights: make(map[string]chan struct{})}
}

func partitionOf(ch *metastore.Chunk) metastore.PartitionKey {
	return metastore.PartitionKey{TopicID: ch.TopicID, Partition: ch.Partition}
}

// startWave forgets the last wave and starts one with the first partitions
// of backlogs, as many as the budget holds their level-0 bytes and at least
// one. It returns how many it took. No read may be in flight.
func (s *sharedReads) startWave(backlogs []metastore.Backlog) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = make(map[metastore.PartitionKey]bool)
	s.chunks = make(map[metastore.PartitionKey]map[chunkAt][]byte)
	s.fetched = make(map[string]bool)
	s.used = 0
	var total int64
	n := 0
	for _, b := range backlogs {
		if n > 0 && total+b.Level0Bytes > s.budget {
			break
		}
		total += b.Level0Bytes
		s.pending[metastore.PartitionKey{TopicID: b.TopicID, Partition: b.Partition}] = true
		n++
	}
	return n
}

// finish drops a partition from the wave, with any copies still kept for it.
func (s *sharedReads) finish(pk metastore.PartitionKey) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.pending, pk)
	for _, b := range s.chunks[pk] {
		s.used -= int64(len(b))
	}
	delete(s.chunks, pk)
}

// how says how to read a chunk that was not kept.
type how int

const (
	byRange how = iota // one ranged GET
	byWhole            // GET the whole object; the caller must call landed
	byWait             // another reader is fetching the object: wait, then look again
)

// lookup returns the kept copy of a level-0 chunk (handing it over), or how
// to read it: with wait set, once wait is closed, lookup again.
func (s *sharedReads) lookup(ch *metastore.Chunk) (data []byte, h how, wait <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pk := partitionOf(ch)
	at := chunkAt{object: ch.ObjectKey, start: ch.Start}
	if b, ok := s.chunks[pk][at]; ok && int64(len(b)) == ch.Length {
		delete(s.chunks[pk], at)
		s.used -= int64(len(b))
		return b, byRange, nil
	}
	if f, ok := s.flights[ch.ObjectKey]; ok {
		return nil, byWait, f
	}
	others := len(s.pending)
	if s.pending[pk] {
		others--
	}
	if others == 0 || s.fetched[ch.ObjectKey] || s.used >= s.budget || ch.ObjectSize <= 0 || ch.ObjectSize > s.wholeMax ||
		!s.worthWhole(ch, others) {
		return nil, byRange, nil
	}
	s.flights[ch.ObjectKey] = make(chan struct{})
	return nil, byWhole, nil
}

// worthWhole estimates whether fetching ch's object whole costs less than
// reading ch and the chunks of the others other partitions with ranged
// GETs. Until a whole GET has found something, it assumes it does: the
// first GETs of a round find out.
func (s *sharedReads) worthWhole(ch *metastore.Chunk, others int) bool {
	if s.offered == 0 {
		return true
	}
	served := float64(s.kept) / float64(s.offered) * float64(others) // chunks the others will take
	avg := float64(ch.Length)
	if s.kept > 0 {
		avg = float64(s.keptBytes) / float64(s.kept)
	}
	unneeded := float64(ch.ObjectSize) - float64(ch.Length) - served*avg
	return unneeded <= served*requestBytes
}

// landed ends the whole GET of ch's object that lookup asked for. With obj
// (nil when the GET failed) and its decoded footer f, it keeps a copy of
// each chunk of another pending partition of the wave while the budget
// allows. The object is never fetched whole again in this wave.
func (s *sharedReads) landed(ch *metastore.Chunk, obj []byte, f *segment.Footer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.flights[ch.ObjectKey])
	delete(s.flights, ch.ObjectKey)
	s.fetched[ch.ObjectKey] = true
	if f == nil {
		return
	}
	self := partitionOf(ch)
	others := int64(len(s.pending))
	if s.pending[self] {
		others--
	}
	s.offered += others
	for _, ci := range f.Chunks {
		pk := metastore.PartitionKey{TopicID: uuid.UUID(ci.TopicID), Partition: ci.Partition}
		if pk == self || !s.pending[pk] || ci.Start < 0 || ci.Length <= 0 || ci.End() > int64(len(obj)) ||
			s.used+ci.Length > s.budget {
			continue
		}
		m := s.chunks[pk]
		if m == nil {
			m = make(map[chunkAt][]byte)
			s.chunks[pk] = m
		}
		// A copy, so that the object itself is not kept alive.
		m[chunkAt{object: ch.ObjectKey, start: ci.Start}] = append([]byte(nil), obj[ci.Start:ci.End()]...)
		s.used += ci.Length
		s.kept++
		s.keptBytes += ci.Length
	}
}
