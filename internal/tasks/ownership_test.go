package tasks_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/plans"
	"operetta.dev/operetta/internal/tasks"
)

// TestAnApplyWritesOnlyThisInstancesChildren: against the fake API server,
// which checks an apply's resourceVersion and UID as the real one does.
// (test/integration's ownership tests run the same against a real one.)
func TestAnApplyWritesOnlyThisInstancesChildren(t *testing.T) {
	ctx := context.Background()
	key := client.ObjectKey{Namespace: namespace, Name: configMap}

	t.Run("an object no operetta instance labelled is neither overwritten nor adopted", func(t *testing.T) {
		h := newHarness(t)
		if err := h.server.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: configMap},
			Data: map[string]string{"greeting": "mine"}}); err != nil {
			t.Fatal(err)
		}
		out := h.run().Step(ctx, h.fw.Plans[v1alpha1.PlanDeploy].Phases[0], h.fw.Plans[v1alpha1.PlanDeploy].Phases[0].Steps[0])
		expectResult(t, "step", out, plans.Fatal)
		want := "ConfigMap " + configMap + " exists and belongs to no operetta instance: operetta neither overwrites nor adopts it"
		if out.Message != want {
			t.Errorf("message %q, want %q", out.Message, want)
		}
		// The create-only apply was refused; the read named the owner.
		h.expectSent("step", "apply ConfigMap "+configMap, "get ConfigMap")
		cm := &corev1.ConfigMap{}
		if err := h.server.Get(ctx, key, cm); err != nil || cm.Data["greeting"] != "mine" || len(cm.Labels) > 0 {
			t.Errorf("the ConfigMap is now %+v (%v); want it as it was", cm, err)
		}
	})

	t.Run("another instance's child is not written at all", func(t *testing.T) {
		h := newHarness(t)
		other := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: configMap, Labels: map[string]string{
			v1alpha1.LabelManagedBy: "operetta", v1alpha1.LabelFramework: "demo", v1alpha1.LabelInstance: "demo-2", v1alpha1.LabelInstanceNS: namespace,
		}}, Data: map[string]string{"greeting": "theirs"}}
		if err := h.server.Create(ctx, other); err != nil {
			t.Fatal(err)
		}
		out := h.run().Step(ctx, h.fw.Plans[v1alpha1.PlanDeploy].Phases[0], h.fw.Plans[v1alpha1.PlanDeploy].Phases[0].Steps[0])
		expectResult(t, "step", out, plans.Fatal)
		if want := "belongs to Demo team/demo-2, not to this instance"; !strings.Contains(out.Message, want) {
			t.Errorf("message %q, want it to say %q", out.Message, want)
		}
		h.expectSent("step", "get ConfigMap")
	})

	t.Run("a child of this instance the cache does not show yet is applied by its UID", func(t *testing.T) {
		h := newHarness(t)
		h.deployed()
		h.status.Inventory = nil // as if the status that recorded it was lost
		cm := &corev1.ConfigMap{}
		if err := h.server.Get(ctx, key, cm); err != nil {
			t.Fatal(err)
		}
		c := tasks.Clients{Writer: h.writer, Verdicts: tasks.NewVerdicts(),
			Children: &behindCache{ChildCache: h.children, kind: corev1.SchemeGroupVersion.WithKind("ConfigMap"), behind: true}}
		run := tasks.NewExecutor(c, h.fw, h.instance, &h.status)
		run.SetPlan(v1alpha1.PlanDeploy)
		phase := h.fw.Plans[v1alpha1.PlanDeploy].Phases[0]
		out := run.Step(ctx, phase, phase.Steps[0])
		expectResult(t, "step", out, plans.Done)
		// The create-only apply was refused, the read found it this
		// instance's, the apply by its UID took.
		h.expectSent("step", "apply ConfigMap "+configMap, "get ConfigMap", "apply ConfigMap "+configMap, "apply Deployment "+deployment)
		after := &corev1.ConfigMap{}
		if err := h.server.Get(ctx, key, after); err != nil || after.UID != cm.UID {
			t.Errorf("the ConfigMap is %v (%v), want the same object, uid %s", after.UID, err, cm.UID)
		}
	})
}

// TestAChildJustAppliedIsAppliedAgainByItsUID: a reconcile that comes
// before the cache shows the child this loop just applied (woken by the
// instance's own status write, say) applies it by the UID the apply
// answered with: one request, as without the ownership checks.
func TestAChildJustAppliedIsAppliedAgainByItsUID(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	h.renders = tasks.NewRenders()
	h.step(v1alpha1.PlanDeploy)
	h.requests = nil
	c := tasks.Clients{Writer: h.writer, Verdicts: tasks.NewVerdicts(), Renders: h.renders,
		Children: &behindCache{ChildCache: h.children, kind: corev1.SchemeGroupVersion.WithKind("ConfigMap"), behind: true}}
	run := tasks.NewExecutor(c, h.fw, h.instance, &h.status)
	run.SetPlan(v1alpha1.PlanDeploy)
	kept, err := run.Keep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h.expectSent("keep", "apply ConfigMap "+configMap)
	if len(kept.Corrected) != 1 {
		t.Errorf("kept %+v, want the ConfigMap applied again", kept)
	}
}

// TestADeleteLeavesWhatIsNotThisInstances: a child in the inventory whose
// object now belongs to someone else is forgotten, not deleted, and the step
// says so.
func TestADeleteLeavesWhatIsNotThisInstances(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	h.deployed()
	cm, key := h.takeConfigMap(nil)
	out := h.step("teardown")
	expectResult(t, "teardown", out, plans.Done)
	if want := "ConfigMap " + configMap + " belongs to Demo team/demo-2, not to this instance: left in place and forgotten"; out.Message != want {
		t.Errorf("message %q, want %q", out.Message, want)
	}
	h.expectSent("teardown", "get ConfigMap")
	if err := h.server.Get(ctx, key, cm); err != nil {
		t.Errorf("the ConfigMap: %v, want it left", err)
	}
	if h.inventoryHas("ConfigMap", configMap) {
		t.Errorf("inventory %+v, want the ConfigMap forgotten", h.status.Inventory)
	}
}

// TestKeepReportsAChildThatBecameAnothers: a kept child whose object
// another instance took (as one could before ownership was checked) is
// not taken back; Keep reports it as failed, naming the owner, instead of
// retrying for ever.
func TestKeepReportsAChildThatBecameAnothers(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	h.deployed()
	cm, key := h.takeConfigMap(func(cm *corev1.ConfigMap) { cm.Data["greeting"] = "theirs" })
	kept := h.keep()
	want := "ConfigMap " + configMap + " exists and belongs to Demo team/demo-2, not to this instance: operetta neither overwrites nor adopts it"
	if !slices.Equal(kept.Failed, []string{want}) || len(kept.Corrected) > 0 {
		t.Errorf("kept %+v, want the ConfigMap failed: %s", kept, want)
	}
	h.expectSent("keep", "get ConfigMap")
	if err := h.server.Get(ctx, key, cm); err != nil || cm.Data["greeting"] != "theirs" {
		t.Errorf("the ConfigMap is %v (%v), want it left as the other instance has it", cm.Data, err)
	}
}

// takeConfigMap makes the deployed instance's ConfigMap another instance's
// (demo-2), changed by change too if given, as the other instance would.
func (h *harness) takeConfigMap(change func(*corev1.ConfigMap)) (*corev1.ConfigMap, client.ObjectKey) {
	h.t.Helper()
	cm := &corev1.ConfigMap{}
	key := client.ObjectKey{Namespace: namespace, Name: configMap}
	if err := h.server.Get(context.Background(), key, cm); err != nil {
		h.t.Fatal(err)
	}
	cm.Labels[v1alpha1.LabelInstance] = "demo-2"
	if change != nil {
		change(cm)
	}
	if err := h.server.Update(context.Background(), cm); err != nil {
		h.t.Fatal(err)
	}
	return cm, key
}
