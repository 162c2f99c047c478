package recordbatch_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stratalog/strata/internal/recordbatch"
)

// FuzzParseControl feeds mutations of markers to ParseControl, which reads
// control batches from segment objects: it never panics, every error
// wraps ErrRecords or ErrInvalid, and a batch that still passes Check and
// kept its record section reads the type its key holds.
func FuzzParseControl(f *testing.F) {
	f.Add(recordbatch.Marker(1, 0, true, 0, 0))
	f.Add(recordbatch.Marker(99, 7, false, 3, 1_700_000_000_000))
	f.Add(recordbatch.Marker(99, 7, false, 3, 1)[:recordbatch.HeaderSize+2])
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := recordbatch.ParseSize(data)
		if err != nil {
			return
		}
		in := bytes.Clone(data)
		typ, err := recordbatch.ParseControl(data, h)
		if !bytes.Equal(in, data) {
			t.Fatal("ParseControl wrote its input")
		}
		if err != nil {
			if !errors.Is(err, recordbatch.ErrRecords) && !errors.Is(err, recordbatch.ErrInvalid) {
				t.Fatalf("error %v wraps neither ErrRecords nor ErrInvalid", err)
			}
			return
		}
		if typ != int16(uint16(data[recordbatch.HeaderSize+7])<<8|uint16(data[recordbatch.HeaderSize+8])) &&
			len(data) >= recordbatch.MarkerSize && bytes.Equal(data[recordbatch.HeaderSize:recordbatch.HeaderSize+5], []byte{32, 0, 0, 0, 8}) {
			t.Fatalf("type %d from a marker's record", typ)
		}
	})
}
