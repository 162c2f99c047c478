package console

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/stratalog/strata/internal/cost"
)

// costRow is one topic on the cost page.
type costRow struct {
	Topic          string // "" for what is not attributed
	Puts, Gets     float64
	CompactionPuts float64
	MetastoreTxns  float64
	// PutMonthly is the PUT spend a month at the rate since the node
	// started; Budget the topic's monthly PUT budget (0: none), Over
	// whether the forecast exceeds it.
	PutMonthly, Budget          float64
	Over                        bool
	PutBytes, GetBytes          int64
	Produced                    int64
	Level0, Level1              int64
	AtLeast                     bool
	StoredPerProduced           string
	RequestsDaily, StorageDaily float64
	Monthly                     float64
}

type costData struct {
	Since  time.Time
	Uptime time.Duration
	Prices cost.Prices
	Rows   []costRow
	Total  costRow
	// NodeBudget is the node's monthly PUT budget (0: none), NodeOver
	// whether the node's PUT forecast exceeds it.
	NodeBudget float64
	NodeOver   bool
}

func (c *Console) costPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	d := costData{Prices: c.prices}
	var usage map[string]cost.Usage
	if c.deps.Cost != nil {
		d.Since = c.deps.Cost.Since()
		usage = c.deps.Cost.Usage(ctx)
	}
	d.Uptime = time.Since(d.Since).Round(time.Second)
	secs := max(time.Since(d.Since).Seconds(), 1)
	topics, err := c.deps.Store.ListTopics(ctx)
	if err != nil {
		c.fail(w, http.StatusServiceUnavailable, "cost", fmt.Errorf("metastore: %w", err))
		return
	}
	rows := map[string]*costRow{}
	for name, u := range usage {
		rows[name] = &costRow{Topic: name, Puts: u.Puts, Gets: u.Gets, PutBytes: int64(u.PutBytes), GetBytes: int64(u.GetBytes), Produced: int64(u.ProducedBytes),
			CompactionPuts: u.CompactionPuts, MetastoreTxns: u.MetastoreTxns}
	}
	var budgets map[string]float64
	if c.deps.Cost != nil {
		d.NodeBudget, budgets, _ = c.deps.Cost.Budgets()
	}
	for _, t := range topics {
		row, ok := rows[t.Name]
		if !ok {
			row = &costRow{Topic: t.Name}
			rows[t.Name] = row
		}
		parts, err := c.deps.Store.Partitions(ctx, t.ID)
		if err != nil {
			continue // deleted meanwhile
		}
		for _, p := range parts {
			st, err := c.stored(ctx, t.ID, p.Partition, p.LogStartOffset)
			if err != nil {
				c.fail(w, http.StatusServiceUnavailable, "cost", fmt.Errorf("metastore: %w", err))
				return
			}
			row.Level0 += st.Level0
			row.Level1 += st.Level1
			row.AtLeast = row.AtLeast || st.AtLeast
		}
	}
	for _, row := range rows {
		row.RequestsDaily, row.StorageDaily = c.prices.Daily(row.Puts/secs, row.Gets/secs, float64(row.Level0+row.Level1))
		row.Monthly = (row.RequestsDaily + row.StorageDaily) * 30
		row.StoredPerProduced = ratio(row.Level0+row.Level1, row.Produced)
		row.PutMonthly = row.Puts / secs * c.prices.PutPer1000 / 1000 * 86400 * 30
		row.Budget = budgets[row.Topic]
		row.Over = row.Budget > 0 && row.PutMonthly > row.Budget
		d.Rows = append(d.Rows, *row)
		t := &d.Total
		t.Puts += row.Puts
		t.Gets += row.Gets
		t.CompactionPuts += row.CompactionPuts
		t.MetastoreTxns += row.MetastoreTxns
		t.PutMonthly += row.PutMonthly
		t.PutBytes += row.PutBytes
		t.GetBytes += row.GetBytes
		t.Produced += row.Produced
		t.Level0 += row.Level0
		t.Level1 += row.Level1
		t.RequestsDaily += row.RequestsDaily
		t.StorageDaily += row.StorageDaily
		t.Monthly += row.Monthly
	}
	d.Total.StoredPerProduced = ratio(d.Total.Level0+d.Total.Level1, d.Total.Produced)
	d.Total.Budget = d.NodeBudget
	d.NodeOver = d.NodeBudget > 0 && d.Total.PutMonthly > d.NodeBudget
	d.Total.Over = d.NodeOver
	slices.SortFunc(d.Rows, func(a, b costRow) int {
		switch {
		case (a.Topic == "") != (b.Topic == ""):
			// What is not attributed goes last.
			if a.Topic == "" {
				return 1
			}
			return -1
		case a.Topic < b.Topic:
			return -1
		case a.Topic > b.Topic:
			return 1
		}
		return 0
	})
	c.render(w, 0, "cost", page{Title: "Cost", Section: "cost", Data: d})
}

func ratio(stored, produced int64) string {
	if produced <= 0 {
		return ""
	}
	return fmt.Sprintf("%.2f", float64(stored)/float64(produced))
}
