package reader

import (
	"fmt"

	"github.com/stratalog/strata/internal/chunk"
	"github.com/stratalog/strata/internal/roleapi"
	"github.com/stratalog/strata/metastore"
)

// ErrCorrupt is returned when a chunk's bytes fail their checks (zstd frame
// checksum, batch structure or CRC) or disagree with the chunk index.
// Corrupt data is never cached.
var ErrCorrupt = roleapi.ErrCorrupt

// walk is the lenient offset rule (chunk.Data.Walk) with its errors
// wrapped in ErrCorrupt: the batches of chunk c that are part of the log
// and end after offset from.
func walk(c *metastore.Chunk, d *chunk.Data, from int64, fn func(b *chunk.Batch, start, end int64) bool) error {
	if err := d.Walk(c, from, fn); err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return nil
}
