package instance

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/conditions"
	"operetta.dev/operetta/internal/kube"
	"operetta.dev/operetta/internal/metrics"
	"operetta.dev/operetta/internal/plans"
	"operetta.dev/operetta/internal/reconcile/stale"
	"operetta.dev/operetta/internal/tasks"
)

// Config is what a Reconciler needs from around it.
type Config struct {
	GVK schema.GroupVersionKind
	// Instances reads instances from the loop's informer cache.
	Instances client.Reader
	// Client writes instances' status and finalizers.
	Client client.Client
	// Children reads children from the shared children cache.
	Children tasks.ChildCache
	// Frameworks reads Frameworks from the manager's cache.
	Frameworks client.Reader
	Recorder   recorder.EventRecorder
	// Enqueue asks this kind's loop to reconcile an instance.
	Enqueue func(types.NamespacedName)
	// RolloutChanged hands the Framework controller the Report, which
	// changed.
	RolloutChanged func(Report)
	// Resync is how long a plan that waits goes without an event before
	// it looks again anyway: a safety net, since children's events wake it.
	Resync time.Duration
	Now    func() time.Time
	// Shard labels the children this manager applies (internal/shard).
	Shard string
	// PipeImage is the image of the container Pipe tasks read files out of.
	PipeImage string
	// Revisions reads a FrameworkRevision from the API server: only a
	// loop that finds an instance on a generation it never ran reads one.
	Revisions client.Reader
	// Watched reads what the Framework's triggers watch; nil: nothing is
	// watched.
	Watched WatchedReader
	// WriterFor returns the client children are written with for a
	// Framework that names service account sa (none: the zero value): a
	// revision loaded from its FrameworkRevision needs one.
	WriterFor func(sa types.NamespacedName) (client.Client, error)
}

// Reconciler drives the instances of one generated kind through their
// Framework's plans. It runs the Framework generation it was last handed,
// and keeps the earlier ones while instances still stand on them, waiting
// for their turn in a rollout.
type Reconciler struct {
	cfg Config

	mu          sync.RWMutex
	current     int64
	generations map[int64]generation

	rollout  rollout
	progress progress
	// isPrimed: every instance in the cache was reconciled once.
	isPrimed atomic.Bool
	renders  *tasks.Renders
	verdicts *tasks.Verdicts
	// written tells a reconcile whose cache lacks this loop's last status
	// write of the instance.
	written stale.Guard[types.NamespacedName]
	// watching says which instances watch which objects, for triggers.
	watching watchIndex
}

// generation is one compiled Framework generation and the client its
// children are written with.
type generation struct {
	fw     *compile.Framework
	writer client.Client
	// since is when this loop started rolling it out: what
	// spec.rollout.progressDeadline counts from.
	since time.Time
}

// New returns a Reconciler that runs fw, writing children with writer.
func New(fw *compile.Framework, writer client.Client, cfg Config) *Reconciler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Reconciler{
		cfg: cfg, current: fw.Generation,
		generations: map[int64]generation{fw.Generation: {fw: fw, writer: writer, since: cfg.Now()}},
		renders:     tasks.NewRenders(),
		verdicts:    tasks.NewVerdicts(),
	}
}

// RollOut makes fw the generation instances run, writing children with writer.
// A new generation reaches every instance (at the rollout's pace): all are
// enqueued.
func (r *Reconciler) RollOut(ctx context.Context, fw *compile.Framework, writer client.Client) error {
	var items []unstructured.Unstructured
	// A new generation reaches every instance; so does a change of the
	// rollout's gates, which may let held instances go now.
	if before := r.currentGeneration().fw; before.Generation != fw.Generation || gatesOf(before) != gatesOf(fw) {
		// Listed first: if it fails, the next call finds the generation
		// still new and tries again.
		var err error
		if items, err = List(ctx, r.cfg.Instances, r.cfg.GVK); err != nil {
			return err
		}
	}
	r.mu.Lock()
	r.current = fw.Generation
	since := r.cfg.Now()
	if was, ok := r.generations[fw.Generation]; ok && !was.since.IsZero() {
		since = was.since
	}
	r.generations[fw.Generation] = generation{fw: fw, writer: writer, since: since}
	inUse := r.progress.inUse()
	for g := range r.generations {
		if g != r.current && !inUse[g] {
			delete(r.generations, g)
		}
	}
	r.mu.Unlock()
	for i := range items {
		r.cfg.Enqueue(client.ObjectKeyFromObject(&items[i]))
	}
	return nil
}

// gates are a Framework's rollout settings, comparable.
type gates struct {
	maxConcurrent, maxFailures int
	paused                     bool
	selector                   string
}

func gatesOf(fw *compile.Framework) gates {
	g := gates{maxConcurrent: fw.MaxConcurrent, maxFailures: fw.MaxFailures, paused: fw.RolloutPaused}
	if fw.RolloutSelector != nil {
		g.selector = fw.RolloutSelector.String()
	}
	return g
}

// DependsOn says whether an Instance task of a generation this loop runs
// creates instances of Framework name. Such a task waits for that Framework
// to be Ready, and no event of this loop's own objects says when it is.
func (r *Reconciler) DependsOn(name string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, g := range r.generations {
		for _, t := range g.fw.Tasks {
			if t.Kind == v1alpha1.TaskInstance && t.Framework == name {
				return true
			}
		}
	}
	return false
}

// ChildEventMatters says whether a child's event may change what a
// reconcile of its instance decides (engine.ChildFilter). An add or update
// showing the very version this loop's apply answered with has nothing new,
// unless a reconcile waits for the cache to show it; an update otherwise
// matters by tasks.UpdateMatters, for any generation instances run.
func (r *Reconciler) ChildEventMatters(instance types.NamespacedName, gvk schema.GroupVersionKind, old, new client.Object) bool {
	if r.renders.AppliedAsSeen(instance, gvk, new) {
		return false
	}
	if old == nil {
		return true
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, g := range r.generations {
		if tasks.UpdateMatters(g.fw, r.verdicts, gvk, old, new) {
			return true
		}
	}
	return false
}

// Generation is the Framework generation instances run now.
func (r *Reconciler) Generation() int64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.current
}

// Report says where the current generation stands across the instances.
func (r *Reconciler) Report() Report {
	current := r.currentGeneration()
	fw := current.fw
	report := r.progress.report(fw.Generation)
	report.Primed = r.primed(int(report.Rollout.Total))
	report.Paused = fw.RolloutPaused && report.RollingOut
	if fw.ProgressDeadline > 0 && report.RollingOut {
		report.Deadline = current.since.Add(fw.ProgressDeadline)
	}
	report.Halted, report.Late = r.halted(current)
	return report
}

// primed says whether the loop has reconciled every instance its cache
// holds, given how many it has counted; once true it stays true. Until
// then a report counts only some of them.
func (r *Reconciler) primed(counted int) bool {
	if r.isPrimed.Load() {
		return true
	}
	// A read that never waits: a cache not synced yet (the loop just
	// started, or its kind not served) answers an error, not later.
	now, cancel := context.WithCancel(context.Background())
	cancel()
	items, err := List(now, r.cfg.Instances, r.cfg.GVK)
	if err != nil || counted < len(items) {
		return false
	}
	r.isPrimed.Store(true)
	return true
}

// halted says whether the current generation's rollout halted: as many
// instances failed on it as spec.rollout.maxFailures allows, or one moved
// to it is still working past spec.rollout.progressDeadline (late). It
// reads two counters, not every instance: a waiting instance asks it on
// every reconcile.
func (r *Reconciler) halted(current generation) (halted, late bool) {
	fw := current.fw
	failed, working := r.progress.gateCounts(fw.Generation)
	late = fw.ProgressDeadline > 0 && working > 0 && !r.cfg.Now().Before(current.since.Add(fw.ProgressDeadline))
	return fw.MaxFailures > 0 && failed >= fw.MaxFailures || late, late
}

// gated says whether the rollout's gates keep instance from the current
// generation now: the rollout is paused, halted, or a canary selector
// leaves it out. It stays on the generation it runs.
func (r *Reconciler) gated(instance *unstructured.Unstructured, current generation) bool {
	fw := current.fw
	switch {
	case GateOf(fw, instance) != "":
		return true
	case fw.MaxFailures > 0 || fw.ProgressDeadline > 0:
		halted, _ := r.halted(current)
		return halted
	}
	return false
}

// GateOf names the gate of fw's rollout that keeps instance from fw's
// generation whatever the other instances do, "" if none: the rollout is
// paused, or its canary selector leaves the instance out. (A halted
// rollout keeps it too, by counts only the running loop has.)
func GateOf(fw *compile.Framework, instance *unstructured.Unstructured) string {
	switch {
	case fw.RolloutPaused:
		return "the rollout is paused"
	case fw.RolloutSelector != nil && !fw.RolloutSelector.Matches(labels.Set(instance.GetLabels())):
		return "spec.rollout.selector does not select it"
	}
	return ""
}

// States counts the instances by readiness and active plan status, as last
// reconciled, for the metrics.
func (r *Reconciler) States() map[metrics.InstanceState]int {
	return r.progress.states()
}

// currentGeneration is the generation instances run now.
func (r *Reconciler) currentGeneration() generation {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.generations[r.current]
}

func (r *Reconciler) generation(g int64) (generation, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	gen, ok := r.generations[g]
	return gen, ok
}

func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	current := r.currentGeneration()
	log := ctrl.LoggerFrom(ctx).WithValues("framework", current.fw.Name, "kind", r.cfg.GVK.Kind, "instance", req.Name, "namespace", req.Namespace)
	ctx = ctrl.LoggerInto(ctx, log)

	instance := &unstructured.Unstructured{}
	instance.SetGroupVersionKind(r.cfg.GVK)
	if err := r.cfg.Instances.Get(ctx, req.NamespacedName, instance); err != nil {
		if kube.Gone(err) {
			r.forgetInstance(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if r.written.Behind(req.NamespacedName, instance.GetResourceVersion()) {
		// Working from it would only conflict with the write it lacks.
		return ctrl.Result{RequeueAfter: stale.Retry}, nil
	}
	old := ReadStatus(instance)
	st := *old.DeepCopy()

	if instance.GetDeletionTimestamp() != nil {
		// An instance on its way out takes no place in a rollout: its
		// cleanup runs with the generation it is on.
		r.wake(r.rollout.done(req.NamespacedName))
		gen := current
		if own, known, err := r.generationOf(ctx, current, st.FrameworkGeneration); err != nil {
			return ctrl.Result{}, err
		} else if known {
			gen = own
		}
		if err := r.ensureFinalizer(ctx, gen.fw, instance); err != nil {
			return kube.ResultOf(err)
		}
		exec := tasks.NewExecutor(r.clients(gen), gen.fw, instance, &st)
		return r.finalize(ctx, gen.fw, exec, instance, old, st)
	}
	if instance.GetAnnotations()[v1alpha1.AnnotationPaused] == "true" {
		return r.hold(ctx, req.NamespacedName, current, instance, old, st)
	}
	conditions.SetPaused(&st.Conditions, instance.GetGeneration(), false, "")
	gen, recorded, err := r.admit(ctx, instance, st, current)
	if err != nil {
		return ctrl.Result{}, err
	}
	fw := gen.fw
	if err := r.ensureFinalizer(ctx, fw, instance); err != nil {
		return kube.ResultOf(err)
	}
	exec := tasks.NewExecutor(r.clients(gen), fw, instance, &st)
	r.schedule(ctx, fw, recorded, instance, &st)
	nextScheduled := r.runSchedules(fw, instance, &st)
	r.runTriggers(ctx, fw, instance, &st)
	r.advance(ctx, fw, exec, &st)
	// What keeping the children finds wrong is retried, but never keeps
	// the plans' progress from being written.
	children, keepErr := r.maintain(ctx, exec, instance, &st)
	// Children not all checked (their correction failed, to be retried)
	// say nothing new about readiness: the conditions stay as they were,
	// unless the plans moved on.
	if keepErr == nil || old.ActivePlan != st.ActivePlan || old.ActivePlanStatus != st.ActivePlanStatus {
		plans.SetConditions(&st, instance.GetGeneration(), children)
	}
	oldProjected := readProjected(instance, fw.Projections)
	projected := r.project(ctx, fw, exec)

	if err := r.writeStatus(ctx, instance, old, st, oldProjected, projected); err != nil {
		return kube.ResultOf(err)
	}
	announce(r.cfg.Recorder, fw.Name, instance, old, st)
	r.recordStanding(req.NamespacedName, current.fw.Generation, st)
	if keepErr != nil {
		return kube.ResultOf(keepErr)
	}
	// A held instance is also woken by a freed place in the rollout.
	return wakeBy(r.resultFor(fw, st), nextScheduled), nil
}

// wakeBy makes result look again by after (0: no need) at the latest: when
// the next scheduled run is due. A rate-limited retry comes sooner anyway.
func wakeBy(result ctrl.Result, after time.Duration) ctrl.Result {
	if after > 0 && !result.Requeue && (result.RequeueAfter == 0 || after < result.RequeueAfter) { //nolint:staticcheck // Requeue is kube.Retry's
		result.RequeueAfter = after
	}
	return result
}

// hold keeps a held instance as it is: its status says so, and nothing else
// is done (no plan step, drift correction, pruning or admission to a newer
// revision). Removing the annotation goes on from where it stood.
func (r *Reconciler) hold(ctx context.Context, key types.NamespacedName, current generation, instance *unstructured.Unstructured, old, st v1alpha1.InstanceStatus) (ctrl.Result, error) {
	conditions.SetPaused(&st.Conditions, instance.GetGeneration(), true,
		"held by the "+v1alpha1.AnnotationPaused+" annotation: no plan step, drift correction, pruning or newer revision until it is removed")
	projected := readProjected(instance, current.fw.Projections)
	if err := r.writeStatus(ctx, instance, old, st, projected, projected); err != nil {
		return kube.ResultOf(err)
	}
	r.recordStanding(key, current.fw.Generation, st)
	return ctrl.Result{}, nil
}

// writeStatus patches instance's status, only if it changed, and
// remembers the version it wrote, for a reconcile from a cache without it.
func (r *Reconciler) writeStatus(ctx context.Context, instance *unstructured.Unstructured, old, st v1alpha1.InstanceStatus, oldProjected, projected map[string]any) error {
	readVersion := instance.GetResourceVersion()
	wrote, err := patchStatus(ctx, r.cfg.Client, instance, old, st, oldProjected, projected)
	if err == nil && wrote {
		r.written.Wrote(client.ObjectKeyFromObject(instance), readVersion, instance.GetResourceVersion())
	}
	return err
}

// admit decides which generation an instance runs now. A new generation
// reaches it when the rollout admits it; until then it keeps running the
// generation it is on — rendering, drift correction, pruning. recorded is
// the generation its status records plans for.
func (r *Reconciler) admit(ctx context.Context, instance *unstructured.Unstructured, st v1alpha1.InstanceStatus, current generation) (gen generation, recorded int64, err error) {
	if st.FrameworkGeneration == 0 || st.FrameworkGeneration == current.fw.Generation {
		return current, current.fw.Generation, nil
	}
	if r.gated(instance, current) {
		return r.stayOn(ctx, current, st.FrameworkGeneration)
	}
	list := func(ctx context.Context) ([]unstructured.Unstructured, error) {
		return List(ctx, r.cfg.Instances, r.cfg.GVK)
	}
	ok, forgotten, err := r.rollout.admit(ctx, list, client.ObjectKeyFromObject(instance), current.fw.Generation, current.fw.MaxConcurrent)
	r.wake(forgotten)
	if err != nil {
		return current, 0, fmt.Errorf("admitting to the rollout: %w", err)
	}
	if ok {
		return current, current.fw.Generation, nil
	}
	return r.stayOn(ctx, current, st.FrameworkGeneration)
}

// stayOn is an instance's generation g while it is not admitted to the
// current one.
func (r *Reconciler) stayOn(ctx context.Context, current generation, g int64) (gen generation, recorded int64, err error) {
	previous, known, err := r.generationOf(ctx, current, g)
	if err != nil {
		return current, 0, err
	}
	if known {
		return previous, g, nil
	}
	// Its revision is gone too (deleted by hand): the current
	// generation's templates are all there is.
	return current, g, nil
}

// generationOf is generation g: one this loop ran, or one compiled from
// its FrameworkRevision, read from the API server, when this manager started
// after it was current. known is false if neither exists.
func (r *Reconciler) generationOf(ctx context.Context, current generation, g int64) (gen generation, known bool, err error) {
	if gen, known := r.generation(g); known {
		return gen, true, nil
	}
	if r.cfg.Revisions == nil || r.cfg.WriterFor == nil {
		return generation{}, false, nil
	}
	rev := &v1alpha1.FrameworkRevision{}
	if err := r.cfg.Revisions.Get(ctx, client.ObjectKey{Name: v1alpha1.RevisionName(current.fw.Name, g)}, rev); kube.Gone(err) {
		return generation{}, false, nil
	} else if err != nil {
		return generation{}, false, fmt.Errorf("reading revision %d: %w", g, err)
	}
	compiled, errs := compile.Compile(&v1alpha1.Framework{ObjectMeta: metav1.ObjectMeta{Name: rev.Framework, Generation: rev.Revision}, Spec: rev.Spec})
	if len(errs) > 0 {
		return generation{}, false, kube.Fail("revision %d does not compile: %s", g, compile.Message(errs))
	}
	writer, err := r.cfg.WriterFor(compiled.ServiceAccount)
	if err != nil {
		return generation{}, false, fmt.Errorf("a client for revision %d: %w", g, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if made, ok := r.generations[g]; ok {
		return made, true, nil // compiled meanwhile
	}
	gen = generation{fw: compiled, writer: writer}
	r.generations[g] = gen
	return gen, true, nil
}

// wake enqueues instances.
func (r *Reconciler) wake(keys []types.NamespacedName) {
	for _, k := range keys {
		r.cfg.Enqueue(k)
	}
}

func (r *Reconciler) clients(gen generation) tasks.Clients {
	c := tasks.Clients{Writer: gen.writer, Children: r.cfg.Children, Frameworks: r.cfg.Frameworks, Renders: r.renders, Verdicts: r.verdicts, Shard: r.cfg.Shard, PipeImage: r.cfg.PipeImage}
	if r.cfg.Watched != nil {
		c.References = r.cfg.Watched
	}
	return c
}

// schedule starts or queues the plans the instance's changes trigger and
// records what they were triggered for.
func (r *Reconciler) schedule(ctx context.Context, fw *compile.Framework, generation int64, instance *unstructured.Unstructured, st *v1alpha1.InstanceStatus) {
	spec, _, _ := unstructured.NestedMap(instance.Object, "spec")
	digests := plans.ParameterDigests(spec, fw.Parameters)
	runPlan := instance.GetAnnotations()[v1alpha1.AnnotationRunPlan]
	triggered := plans.Triggered(fw.Triggers, plans.Observed{
		ParameterDigests:    digests,
		FrameworkGeneration: generation,
		GoingBack:           fw.ReturnsTo > 0 && st.FrameworkGeneration > fw.ReturnsTo,
		RunPlan:             runPlan,
		Status:              *st,
	})
	if len(triggered) > 0 {
		ctrl.LoggerFrom(ctx).V(1).Info("plans triggered", "plans", triggered)
	}
	if runPlan != st.LastRunPlan {
		st.RunPlanError = unknownPlan(fw, runPlan)
	}
	plans.Schedule(st, triggered, r.startPlan(fw))
	st.ParameterDigests = digests
	st.FrameworkGeneration = generation
	st.FrameworkRevision = v1alpha1.RevisionName(fw.Name, generation)
	st.LastRunPlan = runPlan
	st.ObservedGeneration = instance.GetGeneration()
}

// unknownPlan explains a run-plan value that names no plan of fw, and is ""
// for one that does (or is empty).
func unknownPlan(fw *compile.Framework, value string) string {
	name := plans.RunPlanName(value)
	if _, ok := fw.Plans[name]; ok || name == "" {
		return ""
	}
	names := make([]string, 0, len(fw.Plans))
	for n := range fw.Plans {
		names = append(names, n)
	}
	sort.Strings(names)
	return fmt.Sprintf("%s=%q names no plan of Framework %s, so nothing ran; its plans are: %s",
		v1alpha1.AnnotationRunPlan, value, fw.Name, strings.Join(names, ", "))
}

func (r *Reconciler) startPlan(fw *compile.Framework) func(plan, cause string) v1alpha1.PlanStatus {
	return func(name, cause string) v1alpha1.PlanStatus {
		st := plans.Start(fw.Plans[name], uuid.NewUUID(), r.cfg.Now())
		st.Cause = cause
		return st
	}
}

// advance runs the active plan as far as it goes now, and the queued plans
// after it when it completes.
func (r *Reconciler) advance(ctx context.Context, fw *compile.Framework, exec *tasks.Executor, st *v1alpha1.InstanceStatus) {
	for range len(fw.Plans) + 1 { // each plan at most once per reconcile
		spec, ok := fw.Plans[st.ActivePlan]
		before := st.Plans[st.ActivePlan]
		if !ok || before.Status.IsTerminal() {
			return
		}
		exec.SetPlan(st.ActivePlan)
		after := plans.Advance(spec, before, func(phase v1alpha1.Phase, step v1alpha1.Step) plans.Outcome {
			return exec.Step(ctx, phase, step)
		}, r.cfg.Now())
		st.Plans[st.ActivePlan] = after
		st.ActivePlanStatus = after.Status
		if after.Status != before.Status {
			ctrl.LoggerFrom(ctx).V(1).Info("plan status changed", "plan", st.ActivePlan, "status", after.Status, "message", after.Message)
		}
		if after.Status != v1alpha1.Complete || len(st.PlanQueue) == 0 {
			return
		}
		plans.Schedule(st, nil, r.startPlan(fw))
	}
}

// maintain keeps an instance whose plans are done as they left it: pruned of
// children no longer rendered, and corrected where someone else changed one.
// It reports the kept children's health, which the instance's readiness
// follows from then on; no plan runs again for it.
func (r *Reconciler) maintain(ctx context.Context, exec *tasks.Executor, instance *unstructured.Unstructured, st *v1alpha1.InstanceStatus) (plans.ChildHealth, error) {
	if st.ActivePlanStatus != v1alpha1.Complete || len(st.PlanQueue) > 0 {
		return plans.ChildHealth{}, nil
	}
	// Children are rendered as the plan that applied them last did.
	exec.SetPlan(st.ActivePlan)
	kept, err := exec.Keep(ctx)
	if len(kept.Pruned) > 0 {
		ctrl.LoggerFrom(ctx).Info("pruned children no longer rendered", "children", kept.Pruned)
	}
	if len(kept.Corrected) > 0 {
		ctrl.LoggerFrom(ctx).Info("corrected drift", "children", kept.Corrected)
	}
	announceLeft(r.cfg.Recorder, instance, kept.Left)
	return plans.ChildHealth{NotReady: kept.NotReady, Failed: kept.Failed}, err
}

// project computes the Framework's status projections. One that cannot be
// computed now (a child without the field yet, say) is left out.
func (r *Reconciler) project(ctx context.Context, fw *compile.Framework, exec *tasks.Executor) map[string]any {
	out := map[string]any{}
	for _, p := range fw.Projections {
		if p.UsesResources {
			if err := exec.Observe(ctx); err != nil {
				ctrl.LoggerFrom(ctx).V(1).Info("reading children for status projections", "error", err.Error())
			}
			break
		}
	}
	vars := exec.Vars()
	vars.Plan = nil // projections belong to no plan exec
	for _, p := range fw.Projections {
		v, err := p.Template.Render(vars)
		if err != nil {
			ctrl.LoggerFrom(ctx).V(1).Info("status projection not computed", "field", p.Name, "error", err.Error())
			continue
		}
		if v != nil {
			out[p.Name] = v
		}
	}
	return out
}

// recordStanding records where the instance stands: a finished upgrade frees its
// place in the rollout for the next waiting instance, and a changed standing
// tells the Framework controller.
func (r *Reconciler) recordStanding(key types.NamespacedName, current int64, st v1alpha1.InstanceStatus) {
	if st.FrameworkGeneration == current && st.ActivePlanStatus.IsTerminal() {
		r.wake(r.rollout.done(key))
	}
	if r.progress.set(key, standingOf(st)) && r.cfg.RolloutChanged != nil {
		r.cfg.RolloutChanged(r.Report())
	}
}

// forgetInstance forgets an instance that no longer exists.
func (r *Reconciler) forgetInstance(key types.NamespacedName) {
	r.renders.Forget(key)
	r.written.Forget(key)
	r.watching.set(key, nil)
	r.wake(r.rollout.done(key))
	if r.progress.forget(key) && r.cfg.RolloutChanged != nil {
		r.cfg.RolloutChanged(r.Report())
	}
}

// resultFor says when to look again. A plan that waits for children is woken
// by their events, so it looks again on its own only after a jittered resync
// or when a step's timeout expires; a plan retrying an error backs off
// exponentially (the loop's rate limiter); a plan that is done, or stalled,
// is not looked at again until something changes.
func (r *Reconciler) resultFor(fw *compile.Framework, st v1alpha1.InstanceStatus) ctrl.Result {
	switch st.ActivePlanStatus {
	case v1alpha1.InProgress, v1alpha1.Pending:
		after := time.Duration(float64(r.cfg.Resync) * (0.9 + 0.2*rand.Float64()))
		if d, ok := nextTimeout(fw, st, r.cfg.Now()); ok && d < after {
			after = d
		}
		return ctrl.Result{RequeueAfter: after}
	case v1alpha1.Error:
		return kube.Retry() // with the queue's backoff; the message is in status
	default:
		return ctrl.Result{}
	}
}

// nextTimeout is how long until the first running step of the active plan
// times out, if any has a timeout.
func nextTimeout(fw *compile.Framework, st v1alpha1.InstanceStatus, now time.Time) (time.Duration, bool) {
	spec, exec := fw.Plans[st.ActivePlan], st.Plans[st.ActivePlan]
	var next time.Duration
	found := false
	for i, phase := range exec.Phases {
		if i >= len(spec.Phases) {
			break
		}
		for j, step := range phase.Steps {
			if j >= len(spec.Phases[i].Steps) || step.StartedAt == nil || step.Status.IsTerminal() {
				continue
			}
			limit := stepTimeout(fw, spec.Phases[i].Steps[j])
			if limit == 0 {
				continue
			}
			d := step.StartedAt.Add(limit).Sub(now) + time.Second // past it, not on it
			if !found || d < next {
				next, found = max(d, time.Second), true
			}
		}
	}
	return next, found
}

// stepTimeout is the longest a step may run: its own timeout, else the
// longest of its tasks'.
func stepTimeout(fw *compile.Framework, step v1alpha1.Step) time.Duration {
	if step.Timeout != nil {
		return step.Timeout.Duration
	}
	var limit time.Duration
	for _, name := range step.Tasks {
		if t := fw.Tasks[name]; t != nil && t.Timeout != nil && t.Timeout.Duration > limit {
			limit = t.Timeout.Duration
		}
	}
	return limit
}
