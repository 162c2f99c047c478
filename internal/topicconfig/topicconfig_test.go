package topicconfig

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	ok := map[string]string{
		"retention.ms":                   "-1",
		"retention.bytes":                "1073741824",
		"cleanup.policy":                 "compact, delete",
		"message.timestamp.type":         "LogAppendTime",
		"min.cleanable.dirty.ratio":      "0.25",
		"preallocate":                    "TRUE",
		"compression.gzip.level":         "-1",
		"max.message.bytes":              "0",
		"unclean.leader.election.enable": "false",
	}
	for k, v := range ok {
		if err := Check(k, &v); err != nil {
			t.Errorf("%s=%s rejected: %v", k, v, err)
		}
	}
	bad := map[string]string{
		"retention.ms":              "-2",
		"retention.bytes":           "1e9",
		"cleanup.policy":            "",
		"message.timestamp.type":    "createtime",
		"min.cleanable.dirty.ratio": "NaN",
		"max.message.bytes":         "3000000000",
		"compression.gzip.level":    "0",
		"segment.bytes":             "13",
	}
	for k, v := range bad {
		err := Check(k, &v)
		var ce *Error
		if !errors.Is(err, ErrInvalid) || !errors.As(err, &ce) || ce.Name != k || ce.Value != v || ce.Reason == nil {
			t.Errorf("%s=%q: %v, want ErrInvalid", k, v, err)
		}
		if want := `invalid value "` + v + `" for topic config "` + k + `": `; err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s=%q: message %q, want it to start %q", k, v, err, want)
		}
	}
	v := "1"
	if err := Check("no.such.config", &v); !errors.Is(err, ErrUnknown) || err.Error() != `unknown topic config "no.such.config"` {
		t.Errorf("unknown config: %v", err)
	}
	if err := Check("retention.ms", nil); !errors.Is(err, ErrNull) || err.Error() != `null value for topic config "retention.ms"` {
		t.Errorf("null value: %v", err)
	}
}

// TestDefs: the list is ordered by name, every default passes its own
// check, and Lookup and All agree.
func TestDefs(t *testing.T) {
	var names []string
	for d := range All() {
		names = append(names, d.Name)
		if err := Check(d.Name, &d.Default); err != nil {
			t.Errorf("default of %s: %v", d.Name, err)
		}
		if got, ok := Lookup(d.Name); !ok || got.Name != d.Name || got.Default != d.Default || got.Type != d.Type {
			t.Errorf("Lookup(%s) = %+v, %v", d.Name, got, ok)
		}
	}
	if len(names) != len(defs) || !slices.IsSorted(names) {
		t.Errorf("All: %d names, sorted %v", len(names), slices.IsSorted(names))
	}
	if _, ok := Lookup("made.up"); ok {
		t.Error("Lookup found made.up")
	}
}

func TestPolicy(t *testing.T) {
	var kafka Defaults
	p, err := kafka.Policy(nil)
	want := Policy{Delete: true, RetentionMs: 604800000, RetentionBytes: -1, DeleteRetentionMs: 86400000,
		MinCleanableDirtyRatio: 0.5, MaxMessageBytes: 1048588}
	if err != nil || p != want {
		t.Errorf("Kafka's default policy %+v, %v; want %+v", p, err, want)
	}

	p, err = kafka.Policy(map[string]string{
		"cleanup.policy": "compact, delete", "retention.ms": "1000", "retention.bytes": "5000",
		"delete.retention.ms": "5", "min.cleanable.dirty.ratio": "0.1", "max.message.bytes": " 500 ",
		"message.timestamp.type": "LogAppendTime", "segment.ms": "1"})
	want = Policy{Delete: true, Compact: true, RetentionMs: 1000, RetentionBytes: 5000, DeleteRetentionMs: 5,
		MinCleanableDirtyRatio: 0.1, MaxMessageBytes: 500, LogAppendTime: true}
	if err != nil || p != want {
		t.Errorf("policy %+v, %v; want %+v", p, err, want)
	}

	for v, want := range map[string][2]bool{"compact": {false, true}, "delete,compact": {true, true}, " compact ,": {false, true}, "delete": {true, false}} {
		p, err := kafka.Policy(map[string]string{"cleanup.policy": v})
		if err != nil || p.Delete != want[0] || p.Compact != want[1] {
			t.Errorf("cleanup.policy %q: delete %v compact %v (%v), want %v", v, p.Delete, p.Compact, err, want)
		}
	}

	// Values that do not pass Check keep the default, and are named.
	p, err = kafka.Policy(map[string]string{"retention.bytes": "oops", "retention.ms": "-5", "cleanup.policy": "bogus",
		"max.message.bytes": "-1", "min.cleanable.dirty.ratio": "2", "message.timestamp.type": "logappendtime", "delete.retention.ms": "9"})
	want = Policy{Delete: true, RetentionMs: 604800000, RetentionBytes: -1, DeleteRetentionMs: 9,
		MinCleanableDirtyRatio: 0.5, MaxMessageBytes: 1048588}
	if p != want {
		t.Errorf("policy with bad values %+v, want %+v", p, want)
	}
	for _, name := range []string{"retention.bytes", "retention.ms", "cleanup.policy", "max.message.bytes", "min.cleanable.dirty.ratio", "message.timestamp.type"} {
		if err == nil || !strings.Contains(err.Error(), `topic config "`+name+`"`) {
			t.Errorf("error %v does not name %s", err, name)
		}
	}
	if !errors.Is(err, ErrInvalid) || strings.Contains(err.Error(), "delete.retention.ms") {
		t.Errorf("error %v", err)
	}
}

func TestNewDefaults(t *testing.T) {
	d, err := NewDefaults(KafkaBroker())
	if err != nil {
		t.Fatal(err)
	}
	var zero Defaults
	pd, _ := d.Policy(nil)
	pz, _ := zero.Policy(nil)
	if pd != pz {
		t.Errorf("Kafka's broker defaults give %+v, the zero Defaults %+v", pd, pz)
	}
	for def := range All() {
		if v, broker := d.Value(def.Name); v != def.Default || broker {
			t.Errorf("%s = %s (broker %v) with Kafka's broker defaults", def.Name, v, broker)
		}
	}

	d, err = NewDefaults(Broker{Retention: 90 * time.Minute, RetentionBytes: 1 << 30, DeleteRetention: 10 * time.Minute, MinCleanableDirtyRatio: 0.25})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"retention.ms": "5400000", "retention.bytes": "1073741824",
		"delete.retention.ms": "600000", "min.cleanable.dirty.ratio": "0.25"} {
		if v, broker := d.Value(name); v != want || !broker {
			t.Errorf("%s = %s (broker %v), want %s from the node", name, v, broker, want)
		}
	}
	if v, broker := d.Value("max.message.bytes"); v != "1048588" || broker {
		t.Errorf("max.message.bytes = %s (broker %v)", v, broker)
	}
	if v, broker := d.Value("made.up"); v != "" || broker {
		t.Errorf("made.up = %q (broker %v)", v, broker)
	}
	p, err := d.Policy(nil)
	want := Policy{Delete: true, RetentionMs: 5400000, RetentionBytes: 1 << 30, DeleteRetentionMs: 600000,
		MinCleanableDirtyRatio: 0.25, MaxMessageBytes: 1048588}
	if err != nil || p != want {
		t.Errorf("node policy %+v, %v; want %+v", p, err, want)
	}
	// A topic's own configs win, and a bad one falls back to the node's.
	p, _ = d.Policy(map[string]string{"retention.ms": "1000", "retention.bytes": "x"})
	if p.RetentionMs != 1000 || p.RetentionBytes != 1<<30 || p.DeleteRetentionMs != 600000 {
		t.Errorf("policy over the node's defaults %+v", p)
	}

	// Any negative retention is forever, any negative size no limit.
	d, err = NewDefaults(Broker{Retention: -time.Nanosecond, RetentionBytes: -7, DeleteRetention: 0, MinCleanableDirtyRatio: 1})
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := d.Policy(nil); p.RetentionMs != -1 || p.RetentionBytes != -1 || p.DeleteRetentionMs != 0 || p.MinCleanableDirtyRatio != 1 {
		t.Errorf("policy %+v", p)
	}
	if v, _ := d.Value("retention.ms"); v != "-1" {
		t.Errorf("retention.ms = %s, want -1", v)
	}

	for name, b := range map[string]Broker{
		"negative delete retention": {DeleteRetention: -time.Second, MinCleanableDirtyRatio: 0.5},
		"ratio above 1":             {MinCleanableDirtyRatio: 1.5},
		"ratio NaN":                 {MinCleanableDirtyRatio: math.NaN()},
	} {
		if _, err := NewDefaults(b); err == nil {
			t.Errorf("%s: NewDefaults accepted %+v", name, b)
		}
	}
}

func TestSplitList(t *testing.T) {
	if got := SplitList(" a, ,b,,c "); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("SplitList = %q", got)
	}
	if got := SplitList(" , "); len(got) != 0 {
		t.Errorf("SplitList of blanks = %q", got)
	}
}

// FuzzPolicy: a value Check accepts is one Policy takes, and a value it
// refuses is one Policy ignores and names; neither panics.
func FuzzPolicy(f *testing.F) {
	for _, s := range []string{"-1", "0", "1048588", " 7 ", "compact,delete", "LogAppendTime", "0.5", "NaN", "1e9", "", ",", "9223372036854775808"} {
		for i := range policyDefs {
			f.Add(uint8(i), s)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, v string) {
		def := policyDefs[int(which)%len(policyDefs)]
		checkErr := Check(def.Name, &v)
		p, err := Defaults{}.Policy(map[string]string{def.Name: v})
		if (checkErr == nil) != (err == nil) {
			t.Fatalf("%s=%q: Check %v, Policy %v", def.Name, v, checkErr, err)
		}
		if err != nil && p != kafkaPolicy {
			t.Fatalf("%s=%q: ignored, but the policy changed: %+v", def.Name, v, p)
		}
	})
}
