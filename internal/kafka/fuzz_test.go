package kafka

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/batchtest"
)

// fuzzConn is a connection whose client sends fixed bytes and then closes
// its side; it records what the server writes.
type fuzzConn struct {
	in     *bytes.Reader
	mu     sync.Mutex
	out    bytes.Buffer
	closed bool
}

func (c *fuzzConn) Read(p []byte) (int, error) { return c.in.Read(p) }
func (c *fuzzConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	return c.out.Write(p)
}
func (c *fuzzConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}
func (c *fuzzConn) LocalAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9092} }
func (c *fuzzConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (c *fuzzConn) SetDeadline(time.Time) error      { return nil }
func (c *fuzzConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fuzzConn) SetWriteDeadline(time.Time) error { return nil }

// errorCatcher records log records at error level: in the fuzz target
// they mean a recovered panic or an untranslated error.
type errorCatcher struct {
	mu   sync.Mutex
	msgs []string
}

func (h *errorCatcher) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }
func (h *errorCatcher) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	h.mu.Lock()
	h.msgs = append(h.msgs, b.String())
	h.mu.Unlock()
	return nil
}
func (h *errorCatcher) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *errorCatcher) WithGroup(string) slog.Handler      { return h }

func (h *errorCatcher) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.msgs
	h.msgs = nil
	return m
}

// fuzzSeeds are real requests of every served API, encoded by kmsg.
func fuzzSeeds() [][]byte {
	topic := func(name string) kmsg.MetadataRequestTopic {
		t := kmsg.NewMetadataRequestTopic()
		t.Topic = kmsg.StringPtr(name)
		return t
	}
	meta := kmsg.NewPtrMetadataRequest()
	meta.Topics = []kmsg.MetadataRequestTopic{topic("fuzz-a"), topic("fuzz-b")}
	meta.AllowAutoTopicCreation = true

	create := kmsg.NewPtrCreateTopicsRequest()
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic = "fuzz-c"
	ct.NumPartitions = 2
	ct.ReplicationFactor = -1
	cfg := kmsg.NewCreateTopicsRequestTopicConfig()
	cfg.Name = "retention.ms"
	cfg.Value = kmsg.StringPtr("1000")
	ct.Configs = append(ct.Configs, cfg)
	create.Topics = append(create.Topics, ct)

	del := kmsg.NewPtrDeleteTopicsRequest()
	del.TopicNames = []string{"fuzz-a"}
	dt := kmsg.NewDeleteTopicsRequestTopic()
	dt.Topic = kmsg.StringPtr("fuzz-a")
	del.Topics = append(del.Topics, dt)

	parts := kmsg.NewPtrCreatePartitionsRequest()
	pt := kmsg.NewCreatePartitionsRequestTopic()
	pt.Topic = "fuzz-c"
	pt.Count = 4
	parts.Topics = append(parts.Topics, pt)

	desc := kmsg.NewPtrDescribeConfigsRequest()
	desc.IncludeSynonyms = true
	for _, r := range []struct {
		typ  kmsg.ConfigResourceType
		name string
	}{{kmsg.ConfigResourceTypeTopic, "fuzz-c"}, {kmsg.ConfigResourceTypeBroker, "1"}} {
		dr := kmsg.NewDescribeConfigsRequestResource()
		dr.ResourceType, dr.ResourceName = r.typ, r.name
		desc.Resources = append(desc.Resources, dr)
	}

	alter := kmsg.NewPtrAlterConfigsRequest()
	ar := kmsg.NewAlterConfigsRequestResource()
	ar.ResourceType, ar.ResourceName = kmsg.ConfigResourceTypeTopic, "fuzz-c"
	ac := kmsg.NewAlterConfigsRequestResourceConfig()
	ac.Name, ac.Value = "segment.ms", kmsg.StringPtr("60000")
	ar.Configs = append(ar.Configs, ac)
	alter.Resources = append(alter.Resources, ar)

	inc := kmsg.NewPtrIncrementalAlterConfigsRequest()
	ir := kmsg.NewIncrementalAlterConfigsRequestResource()
	ir.ResourceType, ir.ResourceName = kmsg.ConfigResourceTypeTopic, "fuzz-c"
	ic := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	ic.Name, ic.Op, ic.Value = "cleanup.policy", kmsg.IncrementalAlterConfigOpAppend, kmsg.StringPtr("compact")
	ir.Configs = append(ir.Configs, ic)
	inc.Resources = append(inc.Resources, ir)

	api := kmsg.NewPtrApiVersionsRequest()
	api.ClientSoftwareName, api.ClientSoftwareVersion = "fuzz", "1.0"

	find := kmsg.NewPtrFindCoordinatorRequest()
	find.CoordinatorKey = "group"
	find.CoordinatorKeys = []string{"g1", "g2"}

	quotas := kmsg.NewPtrAlterClientQuotasRequest()
	qe := kmsg.NewAlterClientQuotasRequestEntry()
	qe.Entity = []kmsg.AlterClientQuotasRequestEntryEntity{{Type: "user", Name: kmsg.StringPtr("fuzz")}, {Type: "client-id"}}
	qe.Ops = []kmsg.AlterClientQuotasRequestEntryOp{{Key: "producer_byte_rate", Value: 1000}, {Key: "request_percentage", Remove: true}}
	quotas.Entries = append(quotas.Entries, qe)
	descQuotas := kmsg.NewPtrDescribeClientQuotasRequest()
	descQuotas.Components = []kmsg.DescribeClientQuotasRequestComponent{{EntityType: "user", MatchType: 0, Match: kmsg.StringPtr("fuzz")}}

	// The data path, on fuzz-b (created by the Metadata seed).
	records := batchtest.Values(noProducer(1000), "fuzz-1", "fuzz-2")
	produce := produceRequest(-1, rawPart{topic: "fuzz-b", partition: 0, records: records},
		rawPart{topic: "fuzz-b", partition: 1, records: records})
	produceNoAck := produceRequest(0, rawPart{topic: "fuzz-b", partition: 2, records: records})
	fetch := fetchRequest(1<<20, fetchAt{topic: "fuzz-b", partition: 0, maxBytes: 1 << 20, epoch: -1},
		fetchAt{topic: "fuzz-b", partition: 1, offset: 1, maxBytes: 100, epoch: -1})
	fetch.MaxWaitMillis, fetch.MinBytes = 5, 1
	list := listOffsetsRequest("fuzz-b", -1, -1, 0, 1)
	listTS := listOffsetsRequest("fuzz-b", 1000, -1, 0)
	delRecords := kmsg.NewPtrDeleteRecordsRequest()
	drt := kmsg.NewDeleteRecordsRequestTopic()
	drt.Topic = "fuzz-b"
	drt.Partitions = []kmsg.DeleteRecordsRequestTopicPartition{{Partition: 1, Offset: 1}}
	delRecords.Topics = append(delRecords.Topics, drt)
	epochs := kmsg.NewPtrOffsetForLeaderEpochRequest()
	ert := kmsg.NewOffsetForLeaderEpochRequestTopic()
	ert.Topic = "fuzz-b"
	ert.Partitions = []kmsg.OffsetForLeaderEpochRequestTopicPartition{{Partition: 0, CurrentLeaderEpoch: -1, LeaderEpoch: 0}}
	epochs.Topics = append(epochs.Topics, ert)

	reqs := []kmsg.Request{api, meta, create, del, parts, desc, alter, inc, find, quotas, descQuotas,
		kmsg.NewPtrDescribeClusterRequest(), kmsg.NewPtrInitProducerIDRequest(),
		produce, produceNoAck, fetch, list, listTS, delRecords, epochs}
	reqs = append(reqs, shareFuzzSeeds()...) // share_test.go
	var seeds [][]byte
	var pipeline []byte
	for _, req := range reqs {
		h := registry[req.Key()]
		for v := h.minVersion; v <= h.maxVersion; v++ {
			req.SetVersion(v)
			frame := encodeRequest(req, int32(v)+100)
			seeds = append(seeds, frame)
			if v == h.maxVersion {
				pipeline = append(pipeline, frame...)
			}
		}
	}
	seeds = append(seeds, pipeline)
	api.SetVersion(5) // above ours: the fallback answer
	seeds = append(seeds, encodeRequest(api, 7))
	return seeds
}

// hostileSeeds are requests that reach the limits: more topics than one
// request may look up, create or change, a Produce request whose entries
// would decode to far more than its size, a request charged above the
// request budget, and a frame cut short.
func hostileSeeds() [][]byte {
	var names []string
	for i := range 40 {
		names = append(names, fmt.Sprintf("fuzz-many-%02d", i))
	}
	meta := metadataRequest(true, names...)
	meta.SetVersion(12)
	create := kmsg.NewPtrCreateTopicsRequest()
	for _, name := range names[:5] {
		ct := kmsg.NewCreateTopicsRequestTopic()
		ct.Topic, ct.NumPartitions, ct.ReplicationFactor = name, 1, -1
		create.Topics = append(create.Topics, ct)
	}
	create.SetVersion(7)
	empty := append(requestHeaderBytes(produceKey, 9), 0, 0xff, 0xff, 0, 0, 0, 0)
	empty = kbin.AppendUvarint(empty, 30001)
	for range 30000 {
		empty = append(empty, 1, 1, 0) // name "", no partitions, no tags
	}
	empty = append(empty, 0)
	big := metadataRequest(false)
	for i := range 3000 {
		big.Topics = append(big.Topics, kmsg.MetadataRequestTopic{Topic: kmsg.StringPtr(fmt.Sprintf("big-%04d", i))})
	}
	big.SetVersion(12)
	good := encodeRequest(meta, 9)
	return [][]byte{
		good,
		encodeRequest(create, 10),
		append(binary.BigEndian.AppendUint32(nil, uint32(len(empty))), empty...),
		encodeRequest(big, 11),
		good[:len(good)/2],
	}
}

// inputFrame is a complete request frame as the test splits the input.
type inputFrame struct {
	key, version int16
	corr         int32
	header       bool // at least key, version and correlation id
	noResponse   bool // a Produce with acks=0 that decodes: never answered
}

func splitFrames(data []byte, maxSize int, t handlerTable) []inputFrame {
	var frames []inputFrame
	for len(data) >= 4 {
		n := binary.BigEndian.Uint32(data)
		if uint64(n) > uint64(maxSize) || uint64(len(data)-4) < uint64(n) {
			break
		}
		body := data[4 : 4+n]
		data = data[4+n:]
		f := inputFrame{}
		if len(body) >= 8 {
			f = inputFrame{
				key:     int16(binary.BigEndian.Uint16(body)),
				version: int16(binary.BigEndian.Uint16(body[2:])),
				corr:    int32(binary.BigEndian.Uint32(body[4:])),
				header:  true,
			}
			if d, err := decodeRequest(body, t); err == nil && d.msg != nil {
				if p, ok := d.msg.(*kmsg.ProduceRequest); ok && p.Acks == 0 {
					f.noResponse = true
				}
			}
		}
		frames = append(frames, f)
	}
	return frames
}

// FuzzDispatch drives request bytes through the real connection loop:
// framing, decoding, dispatch to the handlers (over a real SQLite
// metastore, produce path and reader) and response encoding. Invariants: no handler panics or
// untranslated error; every response is a well-formed frame that answers
// the request at the same position, in order, decodes as that API's
// response at the request's version (v0 with UNSUPPORTED_VERSION for an
// ApiVersions at a version we do not serve), and re-encodes to the same
// bytes. A Produce with acks=0 is the one request never answered.
func FuzzDispatch(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	for _, s := range hostileSeeds() {
		f.Add(s)
	}
	s, catcher := newDispatchServer(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDispatch(t, s, catcher, data)
	})
}

// newDispatchServer is a server for driving connections in-process, with
// the produce and fetch paths. Fetches wait at most 20ms, whatever the
// input asks.
func newDispatchServer(tb testing.TB, mutate ...func(*Config)) (*Server, *errorCatcher) {
	cfg := testConfig(tb)
	cfg.MaxRequestBytes = 1 << 20
	cfg.MaxPartitionsPerTopic = 8
	cfg.FetchMaxWait = 20 * time.Millisecond
	// Small limits, so that inputs reach them.
	cfg.MaxQueuedRequestBytes = requestCharge(produceKey, cfg.MaxRequestBytes)
	cfg.MaxMetadataLookups, cfg.MaxAutoCreateTopics, cfg.MaxTopicsPerRequest = 3, 2, 2
	// Client quotas an input sets throttle it for 11 ms at most.
	cfg.Quotas.WindowSize = time.Millisecond
	for _, m := range mutate {
		m(&cfg)
	}
	catcher := &errorCatcher{}
	logger := slog.New(catcher)
	store := newTestStore(tb)
	ing, rd := newDataPath(tb, store, logger)
	s := NewServer(cfg, Deps{Meta: store, Ingest: ing, Reader: rd, Share: store}, logger, prometheus.NewRegistry())
	tb.Cleanup(func() { s.Shutdown(context.Background()) })
	return s, catcher
}

// checkDispatch serves data as one connection's input, checks the
// invariants of FuzzDispatch, and returns how many complete request frames
// the input held that call for a response, how many were answered, and how
// many call for none (acks=0).
func checkDispatch(t *testing.T, s *Server, catcher *errorCatcher, data []byte) (requests, responses, silent int) {
	t.Helper()
	conn := &fuzzConn{in: bytes.NewReader(data)}
	s.serveConn(conn)
	if msgs := catcher.take(); len(msgs) > 0 {
		t.Fatalf("server logged errors:\n%s", strings.Join(msgs, "\n"))
	}
	if !conn.closed {
		t.Fatal("connection not closed after the client went away")
	}
	var frames []inputFrame
	for _, f := range splitFrames(data, s.cfg.MaxRequestBytes, s.handlers) {
		if f.noResponse {
			silent++
			continue
		}
		frames = append(frames, f)
	}
	out := conn.out.Bytes()
	i := 0
	for ; len(out) > 0; i++ {
		if len(out) < 8 {
			t.Fatalf("response %d: %d bytes left, not a frame", i, len(out))
		}
		n := binary.BigEndian.Uint32(out)
		if n < 4 || uint64(n) > uint64(len(out)-4) {
			t.Fatalf("response %d: length %d with %d bytes left", i, n, len(out)-4)
		}
		body := out[8 : 4+n]
		corr := int32(binary.BigEndian.Uint32(out[4:]))
		out = out[4+n:]
		if i >= len(frames) || !frames[i].header {
			t.Fatalf("response %d answers no request (%d complete frames)", i, len(frames))
		}
		req := frames[i]
		if corr != req.corr {
			t.Fatalf("response %d: correlation id %d, want %d", i, corr, req.corr)
		}
		version := req.version
		h, ok := registry[req.key]
		if !ok {
			t.Fatalf("response %d to unserved key %d", i, req.key)
		}
		fallback := req.key == kmsg.ApiVersions.Int16() && (version < h.minVersion || version > h.maxVersion)
		if fallback {
			version = 0
		} else if version < h.minVersion || version > h.maxVersion {
			t.Fatalf("response %d to %s v%d, which is not served", i, kmsg.NameForKey(req.key), version)
		}
		resp, err := decodeResponse(req.key, version, body)
		if err != nil {
			t.Fatalf("response %d (%s v%d) does not decode: %v", i, kmsg.NameForKey(req.key), version, err)
		}
		if fallback && resp.(*kmsg.ApiVersionsResponse).ErrorCode != kerr.UnsupportedVersion.Code {
			t.Fatalf("response %d: ApiVersions v%d answered without UNSUPPORTED_VERSION", i, req.version)
		}
		if resp.IsFlexible() && req.key != kmsg.ApiVersions.Int16() {
			body = body[1:]
		}
		if again := resp.AppendTo(nil); !bytes.Equal(again, body) {
			t.Fatalf("response %d (%s v%d) does not re-encode to the same bytes", i, kmsg.NameForKey(req.key), version)
		}
	}
	return len(frames), i, silent
}

// TestDispatchSeeds checks that the fuzz seeds are answered in full, so
// that the fuzz target starts from requests that reach the handlers.
func TestDispatchSeeds(t *testing.T) {
	s, catcher := newDispatchServer(t)
	for i, seed := range fuzzSeeds() {
		requests, responses, silent := checkDispatch(t, s, catcher, seed)
		if requests+silent == 0 || responses != requests {
			t.Errorf("seed %d: %d of %d requests answered", i, responses, requests)
		}
	}
	// A bad frame in the middle: the requests before it are answered, the
	// rest are not.
	seeds := fuzzSeeds()
	data := append(append(append([]byte{}, seeds[0]...), 0, 0, 0, 8, 0x7f, 0x7f, 0, 0, 0, 0, 0, 1), seeds[1]...)
	if requests, responses, _ := checkDispatch(t, s, catcher, data); requests != 3 || responses != 1 {
		t.Errorf("bad frame in the middle: %d of %d requests answered, want 1 of 3", responses, requests)
	}
}
