package plans

import (
	"fmt"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/types"

	"operetta.dev/operetta/api/v1alpha1"
)

func TestTriggered(t *testing.T) {
	triggers := Triggers{
		Plans:       map[string]v1alpha1.Plan{"deploy": {}, "update": {}, "upgrade": {}, "backup": {}, "scale": {}},
		ByParameter: map[string]string{"replicas": "scale", "image": "upgrade", "config": "update", "memory": "update"},
	}
	deployed := func(mut func(*v1alpha1.InstanceStatus)) v1alpha1.InstanceStatus {
		st := v1alpha1.InstanceStatus{
			Plans:               map[string]v1alpha1.PlanStatus{"deploy": {Status: v1alpha1.Complete}},
			ParameterDigests:    map[string]string{"replicas": "r1", "image": "i1", "config": "c1"},
			FrameworkGeneration: 1,
			LastRunPlan:         "backup@1",
		}
		if mut != nil {
			mut(&st)
		}
		return st
	}
	same := map[string]string{"replicas": "r1", "image": "i1", "config": "c1"}
	tests := []struct {
		name string
		obs  Observed
		want []string
	}{
		{"a new instance deploys", Observed{ParameterDigests: same, FrameworkGeneration: 1}, []string{"deploy"}},
		{"nothing changed", Observed{ParameterDigests: same, FrameworkGeneration: 1, RunPlan: "backup@1", Status: deployed(nil)}, []string{}},
		{"one parameter runs its trigger", Observed{ParameterDigests: map[string]string{"replicas": "r2", "image": "i1", "config": "c1"}, FrameworkGeneration: 1, RunPlan: "backup@1", Status: deployed(nil)}, []string{"scale"}},
		{"two parameters run both plans in order", Observed{ParameterDigests: map[string]string{"replicas": "r2", "image": "i2", "config": "c1"}, FrameworkGeneration: 1, RunPlan: "backup@1", Status: deployed(nil)}, []string{"upgrade", "scale"}},
		{"a parameter set for the first time", Observed{ParameterDigests: map[string]string{"replicas": "r1", "image": "i1", "config": "c1", "memory": "m"}, FrameworkGeneration: 1, RunPlan: "backup@1", Status: deployed(nil)}, []string{"update"}},
		{"a parameter removed", Observed{ParameterDigests: map[string]string{"replicas": "r1", "image": "i1"}, FrameworkGeneration: 1, RunPlan: "backup@1", Status: deployed(nil)}, []string{"update"}},
		{"a new Framework generation upgrades", Observed{ParameterDigests: same, FrameworkGeneration: 2, RunPlan: "backup@1", Status: deployed(nil)}, []string{"upgrade"}},
		{"a new run-plan value runs the plan", Observed{ParameterDigests: same, FrameworkGeneration: 1, RunPlan: "backup@2", Status: deployed(nil)}, []string{"backup"}},
		{"the same run-plan value does not", Observed{ParameterDigests: same, FrameworkGeneration: 1, RunPlan: "backup@1", Status: deployed(nil)}, []string{}},
		{"a run-plan naming no plan is ignored", Observed{ParameterDigests: same, FrameworkGeneration: 1, RunPlan: "restore", Status: deployed(nil)}, []string{}},
		{"everything at once, in plan order", Observed{ParameterDigests: map[string]string{"replicas": "r2", "image": "i1", "config": "c2"}, FrameworkGeneration: 2, RunPlan: "backup", Status: deployed(nil)}, []string{"update", "upgrade", "backup", "scale"}},
	}
	for _, tt := range tests {
		if got := Names(Triggered(triggers, tt.obs)); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestSchedule(t *testing.T) {
	uid := 0
	start := func(name, cause string) v1alpha1.PlanStatus {
		uid++
		return v1alpha1.PlanStatus{Status: v1alpha1.Pending, UID: typesUID(uid)}
	}
	status := func(active string, s v1alpha1.ExecutionStatus, queue ...string) v1alpha1.InstanceStatus {
		st := v1alpha1.InstanceStatus{Plans: map[string]v1alpha1.PlanStatus{}, PlanQueue: queue}
		if active != "" {
			st.ActivePlan = active
			st.Plans[active] = v1alpha1.PlanStatus{Status: s, UID: "old"}
		}
		return st
	}
	tests := []struct {
		name      string
		st        v1alpha1.InstanceStatus
		triggered []Run
		active    string
		uidChange bool
		queue     []string
	}{
		{"first plan starts at once", status("", ""), runs("deploy"), "deploy", true, nil},
		{"a plan triggered while another runs waits", status("deploy", v1alpha1.InProgress), runs("backup"), "deploy", false, []string{"backup"}},
		{"the running plan triggered again restarts", status("update", v1alpha1.InProgress), runs("update"), "update", true, nil},
		{"the running plan restarts and another queues", status("update", v1alpha1.Error), runs("update", "scale"), "update", true, []string{"scale"}},
		{"a queued plan is not queued twice", status("deploy", v1alpha1.InProgress, "backup"), runs("backup"), "deploy", false, []string{"backup"}},
		{"the next plan starts when the active one completes", status("deploy", v1alpha1.Complete, "update", "scale"), nil, "update", true, []string{"scale"}},
		{"a failed plan holds the queue", status("deploy", v1alpha1.FatalError, "scale"), nil, "deploy", false, []string{"scale"}},
		{"a new trigger replaces a failed plan", status("update", v1alpha1.FatalError), runs("update"), "update", true, nil},
	}
	for _, tt := range tests {
		st := tt.st
		Schedule(&st, tt.triggered, start)
		changed := st.Plans[st.ActivePlan].UID != "old"
		if st.ActivePlan != tt.active || changed != tt.uidChange || !reflect.DeepEqual(st.PlanQueue, tt.queue) {
			t.Errorf("%s: active %s (new run %v) queue %v; want %s (%v) %v", tt.name, st.ActivePlan, changed, st.PlanQueue, tt.active, tt.uidChange, tt.queue)
		}
		if st.ActivePlanStatus != st.Plans[st.ActivePlan].Status {
			t.Errorf("%s: activePlanStatus %s, plan %s", tt.name, st.ActivePlanStatus, st.Plans[st.ActivePlan].Status)
		}
	}
}

func runs(plans ...string) []Run {
	out := make([]Run, len(plans))
	for i, p := range plans {
		out[i] = Run{Plan: p, Cause: "test"}
	}
	return out
}

func typesUID(i int) types.UID { return types.UID(fmt.Sprintf("run-%d", i)) }

// TestGoingBackRunsTheRollbackPlan: a Framework generation that returns to
// an older revision's spec runs rollback on the instances newer than it,
// if the Framework has one, else upgrade as any change.
func TestGoingBackRunsTheRollbackPlan(t *testing.T) {
	st := v1alpha1.InstanceStatus{FrameworkGeneration: 4, Plans: map[string]v1alpha1.PlanStatus{v1alpha1.PlanDeploy: {Status: v1alpha1.Complete}}}
	plan := v1alpha1.Plan{}
	with := Triggers{Plans: map[string]v1alpha1.Plan{v1alpha1.PlanDeploy: plan, v1alpha1.PlanUpgrade: plan, v1alpha1.PlanRollback: plan}}
	without := Triggers{Plans: map[string]v1alpha1.Plan{v1alpha1.PlanDeploy: plan, v1alpha1.PlanUpgrade: plan}}
	for _, tc := range []struct {
		name string
		t    Triggers
		back bool
		want string
	}{
		{"going back, with a rollback plan", with, true, v1alpha1.PlanRollback},
		{"going back, without one", without, true, v1alpha1.PlanUpgrade},
		{"going forward", with, false, v1alpha1.PlanUpgrade},
	} {
		got := Triggered(tc.t, Observed{FrameworkGeneration: 5, GoingBack: tc.back, Status: st})
		if len(got) != 1 || got[0].Plan != tc.want {
			t.Errorf("%s: %v, want [%s]", tc.name, got, tc.want)
		}
	}
}

// TestCausesAreRecorded: each triggered plan says what triggered it, and a
// queued plan starts with the cause it was queued for.
func TestCausesAreRecorded(t *testing.T) {
	triggers := Triggers{
		Plans:       map[string]v1alpha1.Plan{"deploy": {}, "update": {}, "upgrade": {}, "backup": {}},
		ByParameter: map[string]string{"config": "update", "memory": "update"},
	}
	st := v1alpha1.InstanceStatus{
		Plans:               map[string]v1alpha1.PlanStatus{"deploy": {Status: v1alpha1.InProgress}},
		ActivePlan:          "deploy",
		ParameterDigests:    map[string]string{"config": "c1", "memory": "m1"},
		FrameworkGeneration: 1,
	}
	if got := Triggered(triggers, Observed{Status: v1alpha1.InstanceStatus{}}); !reflect.DeepEqual(got, []Run{{"deploy", "instance created"}}) {
		t.Errorf("a new instance: %v", got)
	}
	got := Triggered(triggers, Observed{
		ParameterDigests: map[string]string{"config": "c2", "memory": "m2"}, FrameworkGeneration: 4, RunPlan: "backup@night", Status: st,
	})
	want := []Run{{"update", "parameter config, parameter memory"}, {"upgrade", "revision 4"}, {"backup", "operetta.dev/run-plan=backup@night"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Triggered = %v, want %v", got, want)
	}
	started := map[string]string{}
	start := func(plan, cause string) v1alpha1.PlanStatus {
		started[plan] = cause
		return v1alpha1.PlanStatus{Status: v1alpha1.Pending, Cause: cause}
	}
	Schedule(&st, got, start)
	if len(started) != 0 || !reflect.DeepEqual(st.QueuedCauses, map[string]string{"update": want[0].Cause, "upgrade": "revision 4", "backup": want[2].Cause}) {
		t.Fatalf("while deploy runs: started %v, queued causes %v", started, st.QueuedCauses)
	}
	st.Plans["deploy"] = v1alpha1.PlanStatus{Status: v1alpha1.Complete}
	Schedule(&st, nil, start)
	if st.ActivePlan != "update" || st.Plans["update"].Cause != "parameter config, parameter memory" || st.QueuedCauses["update"] != "" || len(st.QueuedCauses) != 2 {
		t.Fatalf("after deploy: active %s with cause %q, queued causes %v", st.ActivePlan, st.Plans["update"].Cause, st.QueuedCauses)
	}
}
