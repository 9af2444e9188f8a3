package reconcile

import (
	"context"
	"fmt"
	"sort"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"operetta.dev/operetta/api/v1alpha1"
)

// childWatcher keeps one metadata informer per child kind, shared by every
// generated kind that has children of it and filtered by operetta's labels.
// An event on a child is mapped, by the child's labels, to its instance's
// loop: no instance is ever listed to find it. An informer is removed once no
// Framework has children of its kind.
type childWatcher struct {
	cache   cache.Cache
	enqueue func(framework string, instance types.NamespacedName)

	mu    sync.Mutex
	users map[schema.GroupVersionKind]map[string]bool // kind → Frameworks
	kinds map[string][]schema.GroupVersionKind        // Framework → kinds
}

func newChildWatcher(mgr manager.Manager, enqueue func(string, types.NamespacedName)) (*childWatcher, error) {
	c, err := cache.New(mgr.GetConfig(), cache.Options{
		HTTPClient:                  mgr.GetHTTPClient(),
		Scheme:                      mgr.GetScheme(),
		Mapper:                      mgr.GetRESTMapper(),
		DefaultLabelSelector:        labels.SelectorFromSet(labels.Set{v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue}),
		ReaderFailOnMissingInformer: true,
	})
	if err != nil {
		return nil, fmt.Errorf("creating the children cache: %w", err)
	}
	if err := mgr.Add(c); err != nil {
		return nil, err
	}
	return &childWatcher{
		cache: c, enqueue: enqueue,
		users: map[schema.GroupVersionKind]map[string]bool{},
		kinds: map[string][]schema.GroupVersionKind{},
	}, nil
}

// watch makes sure the kinds of framework's children are watched, and lets go
// of the kinds it no longer has.
func (w *childWatcher) watch(ctx context.Context, framework string, kinds []schema.GroupVersionKind) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, gvk := range kinds {
		if w.users[gvk] == nil {
			if err := w.start(ctx, gvk); err != nil {
				return err
			}
			w.users[gvk] = map[string]bool{}
		}
		w.users[gvk][framework] = true
	}
	keep := map[schema.GroupVersionKind]bool{}
	for _, gvk := range kinds {
		keep[gvk] = true
	}
	for _, gvk := range w.kinds[framework] {
		if !keep[gvk] {
			w.releaseLocked(framework, gvk)
		}
	}
	w.kinds[framework] = kinds
	return nil
}

// release lets go of every kind framework watched.
func (w *childWatcher) release(framework string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, gvk := range w.kinds[framework] {
		w.releaseLocked(framework, gvk)
	}
	delete(w.kinds, framework)
}

func (w *childWatcher) releaseLocked(framework string, gvk schema.GroupVersionKind) {
	delete(w.users[gvk], framework)
	if len(w.users[gvk]) > 0 {
		return
	}
	delete(w.users, gvk)
	_ = w.cache.RemoveInformer(context.Background(), metadataObject(gvk))
}

func (w *childWatcher) start(ctx context.Context, gvk schema.GroupVersionKind) error {
	inf, err := w.cache.GetInformer(ctx, metadataObject(gvk), cache.BlockUntilSynced(false))
	if err != nil {
		return fmt.Errorf("watching %s: %w", gvk.Kind, err)
	}
	_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    w.dispatch,
		UpdateFunc: func(_, obj any) { w.dispatch(obj) },
		DeleteFunc: w.dispatch,
	})
	return err
}

// dispatch hands a child event to its instance's loop.
func (w *childWatcher) dispatch(obj any) {
	if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	o, ok := obj.(client.Object)
	if !ok {
		return
	}
	l := o.GetLabels()
	if l[v1alpha1.LabelFramework] == "" || l[v1alpha1.LabelInstance] == "" {
		return
	}
	ns := l[v1alpha1.LabelInstanceNS] // children outside the instance's namespace
	if ns == "" {
		ns = o.GetNamespace()
	}
	w.enqueue(l[v1alpha1.LabelFramework], types.NamespacedName{Namespace: ns, Name: l[v1alpha1.LabelInstance]})
}

// observed returns what a child looks like now, from the cache: its observed
// version, or "" if it does not exist.
func (w *childWatcher) observed(ctx context.Context, gvk schema.GroupVersionKind, key client.ObjectKey) (string, error) {
	obj := metadataObject(gvk)
	if err := w.cache.Get(ctx, key, obj); err != nil {
		return "", client.IgnoreNotFound(err)
	}
	return observedVersion(obj), nil
}

// watched lists the child kinds with an informer, for tests and debugging.
func (w *childWatcher) watched() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]string, 0, len(w.users))
	for gvk := range w.users {
		out = append(out, gvk.String())
	}
	sort.Strings(out)
	return out
}

func metadataObject(gvk schema.GroupVersionKind) *metav1.PartialObjectMetadata {
	o := &metav1.PartialObjectMetadata{}
	o.SetGroupVersionKind(gvk)
	return o
}
