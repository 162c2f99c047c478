package cost

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Config holds the PUT budgets: what a user means to spend on object PUTs
// a month, at the PUT price of -cost.prices.
type Config struct {
	// MonthlyPutBudget is the node's budget in dollars a month; 0: none.
	// The node's seal policy keeps its PUT rate within it (PutRate).
	MonthlyPutBudget float64
	// TopicPutBudgets are budgets of topics, in dollars a month for the
	// whole cluster: "orders=5,clicks=20". A segment holds many topics,
	// so these are not enforced; they are exported for the alert rule
	// that fires when a topic's forecast exceeds its budget.
	TopicPutBudgets string
}

// RegisterFlags registers the budgets' flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.Float64Var(&c.MonthlyPutBudget, "cost.monthly-put-budget", 0, "dollars a month this node may spend on object PUTs at the cost.prices PUT price; the seal policy keeps the PUT rate within it (lowering ingest.put-budget); 0: none")
	fs.StringVar(&c.TopicPutBudgets, "cost.topic-put-budgets", "", "monthly PUT budgets of topics in dollars for the whole cluster, e.g. orders=5,clicks=20: exported as strata_cost_topic_put_budget_dollars for the alert rule, not enforced")
}

// Validate reports a budget that cannot work.
func (c *Config) Validate() error {
	if c.MonthlyPutBudget < 0 || math.IsNaN(c.MonthlyPutBudget) || math.IsInf(c.MonthlyPutBudget, 0) {
		return fmt.Errorf("cost.monthly-put-budget: %v, want dollars >= 0", c.MonthlyPutBudget)
	}
	_, err := c.TopicBudgets()
	return err
}

// TopicBudgets parses TopicPutBudgets.
func (c *Config) TopicBudgets() (map[string]float64, error) {
	out := map[string]float64{}
	if strings.TrimSpace(c.TopicPutBudgets) == "" {
		return out, nil
	}
	for _, kv := range strings.Split(c.TopicPutBudgets, ",") {
		name, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		f, err := strconv.ParseFloat(v, 64)
		if !ok || name == "" || err != nil || f <= 0 || math.IsInf(f, 0) {
			return nil, fmt.Errorf("cost.topic-put-budgets: %q: want topic=dollars with dollars > 0, e.g. orders=5,clicks=20", kv)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("cost.topic-put-budgets: topic %q given twice", name)
		}
		out[name] = f
	}
	return out, nil
}

// secondsPerMonth is the month of the prices: 30 days.
const secondsPerMonth = hoursPerMonth * 3600

// PutRate is the PUTs per second that spend dollars a month at p's PUT
// price; 0 when there is no budget. A free PUT (price 0) has no limit.
func (p Prices) PutRate(dollarsPerMonth float64) (float64, error) {
	if dollarsPerMonth <= 0 {
		return 0, nil
	}
	if p.PutPer1000 <= 0 {
		return 0, errors.New("cost.monthly-put-budget: the PUT price of cost.prices is 0, so no PUT rate follows from a budget")
	}
	return dollarsPerMonth / (p.PutPer1000 / 1000) / secondsPerMonth, nil
}

// sortedNames returns the keys of m in order.
func sortedNames(m map[string]float64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
