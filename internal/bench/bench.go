// Package bench is Strata's load generator, `strata bench`: it produces
// and consumes through franz-go like any Kafka client, measures throughput
// and produce and end-to-end latency, and reads Strata's own /metrics to
// relate the load to object-store requests and metastore transactions.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
)

const usage = `Usage: strata bench produce|consume|e2e|sync [flags]

  produce   send records for -duration and report throughput and produce latency
  consume   read the topic from its start to its end (or for -duration)
  e2e       produce and consume at once; report end-to-end latency too
  sync      -workers goroutines each produce one record and wait for its ack
            (ProduceSync) until -records are acked or -duration ends

Flags:
`

// Main runs `strata bench` with args (args[0] is the mode) and returns the
// process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != ModeProduce && args[0] != ModeConsume && args[0] != ModeE2E && args[0] != ModeSync) {
		var cfg Config
		fs := flag.NewFlagSet("strata bench", flag.ContinueOnError)
		cfg.RegisterFlags(fs)
		fs.SetOutput(stderr)
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return 0
		}
		return 2
	}
	mode := args[0]
	var cfg Config
	fs := flag.NewFlagSet("strata bench "+mode, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.RegisterFlags(fs)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "strata bench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "strata bench: %v\n", err)
		return 2
	}
	sum, err := Run(ctx, mode, cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "strata bench %s: %v\n", mode, err)
		return 1
	}
	if cfg.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(sum); err != nil {
			fmt.Fprintf(stderr, "strata bench: %v\n", err)
			return 1
		}
	} else {
		sum.WriteText(stdout)
	}
	if sum.ProduceErrors > 0 {
		return 1
	}
	return 0
}
