package integration

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	operetta "operetta.dev/operetta/internal/manager"
)

// TestShardsSplitFrameworks: two managers on one API server, one without a
// shard and one with shard a, each run only their Frameworks' instances and
// label their children so. Relabelling a Framework mid-plan moves it to the
// other manager, which takes the children over (the step under way's and
// the earlier steps') and completes the plan run that was under way, once.
func TestShardsSplitFrameworks(t *testing.T) {
	unsharded := startManager(t)
	shardA := startManagerWith(t, operetta.Options{WorkersPerKind: 2, Shard: "a"}, nil)
	ns := namespace(t, "shards")

	plain := framework("shard-plain", "shard-plain.test.operetta.dev", nil,
		[]v1alpha1.Resource{configMap("plain", "")}, []v1alpha1.Task{apply("plain", "plain")},
		map[string]v1alpha1.Plan{"deploy": {Phases: []v1alpha1.Phase{{Name: "main", Steps: steps("plain")}}}})
	gatedFw := framework("shard-a", "shard-a.test.operetta.dev", nil,
		[]v1alpha1.Resource{configMap("first", ""), gated("held")}, []v1alpha1.Task{apply("first", "first"), apply("held", "held")},
		map[string]v1alpha1.Plan{"deploy": {Phases: []v1alpha1.Phase{{Name: "main", Steps: steps("first", "held")}}}})
	gatedFw.Labels = map[string]string{v1alpha1.LabelShard: "a"}
	createFramework(t, plain)
	createFramework(t, gatedFw)
	frameworkReady(t, "shard-plain", metav1.ConditionTrue)
	frameworkReady(t, "shard-a", metav1.ConditionTrue)
	for _, fw := range []*v1alpha1.Framework{plain, gatedFw} {
		if err := k8s.Create(ctx(t), instance(thingGVK(fw.Spec.Names.Group), ns, "i", map[string]any{})); err != nil {
			t.Fatal(err)
		}
	}

	waitForPlan(t, thingGVK(plain.Spec.Names.Group), ns, "i", "deploy", "COMPLETE")
	waitForPlan(t, thingGVK(gatedFw.Spec.Names.Group), ns, "i", "deploy", "IN_PROGRESS")
	runs := func(m *manager, fw string) bool { _, ok := loopGeneration(m, fw); return ok }
	if !runs(unsharded, "shard-plain") || runs(shardA, "shard-plain") || !runs(shardA, "shard-a") || runs(unsharded, "shard-a") {
		t.Fatalf("loops: unsharded runs plain %v, a %v; shard a runs plain %v, a %v",
			runs(unsharded, "shard-plain"), runs(unsharded, "shard-a"), runs(shardA, "shard-plain"), runs(shardA, "shard-a"))
	}
	shardOf := func(name string) (string, bool) {
		cm := &corev1.ConfigMap{}
		if err := k8s.Get(ctx(t), client.ObjectKey{Namespace: ns, Name: name}, cm); err != nil {
			t.Fatal(err)
		}
		s, ok := cm.Labels[v1alpha1.LabelShard]
		return s, ok
	}
	if s, ok := shardOf("i-plain"); ok {
		t.Errorf("the unsharded manager's child is labelled shard %q", s)
	}
	run := instanceStatus(t, thingGVK(gatedFw.Spec.Names.Group), ns, "i").Plans["deploy"].UID
	eventually(t, 10*time.Second, func() error {
		if s, _ := shardOf("i-held"); s != "a" {
			return fmt.Errorf("shard a's child is labelled %q", s)
		}
		return nil
	})

	// Move shard-a to the unsharded manager while its plan waits.
	editFramework(t, "shard-a", gatedFw, func() { delete(gatedFw.Labels, v1alpha1.LabelShard) })
	eventually(t, 30*time.Second, func() error {
		if runs(shardA, "shard-a") || !runs(unsharded, "shard-a") {
			return fmt.Errorf("after relabelling: shard a runs it %v, the unsharded manager %v", runs(shardA, "shard-a"), runs(unsharded, "shard-a"))
		}
		// The step under way applies its child again; the child of the
		// step done before is adopted.
		for _, child := range []string{"i-held", "i-first"} {
			if s, ok := shardOf(child); ok {
				return fmt.Errorf("child %s is still labelled shard %q", child, s)
			}
		}
		return nil
	})
	openGateOf(t, ns, "i-held")
	st := waitForPlan(t, thingGVK(gatedFw.Spec.Names.Group), ns, "i", "deploy", "COMPLETE")
	if uid, _, _ := unstructuredString(st, "status", "plans", "deploy", "uid"); uid != string(run) {
		t.Fatalf("the plan run changed from %s to %s: the move started it again", run, uid)
	}
	// One PlanComplete for the run, from the manager that finished it.
	expectPlanCompletes(t, ns, "i", "shard-a.test.operetta.dev/v1", 1)
}

// expectPlanCompletes waits until the instance name of apiVersion has
// exactly want PlanComplete events (a series counts as often as it
// happened).
func expectPlanCompletes(t *testing.T, ns, name, apiVersion string, want int32) {
	t.Helper()
	eventually(t, 10*time.Second, func() error {
		list := &eventsv1.EventList{}
		if err := k8s.List(ctx(t), list, client.InNamespace(ns)); err != nil {
			return err
		}
		var n int32
		for _, e := range list.Items {
			if e.Regarding.Name == name && e.Regarding.APIVersion == apiVersion && e.Reason == "PlanComplete" {
				n += seriesCount(e)
			}
		}
		if n != want {
			return fmt.Errorf("%d PlanComplete events, want %d", n, want)
		}
		return nil
	})
}

func seriesCount(e eventsv1.Event) int32 {
	if e.Series != nil {
		return e.Series.Count
	}
	return 1
}
