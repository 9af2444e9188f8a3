package instance

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/metrics"
)

func key(name string) types.NamespacedName { return types.NamespacedName{Namespace: "ns", Name: name} }

// statusAt is an instance status whose active plan, run for generation,
// has status plan, with Ready and Stalled as given.
func statusAt(generation int64, plan v1alpha1.ExecutionStatus, ready, stalled bool, queue ...string) v1alpha1.InstanceStatus {
	cond := func(t string, on bool) metav1.Condition {
		s := metav1.ConditionFalse
		if on {
			s = metav1.ConditionTrue
		}
		return metav1.Condition{Type: t, Status: s, Reason: "Test"}
	}
	return v1alpha1.InstanceStatus{
		FrameworkGeneration: generation, ActivePlan: v1alpha1.PlanDeploy, ActivePlanStatus: plan, PlanQueue: queue,
		Conditions: []metav1.Condition{cond(v1alpha1.ConditionReady, ready), cond(v1alpha1.ConditionStalled, stalled)},
	}
}

func TestAnInstanceIsSettledOnlyWhenItsPlansAreDone(t *testing.T) {
	for _, tc := range []struct {
		name            string
		st              v1alpha1.InstanceStatus
		settled, failed bool
	}{
		{"in progress", statusAt(1, v1alpha1.InProgress, false, false), false, false},
		{"retrying an error", statusAt(1, v1alpha1.Error, false, false), false, false},
		{"complete", statusAt(1, v1alpha1.Complete, true, false), true, false},
		{"failed for good", statusAt(1, v1alpha1.FatalError, false, true), true, true},
		{"complete with a plan queued", statusAt(1, v1alpha1.Complete, true, false, v1alpha1.PlanUpdate), false, false},
	} {
		s := standingOf(tc.st)
		if s.settled != tc.settled || s.failed != tc.failed {
			t.Errorf("%s: settled %v, failed %v; want %v, %v", tc.name, s.settled, s.failed, tc.settled, tc.failed)
		}
	}
}

func TestProgressTellsWhenAnInstancesStandingChanged(t *testing.T) {
	var p progress
	running := standingOf(statusAt(1, v1alpha1.InProgress, false, false))
	if !p.set(key("a"), running) {
		t.Fatal("a first standing was not reported as a change")
	}
	if p.set(key("a"), running) {
		t.Fatal("the same standing again was reported as a change: every reconcile would report the rollout")
	}
	if !p.set(key("a"), standingOf(statusAt(1, v1alpha1.Complete, true, false))) {
		t.Fatal("a completed plan was not reported as a change")
	}
	if !p.forget(key("a")) {
		t.Fatal("forgetting a counted instance said it was not counted")
	}
	if p.forget(key("a")) {
		t.Fatal("forgetting an instance twice said it was counted the second time")
	}
	if got := p.report(1).Rollout.Total; got != 0 {
		t.Fatalf("a forgotten instance is still counted: total %d", got)
	}
}

func TestProgressReportCountsWhereTheGenerationStands(t *testing.T) {
	var p progress
	p.set(key("updated"), standingOf(statusAt(2, v1alpha1.Complete, true, false)))
	p.set(key("failed"), standingOf(statusAt(2, v1alpha1.FatalError, false, true)))
	p.set(key("working"), standingOf(statusAt(2, v1alpha1.InProgress, false, false)))
	p.set(key("behind"), standingOf(statusAt(1, v1alpha1.Complete, true, false)))

	got := p.report(2)
	want := Report{
		Rollout:    v1alpha1.RolloutStatus{Generation: 2, Total: 4, Updated: 1, Failed: 1},
		Instances:  v1alpha1.InstanceCounts{Total: 4, Ready: 2, NotReady: 1, Failed: 1},
		RollingOut: true, // "behind" still stands on generation 1
		Failed:     []string{key("failed").String()},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("report:\n got %+v\nwant %+v", got, want)
	}
	if got.Settled() {
		t.Fatal("a report with an instance still working and one behind says the rollout settled")
	}
}

func TestARolloutLastsUntilEveryMovedInstanceSettled(t *testing.T) {
	var p progress
	p.set(key("a"), standingOf(statusAt(1, v1alpha1.Complete, true, false)))
	if p.report(1).RollingOut {
		t.Fatal("an instance settled on the current generation reads as rolling out")
	}
	// Moved to generation 2 and upgrading: a rollout.
	p.set(key("a"), standingOf(statusAt(2, v1alpha1.InProgress, true, false)))
	if !p.report(2).RollingOut {
		t.Fatal("an instance upgrading from generation 1 does not read as rolling out")
	}
	// Still working on generation 2 in a later reconcile: still the rollout.
	p.set(key("a"), standingOf(statusAt(2, v1alpha1.Error, false, false)))
	if !p.report(2).RollingOut {
		t.Fatal("the rollout ended while the moved instance still retries")
	}
	p.set(key("a"), standingOf(statusAt(2, v1alpha1.Complete, true, false)))
	if r := p.report(2); r.RollingOut || !r.Settled() {
		t.Fatalf("after the upgrade completed: rolling out %v, settled %v; want false, true", r.RollingOut, r.Settled())
	}

	// A new instance deploying, or one updating for its own spec, is no
	// rollout.
	p.set(key("new"), standingOf(statusAt(2, v1alpha1.InProgress, false, false)))
	p.set(key("a"), standingOf(statusAt(2, v1alpha1.InProgress, true, false)))
	if p.report(2).RollingOut {
		t.Fatal("instances working on the current generation for their own reasons read as a rollout")
	}
}

func TestReportSettledWhenEveryInstanceIsUpdatedOrFailed(t *testing.T) {
	for _, tc := range []struct {
		ro   v1alpha1.RolloutStatus
		want bool
	}{
		{v1alpha1.RolloutStatus{}, true},
		{v1alpha1.RolloutStatus{Total: 3, Updated: 3}, true},
		{v1alpha1.RolloutStatus{Total: 3, Updated: 2, Failed: 1}, true},
		{v1alpha1.RolloutStatus{Total: 3, Updated: 2}, false},
		{v1alpha1.RolloutStatus{Total: 3, Failed: 1}, false},
	} {
		if got := (Report{Rollout: tc.ro}).Settled(); got != tc.want {
			t.Errorf("%+v: settled %v, want %v", tc.ro, got, tc.want)
		}
	}
}

func TestProgressCountsStatesAndGenerationsInUse(t *testing.T) {
	var p progress
	p.set(key("a"), standingOf(statusAt(1, v1alpha1.Complete, true, false)))
	p.set(key("b"), standingOf(statusAt(2, v1alpha1.InProgress, false, false)))
	p.set(key("c"), standingOf(statusAt(2, v1alpha1.InProgress, false, false)))

	wantStates := map[metrics.InstanceState]int{
		{Ready: true, PlanStatus: string(v1alpha1.Complete)}:    1,
		{Ready: false, PlanStatus: string(v1alpha1.InProgress)}: 2,
	}
	if got := p.states(); !maps.Equal(got, wantStates) {
		t.Errorf("states %v, want %v", got, wantStates)
	}
	if got, want := p.inUse(), map[int64]bool{1: true, 2: true}; !maps.Equal(got, want) {
		t.Errorf("generations in use %v, want %v", got, want)
	}
	p.forget(key("a"))
	if got, want := p.inUse(), map[int64]bool{2: true}; !maps.Equal(got, want) {
		t.Errorf("after the last instance on generation 1 went: in use %v, want %v", got, want)
	}
}

// TestGateCountsAgreeWithTheReport: the counters the rollout's gates read
// on every reconcile say what a count over every instance says, whatever
// order instances are set, moved and forgotten in.
func TestGateCountsAgreeWithTheReport(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var p progress
	statuses := []v1alpha1.ExecutionStatus{v1alpha1.InProgress, v1alpha1.Complete, v1alpha1.FatalError, v1alpha1.Error}
	for i := range 5000 {
		key := types.NamespacedName{Namespace: "ns", Name: fmt.Sprintf("i%d", rng.IntN(40))}
		if rng.IntN(10) == 0 {
			p.forget(key)
		} else {
			st := v1alpha1.InstanceStatus{FrameworkGeneration: int64(1 + rng.IntN(3)), ActivePlanStatus: statuses[rng.IntN(len(statuses))]}
			p.set(key, standingOf(st))
		}
		for g := int64(1); g <= 3; g++ {
			r := p.report(g)
			failed, working := p.gateCounts(g)
			moving := 0
			for _, s := range p.instances {
				if s.generation == g && !s.settled && s.migrating {
					moving++
				}
			}
			if failed != int(r.Rollout.Failed) || working != moving {
				t.Fatalf("step %d, generation %d: counters %d failed, %d working; the report %d failed, %d working", i, g, failed, working, r.Rollout.Failed, moving)
			}
		}
	}
}
