package integration

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/conditions"
)

// TestRolloutGates takes one Framework change through each gate of
// spec.rollout, proving each by what was and was not admitted: paused, no
// instance moves; a canary selector, only the instance it matches; a
// revision whose upgrade fails, halted after maxFailures, the Framework
// Stalled naming the failed instance, with a Warning event.
func TestRolloutGates(t *testing.T) {
	startManager(t)
	ns := namespace(t, "gates")
	group := "gates.test.operetta.dev"
	gvk := thingGVK(group)
	fw := framework("gates", group, nil, []v1alpha1.Resource{configMap("config", "")},
		[]v1alpha1.Task{apply("config", "config"), {Name: "never", Kind: v1alpha1.TaskWait, Condition: "${false}", Timeout: &metav1.Duration{Duration: time.Second}}},
		map[string]v1alpha1.Plan{
			"deploy":  {Phases: []v1alpha1.Phase{{Name: "main", Steps: steps("config")}}},
			"upgrade": {Phases: []v1alpha1.Phase{{Name: "main", Steps: steps("config")}}},
		})
	createFramework(t, fw)
	frameworkReady(t, "gates", metav1.ConditionTrue)
	names := []string{"canary", "g2", "g3", "g4"}
	for _, n := range names {
		u := instance(gvk, ns, n, map[string]any{})
		if n == "canary" {
			u.SetLabels(map[string]string{"track": "canary"})
		}
		if err := k8s.Create(ctx(t), u); err != nil {
			t.Fatal(err)
		}
		waitForPlan(t, gvk, ns, n, "deploy", "COMPLETE")
	}
	generations := func() map[string]int64 {
		out := map[string]int64{}
		for _, n := range names {
			out[n] = instanceStatus(t, gvk, ns, n).FrameworkGeneration
		}
		return out
	}
	rollout := func(want string) *v1alpha1.Framework {
		t.Helper()
		var f *v1alpha1.Framework
		eventually(t, 30*time.Second, func() error {
			f = &v1alpha1.Framework{}
			if err := k8s.Get(ctx(t), client.ObjectKey{Name: "gates"}, f); err != nil {
				return err
			}
			ro := f.Status.Rollout
			if ro == nil || f.Status.ObservedGeneration != f.Generation {
				return fmt.Errorf("not reported yet")
			}
			if got := fmt.Sprintf("revision %d: %d updated, %d failed of %d", ro.Generation, ro.Updated, ro.Failed, ro.Total); got != want {
				return fmt.Errorf("rollout %s, want %s", got, want)
			}
			return nil
		})
		return f
	}

	// Paused: revision 2 is recorded, and reaches no instance.
	editFramework(t, "gates", fw, func() {
		fw.Spec.Resources[0].Template = &runtime.RawExtension{Raw: []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"${instance.metadata.name}-config"},"data":{"v":"two"}}`)}
		fw.Spec.Rollout.Paused = true
	})
	f := rollout("revision 2: 0 updated, 0 failed of 4")
	if c := meta.FindStatusCondition(f.Status.Conditions, v1alpha1.ConditionReconciling); c == nil || c.Reason != string(conditions.RolloutPaused) {
		t.Fatalf("a paused rollout's Reconciling: %+v", c)
	}
	expectHealth(t, "a Framework whose rollout is paused", unstructuredFramework(t, f), status.InProgressStatus, "Suspended")
	if g := generations(); g["canary"] != 1 || g["g2"] != 1 || g["g3"] != 1 || g["g4"] != 1 {
		t.Fatalf("paused, instances moved: %v", g)
	}

	// A canary: resumed with a selector, only the matching instance moves;
	// no new revision for a change of the gates.
	editFramework(t, "gates", fw, func() {
		fw.Spec.Rollout.Paused = false
		fw.Spec.Rollout.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"track": "canary"}}
	})
	waitForPlan(t, gvk, ns, "canary", "upgrade", "COMPLETE")
	rollout("revision 2: 1 updated, 0 failed of 4")
	// kubectl operetta rollout status follows the canary, as selected.
	out, err := plugin(t, ns, "rollout", "status", "gates", "-n", ns, "-l", "track=canary", "--timeout", "30s")
	if err != nil || !strings.Contains(out, "revision 2 of Framework gates rolled out: 1 of 1 instances updated") {
		t.Fatalf("rollout status of the canary: %v\n%s", err, out)
	}
	if out, err := plugin(t, ns, "rollout", "status", "gates", "-n", ns, "--timeout", "1s"); err == nil || !strings.Contains(err.Error(), "Waiting for revision 2 of Framework gates: 1 of 4 instances updated") {
		t.Fatalf("rollout status of all while the canary is all that moved: %v\n%s", err, out)
	}
	if g := generations(); g["canary"] != 2 || g["g2"] != 1 || g["g3"] != 1 || g["g4"] != 1 {
		t.Fatalf("a canary of one moved %v", g)
	}

	// Revision 4's upgrade fails for good; with maxFailures 1 and one at a
	// time, the first to fail halts it.
	editFramework(t, "gates", fw, func() {
		fw.Spec.Rollout.Selector = nil
		fw.Spec.Rollout.MaxConcurrent = 1
		fw.Spec.Rollout.MaxFailures = ptr.To[int32](1)
		fw.Spec.Plans["upgrade"] = v1alpha1.Plan{Phases: []v1alpha1.Phase{{Name: "main", Steps: steps("config", "never")}}}
	})
	f = rollout("revision 4: 0 updated, 1 failed of 4")
	expectHealth(t, "a Framework whose rollout halted", unstructuredFramework(t, f), status.FailedStatus, "Degraded")
	stalled := meta.FindStatusCondition(f.Status.Conditions, v1alpha1.ConditionStalled)
	if stalled == nil || stalled.Reason != string(conditions.RolloutHalted) || !meta.IsStatusConditionTrue(f.Status.Conditions, v1alpha1.ConditionReady) {
		t.Fatalf("a halted rollout's conditions: %+v", f.Status.Conditions)
	}
	var failed []string
	for n, g := range generations() {
		if g == 4 {
			failed = append(failed, n)
		}
	}
	sort.Strings(failed)
	if len(failed) != 1 || !strings.Contains(stalled.Message, ns+"/"+failed[0]) {
		t.Fatalf("on revision 4: %v; Stalled says %q", failed, stalled.Message)
	}
	// Halted, a waiting instance that reconciles (its spec changed) is not
	// admitted: it runs that change on its own revision.
	var waiting string
	for n, g := range generations() {
		if g != 4 && n != "canary" {
			waiting = n
		}
	}
	u, err := get(t, gvk, ns, waiting)
	if err != nil {
		t.Fatal(err)
	}
	before := instanceStatus(t, gvk, ns, waiting).FrameworkGeneration
	_ = unstructured.SetNestedField(u.Object, int64(7), "spec", "value")
	if err := k8s.Update(ctx(t), u); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		st := instanceStatus(t, gvk, ns, waiting)
		if st.ObservedGeneration != 2 || st.ActivePlanStatus != v1alpha1.Complete {
			return fmt.Errorf("%s: observed generation %d, active plan %s %s", waiting, st.ObservedGeneration, st.ActivePlan, st.ActivePlanStatus)
		}
		if st.FrameworkGeneration != before {
			return fmt.Errorf("%s was admitted to revision %d while the rollout is halted", waiting, st.FrameworkGeneration)
		}
		return nil
	})
	if data := configMapData(t, ns, waiting+"-config"); data["v"] != "7" {
		t.Fatalf("the held instance's change did not run on its own revision: %v", data)
	}
	// rollout status fails, saying why.
	if out, err := plugin(t, ns, "rollout", "status", "gates", "--timeout", "30s"); err == nil || !strings.Contains(err.Error(), "framework gates is Stalled (RolloutHalted): ") {
		t.Fatalf("rollout status of a halted rollout: %v\n%s", err, out)
	}
	counts, notes := frameworkEvents(t, "gates")
	if counts[string(conditions.RolloutHalted)] != 1 {
		t.Fatalf("RolloutHalted events %d, want 1 (events %v)", counts[string(conditions.RolloutHalted)], notes)
	}
}

// TestRolloutPauseHistoryAndUndo drives the plugin's rollout commands:
// pause and resume set spec.rollout.paused; history lists the revisions
// kept; undo writes the previous revision's spec back, as a new
// generation whose children every instance then has again.
func TestRolloutPauseHistoryAndUndo(t *testing.T) {
	startManager(t)
	ns := namespace(t, "undo")
	group := "undo.test.operetta.dev"
	gvk := thingGVK(group)
	fw := framework("undo", group, nil, []v1alpha1.Resource{configMap("config", "")},
		[]v1alpha1.Task{apply("config", "config")},
		map[string]v1alpha1.Plan{
			"deploy":   {Phases: []v1alpha1.Phase{{Name: "main", Steps: steps("config")}}},
			"rollback": {Phases: []v1alpha1.Phase{{Name: "main", Steps: steps("config")}}},
		})
	fw.Spec.AppVersion = "1.0"
	createFramework(t, fw)
	frameworkReady(t, "undo", metav1.ConditionTrue)
	if err := k8s.Create(ctx(t), instance(gvk, ns, "u", map[string]any{})); err != nil {
		t.Fatal(err)
	}
	waitForPlan(t, gvk, ns, "u", "deploy", "COMPLETE")

	if out, err := plugin(t, ns, "rollout", "pause", "undo"); err != nil || !strings.Contains(out, "framework/undo paused") {
		t.Fatalf("rollout pause: %v\n%s", err, out)
	}
	f := &v1alpha1.Framework{}
	if err := k8s.Get(ctx(t), client.ObjectKey{Name: "undo"}, f); err != nil || !f.Spec.Rollout.Paused {
		t.Fatalf("after rollout pause: paused %v (%v)", f.Spec.Rollout.Paused, err)
	}
	if _, err := plugin(t, ns, "rollout", "resume", "undo"); err != nil {
		t.Fatal(err)
	}
	// Generations 2 and 3 changed only the gates, no revision; generation
	// 4 changes the child: revision 4.
	editFramework(t, "undo", fw, func() {
		fw.Spec.AppVersion = "2.0"
		fw.Spec.Resources[0].Template = &runtime.RawExtension{Raw: []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"${instance.metadata.name}-config"},"data":{"v":"two"}}`)}
	})
	eventually(t, 30*time.Second, func() error {
		if cm := configMapData(t, ns, "u-config"); cm["v"] != "two" {
			return fmt.Errorf("child holds %v", cm)
		}
		return nil
	})
	var history string
	eventually(t, 30*time.Second, func() error {
		out, err := plugin(t, ns, "rollout", "history", "undo")
		if err != nil {
			return err
		}
		history = out
		if !strings.Contains(out, "1         1.0") || !strings.Contains(out, "4         2.0") || !strings.Contains(out, "current") {
			return fmt.Errorf("history:\n%s", out)
		}
		return nil
	})
	t.Logf("kubectl operetta rollout history undo:\n%s", history)

	out, err := plugin(t, ns, "rollout", "undo", "undo")
	if err != nil || !strings.Contains(out, "rolled back to revision 1") {
		t.Fatalf("rollout undo: %v\n%s", err, out)
	}
	eventually(t, 30*time.Second, func() error {
		if cm := configMapData(t, ns, "u-config"); cm["v"] != "1" {
			return fmt.Errorf("after undo the child holds %v, want revision 1's", cm)
		}
		return nil
	})
	// Going back runs the Framework's rollback plan, not deploy again.
	waitForPlan(t, gvk, ns, "u", "rollback", "COMPLETE")
	if st := instanceStatus(t, gvk, ns, "u"); st.ActivePlan != "rollback" || st.FrameworkRevision != "undo-5" {
		t.Fatalf("after undo: active plan %s on %s, want rollback on undo-5", st.ActivePlan, st.FrameworkRevision)
	}
	if err := k8s.Get(ctx(t), client.ObjectKey{Name: "undo"}, f); err != nil || f.Spec.AppVersion != "1.0" || f.Spec.Rollout.Paused {
		t.Fatalf("after undo: appVersion %q, paused %v (%v)", f.Spec.AppVersion, f.Spec.Rollout.Paused, err)
	}
	if _, err := plugin(t, ns, "rollout", "undo", "undo", "--to-revision", "9"); err == nil || !strings.Contains(err.Error(), "has no revision 9 kept") {
		t.Fatalf("undo to a revision not kept: %v", err)
	}
}

func configMapData(t *testing.T, ns, name string) map[string]string {
	t.Helper()
	cm := &corev1.ConfigMap{}
	if err := k8s.Get(ctx(t), client.ObjectKey{Namespace: ns, Name: name}, cm); err != nil {
		t.Fatal(err)
	}
	return cm.Data
}

// TestAProgressDeadlineHaltsASlowRollout: an instance admitted to a new
// revision whose plan does not finish within spec.rollout.progressDeadline
// halts the rollout: the Framework is Stalled naming it, and no other
// instance is admitted while it waits.
func TestAProgressDeadlineHaltsASlowRollout(t *testing.T) {
	startManager(t)
	ns := namespace(t, "deadline")
	group := "deadline.test.operetta.dev"
	gvk := thingGVK(group)
	fw := gatedUpgradeFramework("deadline", group)
	fw.Spec.Rollout.MaxConcurrent = 1
	fw.Spec.Rollout.ProgressDeadline = &metav1.Duration{Duration: 2 * time.Second}
	createFramework(t, fw)
	frameworkReady(t, "deadline", metav1.ConditionTrue)
	names := []string{"d1", "d2", "d3"}
	deployInstances(t, gvk, ns, names...)
	editFramework(t, "deadline", fw, func() { fw.Spec.AppVersion = "2" })
	var f *v1alpha1.Framework
	eventually(t, 30*time.Second, func() error {
		f = &v1alpha1.Framework{}
		if err := k8s.Get(ctx(t), client.ObjectKey{Name: "deadline"}, f); err != nil {
			return err
		}
		if c := meta.FindStatusCondition(f.Status.Conditions, v1alpha1.ConditionStalled); c == nil || c.Reason != string(conditions.RolloutHalted) {
			return fmt.Errorf("not halted: %+v", f.Status.Conditions)
		}
		return nil
	})
	expectHealth(t, "a Framework whose rollout halted", unstructuredFramework(t, f), status.FailedStatus, "Degraded")
	stalled := meta.FindStatusCondition(f.Status.Conditions, v1alpha1.ConditionStalled)
	var upgrading []string
	for _, n := range names {
		if instanceStatus(t, gvk, ns, n).FrameworkGeneration == 2 {
			upgrading = append(upgrading, n)
		}
	}
	if len(upgrading) != 1 || !strings.Contains(stalled.Message, "progressDeadline (2s): "+ns+"/"+upgrading[0]) {
		t.Fatalf("on revision 2: %v; Stalled says %q", upgrading, stalled.Message)
	}
}
