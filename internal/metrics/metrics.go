// Package metrics defines operetta's own Prometheus metrics, registered with
// controller-runtime's registry beside its per-controller metrics.
package metrics

import (
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	// PlanRuns counts finished plan runs by framework, plan and result
	// (complete or failed).
	PlanRuns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "operetta_plan_runs_total",
		Help: "Plan runs that finished, by framework, plan, result and what started them (cause: created, parameter, revision, annotation, schedule).",
	}, []string{"framework", "plan", "result", "cause"})

	// ScheduledRuns counts scheduled times by what became of them.
	ScheduledRuns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "operetta_scheduled_runs_total",
		Help: "Scheduled times that passed, by framework, schedule and outcome (Started, Skipped, Missed).",
	}, []string{"framework", "schedule", "outcome"})

	// TriggeredRuns counts the data changes triggers saw by what became
	// of them.
	TriggeredRuns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "operetta_triggered_runs_total",
		Help: "Changes of watched data that triggered a plan, by framework, trigger and outcome (Started, Queued).",
	}, []string{"framework", "trigger", "outcome"})

	// PlanDuration observes how long finished plan runs took.
	PlanDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "operetta_plan_duration_seconds",
		Help:    "Duration of finished plan runs, by framework, plan and result.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 14), // 1s to ~2h
	}, []string{"framework", "plan", "result"})

	// ChildEventsSkipped counts events of children that could not change
	// what their instance's reconcile decides, so woke nothing.
	ChildEventsSkipped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "operetta_child_events_skipped_total",
		Help: "Events of children that could not change what their instance's reconcile decides (a Deployment's progress reports, the event of a child as operetta just applied it), so woke nothing, by framework.",
	}, []string{"framework"})

	// RunningLoops is the number of generated kinds whose loop runs.
	RunningLoops = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "operetta_running_loops",
		Help: "Reconcile loops of generated kinds running in this manager.",
	})
)

func init() {
	ctrlmetrics.Registry.MustRegister(PlanRuns, ScheduledRuns, TriggeredRuns, PlanDuration, ChildEventsSkipped, RunningLoops, stateCollector{})
}

// InstanceState is what the instance gauge tells apart.
type InstanceState struct {
	Ready      bool
	PlanStatus string // the active plan's status
}

// Sources are where the state gauges come from at scrape time: the
// controllers' own memory and caches, never the API server.
type Sources struct {
	// Instances counts each Framework's instances by state.
	Instances func() map[string]map[InstanceState]int
	// Frameworks counts Frameworks by condition type and status.
	Frameworks func() map[[2]string]int
	// Informers counts the informers the engine runs.
	Informers func() int
}

var (
	instancesDesc = prometheus.NewDesc("operetta_instances",
		"Instances by framework, Ready condition and active plan status.",
		[]string{"framework", "ready", "plan_status"}, nil)
	informersDesc = prometheus.NewDesc("operetta_informers",
		"Informers the engine runs: instances of each running loop, each child kind, each kind triggers and externalRefs read.",
		nil, nil)
	frameworksDesc = prometheus.NewDesc("operetta_frameworks",
		"Frameworks by condition (Ready, Reconciling, Stalled) and its status.",
		[]string{"condition", "status"}, nil)

	sources atomic.Pointer[Sources]
)

// SetSources sets where the state gauges are read from: the manager's, once
// it is set up (the last one set, for tests that start several).
func SetSources(s Sources) { sources.Store(&s) }

// stateCollector computes the state gauges when scraped, so they cannot go
// stale and cost nothing between scrapes.
type stateCollector struct{}

func (stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- instancesDesc
	ch <- frameworksDesc
	ch <- informersDesc
}

func (stateCollector) Collect(ch chan<- prometheus.Metric) {
	s := sources.Load()
	if s == nil {
		return
	}
	if s.Instances != nil {
		for fw, states := range s.Instances() {
			for st, n := range states {
				ch <- prometheus.MustNewConstMetric(instancesDesc, prometheus.GaugeValue, float64(n),
					fw, strconv.FormatBool(st.Ready), st.PlanStatus)
			}
		}
	}
	if s.Informers != nil {
		ch <- prometheus.MustNewConstMetric(informersDesc, prometheus.GaugeValue, float64(s.Informers()))
	}
	if s.Frameworks != nil {
		for cond, n := range s.Frameworks() {
			ch <- prometheus.MustNewConstMetric(frameworksDesc, prometheus.GaugeValue, float64(n), cond[0], cond[1])
		}
	}
}
