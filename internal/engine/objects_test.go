package engine

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
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

func TestABuiltInChildIsCachedTypedAndReadUnstructured(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	deployment := appsv1.SchemeGroupVersion.WithKind("Deployment")
	if _, ok := childObject(scheme, deployment).(*appsv1.Deployment); !ok {
		t.Errorf("a Deployment is cached as %T; want *appsv1.Deployment", childObject(scheme, deployment))
	}
	custom := schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Kafka"}
	if got, ok := childObject(scheme, custom).(*unstructured.Unstructured); !ok || got.GroupVersionKind() != custom {
		t.Errorf("a custom kind is cached as %T; want unstructured %s", childObject(scheme, custom), custom)
	}

	live := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "apps", Generation: 3},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](2)},
		Status:     appsv1.DeploymentStatus{ObservedGeneration: 3, AvailableReplicas: 2},
	}
	u, err := asUnstructured(live, deployment)
	if err != nil {
		t.Fatal(err)
	}
	replicas, _, _ := unstructured.NestedInt64(u.Object, "spec", "replicas")
	available, _, _ := unstructured.NestedInt64(u.Object, "status", "availableReplicas")
	if u.GroupVersionKind() != deployment || u.GetGeneration() != 3 || replicas != 2 || available != 2 {
		t.Errorf("read as %s generation %d, replicas %d, available %d; want %s 3, 2, 2",
			u.GroupVersionKind(), u.GetGeneration(), replicas, available, deployment)
	}
}
