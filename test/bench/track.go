//go:build benchcluster

package main

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// childKey names a child in a namespace.
type childKey struct{ kind, name string }

type childTimes struct {
	instance string
	seen     time.Time // first event of the object
	healthy  time.Time // first event in which kstatus says Current
}

// tracker records, from the benchmark's own watches, when each expected
// child first exists and first is healthy and when each instance first is
// Ready, so that every timestamp comes from one clock.
type tracker struct {
	mu        sync.Mutex
	children  map[childKey]*childTimes
	instances map[string]time.Time // instance → first Ready=True; zero until then
	created   map[string]time.Time // instance → when the client sent its create
	runs      map[string][]string  // instance → every run uid its status named, in order
	stop      chan struct{}
	stopOnce  sync.Once
}

func newTracker(expected map[childKey]string, instances []string) *tracker {
	t := &tracker{children: map[childKey]*childTimes{}, instances: map[string]time.Time{},
		created: map[string]time.Time{}, runs: map[string][]string{}, stop: make(chan struct{})}
	for k, inst := range expected {
		t.children[k] = &childTimes{instance: inst}
	}
	for _, i := range instances {
		t.instances[i] = time.Time{}
	}
	return t
}

// watch starts one informer per resource in namespace and waits for them
// to sync. kinds maps each child resource to its kind; instances are the
// instances' resources, none for the direct client.
func (t *tracker) watch(ctx context.Context, dyn dynamic.Interface, namespace string, kinds map[schema.GroupVersionResource]string, instances ...schema.GroupVersionResource) error {
	f := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, namespace, nil)
	for gvr, kind := range kinds {
		kind := kind
		on := func(obj any) {
			if u, ok := obj.(*unstructured.Unstructured); ok {
				t.child(kind, u)
			}
		}
		if _, err := f.ForResource(gvr).Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: on, UpdateFunc: func(_, obj any) { on(obj) },
		}); err != nil {
			return err
		}
	}
	for _, gvr := range instances {
		on := func(obj any) {
			if u, ok := obj.(*unstructured.Unstructured); ok {
				t.instance(u)
			}
		}
		if _, err := f.ForResource(gvr).Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: on, UpdateFunc: func(_, obj any) { on(obj) },
		}); err != nil {
			return err
		}
	}
	f.Start(t.stop)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for gvr, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("watching %s did not sync within a minute", gvr.Resource)
		}
	}
	return nil
}

func (t *tracker) close() { t.stopOnce.Do(func() { close(t.stop) }) }

func (t *tracker) child(kind string, u *unstructured.Unstructured) {
	now := time.Now()
	healthy := false
	if r, err := status.Compute(u); err == nil && r.Status == status.CurrentStatus {
		healthy = true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	c, ok := t.children[childKey{kind, u.GetName()}]
	if !ok {
		return
	}
	if c.seen.IsZero() {
		c.seen = now
	}
	if healthy && c.healthy.IsZero() {
		c.healthy = now
	}
}

func (t *tracker) instance(u *unstructured.Unstructured) {
	now := time.Now()
	ready := readyCondition(u)
	plans, _, _ := unstructured.NestedMap(u.Object, "status", "plans")
	t.mu.Lock()
	defer t.mu.Unlock()
	name := u.GetName()
	for plan, v := range plans {
		m, _ := v.(map[string]any)
		if uid, _ := m["uid"].(string); uid != "" && !slices.Contains(t.runs[name], plan+"/"+uid) {
			t.runs[name] = append(t.runs[name], plan+"/"+uid)
		}
	}
	if at, ok := t.instances[name]; ok && at.IsZero() && ready {
		t.instances[name] = now
	}
}

// creating records that the client is about to create instance name.
func (t *tracker) creating(name string) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.created[name] = now
}

// pending lists the instances not Ready yet.
func (t *tracker) pending() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for name, at := range t.instances {
		if at.IsZero() {
			out = append(out, name)
		}
	}
	return out
}

// latencyOf is, sorted, created → Ready of each of names that is Ready.
func (t *tracker) latencyOf(names []string) []time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []time.Duration
	for _, name := range names {
		if at, c := t.instances[name], t.created[name]; !at.IsZero() && !c.IsZero() {
			out = append(out, at.Sub(c))
		}
	}
	slices.Sort(out)
	return out
}

// runsStartedAgain counts the instances whose status named more than one
// run of a plan: a plan started over instead of continued.
func (t *tracker) runsStartedAgain() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, runs := range t.runs {
		plans := map[string]bool{}
		for _, r := range runs {
			plan, _, _ := strings.Cut(r, "/")
			if plans[plan] {
				n++
				break
			}
			plans[plan] = true
		}
	}
	return n
}

// readyCondition says whether u has Ready=True for its current generation.
func readyCondition(u *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] != "Ready" {
			continue
		}
		if g, ok := m["observedGeneration"].(int64); ok && g != u.GetGeneration() {
			return false
		}
		return m["status"] == "True"
	}
	return false
}

// progress counts children seen, children healthy and instances Ready.
type progress struct{ seen, healthy, ready, children, instances int }

func (p progress) done() bool {
	return p.seen == p.children && p.healthy == p.children && p.ready == p.instances
}

func (p progress) String() string {
	s := fmt.Sprintf("%d/%d children exist, %d/%d healthy", p.seen, p.children, p.healthy, p.children)
	if p.instances > 0 {
		s += fmt.Sprintf(", %d/%d instances Ready", p.ready, p.instances)
	}
	return s
}

func (t *tracker) progress() progress {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := progress{children: len(t.children), instances: len(t.instances)}
	for _, c := range t.children {
		if !c.seen.IsZero() {
			p.seen++
		}
		if !c.healthy.IsZero() {
			p.healthy++
		}
	}
	for _, at := range t.instances {
		if !at.IsZero() {
			p.ready++
		}
	}
	return p
}

// wait polls until everything is seen, healthy and Ready, or the timeout.
func (t *tracker) wait(ctx context.Context, timeout time.Duration) (progress, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		p := t.progress()
		if p.done() {
			return p, nil
		}
		select {
		case <-ctx.Done():
			return p, fmt.Errorf("after %s: %s", timeout, p)
		case <-tick.C:
		}
	}
}

// timings are the figures of a run, relative to its start.
type timings struct {
	allChildren time.Duration   // last child's first appearance
	allHealthy  time.Duration   // last child healthy (Deployment available)
	allReady    time.Duration   // last instance Ready (0 without instances)
	lags        []time.Duration // per instance: Ready − its last child healthy, sorted
	latencies   []time.Duration // per instance: Ready − the client sending its create, sorted
	slowest     []string        // the instances with the longest lags, with when
}

func (t *tracker) timings(start time.Time) timings {
	t.mu.Lock()
	defer t.mu.Unlock()
	var r timings
	lastHealthy := map[string]time.Time{}
	for _, c := range t.children {
		r.allChildren = max(r.allChildren, c.seen.Sub(start))
		r.allHealthy = max(r.allHealthy, c.healthy.Sub(start))
		if c.healthy.After(lastHealthy[c.instance]) {
			lastHealthy[c.instance] = c.healthy
		}
	}
	type lag struct {
		instance   string
		healthy, r time.Time
	}
	var all []lag
	for inst, at := range t.instances {
		r.allReady = max(r.allReady, at.Sub(start))
		if c, ok := t.created[inst]; ok && !at.IsZero() {
			r.latencies = append(r.latencies, at.Sub(c))
		}
		if h, ok := lastHealthy[inst]; ok && !at.IsZero() && !h.IsZero() {
			r.lags = append(r.lags, at.Sub(h))
			all = append(all, lag{inst, h, at})
		}
	}
	slices.Sort(r.lags)
	slices.Sort(r.latencies)
	// The slowest, with wall-clock times to find them in the manager's log.
	sort.Slice(all, func(i, j int) bool { return all[i].r.Sub(all[i].healthy) > all[j].r.Sub(all[j].healthy) })
	for _, l := range all[:min(3, len(all))] {
		r.slowest = append(r.slowest, fmt.Sprintf("%s healthy %s, Ready %s",
			l.instance, l.healthy.UTC().Format("15:04:05.000"), l.r.UTC().Format("15:04:05.000")))
	}
	return r
}

// firstSeen returns the first moment any expected child was seen, or zero.
func (t *tracker) firstSeen() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	var first time.Time
	for _, c := range t.children {
		if !c.seen.IsZero() && (first.IsZero() || c.seen.Before(first)) {
			first = c.seen
		}
	}
	return first
}

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
