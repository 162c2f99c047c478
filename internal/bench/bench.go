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
	"net"
	"os"
	"slices"
	"strings"
	"syscall"

	"github.com/stratalog/strata/client"
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
	return run(ctx, args, stdout, stderr, os.Getenv)
}

var modes = []string{ModeProduce, ModeConsume, ModeE2E, ModeSync}

// Modes are the modes of strata bench, for the command line's completion.
func Modes() []string { return slices.Clone(modes) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	flags := func(name string) (*flag.FlagSet, *Config) {
		var cfg Config
		fs := flag.NewFlagSet(name, flag.ContinueOnError)
		fs.SetOutput(stderr)
		cfg.RegisterFlags(fs)
		// The brokers of every strata command: STRATA_BROKERS, then the
		// default; -brokers wins over both.
		if b := getenv(client.BrokersEnv); b != "" {
			cfg.Brokers = b
			fs.Lookup("brokers").DefValue = b
		}
		return fs, &cfg
	}
	if len(args) == 0 || !slices.Contains(modes, args[0]) {
		fs, _ := flags("strata bench")
		switch {
		case len(args) == 0:
		case args[0] == "-h" || args[0] == "--help" || args[0] == "help":
			fmt.Fprint(stderr, usage)
			fs.PrintDefaults()
			return 0
		default:
			fmt.Fprintf(stderr, "strata bench: unknown mode %q; want %s\n\n", args[0], strings.Join(modes, ", "))
		}
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
		return 2
	}
	mode := args[0]
	fs, cfgp := flags("strata bench " + mode)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	cfg := *cfgp
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
		if isDialError(err) {
			fmt.Fprintf(stderr, "Start a local Strata with `strata dev` (or `make dev` in a checkout), "+
				"or pass -brokers host:port (or set %s) to use another cluster.\n", client.BrokersEnv)
		}
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

// isDialError reports whether err is a failure to connect to a broker.
func isDialError(err error) bool {
	var op *net.OpError
	var dns *net.DNSError
	return errors.As(err, &op) && op.Op == "dial" || errors.As(err, &dns) || errors.Is(err, syscall.ECONNREFUSED)
}
