package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
)

// cleanupFramework's cleanup plan waits until the test opens the gate of the
// instance's config ConfigMap.
func cleanupFramework(name, group string, policy v1alpha1.DeletionPolicy) *v1alpha1.Framework {
	fw := framework(name, group, nil, []v1alpha1.Resource{configMap("config", "")},
		[]v1alpha1.Task{apply("config", "config"),
			{Name: "drain", Kind: v1alpha1.TaskWait, Condition: `${resources.config.metadata.labels[?'gate'].orValue('') == 'open'}`}},
		map[string]v1alpha1.Plan{
			"deploy":  {Phases: []v1alpha1.Phase{{Name: "main", Steps: steps("config")}}},
			"cleanup": {Phases: []v1alpha1.Phase{{Name: "main", Steps: steps("drain")}}},
		})
	fw.Spec.DeletionPolicy = policy
	return fw
}

func frameworkGone(t *testing.T, name string) {
	t.Helper()
	eventually(t, 30*time.Second, func() error {
		if err := k8s.Get(ctx(t), client.ObjectKey{Name: name}, &v1alpha1.Framework{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("Framework %s still there: %v", name, err)
		}
		return nil
	})
}

func readyMessage(t *testing.T, name string) (string, string) {
	fw := &v1alpha1.Framework{}
	if err := k8s.Get(ctx(t), client.ObjectKey{Name: name}, fw); err != nil {
		return "", err.Error()
	}
	c := meta.FindStatusCondition(fw.Status.Conditions, "Ready")
	if c == nil {
		return "", ""
	}
	return c.Reason, c.Message
}

func TestDeletionPolicyDelete(t *testing.T) {
	m := startManager(t)
	ns := namespace(t, "policy-delete")
	group := "delete.policy.test.operetta.dev"
	gvk := thingGVK(group)
	fw := cleanupFramework("policy-delete", group, v1alpha1.DeletionDelete)
	createFramework(t, fw)
	frameworkReady(t, fw.Name, metav1.ConditionTrue)
	deployInstances(t, gvk, ns, "a", "b")
	if err := k8s.Delete(ctx(t), fw); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		reason, msg := readyMessage(t, fw.Name)
		if reason != "Deleting" || !strings.Contains(msg, "policy-delete/a (plan cleanup IN_PROGRESS)") || !strings.Contains(msg, "policy-delete/b (plan cleanup IN_PROGRESS)") {
			return fmt.Errorf("Ready %s: %s; want Deleting, waiting for both cleanups", reason, msg)
		}
		return nil
	})
	if !m.registry.IsRunning(fw.Name) {
		t.Fatal("the loop stopped while instances still run their cleanup")
	}
	openGateOf(t, ns, "a-config")
	openGateOf(t, ns, "b-config")
	frameworkGone(t, fw.Name)
	if m.registry.IsRunning(fw.Name) {
		t.Fatal("the loop still runs")
	}
	err := k8s.Get(ctx(t), client.ObjectKey{Name: "things." + group}, &apiextensionsv1.CustomResourceDefinition{})
	if !apierrors.IsNotFound(err) {
		t.Fatalf("CRD: %v, want it deleted", err)
	}
}

func TestDeletionPolicyRetainWaitsForARunningCleanup(t *testing.T) {
	m := startManager(t)
	ns := namespace(t, "policy-retain")
	group := "retain.policy.test.operetta.dev"
	gvk := thingGVK(group)
	fw := cleanupFramework("policy-retain", group, "")
	createFramework(t, fw)
	frameworkReady(t, fw.Name, metav1.ConditionTrue)
	deployInstances(t, gvk, ns, "leaving", "staying")
	leaving, _ := get(t, gvk, ns, "leaving")
	if err := k8s.Delete(ctx(t), leaving); err != nil {
		t.Fatal(err)
	}
	waitForPlan(t, gvk, ns, "leaving", "cleanup", "IN_PROGRESS")

	if err := k8s.Delete(ctx(t), fw); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		reason, msg := readyMessage(t, fw.Name)
		if reason != "Deleting" || !strings.Contains(msg, "waiting for running cleanups") || !strings.Contains(msg, "policy-retain/leaving") {
			return fmt.Errorf("Ready %s: %s", reason, msg)
		}
		return nil
	})
	expectFrameworkEvents(t, fw.Name, map[string]int32{"DeletionBlocked": 1})
	openGateOf(t, ns, "leaving-config")
	frameworkGone(t, fw.Name)
	if _, err := get(t, gvk, ns, "leaving"); !apierrors.IsNotFound(err) {
		t.Fatalf("the instance whose cleanup ran: %v, want gone", err)
	}
	staying, err := get(t, gvk, ns, "staying")
	if err != nil {
		t.Fatalf("a retained instance: %v", err)
	}
	if len(staying.GetFinalizers()) != 0 {
		t.Fatalf("a retained instance keeps finalizers %v that no loop would remove", staying.GetFinalizers())
	}
	if err := k8s.Get(ctx(t), client.ObjectKey{Name: "things." + group}, &apiextensionsv1.CustomResourceDefinition{}); err != nil {
		t.Fatalf("CRD: %v, want it kept", err)
	}

	t.Run("a Framework of the same kind takes the instances over", func(t *testing.T) {
		again := cleanupFramework("policy-retain", group, "")
		createFramework(t, again)
		frameworkReady(t, again.Name, metav1.ConditionTrue)
		if !m.registry.IsRunning(again.Name) {
			t.Fatal("no loop")
		}
		eventually(t, 30*time.Second, func() error {
			u, err := get(t, gvk, ns, "staying")
			if err != nil {
				return err
			}
			if !strings.Contains(strings.Join(u.GetFinalizers(), ","), "operetta.dev/cleanup") {
				return fmt.Errorf("finalizers %v: the new loop has not taken the instance over", u.GetFinalizers())
			}
			return nil
		})
	})
}
