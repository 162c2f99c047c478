package cluster

import (
	"flag"
	"testing"
	"time"
)

func TestConfigDefaults(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if c != DefaultConfig() {
		t.Fatalf("flag defaults %+v differ from DefaultConfig %+v", c, DefaultConfig())
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	if got := c.heartbeatInterval(); got != 2*time.Second {
		t.Fatalf("default heartbeat interval %v, want lease/3 = 2s", got)
	}
	if err := fs.Parse([]string{"-cluster.lease=900ms", "-cluster.heartbeat-interval=100ms", "-cluster.controller-interval=50ms", "-cluster.refresh-interval=20ms", "-cluster.register-wait=7s"}); err != nil {
		t.Fatal(err)
	}
	want := Config{Lease: 900 * time.Millisecond, HeartbeatInterval: 100 * time.Millisecond, ControllerInterval: 50 * time.Millisecond, RefreshInterval: 20 * time.Millisecond, RegisterWait: 7 * time.Second}
	if c != want {
		t.Fatalf("parsed %+v, want %+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestConfigValidate(t *testing.T) {
	for name, mod := range map[string]func(*Config){
		"zero lease":                 func(c *Config) { c.Lease = 0 },
		"negative heartbeat":         func(c *Config) { c.HeartbeatInterval = -time.Second },
		"heartbeat not below lease":  func(c *Config) { c.HeartbeatInterval = c.Lease },
		"zero controller interval":   func(c *Config) { c.ControllerInterval = 0 },
		"controller interval >lease": func(c *Config) { c.ControllerInterval = 2 * c.Lease },
		"zero refresh":               func(c *Config) { c.RefreshInterval = 0 },
		"negative register wait":     func(c *Config) { c.RegisterWait = -time.Second },
	} {
		c := DefaultConfig()
		mod(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: %+v accepted", name, c)
		}
	}
}
