// Package cli implements strata's user-facing commands: topics, produce,
// consume, groups, users, acls, quotas and status. They talk to any
// Kafka-compatible broker through the Go SDK (package client), like kcat or
// rpk; `users` can also write SCRAM credentials straight into a metastore,
// for the first user of a cluster that is not running yet.
//
// Every command takes --brokers (default $STRATA_BROKERS, else
// 127.0.0.1:9092) and --output text|json. Exit codes: 0 success, 1 failure,
// 2 bad usage.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stratalog/strata/client"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

const usage = `Usage:
  strata topics create NAME [--partitions N] [--config k=v]...
  strata topics list
  strata topics describe NAME [--all-configs]
  strata topics alter NAME [--partitions N] [--config k=v]... [--delete-config k]...
  strata topics delete-records NAME --before OFFSET|end [--partition N]...
  strata topics delete NAME
  strata produce TOPIC [--key-separator SEP] [--header k=v]... [--json] [--partition N] [--print-offsets]
  strata consume TOPIC [--group G] [--from-beginning | -o OFFSET | --since 10m] [-p N]... [-e] [-n COUNT]
                       [--format text|json|template] [--template T]
                       (OFFSET: beginning, end, N, -N, @TIME, or FROM..TO; -e: exit at the end)
  strata groups list
  strata groups describe GROUP
  strata groups reset-offsets GROUP (--topic T... | --all-topics) (--to-earliest | --to-latest | --to-offset N
                       | --to-datetime T | --shift-by N | --to-current) [--partition N]... [--execute]
                       (a dry run unless --execute, as kafka-consumer-groups)
  strata groups delete-offsets GROUP --topic T [--partition N]...
  strata groups delete GROUP
  strata acls create (--topic T | --group G | --transactional-id X | --cluster) [--prefixed] (--allow P | --deny P)... --operation OP... [--host H]...
  strata acls list [--topic T | --group G | --transactional-id X | --cluster] [--pattern any|match|literal|prefixed] [--principal P]
  strata acls delete (--topic T | --group G | --transactional-id X | --cluster | --principal P) [--pattern P] [--operation OP]
  strata quotas describe [--for-user U | --default-user] [--for-client-id C | --default-client-id] [--strict]
  strata quotas alter [--for-user U | --default-user] [--for-client-id C | --default-client-id] [--set k=v]... [--remove k]...
  strata status [--admin http://host:9644 [--cost [--prices s3-standard]]]
  strata users create NAME [--mechanism SCRAM-SHA-512] [--iterations N] [--password-stdin] [--metastore-url URL]
  strata users list [--metastore-url URL]
  strata users delete NAME [--mechanism M] [--metastore-url URL]
                       (the password from stdin or a prompt; --metastore-url or $STRATA_METASTORE_URL
                       writes to a metastore directly, without a running cluster)

Flags of every command:
  --brokers host:port[,host:port]  Kafka brokers (default $STRATA_BROKERS, else 127.0.0.1:9092)
  --output text|json               output format (default text)
  --timeout D                      bound of each request (default 30s)
  --tls, --ca-file F               connect over TLS, trusting the authorities of F
  --cert-file F --key-file F       a client certificate, for brokers that require one
  --sasl-mechanism M --user U      authenticate with SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512);
                                   the password from $STRATA_PASSWORD, else a prompt

Run 'strata COMMAND -h' for a command's flags.
`

// Main runs one command; args[0] is its name ("topics", "produce",
// "consume", "groups", "status"). It returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return run(ctx, args, os.Stdin, stdout, stderr, os.Getenv)
}

// env is what a command runs with.
type env struct {
	ctx      context.Context
	name     string // "topics create", for messages
	synopsis string // its usage line
	stdin    io.Reader
	stdout   io.Writer
	stderr   io.Writer
	getenv   func(string) string

	brokers string
	output  string
	timeout time.Duration
	conn    connFlags // TLS and SASL
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	e := &env{ctx: ctx, name: args[0], stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	var err error
	switch args[0] {
	case "topics":
		err = e.topics(args[1:])
	case "produce":
		err = e.produce(args[1:])
	case "consume":
		err = e.consume(args[1:])
	case "groups":
		err = e.groups(args[1:])
	case "quotas":
		err = e.quotas(args[1:])
	case "status":
		err = e.status(args[1:])
	case "users":
		err = e.users(args[1:])
	case "acls":
		err = e.acls(args[1:])
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "strata: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
	return e.exit(err)
}

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (u *usageError) Error() string { return u.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// exit reports err and returns the exit code for it.
func (e *env) exit(err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "strata %s: %s\nRun 'strata %s -h' for usage.\n", e.name, ue.msg, e.name)
		return exitUsage
	}
	msg := err.Error()
	var bu *client.BrokerUnreachableError
	if errors.As(err, &bu) {
		msg = fmt.Sprintf("cannot reach a Kafka broker at %s: %v\n"+
			"Start a local Strata with `strata dev` (or `make dev` in a checkout), "+
			"or pass --brokers host:port (or set STRATA_BROKERS) to use another cluster.",
			strings.Join(bu.Addrs, ","), bu.Err)
	}
	if e.output == "json" {
		out := map[string]any{"error": msg}
		var ce *client.Error
		if errors.As(err, &ce) {
			out["retriable"] = ce.Retriable
		}
		b, _ := json.Marshal(out)
		fmt.Fprintf(e.stderr, "%s\n", b)
		return exitError
	}
	fmt.Fprintf(e.stderr, "strata %s: %s\n", e.name, msg)
	return exitError
}

// flags returns a flag set with the flags every command has.
func (e *env) flags(name, synopsis string) *flag.FlagSet {
	e.name = name
	fs := flag.NewFlagSet("strata "+name, flag.ContinueOnError)
	// Parse errors are reported once, by exit; -h prints the usage.
	fs.SetOutput(io.Discard)
	brokers := e.getenv(client.BrokersEnv)
	if brokers == "" {
		brokers = client.DefaultBrokers
	}
	fs.StringVar(&e.brokers, "brokers", brokers, "Kafka brokers, comma-separated host:port ($"+client.BrokersEnv+")")
	fs.StringVar(&e.output, "output", "text", "output format: text or json")
	fs.DurationVar(&e.timeout, "timeout", 30*time.Second, "bound of each request")
	e.conn.register(fs)
	fs.Usage = func() {}
	e.synopsis = synopsis
	return fs
}

// parse parses args, allowing flags after positional arguments (strata
// topics create NAME --partitions 3), and checks the positional count.
func (e *env) parse(fs *flag.FlagSet, args []string, positional ...string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprintf(e.stderr, "Usage: strata %s\n\nFlags:\n", e.synopsis)
				fs.SetOutput(e.stderr)
				fs.PrintDefaults()
				return nil, err
			}
			return nil, &usageError{err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	switch e.output {
	case "text", "json":
	default:
		return nil, usagef("--output %q: want text or json", e.output)
	}
	if len(pos) < len(positional) {
		return nil, usagef("missing %s", positional[len(pos)])
	}
	if len(pos) > len(positional) {
		return nil, usagef("unexpected argument %q", pos[len(positional)])
	}
	return pos, nil
}

// connect opens an SDK client on the brokers.
func (e *env) connect() (*client.Client, error) {
	ctx, cancel := context.WithTimeout(e.ctx, e.timeout)
	defer cancel()
	var brokers []string
	for _, b := range strings.Split(e.brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	if len(brokers) == 0 {
		return nil, usagef("--brokers is empty")
	}
	opts, err := e.conn.options(e.password)
	if err != nil {
		return nil, err
	}
	return client.New(ctx, append([]client.Option{client.WithBrokers(brokers...), client.WithClientID("strata-cli")}, opts...)...)
}

// reqCtx bounds one request.
func (e *env) reqCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(e.ctx, e.timeout)
}

// printJSON writes v as indented JSON.
func (e *env) printJSON(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes rows under a header, aligned in columns.
func (e *env) table(header []string, rows [][]string) {
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

// fields writes "Name:  value" lines, aligned.
func (e *env) fields(kv ...string) {
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(tw, "%s:\t%s\n", kv[i], kv[i+1])
	}
	tw.Flush()
}

// keyValues collects repeated k=v flags.
type keyValues struct {
	m     map[string]string
	order []string
}

func (kv *keyValues) String() string {
	var parts []string
	for _, k := range kv.order {
		parts = append(parts, k+"="+kv.m[k])
	}
	return strings.Join(parts, ",")
}

func (kv *keyValues) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q: want key=value", s)
	}
	if kv.m == nil {
		kv.m = make(map[string]string)
	}
	if _, dup := kv.m[k]; !dup {
		kv.order = append(kv.order, k)
	}
	kv.m[k] = v
	return nil
}

// stringList collects a repeated flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// int32List collects a repeated integer flag.
type int32List []int32

func (l *int32List) String() string { return fmt.Sprint([]int32(*l)) }

func (l *int32List) Set(s string) error {
	var n int32
	if _, err := fmt.Sscan(s, &n); err != nil || n < 0 {
		return fmt.Errorf("%q: want a partition number", s)
	}
	*l = append(*l, n)
	return nil
}

// isTerminal reports whether w is a terminal, where progress is shown.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progress prints a status line on stderr every second while a long
// command runs, when stderr is a terminal and stdout is not.
type progress struct {
	stop chan struct{}
	done chan struct{}
}

func (e *env) startProgress(line func() string) *progress {
	p := &progress{stop: make(chan struct{}), done: make(chan struct{})}
	if !isTerminal(e.stderr) || isTerminal(e.stdout) {
		close(p.done)
		return p
	}
	go func() {
		defer close(p.done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				fmt.Fprintf(e.stderr, "\r\033[K%s\n", line())
				return
			case <-t.C:
				fmt.Fprintf(e.stderr, "\r\033[K%s", line())
			}
		}
	}()
	return p
}

func (p *progress) end() {
	select {
	case <-p.done:
		return
	default:
	}
	close(p.stop)
	<-p.done
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// plural writes n and a noun, "1 record", "2 records".
func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// subUsage prints the subcommands of topics or groups for -h.
func (e *env) subUsage(cmd string) error {
	fmt.Fprintf(e.stderr, "Usage:\n")
	for _, line := range strings.Split(usage, "\n") {
		if strings.HasPrefix(line, "  strata "+cmd+" ") {
			fmt.Fprintln(e.stderr, line)
		}
	}
	fmt.Fprintf(e.stderr, "\nRun 'strata %s SUBCOMMAND -h' for its flags.\n", cmd)
	return flag.ErrHelp
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
