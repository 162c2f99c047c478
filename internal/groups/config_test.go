package groups

import (
	"flag"
	"strings"
	"testing"
	"time"
)

func TestConfigFlags(t *testing.T) {
	var cfg Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if d := DefaultConfig(); cfg.MinSessionTimeout != d.MinSessionTimeout || cfg.MaxSessionTimeout != d.MaxSessionTimeout ||
		cfg.InitialRebalanceDelay != d.InitialRebalanceDelay || cfg.MaxGroupSize != d.MaxGroupSize ||
		cfg.MaxMetadataSize != d.MaxMetadataSize || cfg.StoreTimeout != d.StoreTimeout {
		t.Fatalf("flag defaults %+v, want %+v", cfg, d)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	if err := fs.Parse([]string{"-groups.min-session-timeout=1s", "-groups.initial-rebalance-delay=0", "-groups.max-group-size=10"}); err != nil {
		t.Fatal(err)
	}
	if cfg.MinSessionTimeout != time.Second || cfg.InitialRebalanceDelay != 0 || cfg.MaxGroupSize != 10 {
		t.Fatalf("parsed %+v", cfg)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		mutate func(*Config)
		want   string
	}{
		{func(c *Config) { c.MinSessionTimeout = 0 }, "min-session-timeout"},
		{func(c *Config) { c.MaxSessionTimeout = time.Second }, "max-session-timeout"},
		{func(c *Config) { c.InitialRebalanceDelay = -1 }, "initial-rebalance-delay"},
		{func(c *Config) { c.MaxGroupSize = -1 }, "max-group-size"},
		{func(c *Config) { c.MaxMetadataSize = -1 }, "max-metadata-size"},
		{func(c *Config) { c.StoreTimeout = 0 }, "store-timeout"},
	} {
		cfg := DefaultConfig()
		tc.mutate(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate = %v, want an error about %s", err, tc.want)
		}
		if _, err := New(cfg, &memStore{}, noTopics{}, nil, nil); err == nil {
			t.Errorf("New accepted an invalid config (%s)", tc.want)
		}
	}
}
