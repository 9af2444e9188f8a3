package kube

import (
	"encoding/json"
	"testing"
	"unsafe"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
)

func TestStripUnreadDropsManagedFieldsAndLastAppliedFromEitherForm(t *testing.T) {
	managed := []metav1.ManagedFieldsEntry{{Manager: "operetta", Operation: metav1.ManagedFieldsOperationApply}}
	typed := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", ManagedFields: managed,
		Annotations: map[string]string{LastApplied: `{"spec":{}}`, "team": "a"}}}
	u := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{
		"name": "web", "managedFields": []any{map[string]any{"manager": "operetta"}},
		"annotations": map[string]any{LastApplied: `{"spec":{}}`, "team": "a"},
	}}}
	alone := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{
		"name": "web", "annotations": map[string]any{LastApplied: `{"spec":{}}`},
	}}}
	for _, obj := range []metav1.Object{typed, u} {
		if _, err := StripUnread(obj); err != nil {
			t.Fatal(err)
		}
		if obj.GetManagedFields() != nil || obj.GetName() != "web" || len(obj.GetAnnotations()) != 1 || obj.GetAnnotations()["team"] != "a" {
			t.Errorf("%T: managed fields %v, name %q, annotations %v; want none, web and team only", obj, obj.GetManagedFields(), obj.GetName(), obj.GetAnnotations())
		}
	}
	if _, err := StripUnread(alone); err != nil || alone.GetAnnotations() != nil {
		t.Errorf("only last-applied: annotations %v, %v; want none", alone.GetAnnotations(), err)
	}
	if _, err := StripUnread("not an object"); err != nil {
		t.Errorf("a value that is not an object: %v; want it passed through", err)
	}
}

func TestABuiltInChildIsCachedTyped(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	deployment := appsv1.SchemeGroupVersion.WithKind("Deployment")
	if _, ok := ChildObject(scheme, deployment).(*appsv1.Deployment); !ok {
		t.Errorf("a Deployment is cached as %T; want *appsv1.Deployment", ChildObject(scheme, deployment))
	}
	custom := schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Kafka"}
	if got, ok := ChildObject(scheme, custom).(*unstructured.Unstructured); !ok || got.GroupVersionKind() != custom {
		t.Errorf("a custom kind is cached as %T; want unstructured %s", ChildObject(scheme, custom), custom)
	}

}

// Two objects decoded apart hold their keys in one copy once cached, at
// every depth, and keep their values.
func TestStripUnreadSharesTheKeysOfObjectsDecodedApart(t *testing.T) {
	decode := func() *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON([]byte(`{"apiVersion":"x.dev/v1","kind":"Cache","metadata":{"name":"a"},
			"status":{"conditions":[{"type":"Ready","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := StripUnread(u); err != nil {
			t.Fatal(err)
		}
		return u
	}
	a, b := decode(), decode()
	keyOf := func(m map[string]any, want string) string {
		for k := range m {
			if k == want {
				return k
			}
		}
		t.Fatalf("no key %q in %v", want, m)
		return ""
	}
	condition := func(u *unstructured.Unstructured) map[string]any {
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		return conds[0].(map[string]any)
	}
	for _, want := range []string{"metadata", "status"} {
		if ka, kb := keyOf(a.Object, want), keyOf(b.Object, want); unsafe.StringData(ka) != unsafe.StringData(kb) {
			t.Errorf("key %q: two copies; want one", want)
		}
	}
	ka, kb := keyOf(condition(a), "lastTransitionTime"), keyOf(condition(b), "lastTransitionTime")
	if unsafe.StringData(ka) != unsafe.StringData(kb) {
		t.Error("key lastTransitionTime inside a list: two copies; want one")
	}
	if condition(b)["type"] != "Ready" || b.GetName() != "a" {
		t.Errorf("values changed: %v", b.Object)
	}
}

// Typed objects decoded apart share their namespace, labels and owners'
// kinds once cached.
func TestStripUnreadSharesTheMetadataTypedObjectsRepeat(t *testing.T) {
	decode := func() *appsv1.Deployment {
		d := &appsv1.Deployment{}
		if err := json.Unmarshal([]byte(`{"metadata":{"name":"web","namespace":"apps","labels":{"operetta.dev/framework":"webapp"},
			"ownerReferences":[{"apiVersion":"x.dev/v1","kind":"WebApp","name":"web","uid":"1"}]}}`), d); err != nil {
			t.Fatal(err)
		}
		if _, err := StripUnread(d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	a, b := decode(), decode()
	same := func(what, x, y string) {
		t.Helper()
		if x != y || unsafe.StringData(x) != unsafe.StringData(y) {
			t.Errorf("%s: %q and %q in two copies; want one", what, x, y)
		}
	}
	same("namespace", a.Namespace, b.Namespace)
	same("label value", a.Labels["operetta.dev/framework"], b.Labels["operetta.dev/framework"])
	for k := range a.Labels {
		for k2 := range b.Labels {
			same("label key", k, k2)
		}
	}
	same("owner's kind", a.OwnerReferences[0].Kind, b.OwnerReferences[0].Kind)
	same("owner's apiVersion", a.OwnerReferences[0].APIVersion, b.OwnerReferences[0].APIVersion)
	if b.Name != "web" || b.OwnerReferences[0].Name != "web" {
		t.Errorf("values changed: %+v", b.ObjectMeta)
	}
}
