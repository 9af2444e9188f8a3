package tasks

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/kube"
	"operetta.dev/operetta/internal/plans"
)

// apply applies every resource, then waits until all of them are healthy.
// Each resource comes after those it reads, and only once they are ready:
// a template that reads resources.db.status renders from a db that has one.
func (r *applier) apply(ctx context.Context, ids []string) plans.Outcome {
	var waiting []string
	notReady := map[string]bool{}
	for _, id := range r.fw.Ordered(ids) {
		if dep := waitsFor(r.fw.Resources[id], notReady); dep != "" {
			waiting = append(waiting, fmt.Sprintf("resource %s: waiting for resource %s, which it reads, to be ready", id, dep))
			notReady[id] = true
			continue
		}
		more, err := r.applyOne(ctx, id)
		if err != nil {
			return outcome(err)
		}
		notReady[id] = len(more) > 0
		waiting = append(waiting, more...)
	}
	return waitingFor(waiting)
}

// waitsFor names a resource res reads that is not ready yet in this step
// ("" if none).
func waitsFor(res *compile.Resource, notReady map[string]bool) string {
	for _, dep := range res.DependsOn {
		if notReady[dep] {
			return dep
		}
	}
	return ""
}

// applyOne applies resource id (or reads it, for an externalRef) and says
// what of it is not ready yet.
func (r *applier) applyOne(ctx context.Context, id string) ([]string, error) {
	if ext := r.fw.Resources[id].External; ext != nil {
		what, err := r.readExternal(ctx, id, ext)
		if err != nil || what == "" {
			return nil, err
		}
		return []string{what}, nil
	}
	var waiting []string
	lives, err := r.unchanged(ctx, id)
	if err != nil {
		return nil, err
	}
	if lives == nil {
		objs, err := r.renderer.renderAll(id)
		if err != nil {
			return nil, err
		}
		if lives, waiting, err = r.ensureAll(ctx, id, objs, waiting); err != nil {
			return nil, err
		}
	}
	var more []string
	if len(r.fw.Resources[id].ForEach) > 0 {
		more, err = r.collectionHealth(id, lives)
	} else {
		more, err = r.eachHealth(id, lives)
	}
	return append(waiting, more...), err
}

// eachHealth says which of resource id's objects are not ready, and why.
func (r *applier) eachHealth(id string, lives []client.Object) ([]string, error) {
	var waiting []string
	for _, live := range lives {
		ready, msg, err := r.health(id, live)
		if err != nil {
			return nil, err
		}
		if !ready {
			waiting = append(waiting, fmt.Sprintf("%s %s: %s", live.GetObjectKind().GroupVersionKind().Kind, live.GetName(), msg))
		}
	}
	return waiting, nil
}

// ensureAll ensures the objects resource id rendered to and remembers the
// render, so the next reconcile with the same inputs skips it. It returns
// the children as they are now; one applied so recently that the cache has
// not caught up yet is added to waiting instead.
func (r *applier) ensureAll(ctx context.Context, id string, objs []*unstructured.Unstructured, waiting []string) ([]client.Object, []string, error) {
	res := r.fw.Resources[id]
	memo := rendered{inputs: r.renderer.renderInputs()}
	lives := make([]client.Object, 0, len(objs))
	for _, obj := range objs {
		hash := r.inventory.hash(obj)
		memo.items = append(memo.items, r.inventory.itemOf(obj))
		memo.hashes = append(memo.hashes, hash)
		live, err := r.ensure(ctx, id, obj, hash)
		if err != nil {
			return nil, waiting, err
		}
		if live == nil {
			waiting = append(waiting, fmt.Sprintf("%s %s: applied, not seen yet", obj.GetKind(), obj.GetName()))
			continue
		}
		lives = append(lives, live)
	}
	if res.Collection() {
		r.renderer.supersede(id, objs)
	}
	if !res.ReadsResources {
		r.c.Renders.put(client.ObjectKeyFromObject(r.instance), id, memo)
	}
	return lives, waiting, nil
}

// unchanged returns the children of resource id from the cache, without
// rendering them, when its template's inputs are what they were at its last
// render and every child is still as applied then; else nil.
func (r *applier) unchanged(ctx context.Context, id string) ([]client.Object, error) {
	if r.fw.Resources[id].ReadsResources {
		return nil, nil
	}
	last, ok := r.c.Renders.get(client.ObjectKeyFromObject(r.instance), id, r.renderer.renderInputs())
	if !ok {
		return nil, nil
	}
	lives := make([]client.Object, 0, len(last.items))
	for i, want := range last.items {
		item, ok := r.inventory.findItem(want)
		if !ok || item.Hash != last.hashes[i] || item.Superseded {
			return nil, nil
		}
		live, current, err := r.current(ctx, item)
		if err != nil || !current {
			return nil, err
		}
		if err := r.expose(id, live); err != nil {
			return nil, err
		}
		lives = append(lives, live)
	}
	return lives, nil
}

// ensure makes the child rendered as obj, with digest hash, exist as
// rendered, and returns it as it is now. It applies obj only if this plan
// run has not applied this content yet, or if the child drifted since
// (changed by someone else, or deleted); otherwise the child comes from the
// cache and nothing is sent. It returns nil when the child was applied so
// recently that the cache has not caught up yet.
func (r *applier) ensure(ctx context.Context, id string, obj *unstructured.Unstructured, hash string) (client.Object, error) {
	if item, ok := r.inventory.find(obj); ok && item.Hash == hash {
		justApplied := r.c.Renders.await(client.ObjectKeyFromObject(r.instance), obj)
		live, current, err := r.current(ctx, item)
		if err != nil {
			return nil, err
		}
		if current {
			return live, r.expose(id, live)
		}
		// Just applied by this loop and not in the cache yet, or an older
		// version there: its event comes and wakes the instance. (A plan
		// that is done corrects drift at once instead: nothing else would
		// wake it.)
		if live == nil && justApplied || r.cacheBehind(item, live) {
			return nil, nil
		}
	}
	return r.applyChild(ctx, id, obj, hash)
}

// current reads a child from the cache and says whether it is still as
// operetta left it. A kind the cache does not hold counts as not current, so
// it is applied again rather than read.
func (r *applier) current(ctx context.Context, item v1alpha1.InventoryItem) (client.Object, bool, error) {
	u := r.inventory.objectOf(item)
	live, found, err := r.c.Children.Get(ctx, u.GroupVersionKind(), client.ObjectKeyFromObject(u))
	var notCached *cache.ErrResourceNotCached
	switch {
	case errors.As(err, &notCached):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("reading %s %s from the cache: %w", item.Kind, item.Name, err)
	case !found:
		return nil, false, nil
	}
	r.c.Renders.shown(client.ObjectKeyFromObject(r.instance), u.GroupVersionKind(), live)
	return live, observedVersion(live) == item.Observed, nil
}

// cacheBehind says whether live, a child the cache holds, is older than
// this loop's last apply of it answered: no drift, the cache catching up.
func (r *applier) cacheBehind(item v1alpha1.InventoryItem, live client.Object) bool {
	if live == nil {
		return false
	}
	return r.c.Renders.ahead(client.ObjectKeyFromObject(r.instance), r.inventory.objectOf(item).GroupVersionKind(), live)
}

// applyChild server-side applies obj, rendered from id with digest hash, if
// its object is this instance's or does not exist (write), and records it:
// in the inventory, with the version the API server answered, and as just
// applied, for the cache to catch up with. It returns the child as the API
// server answered.
func (r *applier) applyChild(ctx context.Context, id string, obj *unstructured.Unstructured, hash string) (client.Object, error) {
	applied, err := r.writer.write(ctx, obj)
	var notOwned notOwnedError
	switch {
	case errors.As(err, &notOwned):
		return nil, err // an object that is not this instance's: its message names it
	case kube.NamespaceTerminating(err) && obj.GetNamespace() == r.instance.GetNamespace():
		// The instance's own namespace is being deleted: no wait makes it
		// take new content again. (Another namespace may come back.)
		return nil, kube.Fail("applying %s %s: %w", obj.GetKind(), obj.GetName(), err)
	case err != nil:
		return nil, fmt.Errorf("applying %s %s: %w", obj.GetKind(), obj.GetName(), err)
	}
	r.c.Renders.appliedNow(client.ObjectKeyFromObject(r.instance), obj.GroupVersionKind(), applied)
	r.inventory.remember(id, obj, observedVersion(applied), hash)
	return applied, r.expose(id, applied)
}

// send applies obj as it is, its precondition included (sendAs). A
// built-in kind comes back as its Go type, unless the Framework's
// expressions read children: they read it unstructured, and converting
// costs more than decoding JSON.
func (r *childWriter) send(ctx context.Context, obj *unstructured.Unstructured) (client.Object, error) {
	if typed, ok := r.c.Writer.(kube.TypedApplier); ok && !r.fw.LooksInsideChildren() {
		if applied, ok, err := typed.ApplyTyped(ctx, obj); ok {
			return applied, err
		}
	}
	// obj is updated in place with the answer.
	return obj, r.c.Writer.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj),
		client.FieldOwner(v1alpha1.FieldManager), client.ForceOwnership)
}

// expose makes a child read from the cache visible to expressions as
// resources.<id>, if any expression of the Framework reads children: it is
// converted to unstructured only then.
func (r *applier) expose(id string, live client.Object) error {
	if !r.fw.LooksInsideChildren() {
		return nil
	}
	u, err := asUnstructured(live.GetObjectKind().GroupVersionKind(), live)
	if err != nil {
		return err
	}
	r.vars.Resources[id] = u.Object
	return nil
}

// health says whether a child is ready: by its readyWhen if the Framework
// gives one, else by kstatus. A kstatus Failed object (a failed Job, say)
// fails the step for good.
func (r *applier) health(id string, obj client.Object) (bool, string, error) {
	if cond := r.fw.Resources[id].ReadyWhen; cond != nil {
		ok, err := cond.EvalBool(r.vars)
		switch {
		case err != nil:
			// Fields a condition reads often appear only once the object's
			// controller has written status: not yet, rather than broken.
			return false, "readyWhen: " + err.Error(), nil
		case !ok:
			return false, "readyWhen is false", nil
		}
		return true, "", nil
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	res, err := r.c.Verdicts.of(gvk, obj)
	if err != nil {
		return false, "", fmt.Errorf("computing the health of %s %s: %w", gvk.Kind, obj.GetName(), err)
	}
	switch res.Status {
	case status.CurrentStatus:
		return true, "", nil
	case status.FailedStatus:
		return false, "", kube.Fail("%s %s failed: %s", gvk.Kind, obj.GetName(), res.Message)
	default:
		// Not kstatus' own message: it counts replicas as they come up, and
		// every new count would be one more status write per instance. The
		// child's own status says how far it got.
		return false, "not ready yet (" + string(res.Status) + ")", nil
	}
}
