package kafka

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/batchtest"
	"github.com/stratalog/strata/internal/topicconfig"
)

func BenchmarkDecodeRequest(b *testing.B) {
	meta := kmsg.NewPtrMetadataRequest()
	for i := range 20 {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(fmt.Sprintf("topic-%d", i))
		meta.Topics = append(meta.Topics, rt)
	}
	meta.SetVersion(12)

	produce := kmsg.NewPtrProduceRequest()
	produce.Acks = -1
	for i := range 4 {
		pt := kmsg.NewProduceRequestTopic()
		pt.Topic = fmt.Sprintf("topic-%d", i)
		for p := range 8 {
			pp := kmsg.NewProduceRequestTopicPartition()
			pp.Partition = int32(p)
			pp.Records = make([]byte, 32<<10)
			pt.Partitions = append(pt.Partitions, pp)
		}
		produce.Topics = append(produce.Topics, pt)
	}
	produce.SetVersion(9)

	table := newHandlerTable(true, true, true, true)
	table[kmsg.Produce.Int16()] = apiHandler{key: kmsg.Produce.Int16(), minVersion: 3, maxVersion: 11}
	for _, bc := range []struct {
		name string
		req  kmsg.Request
	}{{"metadata-20-topics", meta}, {"produce-1MiB", produce}} {
		frame := encodeRequest(bc.req, 1)[4:]
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decodeRequest(frame, table); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppendResponse(b *testing.B) {
	resp := kmsg.NewPtrMetadataResponse()
	resp.SetVersion(12)
	for i := range 100 {
		mt := kmsg.NewMetadataResponseTopic()
		mt.Topic = kmsg.StringPtr(fmt.Sprintf("topic-%d", i))
		for p := range 10 {
			mp := kmsg.NewMetadataResponseTopicPartition()
			mp.Partition = int32(p)
			mp.Replicas = []int32{1}
			mp.ISR = []int32{1}
			mt.Partitions = append(mt.Partitions, mp)
		}
		resp.Topics = append(resp.Topics, mt)
	}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = appendResponse(buf[:0], 1, resp)
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkPipelinedRoundTrip measures requests through one connection:
// framing, dispatch, ordering and response writes, with the client writing
// ahead.
func BenchmarkPipelinedRoundTrip(b *testing.B) {
	s := startServer(b)
	meta := metadataRequest(true, "bench")
	meta.SetVersion(12)
	for _, bc := range []struct {
		name string
		req  kmsg.Request
	}{{"api-versions", kmsg.NewPtrApiVersionsRequest()}, {"metadata-1-topic", meta}} {
		b.Run(bc.name, func(b *testing.B) {
			c := s.dial(b)
			frame := encodeRequest(bc.req, 1)
			werr := make(chan error, 1)
			go func() {
				bw := bufio.NewWriter(c.nc)
				for range b.N {
					if _, err := bw.Write(frame); err != nil {
						werr <- err
						return
					}
				}
				werr <- bw.Flush()
			}()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, _, err := c.readFrame(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if err := <-werr; err != nil && err != io.EOF {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkProduceRoundTrip measures Produce requests of one 1 KiB batch
// (acks=1) pipelined on one connection: the handler, the produce path
// (10ms flush interval, so requests of many flushes overlap) and the
// SQLite commit.
func BenchmarkProduceRoundTrip(b *testing.B) {
	s := startServer(b)
	_, adm := s.clients(b)
	createTopic(b, adm, "bench-produce", 1, nil)
	batch := batchtest.Values(noProducer(1000), string(bytes.Repeat([]byte("v"), 1000)))
	req := produceRequest(1, rawPart{topic: "bench-produce", records: batch})
	req.SetVersion(9)
	frame := encodeRequest(req, 1)
	c := s.dial(b)
	werr := make(chan error, 1)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		bw := bufio.NewWriter(c.nc)
		for range b.N {
			if _, err := bw.Write(frame); err != nil {
				werr <- err
				return
			}
		}
		werr <- bw.Flush()
	}()
	for range b.N {
		if _, _, err := c.readFrame(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if err := <-werr; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkFetchRoundTrip measures one Fetch at a time of 64 cached 1 KiB
// batches: the handler, the reader's cache and the response encoding.
func BenchmarkFetchRoundTrip(b *testing.B) {
	s := startServer(b)
	_, adm := s.clients(b)
	createTopic(b, adm, "bench-fetch", 1, nil)
	c := s.dial(b)
	batch := batchtest.Values(noProducer(1000), string(bytes.Repeat([]byte("v"), 1000)))
	for range 64 {
		c.mustProduce("bench-fetch", 0, batch)
	}
	req := fetchRequest(1<<20, fetchAt{topic: "bench-fetch", maxBytes: 1 << 20, epoch: -1})
	_, got := c.fetch(req, 12) // warms the cache
	if len(splitBatches(b, got[0].RecordBatches)) != 64 {
		b.Fatal("not all batches fetched")
	}
	b.SetBytes(int64(len(got[0].RecordBatches)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c.send(req, 12, 1)
		if _, _, err := c.readFrame(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTopicCacheHit measures the topic lookup of every Produce and
// Fetch partition when the topic is cached.
func BenchmarkTopicCacheHit(b *testing.B) {
	store := newTestStore(b)
	if _, err := store.CreateTopic(context.Background(), "cached", 12, nil); err != nil {
		b.Fatal(err)
	}
	c := newTopicCache(store, time.Hour, topicconfig.Defaults{}, newMetrics(nil))
	ctx := context.Background()
	if _, err := c.topicByName(ctx, "cached"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.topicByName(ctx, "cached"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkFetchQuietPartitions measures a Fetch of 1,000 partitions that
// have nothing new, as a consumer at the end of a quiet topic sends it:
// in full, and as an incremental fetch of a session (KIP-227) that names
// no partition.
func BenchmarkFetchQuietPartitions(b *testing.B) {
	s := startServer(b)
	_, adm := s.clients(b)
	const partitions = 1000
	createTopic(b, adm, "quiet", partitions, nil)
	c := s.dial(b)
	var at []fetchAt
	for p := range int32(partitions) {
		at = append(at, fetchAt{topic: "quiet", partition: p, maxBytes: 1 << 20, epoch: -1})
	}
	full := fetchRequest(50<<20, at...)
	b.Run("full", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			c.send(full, 12, 1)
			if _, _, err := c.readFrame(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("incremental", func(b *testing.B) {
		resp, _ := sessionFetch(c, full, 12, 0, 0)
		if resp.SessionID == 0 {
			b.Fatal("no session")
		}
		empty := fetchRequest(50 << 20)
		empty.SessionID = resp.SessionID
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			empty.SessionEpoch = int32(i + 1)
			c.send(empty, 12, 1)
			if _, _, err := c.readFrame(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
