package kafka

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/bufpool"
)

// Reasons a request closes its connection.
var (
	errFrameTooLarge      = errors.New("request frame too large")
	errMalformed          = errors.New("malformed request")
	errUnknownKey         = errors.New("unknown API key")
	errUnsupportedVersion = errors.New("unsupported API version")
)

// headerSize is the fixed part of a request header: key, version,
// correlation id.
const headerSize = 8

// firstReadSize is the most a frame read allocates before its bytes arrive,
// so that a client announcing a large frame and sending nothing costs little.
const firstReadSize = 64 << 10

// readFrame reads one length-prefixed frame of at most max bytes into a
// buffer of internal/bufpool. A Produce frame goes back to the pool once its
// handler returned, since ingest copies the record batches into its open
// segment and kmsg copies every string; other requests may keep slices of
// their frame (JoinGroup's protocol metadata, for one), so their frames are
// left to the garbage collector. Pooling saves zeroing and allocating about
// a frame's size per produce request: 6% of a node's CPU at full load.
//
// head is a scratch buffer of 4+headerSize bytes. The hooks, when not nil,
// are called in order: started once the length has arrived, admit once the
// frame's first bytes (up to its fixed header: key, version, correlation
// id) have, before the frame's buffer is allocated. An error from either
// stops the read. It returns how many bytes of the frame were read, so that
// a caller can tell an idle connection (0) from a stalled frame.
func readFrame(r io.Reader, head []byte, max int, started func() error, admit func(first []byte, length int) error) (frame []byte, n int, err error) {
	n, err = io.ReadFull(r, head[:4])
	if err != nil {
		return nil, n, err
	}
	length := binary.BigEndian.Uint32(head)
	if uint64(length) > uint64(max) {
		return nil, n, fmt.Errorf("%w: %d bytes, max %d", errFrameTooLarge, length, max)
	}
	if started != nil {
		if err := started(); err != nil {
			return nil, n, err
		}
	}
	first := head[4 : 4+min(int(length), headerSize)]
	k, err := io.ReadFull(r, first)
	n += k
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, n, err
	}
	if admit != nil {
		if err := admit(first, int(length)); err != nil {
			return nil, n, err
		}
	}
	frame = append(bufpool.Get(min(int(length), firstReadSize)), first...)
	for len(frame) < int(length) {
		if len(frame) == cap(frame) {
			// Grow eightfold: a large produce request is copied about a
			// seventh over, and a client that announces a large frame
			// and trickles it pins at most eight times what it sent.
			bigger := append(bufpool.Get(min(8*len(frame), int(length))), frame...)
			bufpool.Put(frame)
			frame = bigger
		}
		k, err := io.ReadFull(r, frame[len(frame):min(cap(frame), int(length))])
		frame = frame[:len(frame)+k]
		n += k
		if err != nil {
			bufpool.Put(frame)
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, n, err
		}
	}
	return frame, n, nil
}

// requestHeader is the decoded header of a request.
type requestHeader struct {
	key      int16
	version  int16
	corr     int32
	clientID string
}

// decoded is a request frame decoded against a handler table.
type decoded struct {
	hdr requestHeader
	msg kmsg.Request // nil when err is set
	api apiHandler
	// apiVersionsFallback: an ApiVersions request at a version we do not
	// serve; it is answered with UNSUPPORTED_VERSION, not decoded.
	apiVersionsFallback bool
	// decodedSize is, for a Produce request, the bytes kmsg allocated
	// decoding it (see produceDecodedSize).
	decodedSize int64
}

// servable checks a frame's first bytes (up to its fixed header): a frame
// too short for a header is left to decodeRequest; an unknown key, or a
// version not served (but for ApiVersions, which is answered whatever its
// version), is refused before the frame's body is read.
func (t handlerTable) servable(first []byte) error {
	if len(first) < 4 {
		return nil
	}
	key, version := int16(binary.BigEndian.Uint16(first)), int16(binary.BigEndian.Uint16(first[2:]))
	api, ok := t[key]
	switch {
	case !ok:
		return fmt.Errorf("%w %d", errUnknownKey, key)
	case key != kmsg.ApiVersions.Int16() && (version < api.minVersion || version > api.maxVersion):
		return fmt.Errorf("%w: %s v%d (serving v%d-v%d)", errUnsupportedVersion, kmsg.NameForKey(key), version, api.minVersion, api.maxVersion)
	}
	return nil
}

// decodeRequest decodes one request frame (without its length prefix). The
// header is filled in as far as it decoded, even on error.
func decodeRequest(frame []byte, t handlerTable) (decoded, error) {
	d := decoded{hdr: requestHeader{key: -1}}
	if len(frame) < headerSize {
		return d, fmt.Errorf("%w: %d byte frame", errMalformed, len(frame))
	}
	d.hdr.key = int16(binary.BigEndian.Uint16(frame[0:]))
	d.hdr.version = int16(binary.BigEndian.Uint16(frame[2:]))
	d.hdr.corr = int32(binary.BigEndian.Uint32(frame[4:]))
	api, ok := t[d.hdr.key]
	if !ok {
		return d, fmt.Errorf("%w %d", errUnknownKey, d.hdr.key)
	}
	d.api = api
	if d.hdr.version < api.minVersion || d.hdr.version > api.maxVersion {
		if d.hdr.key == kmsg.ApiVersions.Int16() {
			// Kafka answers an ApiVersions it cannot parse with
			// UNSUPPORTED_VERSION and its own range (KIP-511), so that
			// the client can retry at a version both know.
			d.apiVersionsFallback = true
			return d, nil
		}
		return d, fmt.Errorf("%w: %s v%d (serving v%d-v%d)", errUnsupportedVersion,
			kmsg.NameForKey(d.hdr.key), d.hdr.version, api.minVersion, api.maxVersion)
	}
	msg := kmsg.RequestForKey(d.hdr.key)
	msg.SetVersion(d.hdr.version)
	rd := kbin.Reader{Src: frame[headerSize:]}
	if id := rd.NullableString(); id != nil {
		d.hdr.clientID = *id
	}
	if msg.IsFlexible() {
		kmsg.SkipTags(&rd)
	}
	if !rd.Ok() {
		return d, fmt.Errorf("%w: %s v%d header", errMalformed, kmsg.NameForKey(d.hdr.key), d.hdr.version)
	}
	if d.hdr.key == produceKey {
		// Know what decoding will allocate before it does (limits.go).
		size, err := produceDecodedSize(rd.Src, d.hdr.version)
		if err != nil {
			return d, fmt.Errorf("%w: %s v%d: %w", errMalformed, kmsg.NameForKey(d.hdr.key), d.hdr.version, err)
		}
		if bound := maxProduceDecoded(len(frame)); size > bound {
			return d, fmt.Errorf("%w: %w: %d bytes for a %d byte frame, at most %d", errMalformed, errProduceTooManyEntries, size, len(frame), bound)
		}
		d.decodedSize = size
	}
	if err := msg.ReadFrom(rd.Src); err != nil {
		return d, fmt.Errorf("%w: %s v%d: %w", errMalformed, kmsg.NameForKey(d.hdr.key), d.hdr.version, err)
	}
	d.msg = msg
	return d, nil
}

// appendResponse appends a whole response frame: length, correlation id,
// the response header's tagged fields when flexible, and the body.
// ApiVersions responses always use header v0, as Kafka's clients expect.
func appendResponse(dst []byte, corr int32, resp kmsg.Response) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(corr))
	if resp.IsFlexible() && resp.Key() != kmsg.ApiVersions.Int16() {
		dst = append(dst, 0) // no tagged fields
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

// appendVectoredResponse is appendResponse for a fetch response whose
// record batches stay in the cache: it appends the frame's own bytes to dst
// and returns the whole frame as pieces to write in order.
func appendVectoredResponse(dst []byte, corr int32, resp *fetchResponse) ([]byte, net.Buffers) {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(corr))
	if resp.IsFlexible() {
		dst = append(dst, 0) // no tagged fields
	}
	dst, pieces := resp.vectored(dst, start)
	size := 0
	for _, p := range pieces {
		size += len(p)
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(size-4))
	return dst, pieces
}

// largeResponse is the size above which a connection does not keep its
// response buffer between responses; such buffers go to responseBufs.
const largeResponse = 1 << 20

// responseBufs holds large response buffers for reuse by any connection: a
// catch-up consumer's fetch responses are megabytes each, and allocating
// (and zeroing) a fresh buffer, then growing it while the records are
// appended, cost a fifth of the node's CPU.
var responseBufs sync.Pool // of *[]byte

// responseBuffer returns buf emptied, or a buffer with room for at least n
// bytes when buf has less.
func responseBuffer(buf []byte, n int) []byte {
	if cap(buf) >= n {
		return buf[:0]
	}
	if p, ok := responseBufs.Get().(*[]byte); ok {
		if cap(*p) >= n {
			return (*p)[:0]
		}
		responseBufs.Put(p)
	}
	return make([]byte, 0, n)
}

// releaseResponseBuffer keeps buf for reuse when it is large and returns the
// buffer the connection should keep.
func releaseResponseBuffer(buf []byte) []byte {
	if cap(buf) <= largeResponse {
		return buf
	}
	responseBufs.Put(&buf)
	return nil
}

// responseSizeHint is an upper bound, close for large responses, of the
// encoded size of resp when it is a fetch response (0 otherwise): its record
// bytes dominate it.
func responseSizeHint(resp kmsg.Response) int {
	var f *kmsg.FetchResponse
	switch r := resp.(type) {
	case *kmsg.FetchResponse:
		f = r
	case *fetchResponse:
		f = r.FetchResponse // its batches are not copied into the buffer
	default:
		return 0
	}
	n := 64 // frame and response header, top-level fields
	for _, t := range f.Topics {
		n += 48 + len(t.Topic) // name or topic id, array lengths, tags
		for _, p := range t.Partitions {
			// Fixed fields, tagged leader and epoch fields, aborted
			// transactions, then the records.
			n += 128 + 40*len(p.AbortedTransactions) + len(p.RecordBatches)
		}
	}
	return n
}
