package sqlite

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// The chunk skip list is stored as a JSON array, readable with the sqlite3
// shell: [3,7]. (The producer's recent batches are stored as both backends
// store them: metastore.AppendRecent.)

// encodeSkip returns nil (SQL NULL) for an empty list.
func encodeSkip(skip []int32) []byte {
	if len(skip) == 0 {
		return nil
	}
	b := make([]byte, 0, 2+len(skip)*4)
	b = append(b, '[')
	for i, v := range skip {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(v), 10)
	}
	return append(b, ']')
}

// decodeSkip returns nil for NULL or an empty list.
func decodeSkip(b []byte) ([]int32, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var skip []int32
	if err := json.Unmarshal(b, &skip); err != nil {
		return nil, fmt.Errorf("decode chunk skip list: %w", err)
	}
	if len(skip) == 0 {
		return nil, nil
	}
	return skip, nil
}
