// Command kfake runs franz-go's in-memory Kafka cluster (pkg/kfake) on a
// loopback port: the no-I/O upper bound in the side-by-side benchmark.
//
// kfake keeps every record in its heap, so its throughput also pays for
// the first touch of every page it grows into. On a virtual machine that
// hands freed guest memory back to its host, that first touch is a fault
// to the host, and it can cost kfake half of its throughput. -prefault
// touches that much heap before listening and leaves it to the Go heap to
// reuse, so that the run measures kfake rather than the host's memory.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	port := flag.Int("port", 0, "port on 127.0.0.1 (0: any free port)")
	partitions := flag.Int("partitions", 64, "partitions of auto-created topics")
	prefault := flag.Int64("prefault", 0, "bytes of heap to touch before listening (0: none)")
	flag.Parse()
	prefaultHeap(*prefault)

	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.Ports(*port),
		kfake.DefaultNumPartitions(*partitions),
		kfake.AllowAutoTopicCreation(),
	)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kfake: %v\n", err)
		os.Exit(1)
	}
	defer c.Close()
	// The first line on stdout is the address, for the harness to read.
	fmt.Println(c.ListenAddrs()[0])
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
}

// prefaultHeap allocates n bytes in 64 MiB blocks, writes one byte of every
// page, and drops them: the garbage collector keeps the spans for later
// allocations, and the runtime returns them to the system only slowly.
func prefaultHeap(n int64) {
	const block = 64 << 20
	var blocks [][]byte
	for ; n > 0; n -= block {
		b := make([]byte, block)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		blocks = append(blocks, b)
	}
	blocks = nil
	runtime.GC()
}
