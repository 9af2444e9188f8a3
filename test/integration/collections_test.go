package integration

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
)

// collectionFramework gives each instance one ConfigMap per element of
// spec.topics, each carrying the retention an external ConfigMap,
// shared-settings, holds: deploy (and update) reads it, then applies them.
func collectionFramework(name, group string) *v1alpha1.Framework {
	topics := resource("topics", `{"apiVersion":"v1","kind":"ConfigMap",
		"metadata":{"name":"${instance.metadata.name}-${topic}"},
		"data":{"topic":"${topic}","position":"${string(topicIndex)}","retention":"${resources.settings.data.retention}"}}`)
	topics.ForEach = []v1alpha1.Iterator{{Name: "topic", In: "${instance.spec.topics}"}}
	settings := v1alpha1.Resource{ID: "settings", ExternalRef: &v1alpha1.ExternalRef{APIVersion: "v1", Kind: "ConfigMap", Name: "shared-settings"}}
	plan := v1alpha1.Plan{Phases: []v1alpha1.Phase{{Name: "main", Steps: steps("settings", "topics")}}}
	return framework(name, group,
		[]v1alpha1.Parameter{{Name: "topics", Type: v1alpha1.TypeArray, Default: &apiextensionsv1.JSON{Raw: []byte(`[]`)},
			Schema: &apiextensionsv1.JSON{Raw: []byte(`{"items":{"type":"string"}}`)}}},
		[]v1alpha1.Resource{settings, topics},
		[]v1alpha1.Task{apply("settings", "settings"), apply("topics", "topics")},
		map[string]v1alpha1.Plan{"deploy": plan, "update": plan})
}

// topicMaps are the names of the instance's topic ConfigMaps, and the
// retention each holds.
func topicMaps(t *testing.T, ns, instance string) map[string]string {
	t.Helper()
	list := &corev1.ConfigMapList{}
	if err := k8s.List(ctx(t), list, client.InNamespace(ns), client.MatchingLabels{v1alpha1.LabelInstance: instance}); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, cm := range list.Items {
		out[cm.Name] = cm.Data["retention"]
	}
	return out
}

func expectTopics(t *testing.T, ns, instance, retention string, topics ...string) {
	t.Helper()
	eventually(t, 30*time.Second, func() error {
		got := topicMaps(t, ns, instance)
		var names []string
		for n, r := range got {
			names = append(names, strings.TrimPrefix(n, instance+"-"))
			if r != retention {
				return fmt.Errorf("%s holds retention %q, want %q", n, r, retention)
			}
		}
		slices.Sort(names)
		if !slices.Equal(names, topics) {
			return fmt.Errorf("topics %v, want %v", names, topics)
		}
		return nil
	})
}

func setTopics(t *testing.T, u *unstructured.Unstructured, topics ...any) {
	t.Helper()
	patch := client.MergeFrom(u.DeepCopy())
	if err := unstructured.SetNestedSlice(u.Object, topics, "spec", "topics"); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Patch(ctx(t), u, patch); err != nil {
		t.Fatal(err)
	}
}

// TestACollectionFollowsItsListAndAnExternalRefIsOnlyRead: the deploy
// waits for the external ConfigMap, created late; a list grown from 2 to
// 5 and shrunk to 1 has exactly those objects after each change; a change
// of the external ConfigMap re-renders the collection through the update
// plan; deleting it is reported and deletes nothing operetta owns.
func TestACollectionFollowsItsListAndAnExternalRefIsOnlyRead(t *testing.T) {
	m := startManager(t)
	ns := namespace(t, "collections")
	group := "collections.test.operetta.dev"
	gvk := thingGVK(group)
	createFramework(t, collectionFramework("collections", group))
	frameworkReady(t, "collections", metav1.ConditionTrue)
	if got := m.registry.Watched().Kinds()["operetta's own account (whole objects)"]; !slices.Equal(got, []string{"/v1, Kind=ConfigMap"}) {
		t.Fatalf("read kinds %v", m.registry.Watched().Kinds())
	}
	inst := instance(gvk, ns, "c", map[string]any{"topics": []any{"a", "b"}})
	if err := k8s.Create(ctx(t), inst); err != nil {
		t.Fatal(err)
	}
	u := waitForInstance(t, gvk, ns, "c", func(u *unstructured.Unstructured) error {
		msg, _, _ := unstructured.NestedString(u.Object, "status", "plans", "deploy", "message")
		if !strings.Contains(msg, "ConfigMap "+ns+"/shared-settings: it does not exist yet") {
			return fmt.Errorf("deploy says %q", msg)
		}
		return nil
	})
	if len(topicMaps(t, ns, "c")) != 0 {
		t.Fatal("the collection was applied before the step that reads the settings was done")
	}

	settings := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shared-settings"}, Data: map[string]string{"retention": "7d"}}
	if err := k8s.Create(ctx(t), settings); err != nil {
		t.Fatal(err)
	}
	u = waitForPlan(t, gvk, ns, "c", "deploy", "COMPLETE")
	expectTopics(t, ns, "c", "7d", "a", "b")

	setTopics(t, u, "a", "b", "c", "d", "e")
	expectTopics(t, ns, "c", "7d", "a", "b", "c", "d", "e")
	u = waitForPlan(t, gvk, ns, "c", "update", "COMPLETE")
	setTopics(t, u, "c")
	expectTopics(t, ns, "c", "7d", "c")

	// Settled: no plan runs or waits, so the next update is the
	// reference's own (a change while a queued update waits is that
	// update's to apply, not a run of its own).
	waitForInstance(t, gvk, ns, "c", func(u *unstructured.Unstructured) error {
		st := instanceStatus(t, gvk, ns, "c")
		if st.ActivePlanStatus != v1alpha1.Complete || len(st.PlanQueue) > 0 {
			return fmt.Errorf("active %s %s, queued %v", st.ActivePlan, st.ActivePlanStatus, st.PlanQueue)
		}
		return nil
	})
	edit(t, settings, func() { settings.Data["retention"] = "30d" })
	expectTopics(t, ns, "c", "30d", "c")
	waitForInstance(t, gvk, ns, "c", func(u *unstructured.Unstructured) error {
		if cause, _, _ := unstructuredString(u, "status", "plans", "update", "cause"); cause != "reference settings" || planStatus(u, "update") != "COMPLETE" {
			return fmt.Errorf("update %s, cause %q", planStatus(u, "update"), cause)
		}
		return nil
	})
	if err := k8s.Get(ctx(t), client.ObjectKeyFromObject(settings), settings); err != nil || settings.Labels[v1alpha1.LabelManagedBy] != "" || len(settings.OwnerReferences) > 0 {
		t.Fatalf("the external ConfigMap was written: %+v (%v)", settings.ObjectMeta, err)
	}

	if err := k8s.Delete(ctx(t), settings); err != nil {
		t.Fatal(err)
	}
	waitForInstance(t, gvk, ns, "c", func(u *unstructured.Unstructured) error {
		msg, _, _ := unstructured.NestedString(u.Object, "status", "plans", "update", "message")
		if !strings.Contains(msg, "shared-settings: it does not exist yet") {
			return fmt.Errorf("update says %q", msg)
		}
		return nil
	})
	expectTopics(t, ns, "c", "30d", "c")
}

// TestAnExternalRefsFieldsAreTypedByTheAPIServersSchema: the controller
// types an externalRef of a ConfigMap by the schema the API server
// publishes, so a misspelt field of it is refused when the Framework is
// applied, naming it.
func TestAnExternalRefsFieldsAreTypedByTheAPIServersSchema(t *testing.T) {
	startManager(t)
	fw := collectionFramework("typedref", "typedref.test.operetta.dev")
	fw.Spec.Resources[1].Template.Raw = []byte(strings.Replace(string(fw.Spec.Resources[1].Template.Raw), "resources.settings.data.retention", "resources.settings.dta.retention", 1))
	createFramework(t, fw)
	eventually(t, 30*time.Second, func() error {
		c := frameworkReady(t, "typedref", metav1.ConditionFalse)
		if c.Reason != "InvalidExpression" || !strings.Contains(c.Message, "undefined field 'dta'") {
			return fmt.Errorf("ready is false for %s: %s", c.Reason, c.Message)
		}
		return nil
	})
}
