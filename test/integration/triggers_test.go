package integration

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
)

// gatedFramework has plans deploy, update, scale and backup. update waits on
// a gate: a ConfigMap that is ready only once the test labels it gate=open.
func gatedFramework(name, group string) *v1alpha1.Framework {
	step := func(task string) v1alpha1.Step { return v1alpha1.Step{Name: task, Tasks: []string{task}} }
	plan := func(steps ...v1alpha1.Step) v1alpha1.Plan {
		return v1alpha1.Plan{Phases: []v1alpha1.Phase{{Name: "main", Steps: steps}}}
	}
	return &v1alpha1.Framework{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.FrameworkSpec{
			Names: v1alpha1.Names{Group: group, Kind: "Gated"},
			Parameters: []v1alpha1.Parameter{
				{Name: "greeting", Type: v1alpha1.TypeString, Default: &apiextensionsv1.JSON{Raw: []byte(`"hello"`)}},
				{Name: "replicas", Type: v1alpha1.TypeInteger, Default: &apiextensionsv1.JSON{Raw: []byte(`1`)}, Trigger: "scale"},
			},
			Resources: []v1alpha1.Resource{{
				ID: "config",
				Template: &runtime.RawExtension{Raw: []byte(`{"apiVersion":"v1","kind":"ConfigMap",
					"metadata":{"name":"${instance.metadata.name}-config"},
					"data":{"greeting":"${instance.spec.greeting}","replicas":"${string(instance.spec.replicas)}"}}`)},
			}, {
				ID:        "gate",
				Template:  &runtime.RawExtension{Raw: []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"${instance.metadata.name}-gate"}}`)},
				ReadyWhen: `${resources.gate.metadata.labels[?'gate'].orValue('') == 'open'}`,
			}},
			Tasks: []v1alpha1.Task{
				{Name: "config", Kind: v1alpha1.TaskApply, Resources: []string{"config"}},
				{Name: "gate", Kind: v1alpha1.TaskApply, Resources: []string{"gate"}},
			},
			Plans: map[string]v1alpha1.Plan{
				"deploy": plan(step("config")),
				"update": plan(step("config"), step("gate")),
				"scale":  plan(step("config")),
				"backup": plan(step("config")),
			},
		},
	}
}

// instanceStatus reads an instance's status.
func instanceStatus(t *testing.T, gvk schema.GroupVersionKind, ns, name string) v1alpha1.InstanceStatus {
	t.Helper()
	u, err := get(t, gvk, ns, name)
	if err != nil {
		t.Fatal(err)
	}
	var st v1alpha1.InstanceStatus
	if s, ok := u.Object["status"]; ok {
		if err := fromUnstructured(s, &st); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// patchInstance merge-patches an instance.
func patchInstance(t *testing.T, gvk schema.GroupVersionKind, ns, name, patch string) {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	u.SetNamespace(ns)
	u.SetName(name)
	if err := k8s.Patch(ctx(t), u, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		t.Fatal(err)
	}
}

func openGate(t *testing.T, ns, name string) {
	t.Helper()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-gate"}}
	if err := k8s.Patch(ctx(t), cm, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"gate":"open"}}}`))); err != nil {
		t.Fatal(err)
	}
}

func TestParameterChangesRunTheirTriggerPlans(t *testing.T) {
	startManager(t)
	ns := namespace(t, "triggers")
	gvk := schema.GroupVersionKind{Group: "triggers.test.operetta.dev", Version: "v1", Kind: "Gated"}
	createFramework(t, gatedFramework("triggers", gvk.Group))
	frameworkReady(t, "triggers", metav1.ConditionTrue)
	if err := k8s.Create(ctx(t), instance(gvk, ns, "g", map[string]any{})); err != nil {
		t.Fatal(err)
	}
	waitForPlan(t, gvk, ns, "g", "deploy", "COMPLETE")
	deployUID := instanceStatus(t, gvk, ns, "g").Plans["deploy"].UID

	// greeting has no trigger of its own: update, because the Framework has one.
	patchInstance(t, gvk, ns, "g", `{"spec":{"greeting":"hi"}}`)
	waitForPlan(t, gvk, ns, "g", "update", "IN_PROGRESS")
	st := instanceStatus(t, gvk, ns, "g")
	if st.ActivePlan != "update" || st.Plans["deploy"].UID != deployUID {
		t.Fatalf("active %s, deploy uid %s (was %s): a parameter change must run update, not deploy", st.ActivePlan, st.Plans["deploy"].UID, deployUID)
	}
	firstUpdate := st.Plans["update"].UID

	// One change to two parameters: update (running) restarts, scale queues.
	patchInstance(t, gvk, ns, "g", `{"spec":{"greeting":"hey","replicas":3}}`)
	eventually(t, 30*time.Second, func() error {
		st = instanceStatus(t, gvk, ns, "g")
		if st.Plans["update"].UID == firstUpdate || !reflect.DeepEqual(st.PlanQueue, []string{"scale"}) {
			return fmt.Errorf("update uid %s (first %s), queue %v: want update restarted and scale queued", st.Plans["update"].UID, firstUpdate, st.PlanQueue)
		}
		return nil
	})
	openGate(t, ns, "g")
	waitForPlan(t, gvk, ns, "g", "scale", "COMPLETE")
	st = instanceStatus(t, gvk, ns, "g")
	if st.Plans["update"].Status != v1alpha1.Complete || st.Plans["scale"].StartedAt.Before(st.Plans["update"].FinishedAt) || len(st.PlanQueue) != 0 {
		t.Fatalf("update %s finished %v, scale started %v, queue %v: want update, then scale", st.Plans["update"].Status, st.Plans["update"].FinishedAt, st.Plans["scale"].StartedAt, st.PlanQueue)
	}
	cm := &corev1.ConfigMap{}
	if err := k8s.Get(ctx(t), client.ObjectKey{Namespace: ns, Name: "g-config"}, cm); err != nil {
		t.Fatal(err)
	}
	if cm.Data["greeting"] != "hey" || cm.Data["replicas"] != "3" {
		t.Fatalf("ConfigMap data %v", cm.Data)
	}

	t.Run("a run-plan value that names no plan is reported", func(t *testing.T) {
		patchInstance(t, gvk, ns, "g", `{"metadata":{"annotations":{"operetta.dev/run-plan":"bakup@1"}}}`)
		eventually(t, 30*time.Second, func() error {
			st := instanceStatus(t, gvk, ns, "g")
			if !strings.Contains(st.RunPlanError, `operetta.dev/run-plan="bakup@1" names no plan`) || !strings.Contains(st.RunPlanError, "backup, deploy, scale, update") {
				return fmt.Errorf("runPlanError %q", st.RunPlanError)
			}
			reasons, err := eventReasons(t, ns, "g")
			if err != nil {
				return err
			}
			if !reasons["UnknownPlan"] {
				return fmt.Errorf("no UnknownPlan event, only %v", reasons)
			}
			return nil
		})
	})

	t.Run("the run-plan annotation runs a plan once per value", func(t *testing.T) {
		patchInstance(t, gvk, ns, "g", `{"metadata":{"annotations":{"operetta.dev/run-plan":"backup@1"}}}`)
		waitForPlan(t, gvk, ns, "g", "backup", "COMPLETE")
		first := instanceStatus(t, gvk, ns, "g").Plans["backup"].UID

		before := reconciles(t, gvk.GroupKind().String())
		patchInstance(t, gvk, ns, "g", `{"metadata":{"annotations":{"unrelated":"x"}}}`)
		eventually(t, 10*time.Second, func() error {
			if reconciles(t, gvk.GroupKind().String()) <= before {
				return fmt.Errorf("the annotation change did not wake the instance")
			}
			return nil
		})
		if uid := instanceStatus(t, gvk, ns, "g").Plans["backup"].UID; uid != first {
			t.Fatalf("backup ran again (uid %s) though run-plan did not change", uid)
		}
		patchInstance(t, gvk, ns, "g", `{"metadata":{"annotations":{"operetta.dev/run-plan":"backup@2"}}}`)
		eventually(t, 30*time.Second, func() error {
			st := instanceStatus(t, gvk, ns, "g")
			if b := st.Plans["backup"]; b.UID == first || b.Status != v1alpha1.Complete {
				return fmt.Errorf("backup %s uid %s (first %s): want a second run", b.Status, b.UID, first)
			}
			return nil
		})
	})
}

func TestAPlanResumesAfterAManagerRestart(t *testing.T) {
	first := startManager(t)
	ns := namespace(t, "resume")
	gvk := schema.GroupVersionKind{Group: "resume.test.operetta.dev", Version: "v1", Kind: "Gated"}
	createFramework(t, gatedFramework("resume", gvk.Group))
	frameworkReady(t, "resume", metav1.ConditionTrue)
	if err := k8s.Create(ctx(t), instance(gvk, ns, "r", map[string]any{})); err != nil {
		t.Fatal(err)
	}
	waitForPlan(t, gvk, ns, "r", "deploy", "COMPLETE")
	patchInstance(t, gvk, ns, "r", `{"spec":{"greeting":"hi"}}`)
	eventually(t, 30*time.Second, func() error {
		st := instanceStatus(t, gvk, ns, "r")
		if steps := st.Plans["update"].Phases; len(steps) == 0 || steps[0].Steps[1].Status != v1alpha1.InProgress {
			return fmt.Errorf("update %+v: want it waiting at the gate", st.Plans["update"])
		}
		return nil
	})
	before := instanceStatus(t, gvk, ns, "r").Plans["update"]
	uids := childUIDs(t, ns, "r-config", "r-gate")
	first.stop()

	openGate(t, ns, "r")
	startManager(t)
	waitForPlan(t, gvk, ns, "r", "update", "COMPLETE")
	after := instanceStatus(t, gvk, ns, "r").Plans["update"]
	if after.UID != before.UID || !after.Phases[0].Steps[0].StartedAt.Equal(before.Phases[0].Steps[0].StartedAt) {
		t.Fatalf("update uid %s → %s: the plan started over instead of resuming", before.UID, after.UID)
	}
	if got := childUIDs(t, ns, "r-config", "r-gate"); !reflect.DeepEqual(got, uids) {
		t.Fatalf("children were recreated: %v → %v", uids, got)
	}
}

func childUIDs(t *testing.T, ns string, names ...string) []types.UID {
	t.Helper()
	var out []types.UID
	for _, n := range names {
		cm := &corev1.ConfigMap{}
		if err := k8s.Get(ctx(t), client.ObjectKey{Namespace: ns, Name: n}, cm); err != nil {
			t.Fatal(err)
		}
		out = append(out, cm.UID)
	}
	return out
}
