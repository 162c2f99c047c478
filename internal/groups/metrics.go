package groups

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	groups      prometheus.Gauge
	members     prometheus.Gauge
	rebalances  prometheus.Counter
	expirations *prometheus.CounterVec
	commits     prometheus.Counter
	commitSecs  prometheus.Histogram
	storeErrors *prometheus.CounterVec
	takeovers   prometheus.Counter
	refused     prometheus.Counter
	lost        *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		groups: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "strata_groups_loaded",
			Help: "Consumer groups held in memory by this coordinator.",
		}),
		members: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "strata_groups_members",
			Help: "Members of the consumer groups this coordinator holds.",
		}),
		rebalances: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_groups_rebalances_total",
			Help: "Rebalances completed: new generations handed to members.",
		}),
		expirations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_groups_member_expirations_total",
			Help: "Members removed by the coordinator, by reason: session (no heartbeat), rebalance (did not rejoin) or sync (did not sync).",
		}, []string{"reason"}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_groups_committed_offsets_total",
			Help: "Partition offsets committed to the metastore.",
		}),
		commitSecs: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "strata_groups_offset_commit_seconds",
			Help:    "Time to write one OffsetCommit request to the metastore.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 15),
		}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_groups_store_errors_total",
			Help: "Failed metastore operations of the group coordinator, by operation.",
		}, []string{"op"}),
		takeovers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_groups_takeovers_total",
			Help: "Groups this coordinator took over with the members of a stored generation, which continue without rejoining.",
		}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_groups_lease_refused_total",
			Help: "Group lease acquisitions refused because another live coordinator holds the lease (answered NOT_COORDINATOR).",
		}),
		lost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_groups_leases_lost_total",
			Help: "Groups this coordinator stopped serving, by reason: expired (not renewed in time) or taken (the metastore refused a write or a renewal).",
		}, []string{"reason"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.groups, m.members, m.rebalances, m.expirations, m.commits, m.commitSecs, m.storeErrors, m.takeovers, m.refused, m.lost} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("groups: register metrics: %w", err)
		}
	}
	return m, nil
}
