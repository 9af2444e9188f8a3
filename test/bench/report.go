//go:build benchcluster

package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
)

// crdWatch reports, once, the moment one CRD is seen established.
type crdWatch struct {
	name string
	out  chan<- time.Time
	once sync.Once
	stop chan struct{}
}

func newCRDWatch(name string, out chan<- time.Time) *crdWatch {
	return &crdWatch{name: name, out: out, stop: make(chan struct{})}
}

func (w *crdWatch) watch(ctx context.Context, dyn dynamic.Interface) error {
	gvr := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	f := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, "", func(o *metav1.ListOptions) {
		o.FieldSelector = "metadata.name=" + w.name
	})
	on := func(obj any) {
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			return
		}
		now := time.Now()
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, c := range conds {
			if m, _ := c.(map[string]any); m["type"] == "Established" && m["status"] == "True" {
				w.once.Do(func() { w.out <- now })
			}
		}
	}
	if _, err := f.ForResource(gvr).Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: on, UpdateFunc: func(_, obj any) { on(obj) },
	}); err != nil {
		return err
	}
	f.Start(w.stop)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for _, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("watching CRD %s did not sync within a minute", w.name)
		}
	}
	return nil
}

func (w *crdWatch) close() { close(w.stop) }

func secs(d time.Duration) string { return fmt.Sprintf("%.3f s", d.Seconds()) }

func paren(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

func (r result) print(w io.Writer) {
	if r.timedOut != "" {
		fmt.Fprintf(w, "  at the timeout: %s\n", r.timedOut)
	}
	fmt.Fprintf(w, "  all children exist     %s\n", secs(r.t.allChildren))
	fmt.Fprintf(w, "  Deployments available  %s\n", secs(r.t.allHealthy))
	if r.mode != "direct" {
		fmt.Fprintf(w, "  instances Ready        %s\n", secs(r.t.allReady))
		fmt.Fprintf(w, "  created → Ready        p50 %s, p99 %s, max %s (each instance: its Ready − the client sending its create)\n",
			secs(percentile(r.t.latencies, 50)), secs(percentile(r.t.latencies, 99)), secs(percentile(r.t.latencies, 100)))
		fmt.Fprintf(w, "  readiness lag          p50 %s, p99 %s, max %s (%d instances)\n",
			secs(percentile(r.t.lags, 50)), secs(percentile(r.t.lags, 99)), secs(percentile(r.t.lags, 100)), len(r.t.lags))
		if len(r.t.slowest) > 0 {
			fmt.Fprintf(w, "  slowest to turn Ready  %s\n", strings.Join(r.t.slowest, "; "))
		}
	}
	fmt.Fprintf(w, "  manager requests       %.0f = %.2f per instance%s\n", r.requests.total(), r.requests.total()/float64(r.n), paren(r.requests.byMethod(r.n)))
	if r.mode == "operetta" {
		fmt.Fprintf(w, "                         of them %d writes of the Framework (its rollout reports): %.2f per instance besides\n",
			r.frameworkWrites, (r.requests.total()-float64(r.frameworkWrites))/float64(r.n))
	}
	fmt.Fprintf(w, "  manager reconciles     %.0f = %.1f per instance\n", r.reconciles, r.reconciles/float64(r.n))
	fmt.Fprintf(w, "  manager CPU, RSS       %.2f s, %s\n", r.cpu, private(r.rss, r.anon))
}

// allReady is the run's time until everything is ready: Deployments
// available and, for operetta, every instance Ready.
func (r result) allReady() time.Duration { return max(r.t.allHealthy, r.t.allReady) }

// report collects every run and prints the figures beside the targets.
type report struct {
	first        []firstResult
	firstCreated *firstResult // one instance created rather than applied, for comparison
	runs         []result
	failover     *failoverResult
	frameworks   *frameworksResult
	rollout      *rolloutResult
	schedules    *schedulesResult
	collection   *collectionResult
	conversion   *conversionResult
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return a.Seconds() / b.Seconds()
}

func (rep report) print(w io.Writer, idle time.Duration) {
	fmt.Fprintf(w, "\n== Summary (targets of issue 7; the benchmark measures, it does not fail)\n\n")
	fmt.Fprintln(w, "| N | figure | operetta | direct | target | |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- |")
	row := func(n any, figure, op, direct, target, result string) {
		fmt.Fprintf(w, "| %v | %s | %s | %s | %s | %s |\n", n, figure, op, direct, target, result)
	}
	sizes := map[int]bool{}
	var ns []int
	for _, r := range rep.runs {
		if !sizes[r.n] {
			sizes[r.n] = true
			ns = append(ns, r.n)
		}
	}
	for _, n := range ns {
		var op, di result
		for _, r := range rep.runs {
			if r.n == n && r.mode == "operetta" {
				op = r
			} else if r.n == n && r.mode == "direct" {
				di = r
			}
		}
		complete := op.timedOut == "" && di.timedOut == ""
		judge := func(ok bool) string {
			if !complete {
				return "MISS (timed out)"
			}
			return verdict(ok)
		}
		rc := ratio(op.t.allChildren, di.t.allChildren)
		row(n, "all children exist", secs(op.t.allChildren), secs(di.t.allChildren),
			"≤ 1.5× direct", fmt.Sprintf("%.2f× %s", rc, judge(rc <= 1.5)))
		rr := ratio(op.allReady(), di.allReady())
		row(n, "all ready", secs(op.allReady()), secs(di.allReady()),
			"≤ 1.02× direct", fmt.Sprintf("%.3f× %s", rr, judge(rr <= 1.02)))
		p99 := percentile(op.t.lags, 99)
		row(n, "readiness lag p50 / p99", secs(percentile(op.t.lags, 50))+" / "+secs(p99), "–",
			"p99 ≤ 0.2 s", judge(p99 <= 200*time.Millisecond))
		per := op.requests.total() / float64(n)
		row(n, "API requests per instance", fmt.Sprintf("%.2f (%s; %.2f besides the Framework's %d rollout reports)", per, op.requests.byMethod(n),
			(op.requests.total()-float64(op.frameworkWrites))/float64(n), op.frameworkWrites),
			fmt.Sprintf("%.1f", di.requests.total()/float64(n)), "≤ 6", verdict(per <= 6))
		if op.idle != nil {
			row(n, fmt.Sprintf("requests while idle (%s)", idle), fmt.Sprintf("%.0f", op.idle.total()), "–", "0", verdict(op.idle.total() == 0))
		} else {
			row(n, "requests while idle", "not measured", "–", "0", "MISS (not measured)")
		}
		at500 := func(ok bool) string {
			if n != 500 {
				return "– (target is for N=500)"
			}
			return judge(ok)
		}
		row(n, "manager CPU", fmt.Sprintf("%.2f s", op.cpu), "–", "≤ 5 s at N=500", at500(op.cpu <= 5))
		row(n, "manager RSS", private(op.rss, op.anon), "–", "≤ 60 MB at N=500", at500(sum(op.rss) <= 60e6))
	}
	if len(rep.first) > 0 {
		var ds, parts []string
		var totals []time.Duration
		for _, f := range rep.first {
			totals = append(totals, f.total)
			ds = append(ds, fmt.Sprintf("%.3f", f.total.Seconds()))
			parts = append(parts, fmt.Sprintf("%.3f (apply answered after %.3f)", f.manager.Seconds(), f.writeCall.Seconds()))
		}
		sort.Slice(totals, func(i, j int) bool { return totals[i] < totals[j] })
		med := totals[(len(totals)-1)/2]
		row("1", "Framework applied → first children, instance applied (median)",
			fmt.Sprintf("%s (runs: %s s; of which instance applied → child: %s s)", secs(med), strings.Join(ds, ", "), strings.Join(parts, ", ")),
			"–", "< 0.4 s", verdict(med < 400*time.Millisecond))
	}
	if f := rep.firstCreated; f != nil {
		row("1", "the same, instance created instead (kubectl create)",
			fmt.Sprintf("%s (the API server answered the create after %s: it holds a create for 2 s within 2 s of the CRD's establishment)", secs(f.total), secs(f.writeCall)),
			"–", "–", "")
	}
	rep.printShards(w)
	if f := rep.frameworks; f != nil {
		fmt.Fprintf(w, "\n== %d Frameworks without instances (what each costs)\n\n", f.k)
		f.print(w)
	}
	if r := rep.rollout; r != nil {
		fmt.Fprintf(w, "\n== A Framework change over %d instances (issue 23)\n\n", r.n)
		fmt.Fprintln(w, "| figure | result | target | |")
		fmt.Fprintln(w, "| --- | --- | --- | --- |")
		fmt.Fprintf(w, "| kubectl operetta diff --summary: time | %s | < 10 s | %s |\n", secs(r.diffTime), verdict(r.diffTime < 10*time.Second))
		fmt.Fprintf(w, "| diff: requests | %d (%s) | – | |\n", total(r.diffRequests), verbs(r.diffRequests))
		fmt.Fprintf(w, "| diff: writes that were not dry runs | %d | 0 | %s |\n", r.diffWrites, verdict(r.diffWrites == 0))
		fmt.Fprintf(w, "| rollout, maxConcurrent %d: applied → all on the new revision, plans done | %s | – | |\n", r.maxConcurrent, secs(r.rolloutTime))
		fmt.Fprintf(w, "| most instances seen moving at once (polled every 250 ms) | %d | ≤ %d | %s |\n", r.maxMoving, r.maxConcurrent, verdict(r.maxMoving <= r.maxConcurrent))
		fmt.Fprintf(w, "| manager requests during the rollout | %.0f (%.2f per instance) | – | |\n", r.requests.total(), r.requests.total()/float64(r.n))
		fmt.Fprintf(w, "| manager CPU during the rollout | %.2f s | – | |\n", r.cpu)
	}
	if r := rep.schedules; r != nil {
		fmt.Fprintf(w, "\n== %d instances on one per-minute schedule, jitter %s (issue 24)\n\n", r.n, r.jitter)
		fmt.Fprintln(w, "| figure | result | target | |")
		fmt.Fprintln(w, "| --- | --- | --- | --- |")
		fmt.Fprintf(w, "| instances that ran the measured tick | %d of %d | all | %s |\n", r.started, r.n, verdict(r.started == r.n))
		fmt.Fprintf(w, "| start after the scheduled time: p0 / p50 / p100 | %s / %s / %s | within the jitter | %s |\n", pct(r.spread, 0), pct(r.spread, 50), pct(r.spread, 100),
			verdict(len(r.spread) > 0 && r.spread[len(r.spread)-1] <= r.jitter+time.Second))
		fmt.Fprintf(w, "| most runs started in one second | %d | – | |\n", r.busiest)
		perRun := r.perTick.total() / float64(max(r.started, 1))
		fmt.Fprintf(w, "| manager requests per scheduled run | %.2f (%s) | the plan's own work (1) + ≤ 2 | %s |\n", perRun, r.perTick.byMethod(1), verdict(perRun <= 3))
		fmt.Fprintf(w, "| manager requests between ticks | %.0f | 0 | %s |\n", r.between.total(), verdict(r.between.total() == 0))
	}
	if r := rep.collection; r != nil {
		fmt.Fprintf(w, "\n== One instance with a collection of %d objects (issue 25)\n\n", r.n)
		fmt.Fprintln(w, "| figure | result | target | |")
		fmt.Fprintln(w, "| --- | --- | --- | --- |")
		per := r.create.total() / float64(r.n)
		fmt.Fprintf(w, "| manager requests on create, per element | %.2f (%s) | ≤ 1.1 | %s |\n", per, r.create.byMethod(1), verdict(per <= 1.1))
		fmt.Fprintf(w, "| manager requests in the %s after, nothing changed | %.0f | 0 | %s |\n", r.idleFor, r.idle.total(), verdict(r.idle.total() == 0))
		fmt.Fprintf(w, "| create → all %d ready (deploy COMPLETE) | %s | – | |\n", r.n, secs(r.ready))
		fmt.Fprintf(w, "| direct client, %d creates | %s | – | |\n", r.n, secs(r.direct))
	}
	if r := rep.conversion; r != nil {
		r.report(w)
	}
	if f := rep.failover; f != nil {
		fmt.Fprintf(w, "\n== Failover (issue 11: within one Lease duration, 15 s, plus a few seconds)\n\n")
		fmt.Fprintln(w, "| figure | result |")
		fmt.Fprintln(w, "| --- | --- |")
		fmt.Fprintf(w, "| instances; Ready when the leader was killed | %d; %d |\n", f.n, f.readyAtKill)
		fmt.Fprintf(w, "| kill → standby leads | %s |\n", secs(f.killToLead))
		fmt.Fprintf(w, "| standby leads → all Ready | %s |\n", secs(f.leadToReady))
		fmt.Fprintf(w, "| kill → all Ready | %s %s |\n", secs(f.killToLead+f.leadToReady),
			verdict(f.timedOut == "" && f.killToLead+f.leadToReady <= 20*time.Second))
		fmt.Fprintf(w, "| created → all Ready | %s |\n", secs(f.createdToReady))
		fmt.Fprintf(w, "| in flight at the kill: created → Ready p50 / p99 | %s / %s |\n", secs(percentile(f.inFlight, 50)), secs(percentile(f.inFlight, 99)))
		fmt.Fprintf(w, "| plans started over | %d |\n", f.startedAgain)
		fmt.Fprintf(w, "| PlanComplete events | %s |\n", f.events())
	}
}

// printShards compares each size run by one manager with the same size
// split over shards.
func (rep report) printShards(w io.Writer) {
	var sharded []result
	for _, r := range rep.runs {
		if r.mode != "operetta" && r.mode != "direct" {
			sharded = append(sharded, r)
		}
	}
	if len(sharded) == 0 {
		return
	}
	fmt.Fprintf(w, "\n== Shards (issue 11: one manager against the same instances split over shards, a manager each)\n\n")
	fmt.Fprintln(w, "| N | figure | 1 manager | sharded | |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- |")
	for _, sh := range sharded {
		var op result
		for _, r := range rep.runs {
			if r.n == sh.n && r.mode == "operetta" {
				op = r
			}
		}
		row := func(figure, one, many string) {
			fmt.Fprintf(w, "| %d | %s | %s | %s | %s |\n", sh.n, figure, one, many, sh.mode)
		}
		lat := func(r result) string {
			return secs(percentile(r.t.latencies, 50)) + " / " + secs(percentile(r.t.latencies, 99))
		}
		row("created → Ready p50 / p99", lat(op), lat(sh))
		row("all instances Ready", secs(op.allReady()), secs(sh.allReady()))
		row("API requests per instance", fmt.Sprintf("%.2f", op.requests.total()/float64(op.n)), fmt.Sprintf("%.2f", sh.requests.total()/float64(sh.n)))
		row("reconciles per instance", fmt.Sprintf("%.1f", op.reconciles/float64(op.n)), fmt.Sprintf("%.1f", sh.reconciles/float64(sh.n)))
		row("manager CPU (all managers)", fmt.Sprintf("%.2f s", op.cpu), fmt.Sprintf("%.2f s", sh.cpu))
		row("manager RSS (each)", mb(op.rss), mb(sh.rss))
	}
}

func sum(xs []float64) float64 {
	var t float64
	for _, x := range xs {
		t += x
	}
	return t
}
