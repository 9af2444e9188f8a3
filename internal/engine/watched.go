package engine

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/internal/kube"
)

// Watched keeps the informers of the kinds Frameworks watch but do not own:
// what triggers watch, and what externalRefs read. One cache per identity
// they are read as (the manager's own, or a Framework's service account, so
// a Framework reads no more than its account may) and per form, one
// informer per kind in it, shared by the loops of that identity. A kind
// only triggers watch is held thin, as its identity, labels and data digest
// (kube.ThinData): a Secret's data never stays in memory; a kind an
// externalRef reads is held whole, since templates read it. An event is
// handed to the loops that watch the kind, which name the instances it
// concerns (WatchFilter).
type Watched struct {
	scheme *runtime.Scheme
	mapper meta.RESTMapper
	base   func() context.Context
	wake   func(loop string, instance types.NamespacedName)
	// watchers asks a loop which of its instances watch obj.
	watchers func(loop string, gvk schema.GroupVersionKind, obj metav1.Object) []types.NamespacedName

	// lifecycle serializes Watch and Release, which may wait for a first
	// list; mu guards the maps, which events and reads look at meanwhile.
	lifecycle sync.Mutex
	mu        sync.Mutex
	caches    map[cacheKey]*watchCache
	loops     map[string]map[bool]watchUse // loop → full → what it watches
}

// cacheKey is one cache's identity and form: whole objects (full) or thin.
type cacheKey struct {
	identity string
	full     bool
}

type watchCache struct {
	cache  cache.Cache
	cancel context.CancelFunc
	full   bool
	users  map[schema.GroupVersionKind]map[string]bool // kind → loops
}

type watchUse struct {
	identity string
	kinds    map[schema.GroupVersionKind]bool
}

// WatchFilter is implemented by a loop's reconciler whose Framework has
// triggers: it names the instances that watch an object of kind gvk.
type WatchFilter interface {
	WatchersOf(gvk schema.GroupVersionKind, obj metav1.Object) []types.NamespacedName
}

// watchSync bounds the first list of a watched kind: past it, the
// Framework's reconcile fails and is retried.
const watchSync = time.Minute

// Allowed checks, before any watch starts, that every kind is namespaced
// and served, and that the identity cfg authenticates as may list and
// watch it in every namespace, which one shared informer needs. A kind
// not served yet is a wait; the rest is terminal, naming what is missing.
func (w *Watched) Allowed(ctx context.Context, cfg *rest.Config, who string, kinds []schema.GroupVersionKind) error {
	if len(kinds) == 0 {
		return nil
	}
	c, err := client.New(cfg, client.Options{Scheme: w.scheme, Mapper: w.mapper})
	if err != nil {
		return fmt.Errorf("a client as %s: %w", who, err)
	}
	for _, gvk := range kinds {
		m, err := w.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			if meta.IsNoMatchError(err) {
				return kube.Wait(fmt.Sprintf("spec.triggers or an externalRef name %s, which the API server does not serve", gvk))
			}
			return fmt.Errorf("looking up %s: %w", gvk, err)
		}
		if m.Scope.Name() != meta.RESTScopeNameNamespace {
			return kube.Fail("spec.triggers or an externalRef name %s, which is cluster-scoped: they read objects in a namespace", gvk.Kind)
		}
		for _, verb := range []string{"list", "watch"} {
			review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
				ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: verb, Group: gvk.Group, Version: gvk.Version, Resource: m.Resource.Resource},
			}}
			if err := c.Create(ctx, review); err != nil {
				return fmt.Errorf("asking whether %s may %s %s: %w", who, verb, m.Resource.Resource, err)
			}
			if !review.Status.Allowed {
				return kube.Fail("%s may not %s %s in every namespace, which spec.triggers or an externalRef read: grant it (a ClusterRole with list and watch on %s) or remove them",
					who, verb, m.Resource.GroupResource(), m.Resource.GroupResource())
			}
		}
	}
	return nil
}

// Watch makes loop watch kinds as identity (whose requests cfg makes):
// thin for triggers, whole (full) for externalRefs, a kind in both held
// whole only. It waits until each new kind's first list is in, and lets go
// of what loop watched before and no longer does.
func (w *Watched) Watch(ctx context.Context, loop, identity string, cfg *rest.Config, thin, full []schema.GroupVersionKind) error {
	w.lifecycle.Lock()
	defer w.lifecycle.Unlock()
	whole := map[schema.GroupVersionKind]bool{}
	for _, k := range full {
		whole[k] = true
	}
	var thinOnly []schema.GroupVersionKind
	for _, k := range thin {
		if !whole[k] {
			thinOnly = append(thinOnly, k)
		}
	}
	for _, form := range []struct {
		full  bool
		kinds []schema.GroupVersionKind
	}{{true, full}, {false, thinOnly}} {
		if err := w.watchLocked(ctx, loop, cacheKey{identity, form.full}, cfg, form.kinds); err != nil {
			return err
		}
	}
	return nil
}

// watchLocked makes loop watch kinds in the cache of key.
func (w *Watched) watchLocked(ctx context.Context, loop string, key cacheKey, cfg *rest.Config, kinds []schema.GroupVersionKind) error {
	want := map[schema.GroupVersionKind]bool{}
	for _, k := range kinds {
		want[k] = true
	}
	w.mu.Lock()
	was := w.loops[loop][key.full]
	if was.identity != key.identity || len(want) == 0 {
		w.releaseFormLocked(loop, key.full)
		was = watchUse{}
	}
	if len(want) == 0 {
		w.mu.Unlock()
		return nil
	}
	wc, err := w.cacheLocked(key, cfg)
	var fresh []schema.GroupVersionKind
	for gvk := range want {
		if err == nil && wc.users[gvk] == nil {
			fresh = append(fresh, gvk)
		}
	}
	w.mu.Unlock()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, watchSync)
	defer cancel()
	for _, gvk := range fresh {
		if err := w.inform(ctx, wc, gvk); err != nil {
			w.mu.Lock()
			if len(wc.users) == 0 { // made for this call: nobody else uses it
				wc.cancel()
				delete(w.caches, key)
			}
			w.mu.Unlock()
			return err
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for gvk := range want {
		if wc.users[gvk] == nil {
			wc.users[gvk] = map[string]bool{}
		}
		wc.users[gvk][loop] = true
	}
	for gvk := range was.kinds {
		if !want[gvk] {
			w.dropLocked(wc, key, gvk, loop)
		}
	}
	if w.loops[loop] == nil {
		w.loops[loop] = map[bool]watchUse{}
	}
	w.loops[loop][key.full] = watchUse{identity: key.identity, kinds: want}
	return nil
}

// cacheLocked is key's cache, started if it was not.
func (w *Watched) cacheLocked(key cacheKey, cfg *rest.Config) (*watchCache, error) {
	if wc, ok := w.caches[key]; ok {
		return wc, nil
	}
	base := w.base()
	if base == nil {
		return nil, ErrNotLeading
	}
	transform := kube.ThinData
	if key.full {
		transform = kube.StripUnread
	}
	c, err := cache.New(cfg, cache.Options{
		Scheme: w.scheme, Mapper: w.mapper,
		ReaderFailOnMissingInformer: true,
		DefaultTransform:            transform,
	})
	if err != nil {
		return nil, fmt.Errorf("a cache of watched objects as %s: %w", key.identity, err)
	}
	ctx, cancel := context.WithCancel(base)
	go func() { _ = c.Start(ctx) }()
	wc := &watchCache{cache: c, cancel: cancel, full: key.full, users: map[schema.GroupVersionKind]map[string]bool{}}
	w.caches[key] = wc
	return wc, nil
}

// inform starts gvk's informer in wc and waits for its first list.
func (w *Watched) inform(ctx context.Context, wc *watchCache, gvk schema.GroupVersionKind) error {
	if !wc.cache.WaitForCacheSync(ctx) {
		return fmt.Errorf("the cache of watched objects did not start")
	}
	inf, err := wc.cache.GetInformer(ctx, kube.Unstructured(gvk), cache.BlockUntilSynced(true))
	if err != nil {
		return fmt.Errorf("watching %s for triggers: %w", gvk.Kind, err)
	}
	if !toolscache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		_ = wc.cache.RemoveInformer(context.Background(), kube.Unstructured(gvk))
		return fmt.Errorf("watching %s for triggers: its first list is not in after %s", gvk.Kind, watchSync)
	}
	// The initial list wakes nobody: what a trigger sees first is no change.
	_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, initial bool) {
			if !initial {
				w.dispatch(wc, gvk, nil, obj)
			}
		},
		UpdateFunc: func(old, obj any) { w.dispatch(wc, gvk, old, obj) },
		DeleteFunc: func(obj any) { w.dispatch(wc, gvk, nil, obj) },
	})
	return err
}

// dispatch wakes the instances that watch an object whose data, or whose
// labels (a selector's choice), changed.
func (w *Watched) dispatch(wc *watchCache, gvk schema.GroupVersionKind, old, obj any) {
	if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	o, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return
	}
	objs := []metav1.Object{o}
	if before, ok := old.(*unstructured.Unstructured); ok {
		if kube.DigestOf(before) == kube.DigestOf(o) && maps.Equal(before.GetLabels(), o.GetLabels()) {
			return // a resync, or a change of what triggers do not see
		}
		objs = append(objs, before) // a selector may have chosen it before only
	}
	w.mu.Lock()
	loops := slices.Collect(maps.Keys(wc.users[gvk]))
	w.mu.Unlock()
	for _, loop := range loops {
		seen := map[types.NamespacedName]bool{}
		for _, o := range objs {
			for _, key := range w.watchers(loop, gvk, o) {
				if !seen[key] {
					seen[key] = true
					w.wake(loop, key)
				}
			}
		}
	}
}

// Release lets go of everything loop watched.
func (w *Watched) Release(loop string) {
	if w == nil { // an engine made in a unit test, which never watched
		return
	}
	w.lifecycle.Lock()
	defer w.lifecycle.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.releaseLocked(loop)
}

func (w *Watched) releaseLocked(loop string) {
	w.releaseFormLocked(loop, true)
	w.releaseFormLocked(loop, false)
}

func (w *Watched) releaseFormLocked(loop string, full bool) {
	use, ok := w.loops[loop][full]
	if !ok {
		return
	}
	delete(w.loops[loop], full)
	if len(w.loops[loop]) == 0 {
		delete(w.loops, loop)
	}
	key := cacheKey{use.identity, full}
	if wc, ok := w.caches[key]; ok {
		for gvk := range use.kinds {
			w.dropLocked(wc, key, gvk, loop)
		}
	}
}

// dropLocked removes loop from gvk's users, the informer with its last
// user and the cache with its last informer.
func (w *Watched) dropLocked(wc *watchCache, key cacheKey, gvk schema.GroupVersionKind, loop string) {
	delete(wc.users[gvk], loop)
	if len(wc.users[gvk]) > 0 {
		return
	}
	delete(wc.users, gvk)
	_ = wc.cache.RemoveInformer(context.Background(), kube.Unstructured(gvk))
	if len(wc.users) == 0 {
		wc.cancel()
		delete(w.caches, key)
	}
}

// Informers counts the informers of every identity's cache.
func (w *Watched) Informers() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, wc := range w.caches {
		n += len(wc.users)
	}
	return n
}

// Kinds lists, for tests and debugging, the kinds watched as each
// identity (and "(whole objects)" after it for externalRefs').
func (w *Watched) Kinds() map[string][]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string][]string{}
	for key, wc := range w.caches {
		id := key.identity
		if key.full {
			id += " (whole objects)"
		}
		for gvk := range wc.users {
			out[id] = append(out[id], gvk.String())
		}
		slices.Sort(out[id])
	}
	return out
}

// For is what loop reads of the objects it watches.
func (w *Watched) For(loop string) LoopWatched { return LoopWatched{w: w, loop: loop} }

// LoopWatched reads, for one loop, the digests of the objects it watches.
type LoopWatched struct {
	w    *Watched
	loop string
}

// reader is the cache loop reads gvk from, if it watches gvk: the one of
// whole objects if it has the kind, since it tells digests too.
func (l LoopWatched) reader(gvk schema.GroupVersionKind, needWhole bool) (cache.Cache, bool) {
	if l.w == nil {
		return nil, false
	}
	l.w.mu.Lock()
	defer l.w.mu.Unlock()
	for _, full := range []bool{true, false} {
		use, ok := l.w.loops[l.loop][full]
		if !ok || !use.kinds[gvk] || needWhole && !full {
			continue
		}
		if wc, ok := l.w.caches[cacheKey{use.identity, full}]; ok {
			return wc.cache, true
		}
	}
	return nil, false
}

// Digest is the data digest of the object key of kind gvk, "" if there is
// none; ok is false if the loop does not watch gvk (yet).
func (l LoopWatched) Digest(ctx context.Context, gvk schema.GroupVersionKind, key types.NamespacedName) (digest string, ok bool, err error) {
	c, ok := l.reader(gvk, false)
	if !ok {
		return "", false, nil
	}
	obj := kube.Unstructured(gvk)
	if err := c.Get(ctx, key, obj); err != nil {
		if kube.Gone(err) {
			return "", true, nil
		}
		return "", true, err
	}
	return kube.DigestOf(obj), true, nil
}

// Selected is the combined data digest of the objects of kind gvk in
// namespace ns that sel picks, "" if none; ok as for Digest.
func (l LoopWatched) Selected(ctx context.Context, gvk schema.GroupVersionKind, ns string, sel labels.Selector) (digest string, ok bool, err error) {
	items, ok, err := l.list(ctx, gvk, ns, sel, false)
	if !ok || err != nil {
		return "", ok, err
	}
	byName := make(map[string]string, len(items))
	for i := range items {
		byName[items[i].GetName()] = kube.DigestOf(&items[i])
	}
	return kube.CombinedDigest(byName), true, nil
}

func (l LoopWatched) list(ctx context.Context, gvk schema.GroupVersionKind, ns string, sel labels.Selector, whole bool) ([]unstructured.Unstructured, bool, error) {
	c, ok := l.reader(gvk, whole)
	if !ok {
		return nil, false, nil
	}
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	if err := c.List(ctx, list, client.InNamespace(ns), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, true, err
	}
	return list.Items, true, nil
}

// Object reads an object an externalRef names, whole: found is false if
// it does not exist, ok false if the loop does not read its kind (yet).
func (l LoopWatched) Object(ctx context.Context, gvk schema.GroupVersionKind, key types.NamespacedName) (obj *unstructured.Unstructured, found, ok bool, err error) {
	c, ok := l.reader(gvk, true)
	if !ok {
		return nil, false, false, nil
	}
	obj = kube.Unstructured(gvk)
	if err := c.Get(ctx, key, obj); err != nil {
		if kube.Gone(err) {
			return nil, false, true, nil
		}
		return nil, false, true, err
	}
	return obj, true, true, nil
}

// Objects lists, whole, the objects an externalRef's selector picks in
// namespace ns, sorted by name; ok as for Object.
func (l LoopWatched) Objects(ctx context.Context, gvk schema.GroupVersionKind, ns string, sel labels.Selector) ([]unstructured.Unstructured, bool, error) {
	items, ok, err := l.list(ctx, gvk, ns, sel, true)
	sort.Slice(items, func(i, j int) bool { return items[i].GetName() < items[j].GetName() })
	return items, ok, err
}
