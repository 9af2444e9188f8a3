package kube

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
)

func TestStripManagedFieldsDropsThemFromEitherForm(t *testing.T) {
	managed := []metav1.ManagedFieldsEntry{{Manager: "operetta", Operation: metav1.ManagedFieldsOperationApply}}
	typed := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", ManagedFields: managed}}
	u := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{
		"name": "web", "managedFields": []any{map[string]any{"manager": "operetta"}},
	}}}
	for _, obj := range []metav1.Object{typed, u} {
		if _, err := StripManagedFields(obj); err != nil {
			t.Fatal(err)
		}
		if obj.GetManagedFields() != nil || obj.GetName() != "web" {
			t.Errorf("%T: managed fields %v, name %q; want none and web", obj, obj.GetManagedFields(), obj.GetName())
		}
	}
	if _, err := StripManagedFields("not an object"); err != nil {
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
