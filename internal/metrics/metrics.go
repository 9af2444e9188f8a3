// Package metrics defines operetta's own Prometheus metrics, registered with
// controller-runtime's registry beside its per-controller metrics.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	// PlanRuns counts finished plan runs by framework, plan and result
	// (complete or failed).
	PlanRuns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "operetta_plan_runs_total",
		Help: "Plan runs that finished, by framework, plan and result.",
	}, []string{"framework", "plan", "result"})

	// PlanDuration observes how long finished plan runs took.
	PlanDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "operetta_plan_duration_seconds",
		Help:    "Duration of finished plan runs, by framework, plan and result.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 14), // 1s to ~2h
	}, []string{"framework", "plan", "result"})

	// RunningLoops is the number of generated kinds whose loop runs.
	RunningLoops = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "operetta_running_loops",
		Help: "Reconcile loops of generated kinds running in this manager.",
	})
)

func init() {
	ctrlmetrics.Registry.MustRegister(PlanRuns, PlanDuration, RunningLoops)
}
