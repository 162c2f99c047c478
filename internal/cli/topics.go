package cli

import (
	"fmt"
	"strconv"

	"github.com/stratalog/strata/client"
)

func (e *env) topics(args []string) error {
	if len(args) == 0 {
		e.name = "topics"
		return usagef("missing subcommand: create, list, describe, alter, delete-records or delete")
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		return e.subUsage("topics")
	case "create":
		return e.topicsCreate(args[1:])
	case "list", "ls":
		return e.topicsList(args[1:])
	case "describe":
		return e.topicsDescribe(args[1:])
	case "alter":
		return e.topicsAlter(args[1:])
	case "delete-records":
		return e.topicsDeleteRecords(args[1:])
	case "delete", "rm":
		return e.topicsDelete(args[1:])
	}
	e.name = "topics"
	return usagef("unknown subcommand %q: want create, list, describe, alter, delete-records or delete", args[0])
}

func (e *env) topicsCreate(args []string) error {
	fs := e.flags("topics create", "topics create NAME [--partitions N] [--config k=v]...")
	partitions := fs.Int("partitions", -1, "number of partitions (-1: the broker's default)")
	var configs keyValues
	fs.Var(&configs, "config", "topic config k=v, repeated (e.g. retention.ms=86400000)")
	pos, err := e.parse(fs, args, "NAME")
	if err != nil {
		return err
	}
	if *partitions == 0 || *partitions < -1 {
		return usagef("--partitions %d: want a positive count", *partitions)
	}
	c, err := e.connect()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := e.reqCtx()
	defer cancel()
	t, err := c.Admin().CreateTopic(ctx, pos[0], int32(*partitions), configs.m)
	if err != nil {
		return err
	}
	if e.output == "json" {
		return e.printJSON(t)
	}
	fmt.Fprintf(e.stdout, "Created topic %q with %s.\n", t.Name, plural(int64(t.Partitions), "partition"))
	return nil
}

func (e *env) topicsList(args []string) error {
	fs := e.flags("topics list", "topics list")
	if _, err := e.parse(fs, args); err != nil {
		return err
	}
	c, err := e.connect()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := e.reqCtx()
	defer cancel()
	topics, err := c.Admin().ListTopics(ctx)
	if err != nil {
		return err
	}
	if e.output == "json" {
		return e.printJSON(topics)
	}
	if len(topics) == 0 {
		fmt.Fprintln(e.stdout, "No topics. Create one with `strata topics create NAME`.")
		return nil
	}
	rows := make([][]string, 0, len(topics))
	for _, t := range topics {
		rows = append(rows, []string{t.Name, strconv.Itoa(t.Partitions), orDash(t.ID)})
	}
	e.table([]string{"TOPIC", "PARTITIONS", "ID"}, rows)
	return nil
}

func (e *env) topicsDescribe(args []string) error {
	fs := e.flags("topics describe", "topics describe NAME [--all-configs]")
	all := fs.Bool("all-configs", false, "list every config, not only those set on the topic")
	pos, err := e.parse(fs, args, "NAME")
	if err != nil {
		return err
	}
	c, err := e.connect()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := e.reqCtx()
	defer cancel()
	info, err := c.Admin().DescribeTopic(ctx, pos[0])
	if err != nil {
		return err
	}
	if !*all {
		var own []client.ConfigEntry
		for _, cfg := range info.Configs {
			if cfg.Source == "topic" {
				own = append(own, cfg)
			}
		}
		info.Configs = own
	}
	if info.Configs == nil {
		info.Configs = []client.ConfigEntry{}
	}
	if e.output == "json" {
		return e.printJSON(info)
	}
	var records int64
	rows := make([][]string, 0, len(info.Partitions))
	for _, p := range info.Partitions {
		records += p.Records()
		leader := "none"
		if p.Leader >= 0 {
			leader = strconv.Itoa(int(p.Leader))
		}
		rows = append(rows, []string{
			strconv.Itoa(int(p.Partition)), leader, strconv.Itoa(int(p.LeaderEpoch)),
			strconv.FormatInt(p.LogStartOffset, 10), strconv.FormatInt(p.HighWatermark, 10), strconv.FormatInt(p.Records(), 10),
		})
	}
	e.fields("Topic", info.Name, "ID", orDash(info.ID), "Partitions", strconv.Itoa(len(info.Partitions)), "Records", strconv.FormatInt(records, 10))
	fmt.Fprintln(e.stdout)
	e.table([]string{"PARTITION", "LEADER", "EPOCH", "LOG-START", "HIGH-WATERMARK", "RECORDS"}, rows)
	fmt.Fprintln(e.stdout)
	if len(info.Configs) == 0 {
		fmt.Fprintln(e.stdout, "No configs set on the topic; --all-configs lists the defaults.")
		return nil
	}
	rows = rows[:0]
	for _, cfg := range info.Configs {
		v := cfg.Value
		if cfg.Sensitive {
			v = "(sensitive)"
		}
		rows = append(rows, []string{cfg.Name, v, cfg.Source})
	}
	e.table([]string{"CONFIG", "VALUE", "SOURCE"}, rows)
	return nil
}

func (e *env) topicsAlter(args []string) error {
	fs := e.flags("topics alter", "topics alter NAME [--partitions N] [--config k=v]... [--delete-config k]...")
	var set keyValues
	var del stringList
	fs.Var(&set, "config", "set a topic config k=v, repeated")
	fs.Var(&del, "delete-config", "remove a topic config (back to its default), repeated")
	partitions := fs.Int("partitions", 0, "grow the topic to N partitions (partitions are never removed)")
	pos, err := e.parse(fs, args, "NAME")
	if err != nil {
		return err
	}
	if len(set.m) == 0 && len(del) == 0 && *partitions == 0 {
		return usagef("nothing to alter: give --partitions N, --config k=v or --delete-config k")
	}
	if *partitions < 0 {
		return usagef("--partitions %d: want a positive count", *partitions)
	}
	c, err := e.connect()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := e.reqCtx()
	defer cancel()
	if *partitions > 0 {
		if err := c.Admin().AddPartitions(ctx, pos[0], int32(*partitions)); err != nil {
			return err
		}
	}
	if err := c.Admin().AlterTopicConfigs(ctx, pos[0], set.m, del); err != nil {
		return err
	}
	if e.output == "json" {
		s := set.m
		if s == nil {
			s = map[string]string{}
		}
		d := []string(del)
		if d == nil {
			d = []string{}
		}
		return e.printJSON(struct {
			Topic      string            `json:"topic"`
			Partitions int               `json:"partitions,omitempty"`
			Set        map[string]string `json:"set"`
			Deleted    []string          `json:"deleted"`
		}{pos[0], *partitions, s, d})
	}
	if *partitions > 0 {
		fmt.Fprintf(e.stdout, "Topic %q has %s.\n", pos[0], plural(int64(*partitions), "partition"))
	}
	for _, k := range set.order {
		fmt.Fprintf(e.stdout, "Set %s=%s on topic %q.\n", k, set.m[k], pos[0])
	}
	for _, k := range del {
		fmt.Fprintf(e.stdout, "Removed %s from topic %q.\n", k, pos[0])
	}
	return nil
}

func (e *env) topicsDelete(args []string) error {
	fs := e.flags("topics delete", "topics delete NAME")
	pos, err := e.parse(fs, args, "NAME")
	if err != nil {
		return err
	}
	c, err := e.connect()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := e.reqCtx()
	defer cancel()
	if err := c.Admin().DeleteTopic(ctx, pos[0]); err != nil {
		return err
	}
	if e.output == "json" {
		return e.printJSON(struct {
			Topic   string `json:"topic"`
			Deleted bool   `json:"deleted"`
		}{pos[0], true})
	}
	fmt.Fprintf(e.stdout, "Deleted topic %q.\n", pos[0])
	return nil
}

// topicsDeleteRecords removes a topic's records before an offset, as
// kafka-delete-records does.
func (e *env) topicsDeleteRecords(args []string) error {
	fs := e.flags("topics delete-records", "topics delete-records NAME --before OFFSET|end [--partition N]...")
	before := fs.String("before", "", "delete the records before this offset, or every record with end (required)")
	var partitions int32List
	fs.Var(&partitions, "partition", "only this partition, repeated (default: all)")
	fs.Var(&partitions, "p", "short for --partition")
	pos, err := e.parse(fs, args, "NAME")
	if err != nil {
		return err
	}
	var offset int64
	switch *before {
	case "":
		return usagef("--before is required: an offset, or end")
	case "end":
		offset = -1
	default:
		if offset, err = strconv.ParseInt(*before, 10, 64); err != nil || offset < 0 {
			return usagef("--before %q: want an offset (0 or more) or end", *before)
		}
	}
	c, err := e.connect()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := e.reqCtx()
	defer cancel()
	res, err := c.Admin().DeleteRecords(ctx, pos[0], offset, partitions...)
	if err != nil {
		return err
	}
	if e.output == "json" {
		return e.printJSON(res)
	}
	rows := make([][]string, 0, len(res))
	for _, r := range res {
		rows = append(rows, []string{r.Topic, strconv.Itoa(int(r.Partition)), strconv.FormatInt(r.LogStartOffset, 10)})
	}
	e.table([]string{"TOPIC", "PARTITION", "LOG-START"}, rows)
	return nil
}
