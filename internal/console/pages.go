package console

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/stratalog/strata/client"
	"github.com/stratalog/strata/metastore"
)

// pageTimeout bounds the Kafka and metastore reads of one page.
const pageTimeout = 10 * time.Second

// maxChunkRows bounds the chunk rows read to count one partition's bytes
// stored; past it the page says "at least".
const maxChunkRows = 5000

// page is what every template gets.
type page struct {
	Title    string
	Section  string // the nav entry to highlight
	ReadOnly bool
	Error    string
	Notice   string
	Data     any
}

var funcs = template.FuncMap{
	"bytes": func(v int64) string { return fmtBytes(float64(v)) },
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return time.Since(t).Round(time.Second).String()
	},
	"utc": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05.000 UTC")
	},
	"join": strings.Join,
	"path": url.PathEscape,
}

func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, err
		}
		pages[base] = t
	}
	return pages, nil
}

// render writes a page; status 0 means 200.
func (c *Console) render(w http.ResponseWriter, status int, name string, p page) {
	p.ReadOnly = c.cfg.ReadOnly
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if status != 0 {
		w.WriteHeader(status)
	}
	if err := c.pages[name].Execute(w, p); err != nil {
		c.log.Warn("console: render page", "page", name, "err", err)
	}
}

func (c *Console) fail(w http.ResponseWriter, status int, section string, err error) {
	c.render(w, status, "error", page{Title: "Error", Section: section, Error: err.Error()})
}

// nodeRow is a live node on the overview.
type nodeRow struct {
	ID           int32
	Address      string
	Zone         string
	Roles        string
	HeartbeatAge time.Duration
	Controller   bool
}

type overviewData struct {
	Nodes    []nodeRow
	Charts   []chart
	Produce  string // current rates, from the last two samples
	Fetch    string
	Puts     string
	Gets     string
	Lag      string
	Level0   int64
	Levels   []metastore.LevelStats
	Samples  int
	Interval time.Duration
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	cs, err := c.deps.Store.ClusterState(ctx)
	if err != nil {
		c.fail(w, http.StatusServiceUnavailable, "overview", fmt.Errorf("metastore: %w", err))
		return
	}
	stats, err := c.deps.Store.CompactionStats(ctx)
	if err != nil {
		c.fail(w, http.StatusServiceUnavailable, "overview", fmt.Errorf("metastore: %w", err))
		return
	}
	now := cs.Now
	if now.IsZero() {
		now = time.Now()
	}
	d := overviewData{Level0: stats.Level0Chunks, Levels: stats.Levels, Interval: c.cfg.SampleInterval}
	for _, n := range cs.Nodes {
		last := n.ExpiresAt.Add(-c.deps.Lease)
		if last.Before(n.RegisteredAt) {
			last = n.RegisteredAt
		}
		if last.After(now) {
			last = now
		}
		d.Nodes = append(d.Nodes, nodeRow{
			ID: n.ID, Address: net.JoinHostPort(n.Host, strconv.Itoa(int(n.Port))), Zone: n.Rack,
			Roles: strings.Join(n.Roles, ", "), HeartbeatAge: now.Sub(last).Round(100 * time.Millisecond),
			Controller: n.ID == cs.Controller.NodeID && cs.Controller.ExpiresAt.After(now),
		})
	}
	lag := 0.0
	if !stats.OldestLevel0.IsZero() {
		lag = max(now.Sub(stats.OldestLevel0).Seconds(), 0)
	}
	d.Lag = fmtSeconds(lag)
	ss := c.history.all()
	d.Samples = len(ss)
	rt := computeRates(ss)
	d.Produce, d.Fetch, d.Puts, d.Gets = "-", "-", "-", "-"
	if n := len(rt.At); n > 0 {
		d.Produce, d.Fetch = fmtBytesPerSec(rt.ProduceBps[n-1]), fmtBytesPerSec(rt.FetchBps[n-1])
		d.Puts, d.Gets = fmtPerSec(rt.PutsPS[n-1]), fmtPerSec(rt.GetsPS[n-1])
	}
	d.Charts = []chart{
		newChart("Produce throughput", rt.At, rt.ProduceBps, fmtBytesPerSec),
		newChart("Fetch throughput", rt.At, rt.FetchBps, fmtBytesPerSec),
		newChart("Produce latency (mean)", rt.At, rt.ProduceMs, fmtMs),
		newChart("Fetch latency (mean)", rt.At, rt.FetchMs, fmtMs),
		newChart("Object PUTs", rt.At, rt.PutsPS, fmtPerSec),
		newChart("Object GETs", rt.At, rt.GetsPS, fmtPerSec),
		newChart("Compaction lag", rt.At, rt.CompactionLag, fmtSeconds),
	}
	c.render(w, 0, "overview", page{Title: "Overview", Section: "overview", Data: d})
}

// topicRow is one topic of the topic list.
type topicRow struct {
	Name           string
	Partitions     int
	Records        int64
	Level0, Level1 int64 // compressed bytes stored, by level
	AtLeast        bool  // the chunk rows were too many to count them all
	Retention      string
	RetentionBytes string
	CleanupPolicy  string
	// Produce is the rate of bytes this node committed to the topic
	// between the last two samples of its metrics; "" when it committed
	// none since it started.
	Produce string
}

func (c *Console) topics(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	kc, err := c.franz(ctx)
	if err != nil {
		c.fail(w, http.StatusServiceUnavailable, "topics", err)
		return
	}
	adm := kadm.NewClient(kc)
	topics, err := c.deps.Store.ListTopics(ctx)
	if err != nil {
		c.fail(w, http.StatusServiceUnavailable, "topics", fmt.Errorf("metastore: %w", err))
		return
	}
	names := make([]string, 0, len(topics))
	for _, t := range topics {
		names = append(names, t.Name)
	}
	var rows []topicRow
	if len(names) > 0 {
		starts, err := adm.ListStartOffsets(ctx, names...)
		if err == nil {
			err = starts.Error()
		}
		if err != nil {
			c.fail(w, http.StatusServiceUnavailable, "topics", fmt.Errorf("list offsets: %w", err))
			return
		}
		ends, err := adm.ListEndOffsets(ctx, names...)
		if err == nil {
			err = ends.Error()
		}
		if err != nil {
			c.fail(w, http.StatusServiceUnavailable, "topics", fmt.Errorf("list offsets: %w", err))
			return
		}
		configs, err := adm.DescribeTopicConfigs(ctx, names...)
		if err != nil {
			c.fail(w, http.StatusServiceUnavailable, "topics", fmt.Errorf("describe configs: %w", err))
			return
		}
		for _, t := range topics {
			row := topicRow{Name: t.Name, Partitions: int(t.Partitions)}
			for p := range t.Partitions {
				s, _ := starts.Lookup(t.Name, p)
				e, _ := ends.Lookup(t.Name, p)
				row.Records += max(e.Offset-s.Offset, 0)
				st, err := c.stored(ctx, t.ID, p, s.Offset)
				if err != nil {
					c.fail(w, http.StatusServiceUnavailable, "topics", fmt.Errorf("metastore: %w", err))
					return
				}
				row.Level0 += st.Level0
				row.Level1 += st.Level1
				row.AtLeast = row.AtLeast || st.AtLeast
			}
			if rc, err := configs.On(t.Name, nil); err == nil {
				for _, e := range rc.Configs {
					switch e.Key {
					case "retention.ms":
						row.Retention = fmtRetention(e.MaybeValue())
					case "retention.bytes":
						row.RetentionBytes = fmtRetentionBytes(e.MaybeValue())
					case "cleanup.policy":
						row.CleanupPolicy = e.MaybeValue()
					}
				}
			}
			if bps, ok := c.history.topicRate(t.Name); ok {
				row.Produce = fmtBytesPerSec(bps)
			}
			rows = append(rows, row)
		}
	}
	c.render(w, 0, "topics", page{Title: "Topics", Section: "topics", Data: rows})
}

func fmtRetention(ms string) string {
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return ms
	}
	if n < 0 {
		return "forever"
	}
	return (time.Duration(n) * time.Millisecond).String()
}

func fmtRetentionBytes(b string) string {
	n, err := strconv.ParseInt(b, 10, 64)
	if err != nil {
		return b
	}
	if n < 0 {
		return "unlimited"
	}
	return fmtBytes(float64(n))
}

// storedBytes is a partition's compressed bytes in object storage.
type storedBytes struct {
	Level0, Level1 int64
	Chunks         int
	AtLeast        bool
}

// stored adds up the chunk rows of a partition from its log start: the
// metastore knows each chunk's byte range, Kafka does not.
func (c *Console) stored(ctx context.Context, topicID uuid.UUID, partition int32, from int64) (storedBytes, error) {
	var st storedBytes
	for st.Chunks < maxChunkRows {
		chunks, err := c.deps.Store.ChunksFrom(ctx, topicID, partition, from, 1000)
		if errors.Is(err, metastore.ErrOffsetOutOfRange) {
			return st, nil // the log start moved: counted as of now
		}
		if err != nil {
			return st, err
		}
		if len(chunks) == 0 {
			return st, nil
		}
		for _, ch := range chunks {
			if ch.Level == 0 {
				st.Level0 += ch.Length
			} else {
				st.Level1 += ch.Length
			}
			from = ch.EndOffset
		}
		st.Chunks += len(chunks)
	}
	st.AtLeast = true
	return st, nil
}

// partitionRow is one partition on a topic's page.
type partitionRow struct {
	client.PartitionInfo
	Records        int64
	Level0, Level1 int64
	AtLeast        bool
}

type topicData struct {
	Name       string
	ID         string
	Partitions []partitionRow
	Configs    []client.ConfigEntry
	Editable   []string // config names the form offers
}

func (c *Console) topic(w http.ResponseWriter, r *http.Request) {
	c.topicPage(w, r, 0, "", "")
}

func (c *Console) topicPage(w http.ResponseWriter, r *http.Request, status int, notice, errMsg string) {
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	name := r.PathValue("topic")
	cl, err := c.kafka(ctx)
	if err != nil {
		c.fail(w, http.StatusServiceUnavailable, "topics", err)
		return
	}
	info, err := cl.Admin().DescribeTopic(ctx, name)
	if errors.Is(err, client.ErrUnknownTopic) {
		c.fail(w, http.StatusNotFound, "topics", err)
		return
	}
	if err != nil {
		c.fail(w, http.StatusServiceUnavailable, "topics", err)
		return
	}
	d := topicData{Name: info.Name, ID: info.ID, Configs: info.Configs}
	id, _ := uuid.Parse(info.ID)
	for _, p := range info.Partitions {
		row := partitionRow{PartitionInfo: p, Records: p.Records()}
		if id != uuid.Nil {
			st, err := c.stored(ctx, id, p.Partition, p.LogStartOffset)
			if err != nil {
				c.fail(w, http.StatusServiceUnavailable, "topics", fmt.Errorf("metastore: %w", err))
				return
			}
			row.Level0, row.Level1, row.AtLeast = st.Level0, st.Level1, st.AtLeast
		}
		d.Partitions = append(d.Partitions, row)
	}
	for _, e := range info.Configs {
		if !e.Sensitive {
			d.Editable = append(d.Editable, e.Name)
		}
	}
	c.render(w, status, "topic", page{Title: "Topic " + name, Section: "topics", Data: d, Notice: notice, Error: errMsg})
}

// alterConfig sets or removes one topic config through
// IncrementalAlterConfigs, so that the broker validates it as it does any
// client's change.
func (c *Console) alterConfig(w http.ResponseWriter, r *http.Request) {
	if c.cfg.ReadOnly {
		c.topicPage(w, r, http.StatusForbidden, "", errReadOnly.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	name := r.PathValue("topic")
	key := strings.TrimSpace(r.PostFormValue("name"))
	value := r.PostFormValue("value")
	if key == "" {
		c.topicPage(w, r, http.StatusBadRequest, "", "name the config to change")
		return
	}
	cl, err := c.kafka(ctx)
	if err != nil {
		c.fail(w, http.StatusServiceUnavailable, "topics", err)
		return
	}
	var set map[string]string
	var remove []string
	var notice string
	if r.PostFormValue("op") == "delete" {
		remove = []string{key}
		notice = key + " reset to its default"
	} else {
		set = map[string]string{key: value}
		notice = key + " set to " + value
	}
	if err := cl.Admin().AlterTopicConfigs(ctx, name, set, remove); err != nil {
		c.topicPage(w, r, http.StatusBadRequest, "", err.Error())
		return
	}
	c.topicPage(w, r, 0, notice, "")
}

func (c *Console) groups(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	cl, err := c.kafka(ctx)
	if err != nil {
		c.fail(w, http.StatusServiceUnavailable, "groups", err)
		return
	}
	gs, err := cl.Admin().ListGroups(ctx)
	if err != nil {
		c.fail(w, http.StatusServiceUnavailable, "groups", err)
		return
	}
	type row struct {
		client.GroupSummary
		Members  int
		TotalLag int64
	}
	rows := make([]row, 0, len(gs))
	for _, g := range gs {
		rw := row{GroupSummary: g, TotalLag: -1}
		if info, err := cl.Admin().DescribeGroup(ctx, g.Name); err == nil {
			rw.Members, rw.TotalLag = len(info.Members), info.TotalLag
		}
		rows = append(rows, rw)
	}
	c.render(w, 0, "groups", page{Title: "Consumer groups", Section: "groups", Data: rows})
}

type groupData struct {
	client.GroupInfo
	LagChart chart
	Topics   []string
	Plan     []planRow // a reset to confirm
	// The reset form's last values.
	Topic, To, Value string
}

type planRow struct {
	client.OffsetReset
	Key string // topic:partition:to, posted back to apply exactly this
}

func (c *Console) group(w http.ResponseWriter, r *http.Request) {
	c.groupPage(w, r, 0, groupData{}, "", "")
}

func (c *Console) groupPage(w http.ResponseWriter, r *http.Request, status int, d groupData, notice, errMsg string) {
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	name := r.PathValue("group")
	cl, err := c.kafka(ctx)
	if err != nil {
		c.fail(w, http.StatusServiceUnavailable, "groups", err)
		return
	}
	info, err := cl.Admin().DescribeGroup(ctx, name)
	if errors.Is(err, client.ErrUnknownGroup) {
		c.fail(w, http.StatusNotFound, "groups", err)
		return
	}
	if err != nil {
		c.fail(w, http.StatusServiceUnavailable, "groups", err)
		return
	}
	d.GroupInfo = info
	var at []time.Time
	var lag []float64
	for _, s := range c.history.all() {
		if v, ok := s.GroupLag[name]; ok {
			at, lag = append(at, s.At), append(lag, v)
		}
	}
	d.LagChart = newChart("Total lag (records)", at, lag, func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) })
	for _, o := range info.Offsets {
		if !slices.Contains(d.Topics, o.Topic) {
			d.Topics = append(d.Topics, o.Topic)
		}
	}
	if d.To == "" {
		d.To = "earliest"
	}
	c.render(w, status, "group", page{Title: "Group " + name, Section: "groups", Data: d, Notice: notice, Error: errMsg})
}

// resetOffsets previews (op=preview) or applies (op=apply) a reset of a
// group's committed offsets. Apply commits exactly the previewed plan,
// posted back by the confirmation form, not a plan computed anew.
func (c *Console) resetOffsets(w http.ResponseWriter, r *http.Request) {
	d := groupData{Topic: r.PostFormValue("topic"), To: r.PostFormValue("to"), Value: r.PostFormValue("value")}
	if c.cfg.ReadOnly {
		c.groupPage(w, r, http.StatusForbidden, d, "", errReadOnly.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	name := r.PathValue("group")
	cl, err := c.kafka(ctx)
	if err != nil {
		c.fail(w, http.StatusServiceUnavailable, "groups", err)
		return
	}
	if r.PostFormValue("op") == "apply" {
		var plan []client.OffsetReset
		for _, k := range r.PostForm["plan"] {
			o, err := parsePlanKey(k)
			if err != nil {
				c.groupPage(w, r, http.StatusBadRequest, d, "", err.Error())
				return
			}
			plan = append(plan, o)
		}
		if len(plan) == 0 {
			c.groupPage(w, r, http.StatusBadRequest, d, "", "nothing to apply: preview a reset first")
			return
		}
		if err := cl.Admin().ApplyOffsetReset(ctx, name, plan); err != nil {
			c.groupPage(w, r, http.StatusConflict, d, "", err.Error())
			return
		}
		c.groupPage(w, r, 0, groupData{}, fmt.Sprintf("committed %d offsets", len(plan)), "")
		return
	}
	target, err := resetTarget(d.To, d.Value)
	if err != nil {
		c.groupPage(w, r, http.StatusBadRequest, d, "", err.Error())
		return
	}
	var topics []string
	if d.Topic != "" {
		topics = []string{d.Topic}
	}
	plan, err := cl.Admin().PlanOffsetReset(ctx, name, topics, target)
	if err != nil {
		c.groupPage(w, r, http.StatusBadRequest, d, "", err.Error())
		return
	}
	for _, o := range plan {
		d.Plan = append(d.Plan, planRow{OffsetReset: o, Key: fmt.Sprintf("%s:%d:%d:%d", o.Topic, o.Partition, o.From, o.To)})
	}
	c.groupPage(w, r, 0, d, "Preview: nothing is committed until you apply.", "")
}

func resetTarget(to, value string) (client.ResetTarget, error) {
	value = strings.TrimSpace(value)
	switch to {
	case "earliest":
		return client.ResetTo(client.Beginning()), nil
	case "latest":
		return client.ResetTo(client.End()), nil
	case "offset":
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil || n < 0 {
			return client.ResetTarget{}, fmt.Errorf("offset %q: want a number >= 0", value)
		}
		return client.ResetTo(client.AtOffset(n)), nil
	case "shift":
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return client.ResetTarget{}, fmt.Errorf("shift %q: want a number (negative: back)", value)
		}
		return client.ShiftBy(n), nil
	case "timestamp":
		t, err := parseTime(value)
		if err != nil {
			return client.ResetTarget{}, err
		}
		return client.ResetTo(client.AtTime(t)), nil
	}
	return client.ResetTarget{}, fmt.Errorf("reset to %q: want earliest, latest, offset, shift or timestamp", to)
}

// parsePlanKey reads back topic:partition:from:to. Topic names never hold
// a colon.
func parsePlanKey(k string) (client.OffsetReset, error) {
	parts := strings.Split(k, ":")
	if len(parts) != 4 || parts[0] == "" {
		return client.OffsetReset{}, fmt.Errorf("bad plan entry %q", k)
	}
	p, err1 := strconv.ParseInt(parts[1], 10, 32)
	from, err2 := strconv.ParseInt(parts[2], 10, 64)
	to, err3 := strconv.ParseInt(parts[3], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil || to < 0 {
		return client.OffsetReset{}, fmt.Errorf("bad plan entry %q", k)
	}
	return client.OffsetReset{Topic: parts[0], Partition: int32(p), From: from, To: to}, nil
}

// parseTime reads an RFC 3339 time, or milliseconds since the epoch.
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("timestamp %q: want RFC 3339 (2006-01-02T15:04:05Z) or milliseconds since the epoch", s)
}
