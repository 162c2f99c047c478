package compactor

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stratalog/strata/metastore"
)

func TestPolicy(t *testing.T) {
	c, err := New(Defaults(), nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := c.policy(metastore.Topic{ID: uuid.New(), Configs: map[string]string{
		"cleanup.policy": "compact, delete", "retention.ms": "1000", "retention.bytes": "oops",
		"delete.retention.ms": "5", "min.cleanable.dirty.ratio": "0.1"}})
	if !p.Compact || !p.Delete || p.RetentionMs != 1000 || p.RetentionBytes != -1 || p.DeleteRetentionMs != 5 || p.MinCleanableDirtyRatio != 0.1 {
		t.Errorf("policy %+v", p)
	}
	p = c.policy(metastore.Topic{})
	if p.Compact || !p.Delete || p.RetentionMs != 7*24*3600*1000 || p.DeleteRetentionMs != 24*3600*1000 || p.RetentionBytes != -1 || p.MinCleanableDirtyRatio != 0.5 {
		t.Errorf("default policy %+v", p)
	}

	// The flags are the defaults of topics that set nothing, as
	// TopicDefaults reports them to the front door.
	cfg := Defaults()
	cfg.Retention, cfg.RetentionBytes, cfg.DeleteRetention, cfg.MinCleanableDirtyRatio = time.Hour, 1<<30, 10*time.Minute, 0.25
	if c, err = New(cfg, nil, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	p = c.policy(metastore.Topic{Configs: map[string]string{"cleanup.policy": "compact"}})
	if !p.Compact || p.Delete || p.RetentionMs != 3600000 || p.RetentionBytes != 1<<30 || p.DeleteRetentionMs != 600000 || p.MinCleanableDirtyRatio != 0.25 {
		t.Errorf("policy with the flags' defaults %+v", p)
	}
	d, err := cfg.TopicDefaults()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"retention.ms": "3600000", "retention.bytes": "1073741824",
		"delete.retention.ms": "600000", "min.cleanable.dirty.ratio": "0.25"} {
		if v, broker := d.Value(name); v != want || !broker {
			t.Errorf("TopicDefaults %s = %s (broker %v), want %s", name, v, broker, want)
		}
	}
}
