package console_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/internal/apptest"
	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/internal/testenv/proc"
)

// xssValue is a record value that a console which does not escape its
// output would turn into a script and a bold element.
const xssValue = `<script>alert(1)</script><b>x</b>`

// cluster is a dev node with data in it: topic orders (3 partitions,
// JSON records, one HTML value, one binary value with headers) and group
// billing with committed offsets and no member.
type cluster struct {
	node *apptest.Node
	kc   *kgo.Client
	adm  *kadm.Client
}

var committed = map[int32]int64{0: 10, 1: 25, 2: 30}

func startCluster(t *testing.T, args ...string) *cluster {
	t.Helper()
	args = append([]string{"-console.sample-interval=100ms"}, args...)
	node := apptest.Start(t, apptest.Dev, args...)
	kc, err := kgo.NewClient(kgo.SeedBrokers(node.KafkaAddr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	c := &cluster{node: node, kc: kc, adm: kadm.NewClient(kc)}
	ctx := context.Background()
	if _, err := c.adm.CreateTopic(ctx, 3, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for p := range int32(3) {
		for i := range 30 + int(p)*5 {
			r := &kgo.Record{Topic: "orders", Partition: p, Key: []byte("order-" + strconv.Itoa(i)),
				Value: fmt.Appendf(nil, `{"order":%d,"partition":%d,"amount":%d.5}`, i, p, i*3)}
			if p == 0 && i == 5 {
				r.Key, r.Value = []byte("html"), []byte(xssValue)
			}
			if p == 0 && i == 6 {
				r.Key, r.Value = []byte("binary"), []byte{0, 1, 2, 0xff, 0xfe}
				r.Headers = []kgo.RecordHeader{{Key: "trace-id", Value: []byte("abc-123")}}
			}
			recs = append(recs, r)
		}
	}
	if err := kc.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	offsets := make(kadm.Offsets)
	for p, o := range committed {
		offsets.Add(kadm.Offset{Topic: "orders", Partition: p, At: o, LeaderEpoch: -1})
	}
	if err := c.adm.CommitAllOffsets(ctx, "billing", offsets); err != nil {
		t.Fatal(err)
	}
	return c
}

// browser is a headless Chromium on a fresh profile.
type browser struct {
	t     *testing.T
	ctx   context.Context
	base  string
	shots string
	// dialogs counts JavaScript dialogs (alert, confirm) the pages opened.
	dialogs atomic.Int32
}

func newBrowser(t *testing.T, adminAddr string) *browser {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		testenv.Missing(t, "chromium is not installed (apt-get install chromium chromium-driver): %v", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	b := &browser{t: t, ctx: ctx, base: "http://" + adminAddr, shots: t.ArtifactDir()}
	if err := chromedp.Listen(ctx, func(ev any) {
		if strings.Contains(fmt.Sprintf("%T", ev), "JavascriptDialogOpening") {
			b.dialogs.Add(1)
		}
	}); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return b
}

func (b *browser) open(path string) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.Navigate(b.base+path)); err != nil {
		b.t.Fatalf("open %s: %v", path, err)
	}
}

// post submits a form built in the current page, as a user's browser
// would, and returns the status of the page it loads.
func (b *browser) post(path string, fields map[string]string) int64 {
	b.t.Helper()
	js := `(() => { const f = document.createElement("form"); f.method = "post"; f.action = ` + strconv.Quote(path) + `;`
	for k, v := range fields {
		js += ` { const i = document.createElement("input"); i.name = ` + strconv.Quote(k) + `; i.value = ` + strconv.Quote(v) + `; f.appendChild(i); }`
	}
	js += ` document.body.appendChild(f); f.submit(); })()`
	resp, err := chromedp.RunResponse(b.ctx, chromedp.Evaluate[chromedp.Void](js))
	if err != nil {
		b.t.Fatalf("post %s: %v", path, err)
	}
	return resp.Status
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatal(err)
	}
}

func eval[T any](b *browser, js string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

func (b *browser) text(sel string) string {
	return eval[string](b, `document.querySelector(`+strconv.Quote(sel)+`).textContent`)
}

// shot saves a screenshot of the page in the test's artifact directory,
// and in docs/img when STRATA_TEST_CONSOLE_SCREENSHOTS=docs.
func (b *browser) shot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	if os.Getenv("STRATA_TEST_CONSOLE_SCREENSHOTS") == "docs" {
		root, err := proc.RepoRoot()
		if err != nil {
			b.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "docs", "img", "console-"+name+".png"), png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
}

// TestConsoleBrowserReadOnly loads every page of a read-only console in
// Chromium and checks what a user would: the nodes, each partition's
// high watermark against the broker's, a group's lag against kadm's,
// that a value holding HTML shows as text, and that changes are refused.
func TestConsoleBrowserReadOnly(t *testing.T) {
	// A budget for orders that any PUT exceeds.
	c := startCluster(t, "-cost.topic-put-budgets=orders=0.0000001")
	b := newBrowser(t, c.node.AdminAddr)
	ctx := context.Background()

	// Overview: the node, with its roles; charts once samples exist.
	b.open("/ui/")
	if got := b.text("#nodes tbody"); !strings.Contains(got, c.node.KafkaAddr) || !strings.Contains(got, "controller") {
		t.Errorf("overview nodes = %q, want the node at %s, controller", got, c.node.KafkaAddr)
	}
	if got := b.text("#mode"); got != "read-only" {
		t.Errorf("mode = %q, want read-only", got)
	}
	// Wait for a few samples so that the charts have lines.
	waitFor(t, func() bool {
		b.open("/ui/")
		return eval[int](b, `document.querySelectorAll("svg polyline").length`) == 7
	})
	b.shot("overview")

	// Topic list: the records are the broker's end minus start offsets.
	ends, err := c.adm.ListEndOffsets(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	b.open("/ui/topics")
	if got := b.text(`tr[data-topic="orders"] .records`); got != strconv.FormatInt(total, 10) {
		t.Errorf("topic list records = %s, want %d", got, total)
	}
	if got := b.text(`tr[data-topic="orders"] .produce`); !strings.HasSuffix(got, "/s") {
		t.Errorf("topic list produce rate of orders = %q, want a rate: this node committed its records", got)
	}
	b.shot("topics")

	// Topic page: every partition's high watermark equals the broker's.
	b.do(chromedp.Click(chromedp.CSS(`a[href="/ui/topics/orders"]`)), chromedp.WaitVisible(chromedp.CSS("#partitions")))
	hwms := eval[map[string]string](b, `Object.fromEntries(Array.from(document.querySelectorAll("#partitions tbody tr")).map(r => [r.dataset.partition, r.querySelector(".hwm").textContent]))`)
	if len(hwms) != 3 {
		t.Fatalf("topic page shows %d partitions, want 3", len(hwms))
	}
	ends.Each(func(o kadm.ListedOffset) {
		if got := hwms[strconv.Itoa(int(o.Partition))]; got != strconv.FormatInt(o.Offset, 10) {
			t.Errorf("partition %d: page high watermark %s, broker's %d", o.Partition, got, o.Offset)
		}
	})
	if n := eval[int](b, `document.querySelectorAll("#config-form").length`); n != 0 {
		t.Errorf("a read-only console shows the config form")
	}
	b.shot("topic")

	// Message browser: the HTML value is text, not elements.
	b.open("/ui/topics/orders/messages?partition=0&from=beginning")
	if got := b.text(`tr[data-offset="5"] pre.value`); got != xssValue {
		t.Errorf("offset 5 value shows %q, want %q", got, xssValue)
	}
	if n := eval[int](b, `document.querySelectorAll('tr[data-offset="5"] b, tr[data-offset="5"] script, script').length`); n != 0 {
		t.Errorf("the HTML value became %d elements in the page", n)
	}
	if got := b.text(`tr[data-offset="6"] pre.value`); !strings.Contains(got, "00 01 02 ff fe") {
		t.Errorf("binary value shows %q, want a hex dump", got)
	}
	if got := b.text(`tr[data-offset="6"] td:last-child`); got != "trace-id: abc-123" {
		t.Errorf("headers show %q", got)
	}
	if got := b.text(`tr[data-offset="0"] pre.value`); !strings.Contains(got, "\n  \"order\": 0,") {
		t.Errorf("JSON value shows %q, want it pretty-printed", got)
	}
	if n := eval[int](b, `document.querySelectorAll("#messages tbody tr").length`); n != 30 {
		t.Errorf("partition 0 from the beginning shows %d records, want 30", n)
	}
	if b.dialogs.Load() != 0 {
		t.Errorf("a page opened %d JavaScript dialogs", b.dialogs.Load())
	}
	b.shot("messages")
	// A filter on the key.
	b.open("/ui/topics/orders/messages?partition=0&from=end&filter=binary")
	if got := eval[[]string](b, `Array.from(document.querySelectorAll("#messages tbody tr")).map(r => r.dataset.offset)`); len(got) != 1 || got[0] != "6" {
		t.Errorf("filter binary shows offsets %v, want [6]", got)
	}

	// Groups: the lag of each partition is what kadm computes.
	lags, err := c.adm.Lag(ctx, "billing")
	if err != nil {
		t.Fatal(err)
	}
	b.open("/ui/groups")
	if got := b.text(`tr[data-group="billing"] .lag`); got != strconv.FormatInt(lags["billing"].Lag.Total(), 10) {
		t.Errorf("group list lag %s, kadm's %d", got, lags["billing"].Lag.Total())
	}
	b.shot("groups")
	b.open("/ui/groups/billing")
	pageLags := eval[map[string]string](b, `Object.fromEntries(Array.from(document.querySelectorAll("#offsets tbody tr")).map(r => [r.dataset.partition, r.querySelector(".lag").textContent]))`)
	n := 0
	for _, l := range lags["billing"].Lag.Sorted() {
		n++
		if got := pageLags[strconv.Itoa(int(l.Partition))]; got != strconv.FormatInt(l.Lag, 10) {
			t.Errorf("partition %d: page lag %s, kadm's %d", l.Partition, got, l.Lag)
		}
	}
	if n != 3 || len(pageLags) != 3 {
		t.Errorf("lag of %d partitions by kadm, %d on the page", n, len(pageLags))
	}
	// The lag chart draws once the history holds the group's lag.
	waitFor(t, func() bool {
		b.open("/ui/groups/billing")
		return eval[int](b, `document.querySelectorAll("#lag-chart polyline").length`) == 1
	})
	if got, want := b.text("#lag-chart figcaption b"), strconv.FormatInt(lags["billing"].Lag.Total(), 10); got != want {
		t.Errorf("lag chart's last value %s, want %s", got, want)
	}
	b.shot("group")

	// Cost: the topic's share of the PUTs is the node's metric.
	b.open("/ui/cost")
	puts := metric(t, c.node, "strata_cost_object_puts_total")
	if got := b.text(`tr[data-topic="orders"] .puts`); got != strconv.FormatFloat(puts, 'f', 2, 64) || puts <= 0 {
		t.Errorf("cost page: orders has %s PUTs, the metric %.2f", got, puts)
	}
	txns := metric(t, c.node, "strata_cost_metastore_transactions_total")
	if got := b.text(`tr[data-topic="orders"] .txns`); got != strconv.FormatFloat(txns, 'f', 2, 64) || txns < 1 {
		t.Errorf("cost page: orders has %s metastore transactions, the metric %.2f", got, txns)
	}
	if got := b.text(`tr[data-topic="orders"] .budget`); !strings.Contains(got, "(over)") {
		t.Errorf("cost page: orders' budget cell %q, want its tiny budget shown over", got)
	}
	b.shot("cost")

	// A config change is refused while read-only, even when posted from
	// the console's own origin.
	if status := b.post("/ui/topics/orders/configs", map[string]string{"name": "retention.ms", "value": "1000", "op": "set"}); status != http.StatusForbidden {
		t.Errorf("config change on a read-only console: status %d, want 403", status)
	}
	if got := b.text("#error"); !strings.Contains(got, "read-only") {
		t.Errorf("refused change says %q", got)
	}
	if v := topicConfig(t, c.adm, "orders", "retention.ms"); v == "1000" {
		t.Errorf("retention.ms changed to %s by a read-only console", v)
	}
	if status := b.post("/ui/groups/billing/reset", map[string]string{"op": "apply", "plan": "orders:0:10:0"}); status != http.StatusForbidden {
		t.Errorf("offset reset on a read-only console: status %d, want 403", status)
	}
	assertCommitted(t, c.adm, committed)
}

// TestConsoleBrowserChanges runs a console with changes allowed: a config
// edit through the form is applied, an offset reset commits nothing at its
// preview and exactly the preview when applied, and a form posted from
// another site is refused.
func TestConsoleBrowserChanges(t *testing.T) {
	c := startCluster(t, "-console.read-only=false")
	b := newBrowser(t, c.node.AdminAddr)

	b.open("/ui/topics/orders")
	if got := b.text("#mode"); got != "changes allowed" {
		t.Errorf("mode = %q", got)
	}
	b.do(chromedp.SetValue(chromedp.CSS("#config-name"), "retention.ms"),
		chromedp.SendKeys(chromedp.CSS("#config-value"), "3600000"),
		chromedp.Click(chromedp.CSS("#config-set")),
		chromedp.WaitVisible(chromedp.CSS("#notice")))
	if v := topicConfig(t, c.adm, "orders", "retention.ms"); v != "3600000" {
		t.Errorf("retention.ms = %s after the edit, want 3600000", v)
	}
	if got := b.text(`tr[data-config="retention.ms"] .value`); got != "3600000" {
		t.Errorf("page shows retention.ms %q after the edit", got)
	}
	// A value the broker refuses shows its error, and changes nothing.
	b.do(chromedp.SetValue(chromedp.CSS("#config-name"), "retention.ms"),
		chromedp.SendKeys(chromedp.CSS("#config-value"), "soon"),
		chromedp.Click(chromedp.CSS("#config-set")),
		chromedp.WaitVisible(chromedp.CSS("#error")))
	if v := topicConfig(t, c.adm, "orders", "retention.ms"); v != "3600000" {
		t.Errorf("retention.ms = %s after a refused edit", v)
	}

	// Reset to earliest: the preview lists the plan and commits nothing.
	b.open("/ui/groups/billing")
	b.do(chromedp.SetValue(chromedp.CSS("#reset-to"), "earliest"),
		chromedp.Click(chromedp.CSS("#preview")),
		chromedp.WaitVisible(chromedp.CSS("#plan")))
	if got := eval[[]string](b, `Array.from(document.querySelectorAll("#plan .to")).map(td => td.textContent)`); strings.Join(got, ",") != "0,0,0" {
		t.Errorf("preview of a reset to earliest: %v, want 0,0,0", got)
	}
	assertCommitted(t, c.adm, committed)
	b.shot("group-reset-preview")
	b.do(chromedp.Click(chromedp.CSS("#apply")))
	// The preview page has a notice too: wait for the apply's own.
	waitFor(t, func() bool {
		got, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector("#notice")?.textContent ?? ""`))
		return err == nil && strings.HasPrefix(got, "committed")
	})
	assertCommitted(t, c.adm, map[int32]int64{0: 0, 1: 0, 2: 0})

	// Another site's page posts a form to the console: refused.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<form id="f" method="post" action="%s/ui/topics/orders/configs">
<input name="name" value="retention.ms"><input name="value" value="1000"><input name="op" value="set"></form>
<script>document.getElementById("f").submit()</script>`, b.base)
	}))
	defer evil.Close()
	// localhost, not 127.0.0.1: another site than the console's.
	evilURL := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)
	if err := chromedp.Do(b.ctx, chromedp.Navigate(evilURL)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		loc, err := chromedp.Run(b.ctx, chromedp.Location())
		return err == nil && strings.HasPrefix(loc, b.base)
	})
	body := eval[string](b, `document.body.textContent`)
	if !strings.Contains(strings.ToLower(body), "cross-origin") {
		t.Errorf("cross-site form post answered %q, want a cross-origin refusal", body)
	}
	if v := topicConfig(t, c.adm, "orders", "retention.ms"); v != "3600000" {
		t.Errorf("retention.ms = %s after a cross-site post", v)
	}
	// The same refusal without a browser: a request that says it comes
	// from another site.
	req, _ := http.NewRequest(http.MethodPost, b.base+"/ui/topics/orders/configs", strings.NewReader("name=retention.ms&value=1000&op=set"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST: %s, want 403", resp.Status)
	}
}

func topicConfig(t *testing.T, adm *kadm.Client, topic, name string) string {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rc.Configs {
		if c.Key == name {
			return c.MaybeValue()
		}
	}
	return ""
}

func assertCommitted(t *testing.T, adm *kadm.Client, want map[int32]int64) {
	t.Helper()
	got, err := adm.FetchOffsets(context.Background(), "billing")
	if err != nil {
		t.Fatal(err)
	}
	for p, w := range want {
		o, ok := got.Lookup("orders", p)
		if !ok || o.At != w {
			t.Errorf("billing committed offset of partition %d = %d, want %d", p, o.At, w)
		}
	}
}

// waitFor polls cond until it holds, for at most 30 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatal("condition not met within 30s")
		case <-tick.C:
		}
	}
}
