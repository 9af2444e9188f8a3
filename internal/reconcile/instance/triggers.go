package instance

import (
	"context"
	"fmt"
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
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
	Digest(ctx context.Context, gvk schema.GroupVersionKind, key types.NamespacedName) (digest string, ok bool, err error)
	Selected(ctx context.Context, gvk schema.GroupVersionKind, ns string, sel labels.Selector) (digest string, ok bool, err error)
}

// runTriggers starts, or queues, the plan of every trigger of fw whose
// watched data changed since the instance last saw it, and records what
// each watches and the digest it saw in st.Triggers. What a trigger sees
// first on an instance (a new trigger, a new name) is recorded, not run.
func (r *Reconciler) runTriggers(ctx context.Context, fw *compile.Framework, instance *unstructured.Unstructured, st *v1alpha1.InstanceStatus) {
	key := client.ObjectKeyFromObject(instance)
	if len(fw.WatchTriggers) == 0 && len(st.Triggers) == 0 {
		r.watching.set(key, nil)
		return
	}
	var kept []v1alpha1.TriggerStatus
	var targets []watchKey
	for _, t := range fw.WatchTriggers {
		entry, found := triggerEntry(st.Triggers, t.Name)
		target, watching, err := watchTarget(fw, t, instance)
		switch {
		case err != nil:
			entry = v1alpha1.TriggerStatus{Name: t.Name, Watching: watching, LastOutcome: v1alpha1.TriggerInvalid, Message: err.Error()}
			kept = append(kept, entry)
			continue
		case watching == "":
			continue // the instance named nothing: the trigger is off for it
		}
		if target.name != "" {
			targets = append(targets, target)
		}
		digest, ok, err := r.digestOf(ctx, t, instance.GetNamespace(), target)
		if err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "reading what a trigger watches", "trigger", t.Name)
		}
		switch {
		case !ok || err != nil:
			// Not watched yet, or not readable now: nothing is decided.
			if found {
				kept = append(kept, entry)
			}
			continue
		case !found || entry.Watching != watching:
			entry = v1alpha1.TriggerStatus{Name: t.Name, Watching: watching, Digest: digest}
		case entry.Digest != digest:
			entry.Digest, entry.LastTriggerTime = digest, stamp(r.cfg.Now())
			r.startTriggered(fw, t, st, &entry)
		}
		kept = append(kept, entry)
	}
	st.Triggers = kept
	r.watching.set(key, targets)
}

// startTriggered starts the run a change of t's data asks for, or queues
// it behind the plan that runs: a change is never skipped, since the data
// it brings (a renewed certificate) is there until some run takes it up.
func (r *Reconciler) startTriggered(fw *compile.Framework, t *compile.WatchTrigger, st *v1alpha1.InstanceStatus, entry *v1alpha1.TriggerStatus) {
	before := st.Plans[t.Plan].UID
	plans.Schedule(st, []plans.Run{{Plan: t.Plan, Cause: "trigger " + t.Name}}, r.startPlan(fw))
	if run := st.Plans[t.Plan]; st.ActivePlan == t.Plan && run.UID != before {
		entry.LastRunUID, entry.LastOutcome, entry.Message = run.UID, v1alpha1.TriggerStarted, ""
		return
	}
	entry.LastRunUID, entry.LastOutcome = "", v1alpha1.TriggerQueued
	entry.Message = fmt.Sprintf("%s changed while plan %s runs: plan %s runs after it", entry.Watching, st.ActivePlan, t.Plan)
}

// watchTarget is what t watches on instance: one named object (target) or
// a selector's choice, and how the status says it ("" when the instance
// names nothing). A name the instance gives is checked: a value of the
// instance's author is a name in its namespace, nothing else.
func watchTarget(fw *compile.Framework, t *compile.WatchTrigger, instance *unstructured.Unstructured) (target watchKey, watching string, err error) {
	if t.Selector != nil {
		return watchKey{}, t.GVK.Kind + " " + t.Selector.String(), nil
	}
	name := t.Object
	if t.ObjectExpr != nil {
		v, err := t.ObjectExpr.Render(tasks.NewVars(fw, instance))
		if err != nil {
			return watchKey{}, "", fmt.Errorf("trigger %s: %w", t.Name, err)
		}
		s, ok := v.(string)
		if !ok {
			return watchKey{}, fmt.Sprint(v), fmt.Errorf("trigger %s: the name rendered %v, not a string", t.Name, v)
		}
		name = s
	}
	if name == "" {
		return watchKey{}, "", nil
	}
	watching = t.GVK.Kind + " " + name
	if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
		return watchKey{}, watching, fmt.Errorf("trigger %s: %q is not a name: %s", t.Name, name, strings.Join(msgs, "; "))
	}
	return watchKey{gvk: t.GVK, namespace: instance.GetNamespace(), name: name}, watching, nil
}

// digestOf reads the digest of what t watches: target, or in the
// instance's namespace what t's selector picks.
func (r *Reconciler) digestOf(ctx context.Context, t *compile.WatchTrigger, ns string, target watchKey) (string, bool, error) {
	if r.cfg.Watched == nil {
		return "", false, nil
	}
	if t.Selector != nil {
		return r.cfg.Watched.Selected(ctx, t.GVK, ns, t.Selector)
	}
	return r.cfg.Watched.Digest(ctx, t.GVK, types.NamespacedName{Namespace: target.namespace, Name: target.name})
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
// trigger names it, and, in its namespace, every instance when a trigger's
// selector picks it (engine.WatchFilter).
func (r *Reconciler) WatchersOf(gvk schema.GroupVersionKind, obj metav1.Object) []types.NamespacedName {
	out := r.watching.of(watchKey{gvk: gvk, namespace: obj.GetNamespace(), name: obj.GetName()})
	if r.selects(gvk, labels.Set(obj.GetLabels())) {
		items, err := List(context.Background(), r.cfg.Instances, r.cfg.GVK, client.InNamespace(obj.GetNamespace()))
		if err != nil {
			return out
		}
		for i := range items {
			out = append(out, client.ObjectKeyFromObject(&items[i]))
		}
	}
	return out
}

// selects says whether a trigger of a generation this loop runs picks,
// by its selector, an object of kind gvk with these labels.
func (r *Reconciler) selects(gvk schema.GroupVersionKind, set labels.Set) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, g := range r.generations {
		for _, t := range g.fw.WatchTriggers {
			if t.Selector != nil && t.GVK == gvk && t.Selector.Matches(set) {
				return true
			}
		}
	}
	return false
}

// watchKey is an object a trigger watches by name.
type watchKey struct {
	gvk             schema.GroupVersionKind
	namespace, name string
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
