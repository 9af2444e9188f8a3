package instance

import (
	"context"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"operetta.dev/operetta/api/v1alpha1"
)

// fakeWatched answers digests from a map by namespace/name, as the trigger
// cache would; watching false is a kind not watched yet.
type fakeWatched struct {
	watching bool
	digests  map[string]string
	selected string
}

func (f *fakeWatched) Digest(_ context.Context, _ schema.GroupVersionKind, key types.NamespacedName) (string, bool, error) {
	return f.digests[key.String()], f.watching, nil
}

func (f *fakeWatched) Selected(context.Context, schema.GroupVersionKind, string, labels.Selector) (string, bool, error) {
	return f.selected, f.watching, nil
}

func (f *fakeWatched) Object(context.Context, schema.GroupVersionKind, types.NamespacedName) (*unstructured.Unstructured, bool, bool, error) {
	return nil, false, f.watching, nil
}

func (f *fakeWatched) Objects(context.Context, schema.GroupVersionKind, string, labels.Selector) ([]unstructured.Unstructured, bool, error) {
	return nil, f.watching, nil
}

func TestRunTriggers(t *testing.T) {
	withTrigger := func(s *v1alpha1.FrameworkSpec) {
		s.Plans["rotate"] = onePlan("wait")
		s.Triggers = []v1alpha1.Trigger{{Name: "tls", Plan: "rotate", Watch: v1alpha1.Watch{APIVersion: "v1", Kind: "Secret", Name: "${instance.spec.size}"}}}
	}
	deployed := func() v1alpha1.InstanceStatus {
		return v1alpha1.InstanceStatus{
			Plans:      map[string]v1alpha1.PlanStatus{v1alpha1.PlanDeploy: {Status: v1alpha1.Complete, UID: "d1"}},
			ActivePlan: v1alpha1.PlanDeploy, ActivePlanStatus: v1alpha1.Complete,
		}
	}
	fw := thingFramework(t, 1, withTrigger)
	watched := &fakeWatched{digests: map[string]string{"ns/tls-a": "aaaa"}}
	r := New(fw, nil, Config{Watched: watched})
	inst := thing("a")
	inst.Object["spec"] = map[string]any{"size": "tls-a"}
	ctx := context.Background()

	st := deployed()
	r.runTriggers(ctx, fw, inst, &st)
	if len(st.Triggers) != 0 {
		t.Fatalf("a kind not watched yet decided something: %+v", st.Triggers)
	}
	if got := r.WatchersOf(schema.GroupVersionKind{Version: "v1", Kind: "Secret"}, &metav1.ObjectMeta{Namespace: "ns", Name: "tls-a"}); len(got) != 1 {
		t.Fatalf("the instance's name is not indexed: %v", got)
	}

	watched.watching = true
	r.runTriggers(ctx, fw, inst, &st)
	if len(st.Triggers) != 1 || st.Triggers[0].Digest != "aaaa" || st.Triggers[0].Watching != "Secret tls-a" || st.ActivePlan != v1alpha1.PlanDeploy {
		t.Fatalf("first sight should record, not run: %+v, active %s", st.Triggers, st.ActivePlan)
	}

	again := *st.DeepCopy()
	r.runTriggers(ctx, fw, inst, &again)
	if again.ActivePlan != v1alpha1.PlanDeploy || again.Triggers[0].LastTriggerTime != nil {
		t.Fatalf("the same data ran the plan: %+v", again.Triggers)
	}

	watched.digests["ns/tls-a"] = "bbbb"
	r.runTriggers(ctx, fw, inst, &st)
	e := st.Triggers[0]
	if st.ActivePlan != "rotate" || e.LastOutcome != v1alpha1.TriggerStarted || e.LastRunUID != st.Plans["rotate"].UID ||
		st.Plans["rotate"].Cause != "trigger tls" || e.Digest != "bbbb" || e.LastTriggerTime == nil {
		t.Fatalf("a change should start rotate: active %s, %+v, run %+v", st.ActivePlan, e, st.Plans["rotate"])
	}

	t.Run("a change while another plan runs is queued, not lost", func(t *testing.T) {
		st := deployed()
		st.Triggers = []v1alpha1.TriggerStatus{{Name: "tls", Watching: "Secret tls-a", Digest: "old"}}
		st.ActivePlan, st.ActivePlanStatus = "update", v1alpha1.InProgress
		st.Plans["update"] = v1alpha1.PlanStatus{Status: v1alpha1.InProgress, UID: "u1"}
		r.runTriggers(ctx, fw, inst, &st)
		if st.ActivePlan != "update" || !slices.Equal(st.PlanQueue, []string{"rotate"}) || st.QueuedCauses["rotate"] != "trigger tls" ||
			st.Triggers[0].LastOutcome != v1alpha1.TriggerQueued {
			t.Fatalf("active %s queue %v causes %v, %+v", st.ActivePlan, st.PlanQueue, st.QueuedCauses, st.Triggers[0])
		}
	})
	t.Run("another name is a first sight", func(t *testing.T) {
		st := deployed()
		st.Triggers = []v1alpha1.TriggerStatus{{Name: "tls", Watching: "Secret tls-old", Digest: "old"}}
		r.runTriggers(ctx, fw, inst, &st)
		if st.ActivePlan != v1alpha1.PlanDeploy || st.Triggers[0].Watching != "Secret tls-a" || st.Triggers[0].Digest != "bbbb" {
			t.Fatalf("active %s, %+v", st.ActivePlan, st.Triggers[0])
		}
		if got := r.WatchersOf(schema.GroupVersionKind{Version: "v1", Kind: "Secret"}, &metav1.ObjectMeta{Namespace: "ns", Name: "tls-old"}); len(got) != 0 {
			t.Fatalf("the old name still wakes the instance: %v", got)
		}
	})
	t.Run("an instance's name that is no name is invalid, and never leaves its namespace", func(t *testing.T) {
		bad := thing("b")
		bad.Object["spec"] = map[string]any{"size": "../kube-system/admin"}
		st := deployed()
		r.runTriggers(ctx, fw, bad, &st)
		if len(st.Triggers) != 1 || st.Triggers[0].LastOutcome != v1alpha1.TriggerInvalid || st.ActivePlan != v1alpha1.PlanDeploy {
			t.Fatalf("%+v", st.Triggers)
		}
		none := thing("c")
		none.Object["spec"] = map[string]any{"size": ""}
		st = deployed()
		r.runTriggers(ctx, fw, none, &st)
		if len(st.Triggers) != 0 {
			t.Fatalf("an instance that names nothing has the trigger off: %+v", st.Triggers)
		}
	})
	t.Run("a selector's choice changing runs the plan", func(t *testing.T) {
		fw := thingFramework(t, 1, withTrigger, func(s *v1alpha1.FrameworkSpec) {
			s.Triggers[0].Watch = v1alpha1.Watch{APIVersion: "v1", Kind: "ConfigMap", Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"shared": "settings"}}}
		})
		w := &fakeWatched{watching: true, selected: "s1"}
		r := New(fw, nil, Config{Watched: w})
		st := deployed()
		r.runTriggers(ctx, fw, inst, &st)
		w.selected = "s2"
		r.runTriggers(ctx, fw, inst, &st)
		if st.ActivePlan != "rotate" || st.Triggers[0].Watching != "ConfigMap shared=settings" {
			t.Fatalf("active %s, %+v", st.ActivePlan, st.Triggers)
		}
	})
	t.Run("a trigger the Framework dropped leaves the status", func(t *testing.T) {
		plain := thingFramework(t, 1, func(s *v1alpha1.FrameworkSpec) { s.Plans["rotate"] = onePlan("wait") })
		st := *st.DeepCopy()
		r.runTriggers(ctx, plain, inst, &st)
		if len(st.Triggers) != 0 {
			t.Fatalf("%+v", st.Triggers)
		}
		if got := r.WatchersOf(schema.GroupVersionKind{Version: "v1", Kind: "Secret"}, &metav1.ObjectMeta{Namespace: "ns", Name: "tls-a"}); len(got) != 0 {
			t.Fatalf("a dropped trigger still wakes: %v", got)
		}
	})
}
