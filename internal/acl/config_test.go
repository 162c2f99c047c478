package acl

import (
	"flag"
	"slices"
	"testing"
)

func TestConfigPolicy(t *testing.T) {
	parse := func(args ...string) Config {
		t.Helper()
		var c Config
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		c.RegisterFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := parse()
	if p := c.Policy(false); !p.AllowIfNoACL || len(p.SuperUsers) != 0 {
		t.Errorf("defaults without authentication: %+v, want everyone allowed where no ACL", p)
	}
	if p := c.Policy(true); p.AllowIfNoACL {
		t.Errorf("defaults with an authenticating listener: %+v, want no ACL to deny", p)
	}
	c = parse("-auth.allow-everyone-if-no-acl-found=false", "-auth.super-users", "User:admin; User:ops,User:ci")
	if p := c.Policy(false); p.AllowIfNoACL || !slices.Equal(p.SuperUsers, []string{"User:admin", "User:ops", "User:ci"}) {
		t.Errorf("explicit: %+v", p)
	}
	c = parse("-auth.allow-everyone-if-no-acl-found")
	if p := c.Policy(true); !p.AllowIfNoACL {
		t.Errorf("explicit true with authentication: %+v", p)
	}
	bad := Config{SuperUsers: "admin", RefreshInterval: DefaultRefreshInterval}
	if err := bad.Validate(); err == nil {
		t.Error("a super user without User: was accepted")
	}
}
