package recordbatch_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"testing"
	"testing/iotest"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/batchtest"
	"github.com/stratalog/strata/internal/recordbatch"
)

// walkBoth walks body in memory and as a stream read one byte at a time,
// and fails the test when the two disagree.
func walkBoth(t testing.TB, h recordbatch.Header, body []byte) ([]recordbatch.RecordInfo, error) {
	t.Helper()
	var w recordbatch.Walker
	var mem, streamed []recordbatch.RecordInfo
	errMem := w.WalkRecords(h, body, nil, func(r recordbatch.RecordInfo) error { mem = append(mem, r); return nil })
	errStream := w.WalkRecords(h, nil, iotest.OneByteReader(bytes.NewReader(body)), func(r recordbatch.RecordInfo) error { streamed = append(streamed, r); return nil })
	if (errMem == nil) != (errStream == nil) || !slices.Equal(mem, streamed) {
		t.Fatalf("in memory: %v %+v; streamed: %v %+v", errMem, mem, errStream, streamed)
	}
	return mem, errMem
}

func TestWalkRecords(t *testing.T) {
	batch := batchtest.Batch(batchtest.NoProducer,
		batchtest.Record{Key: []byte("k0"), Value: []byte("v0")},
		batchtest.Record{Value: bytes.Repeat([]byte("x"), 70000)}, // a value longer than the walk's buffer
		batchtest.Record{Key: []byte{}, Headers: []kmsg.Header{{Key: "h", Value: []byte("1")}, {Key: "", Value: nil}}},
	)
	h, err := recordbatch.Check(batch)
	if err != nil {
		t.Fatal(err)
	}
	infos, err := walkBoth(t, h, batch[recordbatch.HeaderSize:])
	if err != nil {
		t.Fatal(err)
	}
	want := []recordbatch.RecordInfo{
		{Index: 0, OffsetDelta: 0, KeyLength: 2, ValueLength: 2},
		{Index: 1, OffsetDelta: 1, KeyLength: -1, ValueLength: 70000},
		{Index: 2, OffsetDelta: 2, KeyLength: 0, ValueLength: -1, Headers: 2},
	}
	if !slices.Equal(infos, want) {
		t.Fatalf("records %+v, want %+v", infos, want)
	}
	stop := errors.New("stop")
	var w recordbatch.Walker
	if err := w.WalkRecords(h, batch[recordbatch.HeaderSize:], nil, func(recordbatch.RecordInfo) error { return stop }); err != stop {
		t.Fatalf("fn's error: %v", err)
	}
}

func TestWalkRecordsRefuses(t *testing.T) {
	three := batchtest.Values(batchtest.NoProducer, "record-0", "record-1", "record-2")
	body := three[recordbatch.HeaderSize:]
	h, err := recordbatch.Check(three)
	if err != nil {
		t.Fatal(err)
	}
	with := func(n int32) recordbatch.Header { c := h; c.NumRecords, c.LastOffsetDelta = n, n-1; return c }
	// The second record's offset delta, rewritten from 1 to 5.
	gapped := bytes.Clone(body)
	second := 1 + int(gapped[0])/2
	gapped[second+3] = 10
	cases := map[string]struct {
		h    recordbatch.Header
		body []byte
	}{
		"fewer records than claimed": {with(4), body},
		"more records than claimed":  {with(2), body},
		"offset delta with a gap":    {h, gapped},
		"trailing bytes":             {h, append(bytes.Clone(body), 0)},
		"truncated record":           {h, body[:len(body)-1]},
		"record length zero":         {with(1), []byte{0}},
		"negative record length":     {with(1), []byte{1}},
		"key past the record":        {with(1), []byte{12, 0, 0, 0, 40, 0, 0, 0, 0, 0, 0, 0, 0}},
		"negative header key":        {with(1), []byte{12, 0, 0, 0, 1, 1, 2, 1, 1, 0, 0, 0, 0}},
		"headers past the record":    {with(1), []byte{8, 0, 0, 0, 1, 1, 0x7e, 0}},
		"varint overflow":            {with(1), append([]byte{24, 0}, bytes.Repeat([]byte{0xff}, 11)...)},
		"empty":                      {with(1), nil},
	}
	for name, tc := range cases {
		_, err := walkBoth(t, tc.h, tc.body)
		if !errors.Is(err, recordbatch.ErrRecords) {
			t.Errorf("%s: %v, want ErrRecords", name, err)
		}
	}
}

// FuzzWalkRecords: the walk never panics, reads the same in memory and
// streamed, and accepts only records that franz-go's decoder reads the
// same way: as many, with the same key and value nullness.
func FuzzWalkRecords(f *testing.F) {
	f.Add(int32(3), batchtest.Values(batchtest.NoProducer, "a", "b", "c")[recordbatch.HeaderSize:])
	f.Add(int32(1), batchtest.Batch(batchtest.NoProducer, batchtest.Record{Key: []byte("k"), Headers: []kmsg.Header{{Key: "h"}}})[recordbatch.HeaderSize:])
	f.Add(int32(1), []byte{12, 0, 0, 0, 40, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, n int32, body []byte) {
		if n <= 0 {
			return
		}
		h := recordbatch.Header{NumRecords: n, LastOffsetDelta: n - 1}
		infos, err := walkBoth(t, h, body)
		if err != nil {
			if !errors.Is(err, recordbatch.ErrRecords) {
				t.Fatalf("error %v does not wrap ErrRecords", err)
			}
			return
		}
		if len(infos) != int(n) {
			t.Fatalf("accepted %d records for %d", len(infos), n)
		}
		rest := body
		for i, info := range infos {
			length, sz := binary.Varint(rest)
			if sz <= 0 || length < 0 || int(length) > len(rest)-sz {
				t.Fatalf("record %d: accepted a bad length", i)
			}
			var r kmsg.Record
			if err := r.ReadFrom(rest[:sz+int(length)]); err != nil {
				t.Fatalf("record %d accepted, franz-go says %v", i, err)
			}
			if r.OffsetDelta != int32(i) || (r.Key == nil) != (info.KeyLength < 0) || (r.Value == nil) != (info.ValueLength < 0) || len(r.Headers) != int(info.Headers) {
				t.Fatalf("record %d: walk %+v, franz-go %+v", i, info, r)
			}
			rest = rest[sz+int(length):]
		}
		if len(rest) != 0 {
			t.Fatalf("accepted %d trailing bytes", len(rest))
		}
	})
}
