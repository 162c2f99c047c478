package cli

import (
	"fmt"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"slices"
	"strconv"

	"github.com/stratalog/strata/client"
)

// quotaEntityFlags are the flags naming a quota entity. They are not
// --user, which names who the command authenticates as.
type quotaEntityFlags struct {
	user, clientID               string
	defaultUser, defaultClientID bool
}

func (q *quotaEntityFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&q.user, "for-user", "", "the quota entity's user (the name of User:NAME)")
	fs.BoolVar(&q.defaultUser, "default-user", false, "the quota entity's user is the default: every user without a quota of its own")
	fs.StringVar(&q.clientID, "for-client-id", "", "the quota entity's client id")
	fs.BoolVar(&q.defaultClientID, "default-client-id", false, "the quota entity's client id is the default")
}

// entity returns the entity the flags name; fs tells which were given, so
// that --for-user "" names the user "".
func (q *quotaEntityFlags) entity(fs *pflag.FlagSet) (client.QuotaEntity, error) {
	given := map[string]bool{}
	fs.Visit(func(f *pflag.Flag) { given[f.Name] = true })
	var e client.QuotaEntity
	switch {
	case given["for-user"] && q.defaultUser:
		return e, usagef("--for-user and --default-user name two users: give one")
	case given["for-user"]:
		e.User = &client.QuotaPart{Name: q.user}
	case q.defaultUser:
		e.User = &client.QuotaPart{Default: true}
	}
	switch {
	case given["for-client-id"] && q.defaultClientID:
		return e, usagef("--for-client-id and --default-client-id name two client ids: give one")
	case given["for-client-id"]:
		e.ClientID = &client.QuotaPart{Name: q.clientID}
	case q.defaultClientID:
		e.ClientID = &client.QuotaPart{Default: true}
	}
	return e, nil
}

func (e *env) quotasDescribe() *cobra.Command {
	fs := e.flags("quotas describe", "quotas describe [--for-user U | --default-user] [--for-client-id C | --default-client-id] [--strict]")
	var ef quotaEntityFlags
	ef.register(fs)
	strict := fs.Bool("strict", false, "only entities with exactly the parts given (no other user or client-id part)")
	return e.leaf(fs, nil, func([]string) error {
		filter, err := ef.entity(fs)
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
		qs, err := c.Admin().DescribeClientQuotas(ctx, filter, *strict)
		if err != nil {
			return err
		}
		if e.output == "json" {
			return e.printJSON(qs)
		}
		if len(qs) == 0 {
			fmt.Fprintln(e.stdout, "No client quotas.")
			return nil
		}
		var rows [][]string
		for _, q := range qs {
			keys := make([]string, 0, len(q.Values))
			for k := range q.Values {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				rows = append(rows, []string{partText(q.Entity.User), partText(q.Entity.ClientID), k, strconv.FormatFloat(q.Values[k], 'f', -1, 64)})
			}
		}
		e.table([]string{"USER", "CLIENT-ID", "QUOTA", "VALUE"}, rows)
		return nil
	})
}

func partText(p *client.QuotaPart) string {
	switch {
	case p == nil:
		return "-"
	case p.Default:
		return "<default>"
	}
	return p.Name
}

func (e *env) quotasAlter() *cobra.Command {
	fs := e.flags("quotas alter", "quotas alter [--for-user U | --default-user] [--for-client-id C | --default-client-id] [--set k=v]... [--remove k]...")
	var ef quotaEntityFlags
	ef.register(fs)
	var set keyValues
	var remove stringList
	fs.Var(&set, "set", "set a quota k=v, repeated: producer_byte_rate, consumer_byte_rate (bytes/s), request_percentage (percent of a core)")
	fs.Var(&remove, "remove", "remove a quota, repeated")
	return e.leaf(fs, nil, func([]string) error {
		entity, err := ef.entity(fs)
		if err != nil {
			return err
		}
		if entity.User == nil && entity.ClientID == nil {
			return usagef("no entity: give --for-user U, --default-user, --for-client-id C or --default-client-id")
		}
		if len(set.m) == 0 && len(remove) == 0 {
			return usagef("nothing to alter: give --set k=v or --remove k")
		}
		values := make(map[string]float64, len(set.m))
		for _, k := range set.order {
			v, err := strconv.ParseFloat(set.m[k], 64)
			if err != nil {
				return usagef("--set %s=%s: want a number", k, set.m[k])
			}
			values[k] = v
		}
		c, err := e.connect()
		if err != nil {
			return err
		}
		defer c.Close()
		ctx, cancel := e.reqCtx()
		defer cancel()
		if err := c.Admin().AlterClientQuotas(ctx, entity, values, remove); err != nil {
			return err
		}
		if e.output == "json" {
			r := []string(remove)
			if r == nil {
				r = []string{}
			}
			return e.printJSON(struct {
				Entity  client.QuotaEntity `json:"entity"`
				Set     map[string]float64 `json:"set"`
				Removed []string           `json:"removed"`
			}{entity, values, r})
		}
		fmt.Fprintf(e.stdout, "Altered client quotas of %s.\n", entity)
		return nil
	})
}
