package kafka

import (
	"bufio"
	"fmt"
	"io"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
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

	table := newHandlerTable()
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
