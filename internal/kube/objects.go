package kube

import (
	"unique"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// StripUnread is a cache transform that drops what nothing in operetta reads
// and costs memory per object: managed fields (most of a small object) and
// kubectl's last-applied-configuration annotation (a second copy of what a
// client-side kubectl apply, or Argo CD, wrote: a Framework's whole spec).
// controller-runtime's own (cache.TransformStripManagedFields) asks an
// unstructured object for its managed fields first, which decodes every
// entry only to throw it away.
func StripUnread(in any) (any, error) {
	switch obj := in.(type) {
	case *unstructured.Unstructured:
		if md, ok := obj.Object["metadata"].(map[string]any); ok {
			delete(md, "managedFields")
			if a, ok := md["annotations"].(map[string]any); ok {
				delete(a, LastApplied)
				if len(a) == 0 {
					delete(md, "annotations")
				}
			}
			internValues(md, "namespace")
			if labels, ok := md["labels"].(map[string]any); ok {
				for k, v := range labels {
					labels[k] = internString(v)
				}
			}
		}
		internValues(obj.Object, "apiVersion", "kind")
		internKeys(obj.Object)
	case metav1.Object:
		obj.SetManagedFields(nil)
		if a := obj.GetAnnotations(); a[LastApplied] != "" {
			delete(a, LastApplied)
			obj.SetAnnotations(a)
		}
		internMeta(obj)
	}
	return in, nil
}

// internMeta shares, between the objects held, the metadata most of them
// repeat: the namespace, the labels (operetta's five on every child) and
// the kinds of their owners. A typed object decodes each into a string of
// its own.
func internMeta(obj metav1.Object) {
	obj.SetNamespace(unique.Make(obj.GetNamespace()).Value())
	labels := obj.GetLabels()
	for k, v := range labels {
		labels[unique.Make(k).Value()] = unique.Make(v).Value()
	}
	refs := obj.GetOwnerReferences()
	for i := range refs {
		refs[i].APIVersion = unique.Make(refs[i].APIVersion).Value()
		refs[i].Kind = unique.Make(refs[i].Kind).Value()
	}
}

func internValues(m map[string]any, keys ...string) {
	for _, k := range keys {
		if v, ok := m[k]; ok {
			m[k] = internString(v)
		}
	}
}

func internString(v any) any {
	if s, ok := v.(string); ok {
		return unique.Make(s).Value()
	}
	return v
}

// internKeys makes every key of v, a JSON value, share the one copy of its
// text with every other object held: decoding gives each object its own
// copy of "metadata", "status", "lastTransitionTime", ..., about a tenth
// of what an instance costs the cache. Setting a key again in a Go map
// stores the new key's string, so the maps need no rebuilding.
func internKeys(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			internKeys(e)
			v[unique.Make(k).Value()] = e
		}
	case []any:
		for _, e := range v {
			internKeys(e)
		}
	}
}

// LastApplied is the annotation client-side kubectl apply keeps.
const LastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// Unstructured is an empty object of kind gvk, as the cache of instances
// holds it.
func Unstructured(gvk schema.GroupVersionKind) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	return u
}

// ChildObject is an empty object of kind gvk as the children cache holds it:
// the Go type of a kind the scheme knows (the built-in kinds, which the API
// server then sends as protobuf: much cheaper to decode, and much smaller
// to keep, than a JSON map), unstructured for any other. An apply's answer
// (Writer) is decoded into the same.
func ChildObject(scheme *runtime.Scheme, gvk schema.GroupVersionKind) client.Object {
	if obj, err := scheme.New(gvk); err == nil {
		if typed, ok := obj.(client.Object); ok {
			return typed
		}
	}
	return Unstructured(gvk)
}
