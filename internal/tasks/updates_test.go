package tasks

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/internal/compile"
)

func TestOnlyUpdatesThatCanChangeADecisionMatter(t *testing.T) {
	deploymentKind := appsv1.SchemeGroupVersion.WithKind("Deployment")
	deployment := func(generation int64, mutate func(*appsv1.Deployment)) *appsv1.Deployment {
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "apps", Generation: generation, Labels: map[string]string{"app": "web"}},
			Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](1)},
			Status:     appsv1.DeploymentStatus{ObservedGeneration: generation},
		}
		if mutate != nil {
			mutate(d)
		}
		return d
	}
	scheduled := func(d *appsv1.Deployment) { d.Status.Replicas, d.Status.UpdatedReplicas = 1, 1 }
	available := func(d *appsv1.Deployment) {
		scheduled(d)
		d.Status.ReadyReplicas, d.Status.AvailableReplicas = 1, 1
		d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue}}
	}
	kstatusOnly := &compile.Framework{}
	looksInside := &compile.Framework{Projections: []compile.Projection{{Name: "endpoint", UsesResources: true}}}
	custom := func(status string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("example.com/v1")
		u.SetKind("ZooKeeper")
		u.SetGeneration(1)
		_ = unstructured.SetNestedField(u.Object, status, "status", "phase")
		return u
	}
	for _, tc := range []struct {
		name     string
		fw       *compile.Framework
		old, new client.Object
		want     bool
	}{
		{"status written, still rolling out", kstatusOnly, deployment(1, nil), deployment(1, scheduled), false},
		{"status written, now available", kstatusOnly, deployment(1, scheduled), deployment(1, available), true},
		{"available, then unavailable", kstatusOnly, deployment(1, available), deployment(1, scheduled), true},
		{"spec changed by someone else", kstatusOnly, deployment(1, available), deployment(2, available), true},
		{"labels changed", kstatusOnly, deployment(1, nil), deployment(1, func(d *appsv1.Deployment) { d.Labels = nil }), true},
		{"being deleted", kstatusOnly, deployment(1, nil), deployment(1, func(d *appsv1.Deployment) { d.DeletionTimestamp = &metav1.Time{} }), true},
		{"a kind without a generation drifts on any change", kstatusOnly,
			&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "page", ResourceVersion: "1"}},
			&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "page", ResourceVersion: "2"}}, true},
		{"a Framework that reads children", looksInside, deployment(1, nil), deployment(1, scheduled), true},
		{"a custom kind", kstatusOnly, custom("Pending"), custom("Running"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gvk := deploymentKind
			if u, ok := tc.new.(*unstructured.Unstructured); ok {
				gvk = u.GroupVersionKind()
			} else if _, ok := tc.new.(*corev1.ConfigMap); ok {
				gvk = corev1.SchemeGroupVersion.WithKind("ConfigMap")
			}
			if got := UpdateMatters(tc.fw, NewVerdicts(), gvk, tc.old, tc.new); got != tc.want {
				t.Errorf("UpdateMatters = %v; want %v", got, tc.want)
			}
		})
	}
}

func TestAVerdictIsComputedOncePerVersion(t *testing.T) {
	gvk := appsv1.SchemeGroupVersion.WithKind("Deployment")
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", UID: "u1", ResourceVersion: "7", Generation: 1},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](1)},
		Status:     appsv1.DeploymentStatus{ObservedGeneration: 1},
	}
	v := NewVerdicts()
	first, err := v.of(gvk, d)
	if err != nil || first.Status != "InProgress" {
		t.Fatalf("a Deployment with no replica up: %v, %v; want InProgress", first, err)
	}
	// The same version again is not looked at again: a cache's object of
	// one resourceVersion never changes.
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1,
		Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue}}}
	if again, _ := v.of(gvk, d); again != first {
		t.Errorf("the same version: %v; want the remembered %v", again, first)
	}
	d.ResourceVersion = "8"
	if next, err := v.of(gvk, d); err != nil || next.Status != "Current" {
		t.Errorf("a new version, available: %v, %v; want Current", next, err)
	}
}
