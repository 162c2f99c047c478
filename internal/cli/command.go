package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stratalog/strata/client"
)

// The command tree is cobra's: it brings help with examples, shell
// completion (strata completion bash|zsh|fish), short flags and "did you
// mean" for a mistyped command. Each command keeps the names, messages and
// exit codes it had: a usage mistake exits 2 with one line saying what is
// wrong, any other failure 1.

// Program describes the strata command line to Run: the commands of this
// package, and those of the caller (the server commands of internal/app).
type Program struct {
	// Intro is the text of `strata -h` above the commands.
	Intro string
	// Version is printed by `strata --version`.
	Version string
	// Commands are added next to this package's.
	Commands []*cobra.Command
}

// Main runs the strata command line with this package's commands and
// p's, and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, p Program) int {
	return runProgram(ctx, args, os.Stdin, stdout, stderr, os.Getenv, p)
}

// run runs this package's commands alone, as the tests do.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	return runProgram(ctx, args, stdin, stdout, stderr, getenv, Program{})
}

// env is what a command runs with.
type env struct {
	ctx    context.Context
	name   string // "topics create", for messages
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string

	brokers string
	output  string
	timeout time.Duration
	conn    connFlags // TLS and SASL

	// commands maps the flag set of each leaf command to the command,
	// for leaf.
	commands map[*pflag.FlagSet]*cobra.Command
}

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (u *usageError) Error() string { return u.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// ExitCode is the error of a command that has said what went wrong
// itself: Main exits with it and prints nothing.
type ExitCode int

func (c ExitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }

// errUsageShown: the usage was printed on stderr already, exit 2.
var errUsageShown = errors.New("usage shown")

func runProgram(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string, p Program) int {
	e := &env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv,
		commands: map[*pflag.FlagSet]*cobra.Command{}}
	root := e.root(p)
	root.SetArgs(normaliseArgs(root, args))
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if cmd != nil {
		e.name = strings.TrimPrefix(strings.TrimPrefix(cmd.CommandPath(), root.Name()), " ")
	}
	return e.exit(err)
}

// root builds the whole command tree.
func (e *env) root(p Program) *cobra.Command {
	root := &cobra.Command{
		Use:   "strata",
		Short: "a Kafka-compatible log service on object storage",
		Long:  strings.TrimSpace(p.Intro),
		Example: `  strata dev                                  # a local cluster in ./.strata
  strata topics create orders -p 6
  seq 3 | strata produce orders
  strata consume orders -o beginning -e
  strata groups describe billing
  strata completion bash > /etc/bash_completion.d/strata`,
		Version:       p.Version,
		SilenceErrors: true,
		SilenceUsage:  true,
		// Without a command: the usage, as a mistake.
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return unknownCommand(cmd, args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SetOut(e.stderr)
			cmd.Usage()
			return errUsageShown
		},
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(flagError)
	root.AddGroup(&cobra.Group{ID: "server", Title: "Running Strata:"}, &cobra.Group{ID: "client", Title: "Using a cluster (any Kafka-compatible one):"})
	for _, c := range p.Commands {
		if c.GroupID == "" {
			c.GroupID = "server"
		}
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{
		e.group("topics", "create, list, describe, alter and delete topics",
			e.topicsCreate(), e.topicsList(), e.topicsDescribe(), e.topicsAlter(), e.topicsDeleteRecords(), e.topicsDelete()),
		e.produce(),
		e.consume(),
		e.group("groups", "list, describe, reset and delete consumer groups",
			e.groupsList(), e.groupsDescribe(), e.groupsReset(), e.groupsDeleteOffsets(), e.groupsDelete()),
		e.status(),
		e.group("users", "create, list and delete SCRAM users (also straight in a metastore)",
			e.usersCreate(), e.usersList(), e.usersDelete()),
		e.group("acls", "create, list and delete access control lists",
			e.aclsCreate(), e.aclsList(), e.aclsDelete()),
		e.group("quotas", "describe and alter client quotas",
			e.quotasDescribe(), e.quotasAlter()),
	} {
		c.GroupID = "client"
		root.AddCommand(c)
	}
	root.SetHelpCommandGroupID("client")
	root.SetCompletionCommandGroupID("client")
	return root
}

// group is a command of subcommands, such as topics.
func (e *env) group(name, short string, subs ...*cobra.Command) *cobra.Command {
	var names []string
	for _, s := range subs {
		names = append(names, s.Name())
	}
	want := strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
	g := &cobra.Command{
		Use:   name,
		Short: short,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("missing subcommand: %s", want)
			}
			return unknownSubcommand(cmd, args[0], want)
		},
		RunE: func(*cobra.Command, []string) error { return nil },
	}
	g.AddCommand(subs...)
	return g
}

// unknownCommand says that name is no command of root, and which it may
// have meant.
func unknownCommand(root *cobra.Command, name string) error {
	return usagef("unknown command %q%s", name, didYouMean(root, name))
}

// unknownSubcommand says that name is no subcommand of g.
func unknownSubcommand(g *cobra.Command, name, want string) error {
	return usagef("unknown subcommand %q: want %s%s", name, want, didYouMean(g, name))
}

func didYouMean(c *cobra.Command, name string) string {
	if c.SuggestionsMinimumDistance <= 0 {
		c.SuggestionsMinimumDistance = 2
	}
	s := c.SuggestionsFor(name)
	if len(s) == 0 {
		return ""
	}
	return "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t") + "\n"
}

// commandHelp is the one-line description and the examples of a leaf
// command, by name.
var commandHelp = map[string]struct{ short, example string }{
	"topics create": {"create a topic", `  strata topics create orders
  strata topics create orders -p 6 -c retention.ms=86400000 -c cleanup.policy=compact`},
	"topics list":     {"list topics", `  strata topics list -o json`},
	"topics describe": {"show a topic's partitions, offsets and configs", `  strata topics describe orders --all-configs`},
	"topics alter": {"add partitions, set or delete configs", `  strata topics alter orders -p 12
  strata topics alter orders -c retention.ms=3600000 --delete-config retention.bytes`},
	"topics delete-records": {"delete the records before an offset (trim a partition's start)", `  strata topics delete-records orders --before end
  strata topics delete-records orders --before 1000 -p 0`},
	"topics delete": {"delete a topic and its records", `  strata topics delete orders`},
	"produce": {"produce lines from stdin to a topic", `  echo hello | strata produce orders
  printf 'alice:1\nbob:2\n' | strata produce orders -K : --print-offsets
  strata produce orders --json < records.jsonl`},
	"consume": {"print a topic's records (alone or in a group)", `  strata consume orders -o beginning -e        # everything there is, then exit
  strata consume orders -o -10 -p 0            # the last 10 of partition 0, then follow
  strata consume orders -o @1h -f json         # from an hour ago, as JSON lines
  strata consume orders -o 100..200            # offsets 100 to 199
  strata consume orders -g billing -n 10       # in a group, committing what it printed`},
	"groups list":     {"list consumer groups and their lag", `  strata groups list`},
	"groups describe": {"show a group's members, offsets and lag", `  strata groups describe billing -o json`},
	"groups reset-offsets": {"move a group's committed offsets (a dry run unless --execute)", `  strata groups reset-offsets billing -t orders --to-earliest              # shows the plan
  strata groups reset-offsets billing -t orders --to-earliest --execute
  strata groups reset-offsets billing --all-topics --shift-by -100 --execute`},
	"groups delete-offsets": {"delete a group's committed offsets of a topic", `  strata groups delete-offsets billing -t orders -p 0`},
	"groups delete":         {"delete an empty consumer group", `  strata groups delete billing`},
	"status": {"brokers, topics and leaders; node metrics with --admin", `  strata status
  strata status --admin http://127.0.0.1:9644 --cost`},
	"users create": {"create or update a SCRAM user", `  strata users create alice                   # prompts for the password
  echo "$PW" | strata users create alice --password-stdin --metastore-url postgres://...`},
	"users list":   {"list SCRAM users", `  strata users list`},
	"users delete": {"delete a SCRAM user's credentials", `  strata users delete alice`},
	"acls create": {"create access control lists", `  strata acls create --topic orders --allow User:alice --operation read,describe
  strata acls create --group billing- --prefixed --allow User:alice --operation read`},
	"acls list":       {"list access control lists", `  strata acls list --principal User:alice`},
	"acls delete":     {"delete access control lists", `  strata acls delete --topic orders --principal User:alice`},
	"quotas describe": {"show client quotas", `  strata quotas describe --for-user alice`},
	"quotas alter": {"set or remove client quotas", `  strata quotas alter --for-user alice --set producer_byte_rate=1048576
  strata quotas alter --default-client-id --remove consumer_byte_rate`},
}

// aliases are the other names of commands.
var aliases = map[string][]string{
	"topics list": {"ls"}, "topics delete": {"rm"},
	"groups list": {"ls"}, "groups delete": {"rm"},
	"users list": {"ls"}, "users delete": {"rm"},
	"acls create": {"add"}, "acls list": {"ls"}, "acls delete": {"rm"},
}

// flags makes the leaf command name ("topics create") with its synopsis
// and returns its flag set, with the flags every command has.
func (e *env) flags(name, synopsis string) *pflag.FlagSet {
	words := strings.Fields(name)
	use := words[len(words)-1] + strings.TrimPrefix(synopsis, name)
	h := commandHelp[name]
	cmd := &cobra.Command{
		Use:                   use,
		Short:                 h.short,
		Example:               h.example,
		Aliases:               aliases[name],
		DisableFlagsInUseLine: true,
	}
	fs := cmd.Flags()
	brokers := e.getenv(client.BrokersEnv)
	if brokers == "" {
		brokers = client.DefaultBrokers
	}
	fs.StringVarP(&e.brokers, "brokers", "b", brokers, "Kafka brokers, comma-separated host:port ($"+client.BrokersEnv+")")
	fs.StringVar(&e.output, "output", "text", "output format: text or json")
	fs.DurationVar(&e.timeout, "timeout", 30*time.Second, "bound of each request")
	e.conn.register(fs)
	e.commands[fs] = cmd
	return fs
}

// leaf completes the command of fs: it takes the positional arguments
// named, and runs run with them.
func (e *env) leaf(fs *pflag.FlagSet, positional []string, run func(pos []string) error) *cobra.Command {
	cmd := e.commands[fs]
	cmd.Args = func(_ *cobra.Command, pos []string) error {
		if len(pos) < len(positional) {
			return usagef("missing %s", positional[len(pos)])
		}
		if len(pos) > len(positional) {
			return usagef("unexpected argument %q", pos[len(positional)])
		}
		return nil
	}
	cmd.ValidArgsFunction = e.completeArgs(positional)
	cmd.RunE = func(_ *cobra.Command, pos []string) error {
		switch e.output {
		case "text", "json":
		default:
			return usagef("--output %q: want text or json", e.output)
		}
		return run(pos)
	}
	return cmd
}

// completeArgs completes a command's first argument from the cluster: a
// topic name for TOPIC and the NAME of topics commands, a group for GROUP.
// It asks the brokers of --brokers briefly, and offers nothing when they
// do not answer.
func (e *env) completeArgs(positional []string) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		none := cobra.ShellCompDirectiveNoFileComp
		if len(args) != 0 || len(positional) == 0 {
			return nil, none
		}
		kind := positional[0]
		if kind == "NAME" && cmd.Parent() != nil && cmd.Parent().Name() == "topics" && cmd.Name() != "create" {
			kind = "TOPIC"
		}
		if kind != "TOPIC" && kind != "GROUP" {
			return nil, none
		}
		e.timeout = min(e.timeout, 2*time.Second)
		c, err := e.connect()
		if err != nil {
			return nil, none
		}
		defer c.Close()
		ctx, cancel := e.reqCtx()
		defer cancel()
		var names []string
		if kind == "TOPIC" {
			topics, _ := c.Admin().ListTopics(ctx)
			for _, t := range topics {
				names = append(names, t.Name)
			}
		} else {
			groups, _ := c.Admin().ListGroups(ctx)
			for _, g := range groups {
				names = append(names, g.Name)
			}
		}
		var out []cobra.Completion
		for _, n := range names {
			if strings.HasPrefix(n, toComplete) {
				out = append(out, n)
			}
		}
		return out, none
	}
}

// flagError words pflag's mistakes as the standard library's flag package
// did, which scripts and tests match.
func flagError(_ *cobra.Command, err error) error {
	msg := err.Error()
	if m := reUnknownFlag.FindStringSubmatch(msg); m != nil {
		msg = "flag provided but not defined: -" + m[1]
	} else if m := reUnknownShort.FindStringSubmatch(msg); m != nil {
		msg = "flag provided but not defined: -" + m[1]
	} else if m := reBadValue.FindStringSubmatch(msg); m != nil {
		cause := m[3]
		if strings.HasPrefix(cause, "strconv.") || strings.HasPrefix(cause, "time: ") {
			cause = "parse error"
			if strings.Contains(m[3], "out of range") {
				cause = "value out of range"
			}
		}
		msg = fmt.Sprintf("invalid value %s for flag -%s: %s", m[1], m[2], cause)
	}
	return &usageError{msg}
}

var (
	reUnknownFlag  = regexp.MustCompile(`^unknown flag: --(\S+)$`)
	reUnknownShort = regexp.MustCompile(`^unknown shorthand flag: '(.)' in`)
	reBadValue     = regexp.MustCompile(`^invalid argument ("(?:[^"\\]|\\.)*") for "(?:-., )?--(\S+)" flag: (.*)$`)
)

// normaliseArgs turns -name into --name where name is a long flag of the
// command args run: the standard library's flag package, which strata
// used before, took both, and scripts have -brokers or -partitions.
// Commands that parse their own flags (DisableFlagParsing) get args as
// they are.
func normaliseArgs(root *cobra.Command, args []string) []string {
	cmd, _, err := root.Find(args)
	if err != nil || cmd == nil || cmd.DisableFlagParsing {
		return args
	}
	out := make([]string, len(args))
	copy(out, args)
	for i, a := range out {
		if a == "--" {
			break
		}
		if len(a) < 3 || a[0] != '-' || a[1] == '-' {
			continue
		}
		name, _, _ := strings.Cut(a[1:], "=")
		if len(name) < 2 {
			continue
		}
		if name == "help" || cmd.Flags().Lookup(name) != nil || cmd.InheritedFlags().Lookup(name) != nil {
			// A value that looks like a flag (-o -10) is the value.
			if i > 0 && takesValue(cmd, out[i-1]) {
				continue
			}
			out[i] = "-" + a
		}
	}
	return out
}

// takesValue reports whether arg is a flag of cmd that takes the next
// argument as its value.
func takesValue(cmd *cobra.Command, arg string) bool {
	if !strings.HasPrefix(arg, "-") || strings.Contains(arg, "=") {
		return false
	}
	var f *pflag.Flag
	if strings.HasPrefix(arg, "--") {
		f = cmd.Flags().Lookup(arg[2:])
	} else if len(arg) == 2 {
		f = cmd.Flags().ShorthandLookup(arg[1:])
	} else {
		f = cmd.Flags().Lookup(arg[1:])
	}
	return f != nil && f.NoOptDefVal == ""
}

// exit reports err and returns the exit code for it.
func (e *env) exit(err error) int {
	var ue *usageError
	var code ExitCode
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &code):
		return int(code)
	case errors.Is(err, errUsageShown):
		return exitUsage
	case errors.Is(err, pflag.ErrHelp), errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		if e.name == "" {
			fmt.Fprintf(e.stderr, "strata: %s\nRun 'strata -h' for usage.\n", ue.msg)
		} else {
			fmt.Fprintf(e.stderr, "strata %s: %s\nRun 'strata %s -h' for usage.\n", e.name, ue.msg, e.name)
		}
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
