package engine

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"operetta.dev/operetta/internal/kube"
	"operetta.dev/operetta/internal/metrics"
)

// Children keeps one informer per child kind, shared by every loop that has
// children of it and filtered by operetta's managed-by label, so it holds
// operetta's children and nothing else. Health checks and drift detection
// read children from it instead of asking the API server. An event on a child
// is handed, by the child's labels, to its instance's loop: no instance is
// ever listed to find it. An informer is removed once no loop needs its kind.
type Children struct {
	cache   cache.Cache
	scheme  *runtime.Scheme
	ownerOf func(metav1.Object) (loop string, instance types.NamespacedName, ok bool)
	enqueue func(loop string, instance types.NamespacedName)
	// matters says whether a child's event (old nil: its add) may change
	// what loop decides for instance.
	matters func(loop string, instance types.NamespacedName, gvk schema.GroupVersionKind, old, new client.Object) bool
	// wakeAll reconciles every instance of a loop.
	wakeAll func(loop string)

	mu    sync.Mutex
	users map[schema.GroupVersionKind]map[string]bool // kind → loops
	// pending are kinds loops need that the API server does not serve (a
	// CRD not installed yet): their informer starts when a read finds the
	// kind served.
	pending map[schema.GroupVersionKind]bool
	kinds   map[string]map[schema.GroupVersionKind]bool // loop → kinds it watches
	extra   map[string]map[schema.GroupVersionKind]bool // loop → kinds added by Ensure
	probing map[string]bool                             // groups served is looking at
}

func newChildren(mgr manager.Manager, selector labels.Selector, ownerOf func(metav1.Object) (string, types.NamespacedName, bool),
	enqueue func(string, types.NamespacedName),
	matters func(string, types.NamespacedName, schema.GroupVersionKind, client.Object, client.Object) bool, wakeAll func(string)) (*Children, error) {
	c, err := cache.New(mgr.GetConfig(), cache.Options{
		HTTPClient:                  mgr.GetHTTPClient(),
		Scheme:                      mgr.GetScheme(),
		Mapper:                      mgr.GetRESTMapper(),
		DefaultLabelSelector:        selector,
		ReaderFailOnMissingInformer: true,
		DefaultTransform:            kube.StripUnread,
	})
	if err != nil {
		return nil, fmt.Errorf("creating the children cache: %w", err)
	}
	if err := mgr.Add(c); err != nil {
		return nil, err
	}
	return &Children{
		cache: c, scheme: mgr.GetScheme(), ownerOf: ownerOf, enqueue: enqueue, matters: matters, wakeAll: wakeAll,
		users:   map[schema.GroupVersionKind]map[string]bool{},
		pending: map[schema.GroupVersionKind]bool{},
		kinds:   map[string]map[schema.GroupVersionKind]bool{},
		extra:   map[string]map[schema.GroupVersionKind]bool{},
		probing: map[string]bool{},
	}, nil
}

// Watch makes sure the given kinds are watched for loop, and lets go of the
// kinds it no longer has (those added by Ensure stay).
func (w *Children) Watch(ctx context.Context, loop string, kinds []schema.GroupVersionKind) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	want := map[schema.GroupVersionKind]bool{}
	for _, gvk := range kinds {
		want[gvk] = true
	}
	for gvk := range w.extra[loop] {
		want[gvk] = true
	}
	return w.setLocked(ctx, loop, want)
}

// Ensure adds one kind to what loop watches, for children whose kind is known
// only at runtime (an instance of another Framework's kind).
func (w *Children) Ensure(ctx context.Context, loop string, gvk schema.GroupVersionKind) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.kinds[loop][gvk] {
		return nil
	}
	if w.extra[loop] == nil {
		w.extra[loop] = map[schema.GroupVersionKind]bool{}
	}
	w.extra[loop][gvk] = true
	want := map[schema.GroupVersionKind]bool{gvk: true}
	for k := range w.kinds[loop] {
		want[k] = true
	}
	return w.setLocked(ctx, loop, want)
}

// Release lets go of every kind loop watched.
func (w *Children) Release(loop string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	_ = w.setLocked(context.Background(), loop, nil)
	delete(w.kinds, loop)
	delete(w.extra, loop)
}

func (w *Children) setLocked(ctx context.Context, loop string, want map[schema.GroupVersionKind]bool) error {
	for gvk := range want {
		if w.users[gvk] == nil {
			if err := w.start(ctx, gvk); kube.NotServed(err) {
				w.pending[gvk] = true
			} else if err != nil {
				return err
			}
			w.users[gvk] = map[string]bool{}
		}
		w.users[gvk][loop] = true
	}
	for gvk := range w.kinds[loop] {
		if want[gvk] {
			continue
		}
		delete(w.users[gvk], loop)
		if len(w.users[gvk]) == 0 {
			delete(w.users, gvk)
			if w.pending[gvk] {
				delete(w.pending, gvk)
			} else {
				_ = w.cache.RemoveInformer(context.Background(), kube.ChildObject(w.scheme, gvk))
			}
		}
	}
	w.kinds[loop] = want
	return nil
}

func (w *Children) start(ctx context.Context, gvk schema.GroupVersionKind) error {
	inf, err := w.cache.GetInformer(ctx, kube.ChildObject(w.scheme, gvk), cache.BlockUntilSynced(false))
	if err != nil {
		return fmt.Errorf("watching %s: %w", gvk.Kind, err)
	}
	_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { w.dispatch(gvk, nil, obj, true) },
		UpdateFunc: func(old, obj any) { w.dispatch(gvk, old, obj, true) },
		DeleteFunc: func(obj any) { w.dispatch(gvk, nil, obj, false) },
	})
	return err
}

// dispatch hands a child event to its instance's loop: an add or an update
// only if the loop says it may matter (old is nil for an add).
func (w *Children) dispatch(gvk schema.GroupVersionKind, old, obj any, judge bool) {
	if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	o, ok := obj.(client.Object)
	if !ok {
		return
	}
	loop, instance, ok := w.ownerOf(o)
	if !ok {
		return
	}
	if judge {
		before, _ := old.(client.Object)
		if !w.matters(loop, instance, gvk, before, o) {
			metrics.ChildEventsSkipped.WithLabelValues(loop).Inc()
			return
		}
	}
	w.enqueue(loop, instance)
}

// Get reads a child from the cache, as it holds it (ChildObject), with its
// kind set: found is false if it does not exist. A kind no loop watches is
// an error (cache.ErrResourceNotCached), never a request to the API server.
func (w *Children) Get(ctx context.Context, gvk schema.GroupVersionKind, key client.ObjectKey) (obj client.Object, found bool, err error) {
	if err := w.startPending(ctx, gvk); err != nil {
		return nil, false, err
	}
	child := kube.ChildObject(w.scheme, gvk)
	if err := w.cache.Get(ctx, key, child); err != nil {
		if kube.Gone(err) {
			return nil, false, nil
		}
		return nil, false, err
	}
	return child, true, nil
}

// startPending starts the informer of a kind that was not served when a loop
// asked for it, once it is. While it is not, reads answer as for a kind no
// informer watches.
func (w *Children) startPending(ctx context.Context, gvk schema.GroupVersionKind) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.pending[gvk] {
		return nil
	}
	if err := w.start(ctx, gvk); kube.NotServed(err) {
		return &cache.ErrResourceNotCached{GVK: gvk}
	} else if err != nil {
		return err
	}
	delete(w.pending, gvk)
	return nil
}

// served looks, when a CRD of group appeared or changed, for the kinds of
// that group loops need and the API server did not serve: each one served
// now has its informer started and its loops woken, since nothing of their
// own would tell them before their resync. The API server's discovery may
// lag the CRD's Established event, so it looks again, backing off, for as
// long as such a kind is pending, up to servedProbe; after that the resync
// is left to find it.
func (w *Children) served(group string) {
	w.mu.Lock()
	probing := w.probing[group]
	pending := false
	for gvk := range w.pending {
		pending = pending || gvk.Group == group
	}
	if pending && !probing {
		w.probing[group] = true
	}
	w.mu.Unlock()
	if !pending || probing {
		return
	}
	go func() {
		defer func() {
			w.mu.Lock()
			delete(w.probing, group)
			w.mu.Unlock()
		}()
		_ = wait.ExponentialBackoff(servedProbe, func() (bool, error) { return w.startServed(group), nil })
	}()
}

// servedProbe is how served looks again: from 100 ms, doubling, about 25 s
// in all.
var servedProbe = wait.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Steps: 8}

// startServed starts the informers of group's pending kinds that are served
// now and wakes the loops that need them; it says whether none is pending
// any more.
func (w *Children) startServed(group string) (done bool) {
	w.mu.Lock()
	var kinds []schema.GroupVersionKind
	for gvk := range w.pending {
		if gvk.Group == group {
			kinds = append(kinds, gvk)
		}
	}
	w.mu.Unlock()
	done = true
	for _, gvk := range kinds {
		if err := w.startPending(context.Background(), gvk); err != nil {
			done = false
			continue
		}
		w.mu.Lock()
		loops := slices.Collect(maps.Keys(w.users[gvk]))
		w.mu.Unlock()
		for _, l := range loops {
			w.wakeAll(l)
		}
	}
	return done
}

// Informers counts the child kinds with a running informer.
func (w *Children) Informers() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.users) - len(w.pending)
}

// Watched lists the child kinds with an informer, for tests and debugging.
func (w *Children) Watched() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]string, 0, len(w.users))
	for gvk := range w.users {
		out = append(out, gvk.String())
	}
	sort.Strings(out)
	return out
}
