//go:build benchcluster

package main

import (
	"context"
	"fmt"
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// schedulesResult is n instances on one per-minute schedule.
type schedulesResult struct {
	n      int
	jitter time.Duration
	// started counts the runs of the measured tick; spread is each run's
	// start after its scheduled time, sorted; busiest the most runs that
	// started in one second.
	started int
	spread  []time.Duration
	busiest int
	// perTick are the manager's requests from just before a tick until its
	// runs are done; between are those from then until just before the
	// next tick.
	perTick, between requests
}

// schedules runs n instances of a copy of the Framework with a plan that
// applies one ConfigMap (its own work: one request) on a per-minute
// schedule with jitter, and measures one tick and the quiet after it.
func (b *bench) schedules(ctx context.Context, n int, jitter time.Duration) (schedulesResult, error) {
	r := schedulesResult{n: n, jitter: jitter}
	kind := b.fw.kind + "Scheduled"
	fw, instGVR := b.fw.variant(b.fw.name+"-scheduled", kind)
	addTickSchedule(fw, jitter)
	namespace := fmt.Sprintf("bench-schedules-%d-%d", n, time.Now().Unix()%100000)
	fmt.Printf("\n== %d instances on one per-minute schedule, jitter %s, namespace %s\n", n, jitter, namespace)
	if err := b.applyFramework(ctx, fw, 2*time.Minute); err != nil {
		return r, err
	}
	defer b.deleteFramework(context.WithoutCancel(ctx), fw.GetName())
	if _, err := b.resource(schema.GroupKind{Group: b.fw.group, Kind: kind}, b.fw.version); err != nil {
		return r, err
	}
	p, deleteNamespace, err := b.fresh(ctx, namespace, n)
	if err != nil {
		return r, err
	}
	defer deleteNamespace()
	tr := newTracker(p.expected, p.instances)
	defer tr.close()
	if err := tr.watch(ctx, b.dyn, namespace, p.kinds, instGVR); err != nil {
		return r, err
	}
	if err := b.create(ctx, n, func(ctx context.Context, i int) error {
		return b.createInstance(ctx, tr, instGVR, kind, namespace, p.instances[i])
	}); err != nil {
		return r, err
	}
	if timedOut, err := b.settle(ctx, tr); err != nil || timedOut != "" {
		return r, fmt.Errorf("the %d instances did not deploy: %v %s", n, err, timedOut)
	}
	fmt.Printf("  %d instances deployed\n", n)

	// A whole minute passes first, so every instance has had a tick and
	// the measured one starts from the quiet.
	if err := sleepUntil(ctx, nextMinute(time.Now()).Add(time.Minute-2*time.Second)); err != nil {
		return r, err
	}
	tick := nextMinute(time.Now())
	before, err := b.sample(ctx, b.mgr)
	if err != nil {
		return r, err
	}
	if err := sleepUntil(ctx, tick.Add(jitter+10*time.Second)); err != nil {
		return r, err
	}
	done, err := b.sample(ctx, b.mgr)
	if err != nil {
		return r, err
	}
	if err := sleepUntil(ctx, tick.Add(time.Minute-2*time.Second)); err != nil {
		return r, err
	}
	quiet, err := b.sample(ctx, b.mgr)
	if err != nil {
		return r, err
	}
	r.perTick, r.between = done.requests.minus(before.requests), quiet.requests.minus(done.requests)
	if err := r.readRuns(ctx, b, instGVR, namespace, tick); err != nil {
		return r, err
	}
	fmt.Printf("  tick %s: %d of %d instances ran; start after the scheduled time p0 %s, p50 %s, p100 %s; busiest second %d runs\n",
		tick.Format("15:04:05"), r.started, n, pct(r.spread, 0), pct(r.spread, 50), pct(r.spread, 100), r.busiest)
	fmt.Printf("  manager: %.0f requests for the tick (%.2f per run%s), %.0f between it and the next%s\n",
		r.perTick.total(), r.perTick.total()/float64(max(r.started, 1)), paren(r.perTick.byMethod(1)), r.between.total(), paren(r.between.byMethod(1)))
	return r, nil
}

// addTickSchedule gives a Framework manifest a plan "tick" that applies a
// ConfigMap naming the run, and a schedule running it every minute.
func addTickSchedule(fw *unstructured.Unstructured, jitter time.Duration) {
	spec := fw.Object["spec"].(map[string]any)
	spec["resources"] = append(spec["resources"].([]any), map[string]any{"id": "tick", "template": map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "${instance.metadata.name}-tick"},
		"data":     map[string]any{"run": "${plan.uid}"},
	}})
	spec["tasks"] = append(spec["tasks"].([]any), map[string]any{"name": "tick", "kind": "Apply", "resources": []any{"tick"}})
	spec["plans"].(map[string]any)["tick"] = map[string]any{"phases": []any{map[string]any{
		"name": "tick", "steps": []any{map[string]any{"name": "tick", "tasks": []any{"tick"}}}}}}
	spec["schedules"] = []any{map[string]any{"name": "every-minute", "plan": "tick", "schedule": "* * * * *", "jitter": jitter.String()}}
}

// readRuns reads which instances ran the tick at scheduled time tick, and
// when each run started.
func (r *schedulesResult) readRuns(ctx context.Context, b *bench, gvr schema.GroupVersionResource, namespace string, tick time.Time) error {
	list, err := b.dyn.Resource(gvr).Namespace(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	perSecond := map[int64]int{}
	for i := range list.Items {
		st, _, _ := unstructured.NestedMap(list.Items[i].Object, "status")
		run, _, _ := unstructured.NestedMap(st, "plans", "tick")
		started, _ := run["startedAt"].(string)
		at, err := time.Parse(time.RFC3339, started)
		if err != nil || at.Before(tick) || !at.Before(tick.Add(time.Minute)) {
			continue
		}
		r.started++
		r.spread = append(r.spread, at.Sub(tick))
		perSecond[at.Unix()]++
	}
	sort.Slice(r.spread, func(i, j int) bool { return r.spread[i] < r.spread[j] })
	for _, c := range perSecond {
		r.busiest = max(r.busiest, c)
	}
	return nil
}

func nextMinute(t time.Time) time.Time { return t.Truncate(time.Minute).Add(time.Minute) }

func sleepUntil(ctx context.Context, t time.Time) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Until(t)):
		return nil
	}
}

func pct(sorted []time.Duration, p int) string {
	if len(sorted) == 0 {
		return "-"
	}
	return secs(sorted[(len(sorted)-1)*p/100])
}
