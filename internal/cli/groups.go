package cli

import (
	"fmt"
	"github.com/spf13/cobra"
	"strconv"
	"strings"
	"time"

	"github.com/stratalog/strata/client"
)

func (e *env) groupsList() *cobra.Command {
	fs := e.flags("groups list", "groups list")
	return e.leaf(fs, nil, func([]string) error {
		c, err := e.connect()
		if err != nil {
			return err
		}
		defer c.Close()
		ctx, cancel := e.reqCtx()
		defer cancel()
		groups, err := c.Admin().ListGroups(ctx)
		if err != nil {
			return err
		}
		// The lag of each group, as kafka-consumer-groups --describe
		// --all-groups shows it.
		type listed struct {
			client.GroupSummary
			TotalLag int64 `json:"total_lag"`
		}
		out := make([]listed, 0, len(groups))
		for _, g := range groups {
			info, err := c.Admin().DescribeGroup(ctx, g.Name)
			if err != nil {
				return err
			}
			out = append(out, listed{g, info.TotalLag})
		}
		if e.output == "json" {
			return e.printJSON(out)
		}
		if len(groups) == 0 {
			fmt.Fprintln(e.stdout, "No consumer groups.")
			return nil
		}
		rows := make([][]string, 0, len(out))
		for _, g := range out {
			rows = append(rows, []string{g.Name, orDash(g.State), orDash(g.ProtocolType), strconv.FormatInt(g.TotalLag, 10)})
		}
		e.table([]string{"GROUP", "STATE", "PROTOCOL-TYPE", "LAG"}, rows)
		return nil
	})
}

func (e *env) groupsDescribe() *cobra.Command {
	fs := e.flags("groups describe", "groups describe GROUP")
	return e.leaf(fs, []string{"GROUP"}, func(pos []string) error {
		c, err := e.connect()
		if err != nil {
			return err
		}
		defer c.Close()
		ctx, cancel := e.reqCtx()
		defer cancel()
		g, err := c.Admin().DescribeGroup(ctx, pos[0])
		if err != nil {
			return err
		}
		if g.Members == nil {
			g.Members = []client.GroupMember{}
		}
		if g.Offsets == nil {
			g.Offsets = []client.GroupOffset{}
		}
		if e.output == "json" {
			return e.printJSON(g)
		}
		protocol := orDash(g.ProtocolType)
		if g.Protocol != "" {
			protocol += " (" + g.Protocol + ")"
		}
		e.fields("Group", g.Name, "State", g.State, "Protocol", protocol,
			"Members", strconv.Itoa(len(g.Members)), "Total lag", strconv.FormatInt(g.TotalLag, 10))
		if len(g.Members) > 0 {
			fmt.Fprintln(e.stdout)
			rows := make([][]string, 0, len(g.Members))
			for _, m := range g.Members {
				var assigned []string
				for _, t := range sortedKeys(m.Assigned) {
					assigned = append(assigned, fmt.Sprintf("%s%v", t, m.Assigned[t]))
				}
				rows = append(rows, []string{m.ID, m.ClientID, m.Host, orDash(strings.Join(assigned, " "))})
			}
			e.table([]string{"MEMBER", "CLIENT-ID", "HOST", "ASSIGNED"}, rows)
		}
		fmt.Fprintln(e.stdout)
		if len(g.Offsets) == 0 {
			fmt.Fprintln(e.stdout, "No committed offsets.")
			return nil
		}
		rows := make([][]string, 0, len(g.Offsets))
		for _, o := range g.Offsets {
			committed, lag := "-", "-"
			if o.Committed >= 0 {
				committed = strconv.FormatInt(o.Committed, 10)
			}
			if o.Lag >= 0 {
				lag = strconv.FormatInt(o.Lag, 10)
			}
			rows = append(rows, []string{o.Topic, strconv.Itoa(int(o.Partition)), committed,
				strconv.FormatInt(o.LogEnd, 10), lag, orDash(o.MemberID)})
		}
		e.table([]string{"TOPIC", "PARTITION", "COMMITTED", "LOG-END", "LAG", "MEMBER"}, rows)
		return nil
	})
}

func (e *env) groupsReset() *cobra.Command {
	fs := e.flags("groups reset-offsets", "groups reset-offsets GROUP (--topic T... | --all-topics) (--to-earliest | --to-latest | --to-offset N | --to-datetime T | --shift-by N | --to-current) [--partition N]... [--execute]")
	var topics stringList
	fs.VarP(&topics, "topic", "t", "topic whose offsets to move, repeated")
	allTopics := fs.Bool("all-topics", false, "every topic the group has committed offsets for")
	earliest := fs.Bool("to-earliest", false, "move to the oldest record")
	latest := fs.Bool("to-latest", false, "move to the end: skip every record not yet processed")
	offset := fs.Int64("to-offset", -1, "move to this offset (clamped to each partition's range)")
	datetime := fs.String("to-datetime", "", "move to the first record at or after a time (RFC 3339, or a duration ago such as 1h)")
	shift := fs.Int64("shift-by", 0, "move each committed offset by N (negative: back), clamped to the partition's range")
	current := fs.Bool("to-current", false, "keep the committed offsets; commit the log end where there is none")
	execute := fs.Bool("execute", false, "apply the reset (default: a dry run that only shows it)")
	fs.Bool("dry-run", true, "show the reset without applying it (the default; --execute applies)")
	var partitions int32List
	fs.VarP(&partitions, "partition", "p", "only this partition, repeated (default: all)")
	return e.leaf(fs, []string{"GROUP"}, func(pos []string) error {
		switch {
		case len(topics) == 0 && !*allTopics:
			return usagef("give --topic T (repeated) or --all-topics")
		case len(topics) > 0 && *allTopics:
			return usagef("give --topic or --all-topics, not both")
		case *allTopics && len(partitions) > 0:
			return usagef("--partition needs one --topic")
		case len(topics) > 1 && len(partitions) > 0:
			return usagef("--partition needs one --topic")
		}
		var to client.ResetTarget
		n := 0
		if *earliest {
			to, n = client.ResetTo(client.Beginning()), n+1
		}
		if *latest {
			to, n = client.ResetTo(client.End()), n+1
		}
		if *offset >= 0 {
			to, n = client.ResetTo(client.AtOffset(*offset)), n+1
		}
		if *datetime != "" {
			t, err := parseSince(*datetime, time.Now())
			if err != nil {
				return usagef("--to-datetime %q: %v", *datetime, err)
			}
			to, n = client.ResetTo(client.AtTime(t)), n+1
		}
		if *shift != 0 {
			to, n = client.ShiftBy(*shift), n+1
		}
		if *current {
			to, n = client.ToCurrent(), n+1
		}
		if n != 1 {
			return usagef("give exactly one of --to-earliest, --to-latest, --to-offset, --to-datetime, --shift-by and --to-current")
		}
		c, err := e.connect()
		if err != nil {
			return err
		}
		defer c.Close()
		ctx, cancel := e.reqCtx()
		defer cancel()
		plan, err := c.Admin().PlanOffsetReset(ctx, pos[0], topics, to, partitions...)
		if err != nil {
			return err
		}
		if *execute {
			if err := c.Admin().ApplyOffsetReset(ctx, pos[0], plan); err != nil {
				return err
			}
		}
		if e.output == "json" {
			if plan == nil {
				plan = []client.OffsetReset{}
			}
			return e.printJSON(struct {
				Group   string               `json:"group"`
				Applied bool                 `json:"applied"`
				Offsets []client.OffsetReset `json:"offsets"`
			}{pos[0], *execute, plan})
		}
		rows := make([][]string, 0, len(plan))
		for _, r := range plan {
			from := "-"
			if r.From >= 0 {
				from = strconv.FormatInt(r.From, 10)
			}
			rows = append(rows, []string{r.Topic, strconv.Itoa(int(r.Partition)), from, strconv.FormatInt(r.To, 10)})
		}
		e.table([]string{"TOPIC", "PARTITION", "FROM", "TO"}, rows)
		if !*execute {
			fmt.Fprintln(e.stderr, "Dry run: nothing changed. Add --execute to apply.")
		}
		return nil
	})
}

// groupsDeleteOffsets removes a group's committed offsets of a topic, as
// kafka-consumer-groups --delete-offsets does.
func (e *env) groupsDeleteOffsets() *cobra.Command {
	fs := e.flags("groups delete-offsets", "groups delete-offsets GROUP --topic T [--partition N]...")
	topic := fs.StringP("topic", "t", "", "topic whose committed offsets to delete (required)")
	var partitions int32List
	fs.VarP(&partitions, "partition", "p", "only this partition, repeated (default: all)")
	return e.leaf(fs, []string{"GROUP"}, func(pos []string) error {
		if *topic == "" {
			return usagef("--topic is required")
		}
		c, err := e.connect()
		if err != nil {
			return err
		}
		defer c.Close()
		ctx, cancel := e.reqCtx()
		defer cancel()
		if err := c.Admin().DeleteGroupOffsets(ctx, pos[0], *topic, partitions...); err != nil {
			return err
		}
		if e.output == "json" {
			return e.printJSON(struct {
				Group   string `json:"group"`
				Topic   string `json:"topic"`
				Deleted bool   `json:"deleted"`
			}{pos[0], *topic, true})
		}
		fmt.Fprintf(e.stdout, "Deleted the committed offsets of group %q in topic %q.\n", pos[0], *topic)
		return nil
	})
}

func (e *env) groupsDelete() *cobra.Command {
	fs := e.flags("groups delete", "groups delete GROUP")
	return e.leaf(fs, []string{"GROUP"}, func(pos []string) error {
		c, err := e.connect()
		if err != nil {
			return err
		}
		defer c.Close()
		ctx, cancel := e.reqCtx()
		defer cancel()
		if err := c.Admin().DeleteGroup(ctx, pos[0]); err != nil {
			return err
		}
		if e.output == "json" {
			return e.printJSON(struct {
				Group   string `json:"group"`
				Deleted bool   `json:"deleted"`
			}{pos[0], true})
		}
		fmt.Fprintf(e.stdout, "Deleted group %q.\n", pos[0])
		return nil
	})
}
