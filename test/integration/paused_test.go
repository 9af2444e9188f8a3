package integration

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
)

// TestAHeldInstanceIsLeftAloneAndCatchesUp: an instance annotated
// operetta.dev/paused is not touched while a Framework change rolls out past
// it (its child keeps its version, its drift is not corrected), reads
// Suspended to Argo CD and Current to kstatus, and on release goes on from
// where it stood to the new revision.
func TestAHeldInstanceIsLeftAloneAndCatchesUp(t *testing.T) {
	startManager(t)
	ns := namespace(t, "paused")
	group := "paused.test.operetta.dev"
	gvk := thingGVK(group)
	fw := framework("paused", group, nil, []v1alpha1.Resource{configMap("config", "")},
		[]v1alpha1.Task{apply("config", "config")},
		map[string]v1alpha1.Plan{"deploy": {Phases: []v1alpha1.Phase{{Name: "main", Steps: steps("config")}}}})
	createFramework(t, fw)
	frameworkReady(t, "paused", metav1.ConditionTrue)
	deployInstances(t, gvk, ns, "held", "free")
	held, err := get(t, gvk, ns, "held")
	if err != nil {
		t.Fatal(err)
	}
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:"true"}}}`, v1alpha1.AnnotationPaused)
	if err := k8s.Patch(ctx(t), held, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		t.Fatal(err)
	}
	u := waitForInstance(t, gvk, ns, "held", func(u *unstructured.Unstructured) error {
		st := v1alpha1.InstanceStatus{}
		if err := fromUnstructured(u.Object["status"], &st); err != nil {
			return err
		}
		if !meta.IsStatusConditionTrue(st.Conditions, v1alpha1.ConditionPaused) {
			return fmt.Errorf("not Paused yet: %v", st.Conditions)
		}
		return nil
	})
	expectHealth(t, "held", u, status.CurrentStatus, "Suspended")
	before := &corev1.ConfigMap{}
	if err := k8s.Get(ctx(t), client.ObjectKey{Namespace: ns, Name: "held-config"}, before); err != nil {
		t.Fatal(err)
	}

	// Generation 2 changes the children of every instance: the free one
	// follows, the held one keeps its own, object by object.
	editFramework(t, "paused", fw, func() {
		fw.Spec.Resources[0].Template.Raw = []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"${instance.metadata.name}-config"},"data":{"v":"two"}}`)
	})
	eventually(t, 30*time.Second, func() error {
		cm := &corev1.ConfigMap{}
		if err := k8s.Get(ctx(t), client.ObjectKey{Namespace: ns, Name: "free-config"}, cm); err != nil {
			return err
		}
		if cm.Data["v"] != "two" {
			return fmt.Errorf("the free instance's child holds %q", cm.Data["v"])
		}
		return nil
	})
	waitForPlan(t, gvk, ns, "free", "deploy", "COMPLETE")
	// The loop saw the held instance in this rollout (every instance is
	// enqueued on a new generation) and left it on generation 1.
	eventually(t, 30*time.Second, func() error {
		f := &v1alpha1.Framework{}
		if err := k8s.Get(ctx(t), client.ObjectKey{Name: "paused"}, f); err != nil {
			return err
		}
		if ro := f.Status.Rollout; ro == nil || ro.Generation != 2 || ro.Updated != 1 || ro.Total != 2 {
			return fmt.Errorf("rollout %+v, want 1 of 2 updated to generation 2", ro)
		}
		return nil
	})
	after := &corev1.ConfigMap{}
	if err := k8s.Get(ctx(t), client.ObjectKey{Namespace: ns, Name: "held-config"}, after); err != nil {
		t.Fatal(err)
	}
	if after.ResourceVersion != before.ResourceVersion || after.Data["v"] != before.Data["v"] {
		t.Fatalf("the held instance's child changed: version %s → %s, data %v → %v", before.ResourceVersion, after.ResourceVersion, before.Data, after.Data)
	}
	if st := instanceStatus(t, gvk, ns, "held"); st.FrameworkGeneration != 1 {
		t.Fatalf("the held instance moved to generation %d", st.FrameworkGeneration)
	}

	// Released, it goes on: to generation 2, its child with it.
	release := fmt.Sprintf(`{"metadata":{"annotations":{%q:null}}}`, v1alpha1.AnnotationPaused)
	if err := k8s.Patch(ctx(t), held, client.RawPatch(types.MergePatchType, []byte(release))); err != nil {
		t.Fatal(err)
	}
	waitForInstance(t, gvk, ns, "held", func(u *unstructured.Unstructured) error {
		st := v1alpha1.InstanceStatus{}
		if err := fromUnstructured(u.Object["status"], &st); err != nil {
			return err
		}
		if st.FrameworkGeneration != 2 || st.Plans["deploy"].Status != v1alpha1.Complete || meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionPaused) != nil {
			return fmt.Errorf("generation %d, deploy %s, conditions %v", st.FrameworkGeneration, st.Plans["deploy"].Status, st.Conditions)
		}
		return nil
	})
	cm := &corev1.ConfigMap{}
	if err := k8s.Get(ctx(t), client.ObjectKey{Namespace: ns, Name: "held-config"}, cm); err != nil || cm.Data["v"] != "two" {
		t.Fatalf("after its release the held instance's child holds %v (%v)", cm.Data, err)
	}
}
