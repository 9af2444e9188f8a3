package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"operetta.dev/operetta/internal/kube"
	"operetta.dev/operetta/internal/metrics"
)

// ErrNotLeading is returned by Start before the engine runs, that is before
// this manager is elected leader: a wait (kube.Waiting), which the caller
// retries.
var ErrNotLeading = kube.Wait("this manager is not the elected leader yet")

// Options tune every loop.
type Options struct {
	// Workers is the number of concurrent reconciles of each kind.
	Workers int
	// RateLimiter makes the backoff of each loop's queue; nil keeps
	// controller-runtime's default.
	RateLimiter func() workqueue.TypedRateLimiter[reconcile.Request]
	// LoopFailed is told when a loop stopped on its own (its informer never
	// synced, say), after it was removed: whoever started it may start it
	// again.
	LoopFailed func(name string, err error)
	// Children selects the children the loops watch: the objects loops
	// made, and nothing else. Required.
	Children labels.Selector
	// OwnerOf reads which loop, and which instance of it, a child belongs
	// to; a child it answers false for wakes nobody. Required.
	OwnerOf func(child metav1.Object) (loop string, instance types.NamespacedName, ok bool)
}

// Engine runs one loop per kind, started and stopped at runtime. Start, Stop
// and IsRunning are idempotent and safe to call on every reconcile. R is the
// type of the loops' reconcilers, so a caller gets back what it made.
type Engine[R reconcile.Reconciler] struct {
	cache    cache.Cache
	log      logr.Logger
	opts     Options
	children *Children
	watched  *Watched

	mu    sync.Mutex
	base  context.Context // the elected manager's context; nil before
	loops map[string]*loop[R]
	// lifecycle serializes Start, Stop, Warm and Cool: each hands the
	// informers of a loop name to the next.
	lifecycle sync.Mutex
	// warm are the kinds of loops whose informers run ahead of the loop
	// (Warm), by loop name.
	warm map[string]schema.GroupVersionKind
}

// loop is one running controller for one kind.
type loop[R reconcile.Reconciler] struct {
	gvk        schema.GroupVersionKind
	reconciler R
	queue      atomic.Pointer[workqueue.TypedRateLimitingInterface[reconcile.Request]]
	cancel     context.CancelFunc
	done       chan struct{}
}

// enqueue adds a request to the loop's queue, once the loop has started,
// with a priority where the queue has them (controller-runtime's default).
func (l *loop[R]) enqueue(req reconcile.Request, priority int) {
	q := l.queue.Load()
	if q == nil {
		return
	}
	if pq, ok := (*q).(priorityqueue.PriorityQueue[reconcile.Request]); ok {
		pq.AddWithOpts(priorityqueue.AddOpts{Priority: &priority}, req)
		return
	}
	(*q).Add(req)
}

// Priorities of what wakes an instance. A child's event says that work
// already started may go on (a child became healthy): it goes before
// instances not yet started, so a burst of new instances does not delay
// the ones waiting for their children. Instance events themselves have
// controller-runtime's priorities (0, and lower for the initial list).
const (
	priorityDefault = 0
	priorityChild   = 10
)

// New returns an engine whose loops run only while mgr is the elected leader.
// Events of children are handed to the loop their labels name.
func New[R reconcile.Reconciler](mgr manager.Manager, opts Options) (*Engine[R], error) {
	if opts.Workers < 1 {
		opts.Workers = 1
	}
	if opts.Children == nil || opts.OwnerOf == nil {
		return nil, errors.New("the engine needs Options.Children and Options.OwnerOf")
	}
	e := &Engine[R]{
		cache: mgr.GetCache(),
		log:   mgr.GetLogger().WithName("engine"),
		opts:  opts,
		loops: map[string]*loop[R]{},
		warm:  map[string]schema.GroupVersionKind{},
	}
	children, err := newChildren(mgr, opts.Children, opts.OwnerOf, e.wake, e.childEventMatters, e.WakeAll)
	if err != nil {
		return nil, err
	}
	e.children = children
	e.watched = &Watched{
		scheme: mgr.GetScheme(), mapper: mgr.GetRESTMapper(),
		base: func() context.Context {
			e.mu.Lock()
			defer e.mu.Unlock()
			return e.base
		},
		wake: e.wake, watchers: e.watchersOf,
		caches: map[cacheKey]*watchCache{}, loops: map[string]map[bool]watchUse{},
	}
	if err := watchCRDs(mgr, children.served); err != nil {
		return nil, err
	}
	// A RunnableFunc needs leader election, so run starts only once elected.
	return e, mgr.Add(manager.RunnableFunc(e.run))
}

func (e *Engine[R]) run(ctx context.Context) error {
	e.mu.Lock()
	e.base = ctx
	e.mu.Unlock()
	<-ctx.Done()
	for _, name := range e.Running() {
		e.Stop(name)
	}
	return nil
}

// Cache is the cache the loops' own informers live in.
func (e *Engine[R]) Cache() cache.Cache { return e.cache }

// Children is the shared cache of children.
func (e *Engine[R]) Children() *Children { return e.children }

// Informers counts the informers the engine runs: one of instances per
// running loop, one per child kind shared by every loop, one per kind and
// identity a trigger or externalRef reads. A stopped loop leaves none.
func (e *Engine[R]) Informers() int {
	return len(e.Running()) + e.children.Informers() + e.watched.Informers()
}

// Watched are the informers of what loops' triggers watch; a loop stops
// watching when it stops.
func (e *Engine[R]) Watched() *Watched { return e.watched }

// watchersOf asks the loop named name which of its instances watch obj.
func (e *Engine[R]) watchersOf(name string, gvk schema.GroupVersionKind, obj metav1.Object) []types.NamespacedName {
	l, ok := e.Reconciler(name)
	if !ok {
		return nil
	}
	f, ok := any(l).(WatchFilter)
	if !ok {
		return nil
	}
	return f.WatchersOf(gvk, obj)
}

// Start runs the loop named name for kind gvk, watching children of the
// given kinds, and returns its reconciler. A loop that runs for the same kind
// keeps its reconciler (newReconciler is not called) and only has its child
// kinds updated; a loop whose kind changed is restarted.
func (e *Engine[R]) Start(name string, gvk schema.GroupVersionKind, childKinds []schema.GroupVersionKind, newReconciler func() R) (R, error) {
	e.lifecycle.Lock()
	defer e.lifecycle.Unlock()
	var zero R
	e.mu.Lock()
	base := e.base
	l, ok := e.loops[name]
	e.mu.Unlock()
	if base == nil {
		return zero, ErrNotLeading
	}
	if ok && l.gvk != gvk {
		e.stop(name)
		ok = false
	}
	if err := e.children.Watch(base, name, childKinds); err != nil {
		return zero, err
	}
	if ok {
		return l.reconciler, nil
	}

	l = &loop[R]{gvk: gvk, reconciler: newReconciler(), done: make(chan struct{})}
	log := e.log.WithValues("framework", name, "kind", gvk.Kind)
	opts := controller.TypedOptions[reconcile.Request]{
		Reconciler:              l.reconciler,
		MaxConcurrentReconciles: e.opts.Workers,
		Logger:                  log,
		// The same kind gets a new controller after a restart of its loop.
		SkipNameValidation: ptr.To(true),
	}
	if e.opts.RateLimiter != nil {
		opts.RateLimiter = e.opts.RateLimiter()
	}
	c, err := controller.NewTypedUnmanaged(gvk.GroupKind().String(), opts)
	if err != nil {
		return zero, fmt.Errorf("creating the loop for %s: %w", gvk.Kind, err)
	}
	if err := c.Watch(newInstanceSource(e.cache, kube.Unstructured(gvk), log,
		&handler.TypedEnqueueRequestForObject[*unstructured.Unstructured]{}, instanceChanged())); err != nil {
		return zero, fmt.Errorf("watching %s: %w", gvk.Kind, err)
	}
	// The loop's queue, for what is not an event of the kind: children,
	// Framework changes, a freed rollout slot.
	if err := c.Watch(source.TypedFunc[reconcile.Request](func(_ context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		l.queue.Store(&q)
		return nil
	})); err != nil {
		return zero, fmt.Errorf("capturing the queue of %s: %w", gvk.Kind, err)
	}
	ctx, cancel := context.WithCancel(base)
	l.cancel = cancel
	go func() {
		err := c.Start(ctx)
		close(l.done)
		if err == nil || ctx.Err() != nil {
			return // stopped, as asked
		}
		cancel() // ends what the loop had started, a source still syncing say
		log.Error(err, "loop stopped")
		// Serialized with Start: a loop started again for the name since
		// keeps its informers. (stop waits on done, closed above, so this
		// cannot wait on a stop that waits on it.)
		e.lifecycle.Lock()
		e.mu.Lock()
		current := e.loops[name] == l
		if current {
			delete(e.loops, name)
			metrics.RunningLoops.Set(float64(len(e.loops)))
		}
		e.mu.Unlock()
		if current {
			e.children.Release(name)
			e.watched.Release(name)
			_ = e.cache.RemoveInformer(context.Background(), kube.Unstructured(gvk))
		}
		e.lifecycle.Unlock()
		if current && e.opts.LoopFailed != nil {
			e.opts.LoopFailed(name, err)
		}
	}()
	e.mu.Lock()
	e.loops[name] = l
	warmed, wasWarm := e.warm[name]
	delete(e.warm, name) // the loop owns the informers now
	metrics.RunningLoops.Set(float64(len(e.loops)))
	e.mu.Unlock()
	if wasWarm && warmed != gvk {
		// Warmed for a kind an older generation had.
		_ = e.cache.RemoveInformer(context.Background(), kube.Unstructured(warmed))
	}
	log.Info("started loop")
	return l.reconciler, nil
}

// instanceChanged lets through what an instance's loop must see of its
// instances. Status writes bump no generation: the loop's own writes must
// not wake it.
func instanceChanged() predicate.TypedPredicate[*unstructured.Unstructured] {
	return predicate.Or[*unstructured.Unstructured](
		predicate.TypedGenerationChangedPredicate[*unstructured.Unstructured]{},
		predicate.TypedAnnotationChangedPredicate[*unstructured.Unstructured]{},
		predicate.TypedFuncs[*unstructured.Unstructured]{UpdateFunc: deletionStarted},
	)
}

// deletionStarted lets through the update that marks an object for
// deletion: finalizers run then, and a deletion timestamp bumps no
// generation.
func deletionStarted(ev event.TypedUpdateEvent[*unstructured.Unstructured]) bool {
	return ev.ObjectOld.GetDeletionTimestamp() == nil && ev.ObjectNew.GetDeletionTimestamp() != nil
}

// Enqueue asks the loop named name to reconcile key; it does nothing if that
// loop does not run.
func (e *Engine[R]) Enqueue(name string, key types.NamespacedName) {
	e.add(name, key, priorityDefault)
}

// WakeAll asks the loop named name to reconcile every instance, ahead of
// instances not yet started: what they wait for (a kind served at last,
// another Framework turning Ready) is no event of their own. It does
// nothing if that loop does not run.
func (e *Engine[R]) WakeAll(name string) {
	e.mu.Lock()
	l, ok := e.loops[name]
	ctx := e.base
	e.mu.Unlock()
	if !ok || ctx == nil {
		return
	}
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(l.gvk.GroupVersion().WithKind(l.gvk.Kind + "List"))
	if err := e.cache.List(ctx, list); err != nil {
		e.log.Error(err, "listing the instances to wake", "framework", name)
		return
	}
	for i := range list.Items {
		e.wake(name, types.NamespacedName{Namespace: list.Items[i].GetNamespace(), Name: list.Items[i].GetName()})
	}
}

// wake is Enqueue for a child's event, ahead of instances not yet started.
func (e *Engine[R]) wake(name string, key types.NamespacedName) {
	e.add(name, key, priorityChild)
}

func (e *Engine[R]) add(name string, key types.NamespacedName, priority int) {
	e.mu.Lock()
	l, ok := e.loops[name]
	e.mu.Unlock()
	if ok {
		l.enqueue(reconcile.Request{NamespacedName: key}, priority)
	}
}

// ChildFilter may be implemented by a loop's reconciler to skip the events
// of children that cannot change what it decides: every child event is
// otherwise a reconcile of its instance. Deletions are never skipped.
type ChildFilter interface {
	// ChildEventMatters says whether a child of instance, of kind gvk,
	// added (old is nil) or changed from old to new, may change what a
	// reconcile of instance decides.
	ChildEventMatters(instance types.NamespacedName, gvk schema.GroupVersionKind, old, new client.Object) bool
}

// childEventMatters asks the loop named name whether a child's event
// matters; without a loop, or a filter, every event does.
func (e *Engine[R]) childEventMatters(name string, instance types.NamespacedName, gvk schema.GroupVersionKind, old, new client.Object) bool {
	e.mu.Lock()
	l, ok := e.loops[name]
	e.mu.Unlock()
	if !ok {
		return true
	}
	f, ok := any(l.reconciler).(ChildFilter)
	return !ok || f.ChildEventMatters(instance, gvk, old, new)
}

// Reconciler returns the reconciler of the loop named name, if it runs.
func (e *Engine[R]) Reconciler(name string) (R, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	l, ok := e.loops[name]
	if !ok {
		var zero R
		return zero, false
	}
	return l.reconciler, true
}

// Stop stops the loop named name, waits for its workers and removes its
// informers. Stopping a loop that does not run does nothing.
func (e *Engine[R]) Stop(name string) {
	e.lifecycle.Lock()
	defer e.lifecycle.Unlock()
	// What a loop watches is set up before it starts: a loop that never
	// started may have it too.
	e.watched.Release(name)
	e.stop(name)
}

// stop stops the loop named name and lets go of its kind's informers. What
// it watches for its Framework's triggers and references stays: a loop
// restarted for a new kind (Start) goes on with it.
func (e *Engine[R]) stop(name string) {
	e.mu.Lock()
	l, ok := e.loops[name]
	delete(e.loops, name)
	metrics.RunningLoops.Set(float64(len(e.loops)))
	e.mu.Unlock()
	if !ok {
		return
	}
	l.cancel()
	<-l.done
	e.children.Release(name)
	if err := e.cache.RemoveInformer(context.Background(), kube.Unstructured(l.gvk)); err != nil {
		e.log.Error(err, "removing informer", "framework", name, "kind", l.gvk.Kind)
	}
	e.log.Info("stopped loop", "framework", name, "kind", l.gvk.Kind)
}

// Warm starts the informers a loop named name will read, its kind's
// instances and its children's kinds, without the loop: a standby replica
// keeps them synced, so once elected it starts its loops from full caches
// instead of listing everything first. Warming a loop that runs does
// nothing; Start takes the informers over.
func (e *Engine[R]) Warm(ctx context.Context, name string, gvk schema.GroupVersionKind, childKinds []schema.GroupVersionKind) error {
	e.lifecycle.Lock()
	defer e.lifecycle.Unlock()
	e.mu.Lock()
	if _, running := e.loops[name]; running {
		e.mu.Unlock()
		return nil
	}
	old, warmed := e.warm[name]
	e.warm[name] = gvk
	e.mu.Unlock()
	if warmed && old != gvk {
		_ = e.cache.RemoveInformer(context.Background(), kube.Unstructured(old))
	}
	if err := e.children.Watch(ctx, name, childKinds); err != nil {
		return err
	}
	// Not waiting for the sync: the informer syncs in the background.
	_, err := e.cache.GetInformer(ctx, kube.Unstructured(gvk), cache.BlockUntilSynced(false))
	return err
}

// Cool stops the informers Warm started for a loop that did not start.
func (e *Engine[R]) Cool(name string) {
	e.lifecycle.Lock()
	defer e.lifecycle.Unlock()
	e.mu.Lock()
	gvk, warmed := e.warm[name]
	delete(e.warm, name)
	_, running := e.loops[name]
	e.mu.Unlock()
	if !warmed || running {
		return
	}
	e.children.Release(name)
	_ = e.cache.RemoveInformer(context.Background(), kube.Unstructured(gvk))
}

// Warmed lists the loops whose informers run ahead of them, sorted.
func (e *Engine[R]) Warmed() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Sorted(maps.Keys(e.warm))
}

// IsRunning reports whether the loop named name runs.
func (e *Engine[R]) IsRunning(name string) bool {
	_, ok := e.Reconciler(name)
	return ok
}

// Running lists the loops that run, sorted.
func (e *Engine[R]) Running() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Sorted(maps.Keys(e.loops))
}
