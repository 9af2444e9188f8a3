package tasks

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

func TestOnlyTheEventOfWhatWasAppliedAndNotAwaitedIsNothingNew(t *testing.T) {
	instance := types.NamespacedName{Namespace: "apps", Name: "web"}
	applied := answer("web-page", "5")
	gvk := corev1.SchemeGroupVersion.WithKind("ConfigMap")
	cached := func(version string) *corev1.ConfigMap { // typed, without its kind, as the cache holds it
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "web-page", ResourceVersion: version}}
	}

	m := NewRenders()
	if m.AppliedAsSeen(instance, gvk, cached("5")) {
		t.Error("a child this loop never applied: nothing new; want its event to matter")
	}
	m.appliedNow(instance, applied.GroupVersionKind(), applied)
	if !m.AppliedAsSeen(instance, gvk, cached("5")) {
		t.Error("the version the apply answered with: its event matters; want nothing new")
	}
	if n := m.pending(instance); n != 0 {
		t.Errorf("after the event of the applied version, %d applies remembered; want none", n)
	}

	// An event of an older version comes before the apply's own.
	applied.SetResourceVersion("7")
	m.appliedNow(instance, applied.GroupVersionKind(), applied)
	if m.AppliedAsSeen(instance, gvk, cached("6")) {
		t.Error("an older version: nothing new; want its event to matter")
	}
	if n := m.pending(instance); n != 1 {
		t.Errorf("after an older version's event, %d applies remembered; want the apply, still to be seen", n)
	}
	if !m.AppliedAsSeen(instance, gvk, cached("7")) {
		t.Error("the applied version after an older one: its event matters; want nothing new")
	}

	// A later version than applied: someone changed it since.
	applied.SetResourceVersion("8")
	m.appliedNow(instance, applied.GroupVersionKind(), applied)
	if m.AppliedAsSeen(instance, gvk, cached("9")) {
		t.Error("a later version: nothing new; want its event to matter")
	}
	if n := m.pending(instance); n != 0 {
		t.Errorf("after a later version's event, %d applies remembered; want none", n)
	}

	if other := (types.NamespacedName{Namespace: "apps", Name: "other"}); m.AppliedAsSeen(other, gvk, cached("5")) {
		t.Error("another instance's child: nothing new; want its event to matter")
	}
	// A reconcile that found it missing from the cache waits for its event.
	applied.SetResourceVersion("10")
	m.appliedNow(instance, applied.GroupVersionKind(), applied)
	if !m.await(instance, applied) {
		t.Fatal("await of a child applied just now = false; want true")
	}
	if m.AppliedAsSeen(instance, gvk, cached("10")) {
		t.Error("awaited: nothing new; want its event to wake the reconcile that waits")
	}
	if n := m.pending(instance); n != 0 {
		t.Errorf("after the awaited event, %d applies remembered; want none", n)
	}
	var none *Renders
	if none.AppliedAsSeen(instance, gvk, cached("5")) || none.await(instance, applied) {
		t.Error("a nil Renders remembers something; want nothing")
	}
}

// An apply whose event came before its answer is never matched by an
// event: it is dropped once older than appliedKept, so what is remembered
// grows with the recent applies, not with the fleet.
func TestAnAppliedChildWhoseEventCameFirstIsForgottenInTime(t *testing.T) {
	m := NewRenders()
	old := types.NamespacedName{Namespace: "apps", Name: "settled"}
	applied := answer("settled-page", "5")
	m.appliedNow(old, applied.GroupVersionKind(), applied)
	// Its event came first, so no event will match it; time passes.
	for key, a := range m.applied[old] {
		a.at = a.at.Add(-2 * appliedKept)
		m.applied[old][key] = a
	}
	m.swept = m.swept.Add(-appliedKept)

	fresh := types.NamespacedName{Namespace: "apps", Name: "new"}
	applied.SetName("new-page")
	m.appliedNow(fresh, applied.GroupVersionKind(), applied)
	if n := m.pending(old); n != 0 {
		t.Errorf("an apply older than %s: %d remembered; want none", appliedKept, n)
	}
	if n := m.pending(fresh); n != 1 {
		t.Errorf("the apply of just now: %d remembered; want 1", n)
	}
}

// answer is the API server's answer to an apply of ConfigMap name in
// namespace apps: its version.
func answer(name, version string) *unstructured.Unstructured {
	applied := &unstructured.Unstructured{}
	applied.SetAPIVersion("v1")
	applied.SetKind("ConfigMap")
	applied.SetNamespace("apps")
	applied.SetName(name)
	applied.SetResourceVersion(version)
	return applied
}
