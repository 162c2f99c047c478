package cluster

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	liveNodes       prometheus.Gauge
	isController    prometheus.Gauge
	leaderMoves     prometheus.Counter
	heartbeatErrors prometheus.Counter
	refreshErrors   prometheus.Counter
	controllerPass  prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		liveNodes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "strata_cluster_live_nodes",
			Help: "Live nodes in the registry, as of this node's last poll.",
		}),
		isController: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "strata_cluster_is_controller",
			Help: "1 while this node holds the controller lease, else 0.",
		}),
		leaderMoves: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_cluster_leader_moves_total",
			Help: "Partition leader changes made by this node as controller; each raised a leader epoch.",
		}),
		heartbeatErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_cluster_heartbeat_errors_total",
			Help: "Heartbeats that failed to reach the metastore.",
		}),
		refreshErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_cluster_refresh_errors_total",
			Help: "Polls of the registry and leaders that failed; the view keeps its last state.",
		}),
		controllerPass: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "strata_cluster_controller_pass_seconds",
			Help:    "Duration of the controller's passes (lease renewal, leader balancing) on this node.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.liveNodes, m.isController, m.leaderMoves, m.heartbeatErrors, m.refreshErrors, m.controllerPass} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("cluster: metrics already registered (one member per registry): %w", err)
			}
			return nil, fmt.Errorf("cluster: register metrics: %w", err)
		}
	}
	return m, nil
}
