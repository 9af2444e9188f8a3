package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/metrics"
)

// errNotLeading is returned by Start before the registry runs, that is
// before this manager is elected leader. The caller retries.
var errNotLeading = errors.New("the loop registry is not running yet: waiting for leader election")

// Registry runs one reconcile loop per generated kind, started and stopped at
// runtime. Each loop has its own queue and workers, so a busy kind cannot
// starve another, and its own informer, removed from the cache when it stops.
// Start, Stop and IsRunning are idempotent and safe to call on every
// reconcile.
type Registry struct {
	cache    cache.Cache
	client   client.Client
	config   *rest.Config
	scheme   *runtime.Scheme
	mapper   meta.RESTMapper
	log      logr.Logger
	workers  int
	children *childWatcher
	recorder recorder.EventRecorder

	mu    sync.Mutex
	base  context.Context // the elected manager's context; nil before
	loops map[string]*loop
}

// loop is one running controller for one generated kind.
type loop struct {
	gvk     schema.GroupVersionKind
	rollout rollout
	// childClient applies, reads and deletes children: the manager's own, or
	// one impersonating the Framework's service account.
	childClient    atomic.Value // client.Client
	serviceAccount types.NamespacedName
	framework      atomic.Pointer[compile.Framework]
	queue          atomic.Pointer[workqueue.TypedRateLimitingInterface[reconcile.Request]]
	cancel         context.CancelFunc
	done           chan struct{}
}

// client returns the client children are handled with.
func (l *loop) client() client.Client { return l.childClient.Load().(client.Client) }

// enqueue adds an instance to the loop's queue, once the loop has started.
func (l *loop) enqueue(req reconcile.Request) {
	if q := l.queue.Load(); q != nil {
		(*q).Add(req)
	}
}

// NewRegistry returns a registry whose loops run only while mgr is the
// elected leader.
func NewRegistry(mgr manager.Manager, workers int) (*Registry, error) {
	r := &Registry{
		cache:    mgr.GetCache(),
		client:   mgr.GetClient(),
		config:   mgr.GetConfig(),
		scheme:   mgr.GetScheme(),
		mapper:   mgr.GetRESTMapper(),
		log:      mgr.GetLogger().WithName("loops"),
		workers:  workers,
		loops:    map[string]*loop{},
		recorder: mgr.GetEventRecorder(v1alpha1.FieldManager),
	}
	children, err := newChildWatcher(mgr, r.Enqueue)
	if err != nil {
		return nil, err
	}
	r.children = children
	// A RunnableFunc needs leader election, so run starts only once elected.
	return r, mgr.Add(manager.RunnableFunc(r.run))
}

func (r *Registry) run(ctx context.Context) error {
	r.mu.Lock()
	r.base = ctx
	r.mu.Unlock()
	<-ctx.Done()
	for _, name := range r.Running() {
		r.Stop(name)
	}
	return nil
}

// Start runs the loop of Framework name for fw's kind, or hands a running one
// the new compiled Framework. A loop whose kind changed is restarted.
func (r *Registry) Start(name string, fw *compile.Framework) error {
	r.mu.Lock()
	if r.base == nil {
		r.mu.Unlock()
		return errNotLeading
	}
	if l, ok := r.loops[name]; ok {
		if l.gvk == fw.GVK {
			if err := r.setChildClient(l, fw); err != nil {
				r.mu.Unlock()
				return err
			}
			previous := l.framework.Swap(fw)
			r.mu.Unlock()
			if err := r.children.watch(r.base, name, fw.ChildKinds); err != nil {
				return err
			}
			if previous.Generation != fw.Generation {
				// Every instance re-renders with the new generation.
				return r.enqueueAll(l)
			}
			return nil
		}
		r.mu.Unlock()
		r.Stop(name)
		r.mu.Lock()
	}
	defer r.mu.Unlock()

	l := &loop{gvk: fw.GVK, done: make(chan struct{})}
	l.framework.Store(fw)
	if err := r.setChildClient(l, fw); err != nil {
		return err
	}
	log := r.log.WithValues("framework", name, "kind", fw.GVK.Kind)
	c, err := controller.NewUnmanaged(fw.GVK.GroupKind().String(), controller.Options{
		Reconciler: &instanceReconciler{
			gvk: fw.GVK, reader: r.cache, client: r.client, childClient: l.client, children: r.children, recorder: r.recorder, rollout: &l.rollout,
			framework: &l.framework, now: time.Now,
		},
		MaxConcurrentReconciles: r.workers,
		Logger:                  log,
		// The same kind gets a new controller after a restart of its loop.
		SkipNameValidation: ptr.To(true),
	})
	if err != nil {
		return fmt.Errorf("creating the loop for %s: %w", fw.GVK.Kind, err)
	}
	if err := c.Watch(source.Kind(r.cache, instanceObject(fw.GVK), &handler.TypedEnqueueRequestForObject[*unstructured.Unstructured]{},
		// Status writes bump no generation; the controller's own writes
		// must not wake it.
		predicate.Or[*unstructured.Unstructured](
			predicate.TypedGenerationChangedPredicate[*unstructured.Unstructured]{},
			predicate.TypedAnnotationChangedPredicate[*unstructured.Unstructured]{},
		),
	)); err != nil {
		return fmt.Errorf("watching %s: %w", fw.GVK.Kind, err)
	}
	// The loop's queue, for events that are not about instances: children
	// and Framework changes.
	if err := c.Watch(source.Func(func(_ context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		l.queue.Store(&q)
		return nil
	})); err != nil {
		return fmt.Errorf("capturing the queue of %s: %w", fw.GVK.Kind, err)
	}
	if err := r.children.watch(r.base, name, fw.ChildKinds); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(r.base)
	l.cancel = cancel
	go func() {
		defer close(l.done)
		if err := c.Start(ctx); err != nil {
			log.Error(err, "loop stopped")
		}
	}()
	r.loops[name] = l
	metrics.RunningLoops.Set(float64(len(r.loops)))
	log.Info("started loop")
	return nil
}

// setChildClient gives the loop the client its Framework's children are
// handled with, impersonating the Framework's service account if it names
// one. Every request is then authorized as that account.
func (r *Registry) setChildClient(l *loop, fw *compile.Framework) error {
	if l.childClient.Load() != nil && l.serviceAccount == fw.ServiceAccount {
		return nil
	}
	c := r.client
	if fw.ServiceAccount.Name != "" {
		cfg := rest.CopyConfig(r.config)
		cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + fw.ServiceAccount.Namespace + ":" + fw.ServiceAccount.Name}
		var err error
		if c, err = client.New(cfg, client.Options{Scheme: r.scheme, Mapper: r.mapper}); err != nil {
			return fmt.Errorf("a client impersonating %s: %w", fw.ServiceAccount, err)
		}
	}
	l.childClient.Store(c)
	l.serviceAccount = fw.ServiceAccount
	return nil
}

// enqueueAll queues every instance of the loop's kind, from its informer.
func (r *Registry) enqueueAll(l *loop) error {
	items, err := listInstances(context.Background(), r.cache, l.gvk)
	if err != nil {
		return err
	}
	for i := range items {
		l.enqueue(reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&items[i])})
	}
	return nil
}

// Progress counts the instances of the loop of Framework name and those that
// run its current generation with nothing left to do for it.
func (r *Registry) Progress(ctx context.Context, name string) (generation int64, updated, total int32, err error) {
	r.mu.Lock()
	l, ok := r.loops[name]
	r.mu.Unlock()
	if !ok {
		return 0, 0, 0, errors.New("no loop runs")
	}
	generation = l.framework.Load().Generation
	updated, total, err = progress(ctx, r.cache, l.gvk, generation)
	return generation, updated, total, err
}

// Enqueue asks the loop of Framework name to reconcile an instance; it does
// nothing if that loop does not run.
func (r *Registry) Enqueue(name string, instance types.NamespacedName) {
	r.mu.Lock()
	l, ok := r.loops[name]
	r.mu.Unlock()
	if ok {
		l.enqueue(reconcile.Request{NamespacedName: instance})
	}
}

// Stop stops the loop of Framework name, waits for its workers and removes
// its informer. Stopping a loop that does not run does nothing.
func (r *Registry) Stop(name string) {
	r.mu.Lock()
	l, ok := r.loops[name]
	delete(r.loops, name)
	metrics.RunningLoops.Set(float64(len(r.loops)))
	r.mu.Unlock()
	if !ok {
		return
	}
	l.cancel()
	<-l.done
	r.children.release(name)
	if err := r.cache.RemoveInformer(context.Background(), instanceObject(l.gvk)); err != nil {
		r.log.Error(err, "removing informer", "framework", name, "kind", l.gvk.Kind)
	}
	r.log.Info("stopped loop", "framework", name, "kind", l.gvk.Kind)
}

// IsRunning reports whether the loop of Framework name runs.
func (r *Registry) IsRunning(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.loops[name]
	return ok
}

// Running lists the Frameworks whose loops run, sorted.
func (r *Registry) Running() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.loops))
	for name := range r.loops {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// WatchedChildKinds lists the child kinds with an informer, shared by every
// running loop.
func (r *Registry) WatchedChildKinds() []string { return r.children.watched() }

// Generation returns the Framework generation the loop of name runs, and
// whether it runs.
func (r *Registry) Generation(name string) (int64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.loops[name]
	if !ok {
		return 0, false
	}
	return l.framework.Load().Generation, true
}

func instanceObject(gvk schema.GroupVersionKind) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	return u
}
