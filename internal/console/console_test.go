package console

import (
	"strings"
	"testing"
	"time"
)

func TestHistoryKeepsTheLastSamples(t *testing.T) {
	h := newHistory(3)
	t0 := time.Unix(1000, 0)
	for i := range 5 {
		h.add(sample{At: t0.Add(time.Duration(i) * 10 * time.Second), ProduceBytes: float64(i * 100)})
	}
	got := h.all()
	if len(got) != 3 || got[0].ProduceBytes != 200 || got[2].ProduceBytes != 400 {
		t.Fatalf("history = %+v, want the samples 2, 3, 4", got)
	}
	r := computeRates(got)
	if len(r.ProduceBps) != 2 || r.ProduceBps[0] != 10 || r.ProduceBps[1] != 10 {
		t.Fatalf("produce rates %v, want [10 10] bytes/s", r.ProduceBps)
	}
}

func TestShowPicksAFormat(t *testing.T) {
	for _, tc := range []struct {
		in     []byte
		format string
		as     string
		text   string
	}{
		{nil, "auto", "null", ""},
		{[]byte(`{"a":1}`), "auto", "json", "{\n  \"a\": 1\n}"},
		{[]byte(`<b>x</b>`), "auto", "text", "<b>x</b>"},
		{[]byte{0, 0xff}, "auto", "hex", "00000000  00 ff"},
		{[]byte(`{"a":1}`), "hex", "hex", "00000000  7b 22 61"},
		{[]byte{0xff, 'a'}, "text", "text", "\uFFFDa"},
	} {
		s := show(tc.in, tc.format)
		if s.As != tc.as || !strings.HasPrefix(s.Text, tc.text) {
			t.Errorf("show(%q, %s) = %s %q, want %s %q...", tc.in, tc.format, s.As, s.Text, tc.as, tc.text)
		}
	}
}

func TestPlanKeyRoundTrip(t *testing.T) {
	o, err := parsePlanKey("orders.v2:7:10:0")
	if err != nil || o.Topic != "orders.v2" || o.Partition != 7 || o.From != 10 || o.To != 0 {
		t.Fatalf("parsePlanKey = %+v, %v", o, err)
	}
	for _, bad := range []string{"", "t:1:2", "t:x:1:2", ":1:2:3", "t:1:2:-1", "t:1:2:3:4"} {
		if _, err := parsePlanKey(bad); err == nil {
			t.Errorf("parsePlanKey(%q) accepted", bad)
		}
	}
}
