package acl

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Config holds the -auth.* flags: who is a super user, what a resource no
// ACL names allows, and how often a node reads the ACLs' version.
type Config struct {
	// SuperUsers are principals that may do everything, as Kafka's
	// super.users: "User:NAME" entries separated by semicolons or commas.
	SuperUsers string
	// AllowEveryoneIfNoACLFound is Kafka's
	// allow.everyone.if.no.acl.found: a request on a resource no ACL
	// names is allowed. Unset, it is true while no listener
	// authenticates, so that a cluster without authentication keeps
	// working, and false as soon as one does.
	AllowEveryoneIfNoACLFound OptionalBool
	// RefreshInterval is how often a node reads the ACLs' version: a
	// change made through another node is enforced here within it plus
	// one read of the ACLs.
	RefreshInterval time.Duration
}

// DefaultRefreshInterval keeps a change made on one node enforced on
// every other within a second.
const DefaultRefreshInterval = 250 * time.Millisecond

// RegisterFlags registers the flags of c on fs with their defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.SuperUsers, "auth.super-users", "", "principals allowed everything whatever the ACLs, as Kafka's super.users: User:NAME entries separated by ; or ,")
	fs.Var(&c.AllowEveryoneIfNoACLFound, "auth.allow-everyone-if-no-acl-found", "allow a request on a resource no ACL names (default: true while no listener authenticates, false once one does)")
	fs.DurationVar(&c.RefreshInterval, "auth.acl-refresh-interval", DefaultRefreshInterval, "how often a node checks whether the ACLs changed; a change made through another node is enforced within it")
}

// Validate reports the first invalid setting.
func (c *Config) Validate() error {
	if _, err := ParseSuperUsers(c.SuperUsers); err != nil {
		return err
	}
	if c.RefreshInterval <= 0 {
		return fmt.Errorf("auth: acl refresh interval %s is not positive", c.RefreshInterval)
	}
	return nil
}

// Policy is the decision's policy for a node; authenticating says
// whether some listener of the node authenticates its clients.
func (c *Config) Policy(authenticating bool) Policy {
	su, _ := ParseSuperUsers(c.SuperUsers)
	return Policy{SuperUsers: su, AllowIfNoACL: c.AllowEveryoneIfNoACLFound.Or(!authenticating)}
}

// ParseSuperUsers splits a super.users list; every entry is User:NAME.
func ParseSuperUsers(s string) ([]string, error) {
	var out []string
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == ',' }) {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if name, ok := strings.CutPrefix(p, "User:"); !ok || name == "" {
			return nil, fmt.Errorf("auth: super user %q is not User:NAME", p)
		}
		out = append(out, p)
	}
	return out, nil
}

// OptionalBool is a boolean flag that may be left unset.
type OptionalBool struct {
	IsSet bool
	Value bool
}

// Or is the value when set, def otherwise.
func (b OptionalBool) Or(def bool) bool {
	if b.IsSet {
		return b.Value
	}
	return def
}

func (b *OptionalBool) String() string {
	if b == nil || !b.IsSet {
		return ""
	}
	return strconv.FormatBool(b.Value)
}

// IsBoolFlag lets the flag be given without a value, as a bool flag.
func (b *OptionalBool) IsBoolFlag() bool { return true }

// Set implements flag.Value.
func (b *OptionalBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return errNotBool
	}
	b.IsSet, b.Value = true, v
	return nil
}

var errNotBool = errors.New("not a boolean")
