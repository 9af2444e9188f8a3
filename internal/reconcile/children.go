package reconcile

import (
	"fmt"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"operetta.dev/operetta/api/v1alpha1"
)

// render renders resource id for this instance and marks it as the
// instance's: its namespace, operetta's labels and an owner reference.
func (r *stepRun) render(id string) (*unstructured.Unstructured, error) {
	m, err := r.fw.Resources[id].Template.RenderObject(r.vars)
	if err != nil {
		return nil, terminal("rendering resource %s: %w", id, err)
	}
	obj := &unstructured.Unstructured{Object: m}
	if err := r.own(id, obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// own puts obj where it belongs, with operetta's labels and, in the
// instance's namespace, the instance as its controller. By default templates
// may create only namespaced objects in the instance's namespace; the
// Framework's allow list widens that.
func (r *stepRun) own(id string, obj *unstructured.Unstructured) error {
	namespaced, err := r.client.IsObjectNamespaced(obj)
	if err != nil {
		return terminal("resource %s: %s is not served by the API server: %w", id, obj.GroupVersionKind(), err)
	}
	ns := r.instance.GetNamespace()
	switch {
	case !namespaced && !r.fw.AllowsClusterScoped(obj.GroupVersionKind().GroupKind()):
		return terminal("resource %s: %s is cluster-scoped; templates may create only namespaced objects unless the Framework lists the kind in spec.allow.clusterScoped", id, obj.GetKind())
	case !namespaced:
		obj.SetNamespace("")
	case obj.GetNamespace() == "":
		obj.SetNamespace(ns)
	case !r.fw.AllowsNamespace(obj.GetNamespace(), ns):
		return terminal("resource %s: namespace %q is not the instance's namespace %q and not in the Framework's spec.allow.namespaces", id, obj.GetNamespace(), ns)
	}
	labels := obj.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[v1alpha1.LabelManagedBy] = v1alpha1.ManagedByValue
	labels[v1alpha1.LabelFramework] = r.fw.Name
	labels[v1alpha1.LabelInstance] = r.instance.GetName()
	labels[v1alpha1.LabelInstanceNS] = ns
	obj.SetLabels(labels)
	if obj.GetNamespace() == ns {
		obj.SetOwnerReferences([]metav1.OwnerReference{*metav1.NewControllerRef(r.instance, r.instance.GroupVersionKind())})
	}
	return nil
}

// health says whether an applied object is ready: by its readyWhen if the
// Framework gives one, else by kstatus. A kstatus Failed object (a failed Job,
// say) fails the step for good.
func (r *stepRun) health(id string, obj *unstructured.Unstructured) (bool, string, error) {
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
	res, err := status.Compute(obj)
	if err != nil {
		return false, "", fmt.Errorf("computing the health of %s %s: %w", obj.GetKind(), obj.GetName(), err)
	}
	switch res.Status {
	case status.CurrentStatus:
		return true, "", nil
	case status.FailedStatus:
		return false, "", terminal("%s %s failed: %s", obj.GetKind(), obj.GetName(), res.Message)
	default:
		msg := res.Message
		if msg == "" {
			msg = string(res.Status)
		}
		return false, msg, nil
	}
}

// remember records an applied child in the inventory with what it looks like
// now, so a later change by someone else shows.
func (r *stepRun) remember(id string, obj *unstructured.Unstructured) {
	item := r.itemOf(obj)
	item.ID, item.Observed = id, observedVersion(obj)
	for i, it := range r.status.Inventory {
		if sameObject(it, item) {
			r.status.Inventory[i] = item
			return
		}
	}
	r.status.Inventory = append(r.status.Inventory, item)
}

func sameObject(a, b v1alpha1.InventoryItem) bool {
	return a.APIVersion == b.APIVersion && a.Kind == b.Kind && a.Name == b.Name && a.Namespace == b.Namespace && a.Cluster == b.Cluster
}

// forget removes a deleted child from the inventory.
func (r *stepRun) forget(gone v1alpha1.InventoryItem) {
	kept := r.status.Inventory[:0]
	for _, it := range r.status.Inventory {
		if !sameObject(it, gone) {
			kept = append(kept, it)
		}
	}
	r.status.Inventory = kept
	if len(kept) == 0 {
		r.status.Inventory = nil
	}
}

// observedVersion is what tells a later change of a child: its generation,
// which only spec changes bump, or its resourceVersion for kinds that have no
// generation (ConfigMaps, Secrets).
func observedVersion(obj metav1.Object) string {
	if g := obj.GetGeneration(); g > 0 {
		return "g" + strconv.FormatInt(g, 10)
	}
	return "rv" + obj.GetResourceVersion()
}

// itemOf is the inventory entry of an object, without what it looks like.
func (r *stepRun) itemOf(obj *unstructured.Unstructured) v1alpha1.InventoryItem {
	item := v1alpha1.InventoryItem{APIVersion: obj.GetAPIVersion(), Kind: obj.GetKind(), Name: obj.GetName()}
	switch ns := obj.GetNamespace(); {
	case ns == "":
		item.Cluster = true
	case ns != r.instance.GetNamespace():
		item.Namespace = ns
	}
	return item
}

// objectOf is the object an inventory entry names, for reading or deleting.
func (r *stepRun) objectOf(item v1alpha1.InventoryItem) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(item.APIVersion)
	u.SetKind(item.Kind)
	u.SetName(item.Name)
	switch {
	case item.Cluster:
	case item.Namespace != "":
		u.SetNamespace(item.Namespace)
	default:
		u.SetNamespace(r.instance.GetNamespace())
	}
	return u
}
