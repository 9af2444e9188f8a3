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
