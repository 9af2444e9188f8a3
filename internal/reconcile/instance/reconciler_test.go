package instance

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/kube"
)

func TestResultForLooksAgainOnlyWhenSomethingMayHaveChanged(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	// The step of "timed" may take a minute; the task of "task-timed", a
	// Wait, two.
	timed := onePlan("wait")
	timed.Phases[0].Steps[0].Timeout = &metav1.Duration{Duration: time.Minute}
	fw := thingFramework(t, 1, withPlan("timed", timed), withPlan("task-timed", onePlan("slow")),
		withTask(v1alpha1.Task{Name: "slow", Kind: v1alpha1.TaskWait,
			Condition: "${instance.spec.size == 'big'}", Timeout: &metav1.Duration{Duration: 2 * time.Minute}}))

	r := New(fw, nil, Config{Resync: 10 * time.Minute, Now: func() time.Time { return now }})
	started := metav1.NewTime(now.Add(-10 * time.Second))
	status := func(plan string, s v1alpha1.ExecutionStatus) v1alpha1.InstanceStatus {
		p := fw.Plans[plan]
		return v1alpha1.InstanceStatus{ActivePlan: plan, ActivePlanStatus: s, Plans: map[string]v1alpha1.PlanStatus{plan: {
			Status: s, Phases: []v1alpha1.PhaseStatus{{Name: "main", Status: s, Steps: []v1alpha1.StepStatus{{Name: p.Phases[0].Steps[0].Name, Status: s, StartedAt: &started}}}},
		}}}
	}
	for _, tc := range []struct {
		name     string
		st       v1alpha1.InstanceStatus
		min, max time.Duration
		retry    bool
	}{
		{name: "waiting: the resync, jittered", st: status(v1alpha1.PlanDeploy, v1alpha1.InProgress), min: 9 * time.Minute, max: 11 * time.Minute},
		{name: "pending: the resync, jittered", st: status(v1alpha1.PlanDeploy, v1alpha1.Pending), min: 9 * time.Minute, max: 11 * time.Minute},
		// Started 10 s ago, a minute allowed: a second past the deadline.
		{name: "waiting with a step timeout", st: status("timed", v1alpha1.InProgress), min: 51 * time.Second, max: 51 * time.Second},
		{name: "waiting with a task timeout", st: status("task-timed", v1alpha1.InProgress), min: 111 * time.Second, max: 111 * time.Second},
		{name: "retrying an error", st: status(v1alpha1.PlanDeploy, v1alpha1.Error), retry: true},
		{name: "complete", st: status(v1alpha1.PlanDeploy, v1alpha1.Complete)},
		{name: "failed for good", st: status(v1alpha1.PlanDeploy, v1alpha1.FatalError)},
	} {
		got := r.resultFor(fw, tc.st)
		switch {
		case tc.retry:
			if got != kube.Retry() {
				t.Errorf("%s: %+v, want a retry with the queue's backoff", tc.name, got)
			}
		case got.RequeueAfter < tc.min || got.RequeueAfter > tc.max || got.Requeue: //nolint:staticcheck // the retry is what is checked
			t.Errorf("%s: %+v, want RequeueAfter in [%s, %s]", tc.name, got, tc.min, tc.max)
		}
	}
}

func TestARunPlanNamingNoPlanIsExplained(t *testing.T) {
	fw := thingFramework(t, 1, withPlan("backup", onePlan("done")))
	for _, value := range []string{"", "deploy", "backup"} {
		if msg := unknownPlan(fw, value); msg != "" {
			t.Errorf("%q names a plan, yet: %s", value, msg)
		}
	}
	msg := unknownPlan(fw, "restore")
	for _, part := range []string{v1alpha1.AnnotationRunPlan + `="restore"`, "Framework things", "its plans are: backup, deploy"} {
		if !strings.Contains(msg, part) {
			t.Errorf("%q does not say %q", msg, part)
		}
	}
}

// listCounter counts the lists an Instances reader answers, and fails them
// while fail is set.
type listCounter struct {
	client.Reader
	lists int
	fail  error
}

func (l *listCounter) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	l.lists++
	if l.fail != nil {
		return l.fail
	}
	return l.Reader.List(ctx, list, opts...)
}

func TestANewGenerationReachesEveryInstanceOnce(t *testing.T) {
	ctx := context.Background()
	reader := &listCounter{Reader: newAPIServer(t, thing("a"), thing("b"))}
	var woken enqueued
	r := New(thingFramework(t, 1), nil, Config{GVK: testGVK, Instances: reader, Enqueue: woken.add})

	if err := r.RollOut(ctx, thingFramework(t, 1), nil); err != nil {
		t.Fatal(err)
	}
	if reader.lists != 0 || len(woken.take()) != 0 {
		t.Fatalf("the generation it runs, handed again: %d lists, instances enqueued", reader.lists)
	}

	reader.fail = errors.New("not synced")
	if err := r.RollOut(ctx, thingFramework(t, 2), nil); !errors.Is(err, reader.fail) {
		t.Fatalf("RollOut with a failing list: %v", err)
	}
	if r.Generation() != 1 {
		t.Fatalf("a generation whose instances could not be listed was taken: %d", r.Generation())
	}

	reader.fail = nil
	if err := r.RollOut(ctx, thingFramework(t, 2), nil); err != nil {
		t.Fatal(err)
	}
	got := woken.take()
	slices.SortFunc(got, func(a, b types.NamespacedName) int { return strings.Compare(a.Name, b.Name) })
	if r.Generation() != 2 || !slices.Equal(got, []types.NamespacedName{key("a"), key("b")}) {
		t.Fatalf("generation %d, enqueued %v; want 2 and every instance", r.Generation(), got)
	}
}

func TestAGenerationIsKeptWhileAnInstanceStandsOnIt(t *testing.T) {
	ctx := context.Background()
	instanceOf := v1alpha1.Task{Name: "db", Kind: v1alpha1.TaskInstance, Framework: "db",
		Spec: &runtime.RawExtension{Raw: []byte(`{}`)}}
	r := New(thingFramework(t, 1, withTask(instanceOf)), nil, Config{GVK: testGVK, Instances: newAPIServer(t), Enqueue: func(types.NamespacedName) {}})
	if !r.DependsOn("db") || r.DependsOn("cache") {
		t.Fatalf("with an Instance task of db: depends on db %v, on cache %v", r.DependsOn("db"), r.DependsOn("cache"))
	}
	// Generation 2 has no Instance task, but an instance still stands on
	// generation 1, waiting for its turn in the rollout.
	r.progress.set(key("held"), standingOf(statusAt(1, v1alpha1.Complete, true, false)))
	if err := r.RollOut(ctx, thingFramework(t, 2), nil); err != nil {
		t.Fatal(err)
	}
	if _, kept := r.generation(1); !kept || !r.DependsOn("db") {
		t.Fatalf("generation 1 kept %v, depends on db %v; want both while an instance runs it", kept, r.DependsOn("db"))
	}
	r.progress.set(key("held"), standingOf(statusAt(2, v1alpha1.Complete, true, false)))
	if err := r.RollOut(ctx, thingFramework(t, 3), nil); err != nil {
		t.Fatal(err)
	}
	if _, kept := r.generation(1); kept || r.DependsOn("db") {
		t.Fatalf("generation 1 kept %v, depends on db %v, with no instance on it", kept, r.DependsOn("db"))
	}
	if _, kept := r.generation(2); !kept {
		t.Fatal("generation 2 was dropped while an instance stands on it")
	}
}

func TestAChildUpdateMattersIfAnyGenerationInstancesRunReadsIt(t *testing.T) {
	ctx := context.Background()
	gvk := appsv1.SchemeGroupVersion.WithKind("Deployment")
	old := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", Generation: 1, UID: "u",
		Labels: map[string]string{v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue}}}
	old.Status.ObservedGeneration = 1
	// A status write of the Deployment controller: same generation, same
	// kstatus verdict.
	progressed := old.DeepCopy()
	progressed.Status.CollisionCount = ptr.To[int32](1)
	edited := old.DeepCopy()
	edited.Generation = 2

	r := New(thingFramework(t, 1), nil, Config{GVK: testGVK, Instances: newAPIServer(t), Enqueue: func(types.NamespacedName) {}})
	if !r.ChildEventMatters(key("a"), gvk, nil, old) {
		t.Error("a child's add did not matter")
	}
	if !r.ChildEventMatters(key("a"), gvk, old, edited) {
		t.Error("a child's new generation (drift) did not matter")
	}
	if r.ChildEventMatters(key("a"), gvk, old, progressed) {
		t.Fatal("a status write that changes no verdict mattered, with nothing reading children")
	}

	// Generation 2 projects a field of a child into the status: its
	// instances read children. One instance still runs generation 1.
	reads := thingFramework(t, 2, func(s *v1alpha1.FrameworkSpec) {
		s.Resources = []v1alpha1.Resource{{ID: "config", Template: &runtime.RawExtension{Raw: []byte(
			`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"${instance.metadata.name}"},"data":{"url":"http://x"}}`)}}}
		s.Status = map[string]string{"url": "${resources.config.data.url}"}
	})
	r.progress.set(key("held"), standingOf(statusAt(1, v1alpha1.Complete, true, false)))
	if err := r.RollOut(ctx, reads, nil); err != nil {
		t.Fatal(err)
	}
	if !r.ChildEventMatters(key("a"), gvk, old, progressed) {
		t.Fatal("a child's update did not matter to a generation that reads children")
	}
}
