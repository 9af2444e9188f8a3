package instance

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/plans"
	"operetta.dev/operetta/internal/tasks"
)

// WatchedReader reads the data digests of what a loop's triggers watch
// (engine.LoopWatched). ok is false while the loop does not watch the kind:
// nothing is decided then.
type WatchedReader interface {
	tasks.ReferenceReader
	Digest(ctx context.Context, gvk schema.GroupVersionKind, key types.NamespacedName) (digest string, ok bool, err error)
	Selected(ctx context.Context, gvk schema.GroupVersionKind, ns string, sel labels.Selector) (digest string, ok bool, err error)
}

// watchSpec is what an instance watches for one trigger, or for one
// externalRef (whose data changing runs the update plan), and what a change
// runs.
type watchSpec struct {
	name, plan, cause string
	gvk               schema.GroupVersionKind
	selector          labels.Selector
	// target renders what the instance watches: a named object, or (name
	// "") the namespace a selector picks in; "" watching for nothing.
	target func(fw *compile.Framework, instance *unstructured.Unstructured) (key watchKey, watching string, err error)
}

// watchSpecs are what fw's instances watch: its triggers, then its
// externalRefs by id.
func watchSpecs(fw *compile.Framework) []watchSpec {
	var out []watchSpec
	for _, t := range fw.WatchTriggers {
		out = append(out, watchSpec{name: t.Name, plan: t.Plan, cause: "trigger " + t.Name, gvk: t.GVK, selector: t.Selector,
			target: func(fw *compile.Framework, instance *unstructured.Unstructured) (watchKey, string, error) {
				return triggerTarget(fw, t, instance)
			}})
	}
	ids := make([]string, 0, len(fw.Resources))
	for id, res := range fw.Resources {
		if res.External != nil {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		ext := fw.Resources[id].External
		out = append(out, watchSpec{name: "resources." + id, plan: plans.DefaultTrigger(fw.Plans), cause: "reference " + id, gvk: ext.GVK, selector: ext.Selector,
			target: func(fw *compile.Framework, instance *unstructured.Unstructured) (watchKey, string, error) {
				return referenceTarget(fw, id, ext, instance)
			}})
	}
	return out
}

// runTriggers starts, or queues, the plan of every trigger of fw whose
// watched data changed since the instance last saw it, and the update plan
// when the data of an object an externalRef reads changed; it records what
// each watches and the digest it saw in st.Triggers. What is seen first on
// an instance (a new trigger, a new name) is recorded, not run.
func (r *Reconciler) runTriggers(ctx context.Context, fw *compile.Framework, instance *unstructured.Unstructured, st *v1alpha1.InstanceStatus) {
	key := client.ObjectKeyFromObject(instance)
	if len(fw.WatchTriggers) == 0 && len(fw.ReferencedKinds) == 0 && len(st.Triggers) == 0 {
		// Most Frameworks watch nothing: no work on every reconcile.
		r.watching.set(key, nil)
		return
	}
	specs := watchSpecs(fw)
	var kept []v1alpha1.TriggerStatus
	var targets []watchKey
	for _, w := range specs {
		entry, found := triggerEntry(st.Triggers, w.name)
		target, watching, err := w.target(fw, instance)
		switch {
		case err != nil:
			entry = v1alpha1.TriggerStatus{Name: w.name, Watching: watching, LastOutcome: v1alpha1.TriggerInvalid, Message: err.Error()}
			kept = append(kept, entry)
			continue
		case watching == "":
			continue // the instance named nothing: the trigger is off for it
		}
		targets = append(targets, target)
		digest, ok, err := r.digestOf(ctx, w, target)
		if err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "reading what a trigger watches", "trigger", w.name)
		}
		switch {
		case !ok || err != nil:
			// Not watched yet, or not readable now: nothing is decided.
			if found {
				kept = append(kept, entry)
			}
			continue
		case !found || entry.Watching != watching:
			entry = v1alpha1.TriggerStatus{Name: w.name, Watching: watching, Digest: digest}
		case entry.Digest != digest:
			entry.Digest, entry.LastTriggerTime = digest, stamp(r.cfg.Now())
			r.startTriggered(fw, w, st, &entry)
		}
		kept = append(kept, entry)
	}
	st.Triggers = kept
	r.watching.set(key, targets)
}

// startTriggered starts the run a change of w's data asks for, or queues
// it behind the plan that runs: a change is never skipped, since the data
// it brings (a renewed certificate) is there until some run takes it up.
func (r *Reconciler) startTriggered(fw *compile.Framework, w watchSpec, st *v1alpha1.InstanceStatus, entry *v1alpha1.TriggerStatus) {
	before := st.Plans[w.plan].UID
	plans.Schedule(st, []plans.Run{{Plan: w.plan, Cause: w.cause}}, r.startPlan(fw))
	if run := st.Plans[w.plan]; st.ActivePlan == w.plan && run.UID != before {
		entry.LastRunUID, entry.LastOutcome, entry.Message = run.UID, v1alpha1.TriggerStarted, ""
		return
	}
	entry.LastRunUID, entry.LastOutcome = "", v1alpha1.TriggerQueued
	entry.Message = fmt.Sprintf("%s changed while plan %s runs: plan %s runs after it", entry.Watching, st.ActivePlan, w.plan)
}

// triggerTarget is what t watches on instance: one named object, or what
// its selector picks in the instance's namespace, and how the status says
// it ("" when the instance names nothing). A name the instance gives is
// checked: a value of the instance's author is a name in its namespace,
// nothing else.
func triggerTarget(fw *compile.Framework, t *compile.WatchTrigger, instance *unstructured.Unstructured) (target watchKey, watching string, err error) {
	ns := instance.GetNamespace()
	if t.Selector != nil {
		return watchKey{gvk: t.GVK, namespace: ns, selector: t.Selector.String()}, t.GVK.Kind + " " + t.Selector.String(), nil
	}
	name, err := t.ObjectName(tasks.NewVars(fw, instance))
	switch {
	case err != nil && name == "":
		return watchKey{}, "", err
	case err != nil:
		return watchKey{}, t.GVK.Kind + " " + name, err
	case name == "":
		return watchKey{}, "", nil
	}
	return watchKey{gvk: t.GVK, namespace: ns, name: name}, t.GVK.Kind + " " + name, nil
}

// referenceTarget is what externalRef id reads for instance, in a
// namespace the Framework allows.
func referenceTarget(fw *compile.Framework, id string, ext *compile.External, instance *unstructured.Unstructured) (watchKey, string, error) {
	ns, name, err := fw.ReferenceTarget(id, tasks.NewVars(fw, instance), instance.GetNamespace())
	if err != nil {
		return watchKey{}, "", err
	}
	where := ns + "/"
	if ns == instance.GetNamespace() {
		where = ""
	}
	if ext.Selector != nil {
		return watchKey{gvk: ext.GVK, namespace: ns, selector: ext.Selector.String()}, ext.GVK.Kind + " " + where + ext.Selector.String(), nil
	}
	return watchKey{gvk: ext.GVK, namespace: ns, name: name}, ext.GVK.Kind + " " + where + name, nil
}

// digestOf reads the digest of what w watches at target.
func (r *Reconciler) digestOf(ctx context.Context, w watchSpec, target watchKey) (string, bool, error) {
	if r.cfg.Watched == nil {
		return "", false, nil
	}
	if w.selector != nil {
		return r.cfg.Watched.Selected(ctx, w.gvk, target.namespace, w.selector)
	}
	return r.cfg.Watched.Digest(ctx, w.gvk, types.NamespacedName{Namespace: target.namespace, Name: target.name})
}

func triggerEntry(list []v1alpha1.TriggerStatus, name string) (v1alpha1.TriggerStatus, bool) {
	for _, e := range list {
		if e.Name == name {
			return *e.DeepCopy(), true
		}
	}
	return v1alpha1.TriggerStatus{Name: name}, false
}

// WatchersOf names the instances that watch obj of kind gvk: those whose
// trigger or externalRef names it, and those whose selector in its
// namespace picks it (engine.WatchFilter).
func (r *Reconciler) WatchersOf(gvk schema.GroupVersionKind, obj metav1.Object) []types.NamespacedName {
	out := r.watching.of(watchKey{gvk: gvk, namespace: obj.GetNamespace(), name: obj.GetName()})
	for _, sel := range r.selectors(gvk, labels.Set(obj.GetLabels())) {
		out = append(out, r.watching.of(watchKey{gvk: gvk, namespace: obj.GetNamespace(), selector: sel})...)
	}
	return out
}

// selectors are the selectors of kind gvk, of a generation this loop
// runs, that pick an object with these labels.
func (r *Reconciler) selectors(gvk schema.GroupVersionKind, set labels.Set) []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []string
	for _, g := range r.generations {
		for _, w := range watchSpecs(g.fw) {
			if w.selector != nil && w.gvk == gvk && w.selector.Matches(set) && !slices.Contains(out, w.selector.String()) {
				out = append(out, w.selector.String())
			}
		}
	}
	return out
}

// watchKey is what an instance watches: an object by name, or in a
// namespace what a selector picks.
type watchKey struct {
	gvk                       schema.GroupVersionKind
	namespace, name, selector string
}

// watchIndex indexes which instances watch which named objects, as their
// last reconcile rendered the names: an object's event wakes them without
// listing anything.
type watchIndex struct {
	mu      sync.Mutex
	by      map[watchKey]map[types.NamespacedName]bool
	watched map[types.NamespacedName][]watchKey
}

// set records what instance watches now (nil: nothing).
func (w *watchIndex) set(instance types.NamespacedName, keys []watchKey) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.by == nil {
		if len(keys) == 0 {
			return
		}
		w.by, w.watched = map[watchKey]map[types.NamespacedName]bool{}, map[types.NamespacedName][]watchKey{}
	}
	for _, k := range w.watched[instance] {
		delete(w.by[k], instance)
		if len(w.by[k]) == 0 {
			delete(w.by, k)
		}
	}
	delete(w.watched, instance)
	for _, k := range keys {
		if w.by[k] == nil {
			w.by[k] = map[types.NamespacedName]bool{}
		}
		w.by[k][instance] = true
	}
	if len(keys) > 0 {
		w.watched[instance] = keys
	}
}

// of lists the instances that watch k.
func (w *watchIndex) of(k watchKey) []types.NamespacedName {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]types.NamespacedName, 0, len(w.by[k]))
	for key := range w.by[k] {
		out = append(out, key)
	}
	return out
}
