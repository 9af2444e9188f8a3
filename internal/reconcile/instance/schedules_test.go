package instance

import (
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"operetta.dev/operetta/api/v1alpha1"
)

func TestRunSchedules(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	every := func(policy v1alpha1.ConcurrencyPolicy) func(*v1alpha1.FrameworkSpec) {
		return func(s *v1alpha1.FrameworkSpec) {
			s.Plans["backup"] = onePlan("wait")
			s.Schedules = []v1alpha1.Schedule{{Name: "nightly", Plan: "backup", Schedule: "0 2 * * *", ConcurrencyPolicy: policy}}
		}
	}
	// The instance had the schedule since yesterday noon; 02:00 passed.
	since := stamp(now.Add(-22 * time.Hour))
	due := func(mut func(*v1alpha1.InstanceStatus)) v1alpha1.InstanceStatus {
		st := v1alpha1.InstanceStatus{
			Plans:      map[string]v1alpha1.PlanStatus{v1alpha1.PlanDeploy: {Status: v1alpha1.Complete}},
			ActivePlan: v1alpha1.PlanDeploy, ActivePlanStatus: v1alpha1.Complete,
			Schedules: []v1alpha1.ScheduleStatus{{Name: "nightly", Schedule: "0 2 * * *", Since: since}},
		}
		if mut != nil {
			mut(&st)
		}
		return st
	}
	ran := stamp(time.Date(2026, 12, 5, 2, 0, 0, 0, time.UTC))
	for _, tc := range []struct {
		name    string
		policy  v1alpha1.ConcurrencyPolicy
		st      v1alpha1.InstanceStatus
		outcome v1alpha1.ScheduleOutcome
		active  string
		// runBefore is the active plan's run before; kept says it goes on.
		runBefore string
		kept      bool
	}{
		{"a due time starts its plan", v1alpha1.ForbidConcurrent, due(nil), v1alpha1.ScheduleStarted, "backup", "", false},
		{"Forbid skips it while a plan runs", v1alpha1.ForbidConcurrent, due(func(st *v1alpha1.InstanceStatus) {
			st.ActivePlan, st.ActivePlanStatus = "upgrade", v1alpha1.InProgress
			st.Plans["upgrade"] = v1alpha1.PlanStatus{Status: v1alpha1.InProgress, UID: "u1"}
		}), v1alpha1.ScheduleSkipped, "upgrade", "u1", true},
		{"Replace starts its own run that goes on again", v1alpha1.ReplaceConcurrent, due(func(st *v1alpha1.InstanceStatus) {
			st.ActivePlan, st.ActivePlanStatus = "backup", v1alpha1.InProgress
			st.Plans["backup"] = v1alpha1.PlanStatus{Status: v1alpha1.InProgress, UID: "yesterday"}
			st.Schedules[0].LastRunUID = "yesterday"
		}), v1alpha1.ScheduleStarted, "backup", "yesterday", false},
		{"Replace never cuts another's run of the plan", v1alpha1.ReplaceConcurrent, due(func(st *v1alpha1.InstanceStatus) {
			st.ActivePlan, st.ActivePlanStatus = "backup", v1alpha1.InProgress
			st.Plans["backup"] = v1alpha1.PlanStatus{Status: v1alpha1.InProgress, UID: "by-hand"}
			st.Schedules[0].LastRunUID = "yesterday"
		}), v1alpha1.ScheduleSkipped, "backup", "by-hand", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fw := thingFramework(t, 1, every(tc.policy))
			r := New(fw, nil, Config{Now: func() time.Time { return now }})
			st := tc.st
			wake := r.runSchedules(fw, thing("a"), &st)
			e := st.Schedules[0]
			if e.LastOutcome != tc.outcome || !e.LastScheduleTime.Equal(ran) || st.ActivePlan != tc.active {
				t.Fatalf("outcome %s for %v, active %s; want %s for %v, %s (%s)", e.LastOutcome, e.LastScheduleTime, st.ActivePlan, tc.outcome, ran, tc.active, e.Message)
			}
			if uid := string(st.Plans[st.ActivePlan].UID); (uid == tc.runBefore) != tc.kept {
				t.Errorf("the active run is %q, it was %q: want it kept %t", uid, tc.runBefore, tc.kept)
			}
			if want := 16 * time.Hour; wake != want || !e.NextScheduleTime.Equal(stamp(now.Add(want))) {
				t.Errorf("wake in %s, next %v; want %s", wake, e.NextScheduleTime, want)
			}
			if tc.outcome == v1alpha1.ScheduleStarted && (e.LastRunUID != st.Plans["backup"].UID || st.Plans["backup"].Cause != "schedule nightly") {
				t.Errorf("run %s (cause %q), schedule says %s", st.Plans["backup"].UID, st.Plans["backup"].Cause, e.LastRunUID)
			}
			// Between two times, nothing changes.
			again := *st.DeepCopy()
			r.runSchedules(fw, thing("a"), &again)
			if !reflect.DeepEqual(again, st) {
				t.Errorf("a second look changed the status:\n%+v\n%+v", st, again)
			}
		})
	}

	t.Run("suspended: no run, no next time", func(t *testing.T) {
		fw := thingFramework(t, 1, every(""), func(s *v1alpha1.FrameworkSpec) { s.Schedules[0].Suspend = true })
		r := New(fw, nil, Config{Now: func() time.Time { return now }})
		st := due(nil)
		if wake := r.runSchedules(fw, thing("a"), &st); wake != 0 || st.ActivePlan != v1alpha1.PlanDeploy || st.Schedules[0].NextScheduleTime != nil || st.Schedules[0].LastScheduleTime != nil {
			t.Fatalf("suspended: wake %s, active %s, %+v", wake, st.ActivePlan, st.Schedules[0])
		}
	})
	t.Run("an instance's own schedule: none, invalid, or left out by the selector", func(t *testing.T) {
		fw := thingFramework(t, 1, every(""), func(s *v1alpha1.FrameworkSpec) {
			s.Schedules[0].Schedule = "${instance.spec.size == 'small' ? '' : instance.spec.size}"
			s.Schedules = append(s.Schedules, v1alpha1.Schedule{Name: "canary", Plan: "backup", Schedule: "@hourly",
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"track": "canary"}}})
		})
		r := New(fw, nil, Config{Now: func() time.Time { return now }})
		small := thing("a")
		st := due(nil)
		r.runSchedules(fw, small, &st)
		if len(st.Schedules) != 0 {
			t.Fatalf("an instance without a schedule of its own, not selected: %+v", st.Schedules)
		}
		bad := thing("b")
		bad.Object["spec"] = map[string]any{"size": "every night"}
		st = due(nil)
		r.runSchedules(fw, bad, &st)
		if len(st.Schedules) != 1 || st.Schedules[0].LastOutcome != v1alpha1.ScheduleInvalid || st.ActivePlan != v1alpha1.PlanDeploy {
			t.Fatalf("an invalid schedule of its own: %+v", st.Schedules)
		}
		often := thing("c")
		often.Object["spec"] = map[string]any{"size": "@every 10s"}
		st = due(nil)
		r.runSchedules(fw, often, &st)
		if len(st.Schedules) != 1 || st.Schedules[0].LastOutcome != v1alpha1.ScheduleInvalid ||
			st.Schedules[0].Message != `schedule nightly: "@every 10s" runs every 10s; the Framework allows an instance's own schedule no less than 1m0s (minInterval)` {
			t.Fatalf("an instance's schedule more often than minInterval: %+v", st.Schedules)
		}
	})
}
