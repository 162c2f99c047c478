package e2e

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// frame prefixes body with its length, as the Kafka protocol does.
func frame(body []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// header is a request header v1: key, version, correlation id, client id.
func header(key, version int16, corr int32, clientID string) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = binary.BigEndian.AppendUint16(b, uint16(len(clientID)))
	return append(b, clientID...)
}

// disconnects counts the connections a franz-go client lost.
type disconnects struct{ n atomic.Int64 }

func (d *disconnects) OnBrokerDisconnect(kgo.BrokerMetadata, net.Conn) { d.n.Add(1) }

// TestBadInputClosesOnlyItsConnection sends malformed requests on raw TCP
// connections: each gets its own connection closed, while a franz-go client
// on another connection keeps producing and consuming without losing its
// connection.
func TestBadInputClosesOnlyItsConnection(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode string) {
		const maxRequest = 1 << 20
		s := startStrata(t, mode, strataOpts{Args: []string{"-kafka.max-request-bytes", strconv.Itoa(maxRequest)}})
		const topic = "bad-input"
		createTopic(t, s.KafkaAddr, topic, 1)
		var lost disconnects
		cl := newClient(t, s.KafkaAddr,
			kgo.DefaultProduceTopic(topic),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
			kgo.FetchMaxWait(200*time.Millisecond),
			kgo.WithHooks(&lost),
		)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		var sent []string // by offset
		// roundTrip produces one record and polls until it is read back.
		roundTrip := func(stage string) {
			t.Helper()
			v := fmt.Sprintf("record %d (%s)", len(sent), stage)
			res := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)})
			if err := res.FirstErr(); err != nil {
				t.Fatalf("%s: produce: %v", stage, err)
			}
			if res[0].Record.Offset != int64(len(sent)) {
				t.Fatalf("%s: produced at offset %d, want %d", stage, res[0].Record.Offset, len(sent))
			}
			sent = append(sent, v)
			for read := false; !read; {
				fs := cl.PollFetches(ctx)
				if ctx.Err() != nil {
					t.Fatalf("%s: record %q not read back", stage, v)
				}
				for _, fe := range fs.Errors() {
					t.Fatalf("%s: fetch: %v", stage, fe.Err)
				}
				fs.EachRecord(func(r *kgo.Record) {
					if r.Offset >= int64(len(sent)) || string(r.Value) != sent[r.Offset] {
						t.Fatalf("%s: read %q at offset %d, which holds %d records", stage, r.Value, r.Offset, len(sent))
					}
					read = r.Offset == int64(len(sent)-1)
				})
			}
		}
		roundTrip("before")

		produce := append(header(0, 7, 1, "bad"), 0xff, 0xff, 0, 1, 0, 0) // null transactional id, acks, then cut short
		cases := []struct {
			name string
			send []byte
		}{
			{"unknown API key", frame(header(0x7ff0, 0, 1, "bad"))},
			{"truncated produce", frame(produce)},
			{"frame shorter than a header", []byte{0, 0, 0, 3, 0, 18, 0}},
			{"HTTP request", []byte("GET / HTTP/1.1\r\nHost: strata\r\n\r\n")},
			{"oversize length", []byte{0x7f, 0xff, 0xff, 0xff}},
			{"negative length", []byte{0xff, 0xff, 0xff, 0xf0}},
			{"one byte over -kafka.max-request-bytes", binary.BigEndian.AppendUint32(nil, maxRequest+1)},
		}
		for _, tc := range cases {
			c, err := net.Dial("tcp", s.KafkaAddr)
			if err != nil {
				t.Fatalf("%s: dial: %v", tc.name, err)
			}
			if _, err := c.Write(tc.send); err != nil {
				t.Fatalf("%s: write: %v", tc.name, err)
			}
			// The server must close the connection by itself, without
			// waiting for more bytes.
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := io.ReadAll(c)
			c.Close()
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded):
				t.Errorf("%s: connection still open 10s later", tc.name)
			case err != nil && !errors.Is(err, syscall.ECONNRESET):
				t.Errorf("%s: read: %v", tc.name, err)
			case len(got) > 0:
				t.Errorf("%s: got %d bytes (% x) before the close, want none", tc.name, len(got), got[:min(len(got), 32)])
			}
			roundTrip("after " + tc.name)
		}
		if n := lost.n.Load(); n != 0 {
			t.Errorf("the well-behaved client lost %d connections", n)
		}
	})
}
