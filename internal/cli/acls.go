package cli

import (
	"fmt"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"strings"

	"github.com/stratalog/strata/client"
)

// The acls commands speak Kafka's names, as kafka-acls does: a resource
// (--topic, --group, --cluster or --transactional-id), a principal
// (User:NAME, or User:* for everyone), a host (* or an IP address) and
// operations.

// aclResource is the resource flags every acls subcommand has.
type aclResource struct {
	topic, group, txn string
	cluster           bool
}

func (r *aclResource) register(fs *pflag.FlagSet) {
	fs.StringVar(&r.topic, "topic", "", "the topic (or prefix, with --prefixed)")
	fs.StringVar(&r.group, "group", "", "the consumer group (or prefix)")
	fs.StringVar(&r.txn, "transactional-id", "", "the transactional id (or prefix)")
	fs.BoolVar(&r.cluster, "cluster", false, "the cluster (its name is kafka-cluster)")
}

// resolve returns the resource type and name; none given is "" "".
func (r *aclResource) resolve() (string, string, error) {
	var typ, name string
	n := 0
	if r.topic != "" {
		typ, name = "topic", r.topic
		n++
	}
	if r.group != "" {
		typ, name = "group", r.group
		n++
	}
	if r.txn != "" {
		typ, name = "transactional-id", r.txn
		n++
	}
	if r.cluster {
		typ, name = "cluster", "kafka-cluster"
		n++
	}
	if n > 1 {
		return "", "", usagef("name one resource: --topic, --group, --transactional-id or --cluster")
	}
	return typ, name, nil
}

func (e *env) aclsCreate() *cobra.Command {
	fs := e.flags("acls create", "acls create (--topic T | --group G | --transactional-id X | --cluster) [--prefixed] (--allow P | --deny P)... --operation OP... [--host H]...")
	var res aclResource
	res.register(fs)
	prefixed := fs.Bool("prefixed", false, "the name is a prefix: the ACL applies to every name starting with it")
	var allow, deny, ops, hosts stringList
	fs.Var(&allow, "allow", "principal allowed, User:NAME or User:*, repeated")
	fs.Var(&deny, "deny", "principal denied, User:NAME or User:*, repeated")
	fs.Var(&ops, "operation", "operation: all, read, write, create, delete, alter, describe, cluster-action, describe-configs, alter-configs, idempotent-write; repeated or comma-separated")
	fs.Var(&hosts, "host", "client IP address the ACL applies to, repeated (default: * for any)")
	return e.leaf(fs, nil, func([]string) error {
		typ, name, err := res.resolve()
		if err != nil {
			return err
		}
		if typ == "" {
			return usagef("missing the resource: --topic, --group, --transactional-id or --cluster")
		}
		if len(allow)+len(deny) == 0 {
			return usagef("missing --allow or --deny")
		}
		operations := splitList(ops)
		if len(operations) == 0 {
			return usagef("missing --operation")
		}
		if len(hosts) == 0 {
			hosts = stringList{"*"}
		}
		pattern := "literal"
		if *prefixed {
			pattern = "prefixed"
		}
		var acls []client.ACL
		for _, perm := range []struct {
			name       string
			principals stringList
		}{{"allow", allow}, {"deny", deny}} {
			for _, p := range perm.principals {
				for _, h := range hosts {
					for _, op := range operations {
						acls = append(acls, client.ACL{ResourceType: typ, ResourceName: name, PatternType: pattern,
							Principal: p, Host: h, Operation: op, Permission: perm.name})
					}
				}
			}
		}
		c, err := e.connect()
		if err != nil {
			return err
		}
		defer c.Close()
		ctx, cancel := e.reqCtx()
		defer cancel()
		if err := c.Admin().CreateACLs(ctx, acls); err != nil {
			return err
		}
		if e.output == "json" {
			return e.printJSON(acls)
		}
		fmt.Fprintf(e.stdout, "Created %d ACL(s).\n", len(acls))
		return nil
	})
}

// aclFilterFlags are the filter flags of list and delete.
func (e *env) aclFilterFlags(name, synopsis string) (f *pflag.FlagSet, filter func() (client.ACLFilter, error)) {
	f = e.flags(name, synopsis)
	var res aclResource
	res.register(f)
	pattern := f.String("pattern", "", "how the filter's name matches: any (literal or prefixed ACLs of exactly that name; the default), match (every ACL that applies to the name), literal or prefixed")
	principal := f.String("principal", "", "only the ACLs of this principal")
	host := f.String("host", "", "only the ACLs of this host")
	op := f.String("operation", "", "only the ACLs of this operation")
	perm := f.String("permission", "", "only allow or only deny ACLs")
	return f, func() (client.ACLFilter, error) {
		typ, rname, err := res.resolve()
		if err != nil {
			return client.ACLFilter{}, err
		}
		return client.ACLFilter{ResourceType: typ, ResourceName: rname, PatternType: *pattern,
			Principal: *principal, Host: *host, Operation: *op, Permission: *perm}, nil
	}
}

func (e *env) aclsList() *cobra.Command {
	fs, filter := e.aclFilterFlags("acls list", "acls list [--topic T | --group G | --transactional-id X | --cluster] [--pattern any|match|literal|prefixed] [--principal P] [--host H] [--operation OP] [--permission allow|deny]")
	return e.leaf(fs, nil, func([]string) error {
		f, err := filter()
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
		acls, err := c.Admin().ListACLs(ctx, f)
		if err != nil {
			return err
		}
		return e.printACLs(acls, "No ACLs.")
	})
}

func (e *env) aclsDelete() *cobra.Command {
	fs, filter := e.aclFilterFlags("acls delete", "acls delete (--topic T | --group G | --transactional-id X | --cluster | --principal P) [--pattern any|match|literal|prefixed] [--host H] [--operation OP] [--permission allow|deny]")
	return e.leaf(fs, nil, func([]string) error {
		f, err := filter()
		if err != nil {
			return err
		}
		if f.ResourceType == "" && f.Principal == "" {
			// A filter without either deletes every ACL: never by accident.
			return usagef("name a resource or --principal; to delete every ACL of a type, name it with --pattern any")
		}
		c, err := e.connect()
		if err != nil {
			return err
		}
		defer c.Close()
		ctx, cancel := e.reqCtx()
		defer cancel()
		acls, err := c.Admin().DeleteACLs(ctx, f)
		if err != nil {
			return err
		}
		return e.printACLs(acls, "No ACL matched; nothing deleted.")
	})
}

func (e *env) printACLs(acls []client.ACL, none string) error {
	if e.output == "json" {
		return e.printJSON(acls)
	}
	if len(acls) == 0 {
		fmt.Fprintln(e.stdout, none)
		return nil
	}
	rows := make([][]string, 0, len(acls))
	for _, a := range acls {
		rows = append(rows, []string{a.ResourceType, a.ResourceName, a.PatternType, a.Principal, a.Host, a.Operation, a.Permission})
	}
	e.table([]string{"RESOURCE-TYPE", "NAME", "PATTERN", "PRINCIPAL", "HOST", "OPERATION", "PERMISSION"}, rows)
	return nil
}

// splitList splits repeated, comma-separated values.
func splitList(l stringList) []string {
	var out []string
	for _, v := range l {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}
