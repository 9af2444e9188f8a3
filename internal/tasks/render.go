package tasks

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/kube"
	"operetta.dev/operetta/internal/manifest"
	"operetta.dev/operetta/internal/shard"
)

// renderAll renders resource id for this instance into its objects: one for
// a CEL template, any number for a Go template or a collection.
func (r *renderer) renderAll(id string) ([]*unstructured.Unstructured, error) {
	switch res := r.fw.Resources[id]; {
	case res.Go != nil:
		return r.renderGo(id, res)
	case len(res.ForEach) > 0:
		return r.renderEach(id, res)
	}
	obj, err := r.render(id)
	if err != nil {
		return nil, err
	}
	return []*unstructured.Unstructured{obj}, nil
}

// render renders the CEL template of resource id for this instance and
// marks it as the instance's: its namespace, operetta's labels and an owner
// reference.
func (r *renderer) render(id string) (*unstructured.Unstructured, error) {
	m, err := r.fw.Resources[id].Template.RenderObject(r.vars)
	if err != nil {
		return nil, kube.Fail("rendering resource %s: %w", id, err)
	}
	if !manifest.Within(m, manifest.MaxObjectBytes) {
		return nil, kube.Fail("rendering resource %s: the object is larger than the API server's limit of %d bytes", id, manifest.MaxObjectBytes)
	}
	obj := &unstructured.Unstructured{Object: m}
	if err := r.place(id, obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// place puts obj where it belongs, with operetta's labels and, in the
// instance's namespace, the instance as its controller. By default templates
// may create only namespaced objects in the instance's namespace; the
// Framework's allow list widens that.
func (r *renderer) place(id string, obj *unstructured.Unstructured) error {
	namespaced, err := r.c.Writer.IsObjectNamespaced(obj)
	if kube.NotServed(err) {
		return fmt.Errorf("resource %s: %s is not served by the API server (is its CRD installed?): %w", id, obj.GroupVersionKind(), err)
	}
	if err != nil {
		return kube.Fail("resource %s: %s: %w", id, obj.GroupVersionKind(), err)
	}
	ns := r.instance.GetNamespace()
	if err := Place(r.fw, id, obj, namespaced, ns); err != nil {
		return err
	}
	Label(obj, r.fw.Name, r.instance.GetName(), ns)
	shard.Label(obj, r.c.Shard)
	if obj.GetNamespace() == ns {
		obj.SetOwnerReferences([]metav1.OwnerReference{*metav1.NewControllerRef(r.instance, r.instance.GroupVersionKind())})
	}
	return nil
}

// Label puts operetta's labels on a child of instance name in namespace ns
// of Framework framework: they filter the children cache and lead a child's
// events to its instance.
func Label(obj *unstructured.Unstructured, framework, name, ns string) {
	labels := obj.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[v1alpha1.LabelManagedBy] = v1alpha1.ManagedByValue
	labels[v1alpha1.LabelFramework] = framework
	labels[v1alpha1.LabelInstance] = name
	labels[v1alpha1.LabelInstanceNS] = ns
	obj.SetLabels(labels)
}

// Place puts a child rendered from resource id where fw allows it for an
// instance in namespace ns: a cluster-scoped object only if fw lists its
// kind, a namespaced one in ns unless its template names a namespace fw
// allows. The error is terminal: only a change of the Framework helps.
func Place(fw *compile.Framework, id string, obj *unstructured.Unstructured, namespaced bool, ns string) error {
	switch {
	case !namespaced && !fw.AllowsClusterScoped(obj.GroupVersionKind().GroupKind()):
		return kube.Fail("resource %s: %s is cluster-scoped; templates may create only namespaced objects unless the Framework lists the kind in spec.allow.clusterScoped", id, obj.GetKind())
	case !namespaced:
		obj.SetNamespace("")
	case obj.GetNamespace() == "":
		obj.SetNamespace(ns)
	case !fw.AllowsNamespace(obj.GetNamespace(), ns):
		return kube.Fail("resource %s: namespace %q is not the instance's namespace %q and not in the Framework's spec.allow.namespaces", id, obj.GetNamespace(), ns)
	}
	return nil
}
