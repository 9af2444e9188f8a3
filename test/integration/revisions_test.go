package integration

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/testutil"
)

// TestARevisionDoesNotChange: the API server refuses an edit of a
// FrameworkRevision, whoever sends it.
func TestARevisionDoesNotChange(t *testing.T) {
	rev := &v1alpha1.FrameworkRevision{
		ObjectMeta: metav1.ObjectMeta{Name: "frozen-1"},
		Framework:  "frozen", Revision: 1,
		Spec: configMapFramework("frozen", "frozen.test.operetta.dev", "Frozen").Spec,
	}
	if err := k8s.Create(ctx(t), rev); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(ctx(t), rev) })
	rev.Spec.AppVersion = "2.0"
	err := k8s.Update(ctx(t), rev)
	if err == nil || !strings.Contains(err.Error(), "a revision does not change") {
		t.Fatalf("editing a revision: %v, want it refused", err)
	}
}

// TestRevisionsAreKeptToTheLimit: every installed generation is recorded
// as a FrameworkRevision holding its spec, and the oldest go past
// spec.revisionHistoryLimit; an instance names the revision it runs.
func TestRevisionsAreKeptToTheLimit(t *testing.T) {
	startManager(t)
	ns := namespace(t, "revs")
	fw := configMapFramework("revs", "revs.test.operetta.dev", "Rev")
	two := int32(2)
	fw.Spec.RevisionHistoryLimit = &two
	createFramework(t, fw)
	frameworkReady(t, "revs", metav1.ConditionTrue)
	gvk := schema.GroupVersionKind{Group: "revs.test.operetta.dev", Version: "v1", Kind: "Rev"}
	if err := k8s.Create(ctx(t), instance(gvk, ns, "r1", map[string]any{})); err != nil {
		t.Fatal(err)
	}
	waitForPlan(t, gvk, ns, "r1", "deploy", "COMPLETE")
	// A revision records a generation operetta installed: one written
	// over before it was seen is not (as a Deployment keeps no ReplicaSet
	// for a spec its controller never saw).
	for i, v := range []string{"2", "3", "4"} {
		editFramework(t, "revs", fw, func() { fw.Spec.AppVersion = v })
		eventually(t, 30*time.Second, func() error {
			return k8s.Get(ctx(t), client.ObjectKey{Name: v1alpha1.RevisionName("revs", int64(i+2))}, &v1alpha1.FrameworkRevision{})
		})
	}
	waitForInstance(t, gvk, ns, "r1", func(u *unstructured.Unstructured) error {
		if g, _, _ := unstructured.NestedInt64(u.Object, "status", "frameworkGeneration"); g != 4 || planStatus(u, "upgrade") != "COMPLETE" && planStatus(u, "deploy") != "COMPLETE" {
			return fmt.Errorf("on generation %d", g)
		}
		return nil
	})
	eventually(t, 30*time.Second, func() error {
		list := &v1alpha1.FrameworkRevisionList{}
		if err := k8s.List(ctx(t), list, client.MatchingLabels{v1alpha1.LabelFramework: "revs"}); err != nil {
			return err
		}
		got := map[string]string{}
		for _, r := range list.Items {
			got[r.Name] = r.Spec.AppVersion
			if r.Revision != 0 && r.Name != v1alpha1.RevisionName("revs", r.Revision) {
				return fmt.Errorf("revision %d is named %s", r.Revision, r.Name)
			}
		}
		want := map[string]string{"revs-3": "3", "revs-4": "4"}
		if !reflect.DeepEqual(got, want) {
			return fmt.Errorf("revisions %v, want %v", got, want)
		}
		return nil
	})
	waitForInstance(t, gvk, ns, "r1", func(u *unstructured.Unstructured) error {
		if rev, _, _ := unstructured.NestedString(u.Object, "status", "frameworkRevision"); rev != "revs-4" {
			return fmt.Errorf("status.frameworkRevision %q, want revs-4", rev)
		}
		return nil
	})
}

// TestAHeldInstanceRunsItsRevisionAfterARestart: an instance that waits for
// its turn keeps running the generation it is on after the manager
// restarts, compiled from its FrameworkRevision: a child of that
// generation, which the newer one dropped, is restored, not pruned.
func TestAHeldInstanceRunsItsRevisionAfterARestart(t *testing.T) {
	first := startManager(t)
	ns := namespace(t, "held-restart")
	group := "held-restart.test.operetta.dev"
	gvk := thingGVK(group)
	fw := heldFramework("held-restart", group)
	fw.Spec.Rollout.MaxConcurrent = 1
	createFramework(t, fw)
	frameworkReady(t, "held-restart", metav1.ConditionTrue)
	deployInstances(t, gvk, ns, "a", "b")
	// Generation 2 drops the extra template; one instance is admitted and
	// its upgrade waits at the gate, the other waits for its turn.
	editFramework(t, "held-restart", fw, func() {
		fw.Spec.Resources = append(fw.Spec.Resources[:1], fw.Spec.Resources[2])
		fw.Spec.Tasks[0].Resources = []string{"config"}
	})
	var admitted, held string
	eventually(t, 30*time.Second, func() error {
		admitted, held = "", ""
		for _, n := range []string{"a", "b"} {
			if instanceStatus(t, gvk, ns, n).Plans["upgrade"].Status == v1alpha1.InProgress {
				admitted = n
			} else {
				held = n
			}
		}
		if admitted == "" {
			return fmt.Errorf("no instance upgrading yet")
		}
		return nil
	})
	if rev := instanceStatus(t, gvk, ns, held).FrameworkRevision; rev != "held-restart-1" {
		t.Fatalf("the held instance runs %q, want held-restart-1", rev)
	}

	first.stop()
	startManager(t)
	if err := k8s.Delete(ctx(t), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: held + "-extra"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		if !exists(t, &corev1.ConfigMap{}, ns, held+"-extra") {
			return fmt.Errorf("%s waits on revision 1 but the restarted manager did not restore its child of that revision", held)
		}
		return nil
	})
	if st := instanceStatus(t, gvk, ns, held); st.FrameworkGeneration != 1 || st.FrameworkRevision != "held-restart-1" {
		t.Fatalf("after the restart the held instance stands on %d (%s), want 1", st.FrameworkGeneration, st.FrameworkRevision)
	}
	openGateOf(t, ns, admitted+"-gate")
	waitForPlan(t, gvk, ns, admitted, "upgrade", "COMPLETE")
}

// TestARolloutOnlyChangeIsNoNewRevision: a change of how the Framework
// rolls out reaches no instance: no revision is recorded for it and no
// plan runs, as pausing a Deployment makes no new ReplicaSet.
func TestARolloutOnlyChangeIsNoNewRevision(t *testing.T) {
	startManager(t)
	ns := namespace(t, "rollout-only")
	fw := configMapFramework("rollout-only", "rollout-only.test.operetta.dev", "Ro")
	createFramework(t, fw)
	frameworkReady(t, "rollout-only", metav1.ConditionTrue)
	gvk := schema.GroupVersionKind{Group: "rollout-only.test.operetta.dev", Version: "v1", Kind: "Ro"}
	if err := k8s.Create(ctx(t), instance(gvk, ns, "r", map[string]any{})); err != nil {
		t.Fatal(err)
	}
	deployed := waitForPlan(t, gvk, ns, "r", "deploy", "COMPLETE")
	_, _, deployUID := testutil.Plan(deployed, "deploy")
	editFramework(t, "rollout-only", fw, func() { fw.Spec.Rollout.MaxConcurrent = 2 })
	eventually(t, 30*time.Second, func() error {
		f := &v1alpha1.Framework{}
		if err := k8s.Get(ctx(t), client.ObjectKey{Name: "rollout-only"}, f); err != nil {
			return err
		}
		if f.Generation != 2 || f.Status.ObservedGeneration != 2 || !readyNowIn(f) {
			return fmt.Errorf("generation %d observed %d", f.Generation, f.Status.ObservedGeneration)
		}
		// What the loop rolls out, written with that status: still
		// revision 1, which every instance runs.
		if ro := f.Status.Rollout; ro == nil || ro.Generation != 1 || ro.Updated != 1 {
			return fmt.Errorf("rollout %+v, want revision 1, reached by its one instance", ro)
		}
		return nil
	})
	list := &v1alpha1.FrameworkRevisionList{}
	if err := k8s.List(ctx(t), list, client.MatchingLabels{v1alpha1.LabelFramework: "rollout-only"}); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].Name != "rollout-only-1" {
		names := []string{}
		for _, r := range list.Items {
			names = append(names, r.Name)
		}
		t.Fatalf("revisions %v, want only rollout-only-1", names)
	}
	u, err := get(t, gvk, ns, "r")
	if err != nil {
		t.Fatal(err)
	}
	st, _, uid := testutil.Plan(u, "deploy")
	if rev, _, _ := unstructured.NestedString(u.Object, "status", "frameworkRevision"); rev != "rollout-only-1" || uid != deployUID || st != "COMPLETE" {
		t.Fatalf("the instance runs %s, deploy run %s (%s), want revision 1 and the first run %s", rev, uid, st, deployUID)
	}
}

func readyNowIn(f *v1alpha1.Framework) bool {
	return meta.IsStatusConditionTrue(f.Status.Conditions, v1alpha1.ConditionReady)
}
