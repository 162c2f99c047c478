package segment

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Object keys. Every segment object's key is
//
//	<key prefix><4 hex digits>/<name>-<16 hex digits>.seg
//
// The four hex digits are random, so that a bucket's load spreads over many
// key ranges, and so are the last sixteen, so that no two writers pick the
// same key. The name says who wrote the object: ingest writes its time
// (milliseconds since the epoch, 13 digits), the compactor the first
// partition it merged and that merge's base offset. Nothing parses a key:
// readers take it from the chunk index. The suffix is what matters, since
// the orphan sweep lists a bucket and deletes only keys that end in it.

// KeySuffix ends every segment object's key.
const KeySuffix = ".seg"

// IsObjectKey reports whether key can name a segment object: whether it
// ends in KeySuffix. A key that does not is someone else's and must never
// be deleted.
func IsObjectKey(key string) bool { return strings.HasSuffix(key, KeySuffix) }

// Level0Key returns a fresh key for a level-0 object written at now.
func Level0Key(prefix string, now time.Time) string {
	return objectKey(prefix, fmt.Sprintf("%013d", now.UnixMilli()))
}

// Level1Key returns a fresh key for a level-1 object named after its first
// merge: a partition's merge whose first offset is base.
func Level1Key(prefix string, topicID uuid.UUID, partition int32, base int64) string {
	return objectKey(prefix, fmt.Sprintf("%s-%d-%020d", topicID, partition, base))
}

func objectKey(prefix, name string) string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:2]) + "/" + name + "-" + hex.EncodeToString(b[2:]) + KeySuffix
}
