package cli

import (
	"fmt"
	"github.com/spf13/cobra"
	"strconv"

	"github.com/stratalog/strata/client"
)

func (e *env) topicsCreate() *cobra.Command {
	fs := e.flags("topics create", "topics create NAME [--partitions N] [--config k=v]...")
	partitions := fs.IntP("partitions", "p", -1, "number of partitions (-1: the broker's default)")
	var configs keyValues
	fs.VarP(&configs, "config", "c", "topic config k=v, repeated (e.g. retention.ms=86400000)")
	return e.leaf(fs, []string{"NAME"}, func(pos []string) error {
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
	})
}

func (e *env) topicsList() *cobra.Command {
	fs := e.flags("topics list", "topics list")
	return e.leaf(fs, nil, func([]string) error {
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
	})
}

func (e *env) topicsDescribe() *cobra.Command {
	fs := e.flags("topics describe", "topics describe NAME [--all-configs]")
	all := fs.Bool("all-configs", false, "list every config, not only those set on the topic")
	return e.leaf(fs, []string{"NAME"}, func(pos []string) error {
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
	})
}

func (e *env) topicsAlter() *cobra.Command {
	fs := e.flags("topics alter", "topics alter NAME [--partitions N] [--config k=v]... [--delete-config k]...")
	var set keyValues
	var del stringList
	fs.VarP(&set, "config", "c", "set a topic config k=v, repeated")
	fs.Var(&del, "delete-config", "remove a topic config (back to its default), repeated")
	partitions := fs.IntP("partitions", "p", 0, "grow the topic to N partitions (partitions are never removed)")
	return e.leaf(fs, []string{"NAME"}, func(pos []string) error {
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
	})
}

func (e *env) topicsDelete() *cobra.Command {
	fs := e.flags("topics delete", "topics delete NAME")
	return e.leaf(fs, []string{"NAME"}, func(pos []string) error {
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
	})
}

// topicsDeleteRecords removes a topic's records before an offset, as
// kafka-delete-records does.
func (e *env) topicsDeleteRecords() *cobra.Command {
	fs := e.flags("topics delete-records", "topics delete-records NAME --before OFFSET|end [--partition N]...")
	before := fs.String("before", "", "delete the records before this offset, or every record with end (required)")
	var partitions int32List
	fs.VarP(&partitions, "partition", "p", "only this partition, repeated (default: all)")
	return e.leaf(fs, []string{"NAME"}, func(pos []string) error {
		var offset int64
		var err error
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
	})
}
