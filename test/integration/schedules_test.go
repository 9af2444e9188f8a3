package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
)

// scheduledFramework deploys a ConfigMap; its backup plan applies another
// that records the run (its uid), and its hold plan waits until the test
// opens its gate.
func scheduledFramework(name, group string, schedules ...v1alpha1.Schedule) *v1alpha1.Framework {
	backup := v1alpha1.Resource{ID: "backup", Template: &runtime.RawExtension{Raw: []byte(
		`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"${instance.metadata.name}-backup"},"data":{"run":"${plan.uid}"}}`)}}
	main := func(names ...string) v1alpha1.Plan {
		return v1alpha1.Plan{Phases: []v1alpha1.Phase{{Name: "main", Steps: steps(names...)}}}
	}
	fw := framework(name, group, []v1alpha1.Parameter{{Name: "backupSchedule", Type: v1alpha1.TypeString, Default: &apiextensionsv1.JSON{Raw: []byte(`""`)}}},
		[]v1alpha1.Resource{configMap("config", ""), backup, gated("gate")},
		[]v1alpha1.Task{apply("config", "config"), apply("backup", "backup"), apply("hold", "gate")},
		map[string]v1alpha1.Plan{"deploy": main("config"), "backup": main("backup"), "hold": main("hold")})
	fw.Spec.Schedules = schedules
	return fw
}

// scheduleStatus is schedule name's entry in the instance's status.
func scheduleStatus(t *testing.T, gvk schema.GroupVersionKind, ns, name, schedule string) (v1alpha1.ScheduleStatus, bool) {
	t.Helper()
	for _, s := range instanceStatus(t, gvk, ns, name).Schedules {
		if s.Name == schedule {
			return s, true
		}
	}
	return v1alpha1.ScheduleStatus{}, false
}

// waitForScheduled waits until schedule's last outcome on the instance is
// want, for a scheduled time after after, and returns its entry.
func waitForScheduled(t *testing.T, gvk schema.GroupVersionKind, ns, name, schedule string, want v1alpha1.ScheduleOutcome, after time.Time) v1alpha1.ScheduleStatus {
	t.Helper()
	var got v1alpha1.ScheduleStatus
	eventually(t, 30*time.Second, func() error {
		s, ok := scheduleStatus(t, gvk, ns, name, schedule)
		if !ok || s.LastScheduleTime == nil || !s.LastScheduleTime.After(after) || s.LastOutcome != want {
			return fmt.Errorf("schedule %s on %s: %+v, want %s after %s", schedule, name, s, want, after)
		}
		got = s
		return nil
	})
	return got
}

// TestSchedulesRunPlansAtTheirTimes: a schedule every 2 s starts its plan
// at each time, recorded with its cause; a time due while another plan
// runs is skipped with an event (Forbid); suspend stops it and resuming
// goes on; a per-instance schedule runs on the instance that sets one,
// not on one that leaves it empty, and one that is not cron is named.
func TestSchedulesRunPlansAtTheirTimes(t *testing.T) {
	startManager(t)
	ns := namespace(t, "schedules")
	group := "schedules.test.operetta.dev"
	gvk := thingGVK(group)
	fw := scheduledFramework("schedules", group,
		v1alpha1.Schedule{Name: "tick", Plan: "backup", Schedule: "@every 2s"},
		v1alpha1.Schedule{Name: "own", Plan: "backup", Schedule: "${instance.spec.backupSchedule}", Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"own": "yes"}},
			MinInterval: &metav1.Duration{Duration: 2 * time.Second}})
	createFramework(t, fw)
	frameworkReady(t, "schedules", metav1.ConditionTrue)
	deployInstances(t, gvk, ns, "s")
	start := time.Now()

	first := waitForScheduled(t, gvk, ns, "s", "tick", v1alpha1.ScheduleStarted, start.Add(-time.Minute))
	waitForPlan(t, gvk, ns, "s", "backup", "COMPLETE")
	second := waitForScheduled(t, gvk, ns, "s", "tick", v1alpha1.ScheduleStarted, first.LastScheduleTime.Time)
	if gap := second.LastScheduleTime.Sub(first.LastScheduleTime.Time); gap < 2*time.Second || second.LastRunUID == first.LastRunUID {
		t.Fatalf("two runs %s apart (runs %s, %s), want 2 s and two runs", gap, first.LastRunUID, second.LastRunUID)
	}
	st := instanceStatus(t, gvk, ns, "s")
	if run := st.Plans["backup"]; run.Cause != "schedule tick" {
		t.Fatalf("the backup run's cause is %q, want schedule tick", run.Cause)
	}
	if second.NextScheduleTime == nil || !second.NextScheduleTime.After(second.LastScheduleTime.Time) {
		t.Fatalf("next time %v after a run at %v", second.NextScheduleTime, second.LastScheduleTime)
	}
	if _, ok := scheduleStatus(t, gvk, ns, "s", "own"); ok {
		t.Fatal("the schedule its selector leaves out is in the instance's status")
	}

	// Forbid: while hold runs (until its gate opens), a due time is skipped.
	triggerPlan(t, gvk, ns, "s", "hold@1")
	skipped := waitForScheduled(t, gvk, ns, "s", "tick", v1alpha1.ScheduleSkipped, second.LastScheduleTime.Time)
	if !strings.Contains(skipped.Message, "plan hold is running (concurrencyPolicy Forbid)") {
		t.Fatalf("skipped: %q", skipped.Message)
	}
	waitForEvents(t, ns, "s", "ScheduledRun", "ScheduledRunSkipped")
	if st := instanceStatus(t, gvk, ns, "s"); st.ActivePlan != "hold" || st.Plans["hold"].Cause != "operetta.dev/run-plan=hold@1" {
		t.Fatalf("a skipped time touched the running plan: active %s, cause %q", st.ActivePlan, st.Plans["hold"].Cause)
	}

	// Suspended: no next time; resumed, it runs again (once backup can).
	editFramework(t, "schedules", fw, func() { fw.Spec.Schedules[0].Suspend = true })
	eventually(t, 30*time.Second, func() error {
		if s, _ := scheduleStatus(t, gvk, ns, "s", "tick"); s.NextScheduleTime != nil {
			return fmt.Errorf("suspended, yet next at %v", s.NextScheduleTime)
		}
		return nil
	})
	openGateOf(t, ns, "s-gate")
	waitForPlan(t, gvk, ns, "s", "hold", "COMPLETE")
	resumed := time.Now()
	editFramework(t, "schedules", fw, func() { fw.Spec.Schedules[0].Suspend = false })
	waitForScheduled(t, gvk, ns, "s", "tick", v1alpha1.ScheduleStarted, resumed.Add(-time.Second))

	// Each instance its own: what has no schedule's shape is refused by
	// the API server; "" has none, cron runs, an hour out of range is
	// named, more often than minInterval is refused.
	nonsense := instance(gvk, ns, "own-nonsense", map[string]any{"backupSchedule": "every night"})
	if err := k8s.Create(ctx(t), nonsense); err == nil || !strings.Contains(err.Error(), "spec.backupSchedule: Invalid value: \"every night\": spec.backupSchedule in body should match") {
		t.Fatalf("an instance whose schedule is no schedule: %v", err)
	}
	for name, sched := range map[string]string{"own-none": "", "own-every": "@every 3s", "own-bad": "0 25 * * *", "own-often": "@every 1s"} {
		u := instance(gvk, ns, name, map[string]any{"backupSchedule": sched})
		u.SetLabels(map[string]string{"own": "yes"})
		if err := k8s.Create(ctx(t), u); err != nil {
			t.Fatal(err)
		}
	}
	waitForScheduled(t, gvk, ns, "own-every", "own", v1alpha1.ScheduleStarted, time.Time{})
	eventually(t, 30*time.Second, func() error {
		s, ok := scheduleStatus(t, gvk, ns, "own-bad", "own")
		if !ok || s.LastOutcome != v1alpha1.ScheduleInvalid || !strings.Contains(s.Message, `schedule own: "0 25 * * *": end of range (25) above maximum (23)`) {
			return fmt.Errorf("own-bad: %+v", s)
		}
		return nil
	})
	eventually(t, 30*time.Second, func() error {
		s, ok := scheduleStatus(t, gvk, ns, "own-often", "own")
		if !ok || s.LastOutcome != v1alpha1.ScheduleInvalid || !strings.Contains(s.Message, `"@every 1s" runs every 1s; the Framework allows an instance's own schedule no less than 2s (minInterval)`) {
			return fmt.Errorf("own-often: %+v", s)
		}
		return nil
	})
	waitForPlan(t, gvk, ns, "own-none", "deploy", "COMPLETE")
	if s, ok := scheduleStatus(t, gvk, ns, "own-none", "own"); ok {
		t.Fatalf("an instance with no schedule of its own has one: %+v", s)
	}
}

// TestARestartCatchesUpOnceOrMisses: with the manager down over several
// scheduled times, a schedule runs once for the latest when it is back
// (the others dropped, and said so), and one with a starting deadline
// those times passed records the latest as missed, with a Warning.
func TestARestartCatchesUpOnceOrMisses(t *testing.T) {
	first := startManager(t)
	ns := namespace(t, "catch-up")
	group := "catchup.test.operetta.dev"
	gvk := thingGVK(group)
	fw := scheduledFramework("catch-up", group,
		v1alpha1.Schedule{Name: "late", Plan: "backup", Schedule: "@every 2s"},
		v1alpha1.Schedule{Name: "strict", Plan: "deploy", Schedule: "@every 2s", StartingDeadlineSeconds: ptr.To[int64](1)})
	createFramework(t, fw)
	frameworkReady(t, "catch-up", metav1.ConditionTrue)
	deployInstances(t, gvk, ns, "c")
	before := waitForScheduled(t, gvk, ns, "c", "late", v1alpha1.ScheduleStarted, time.Time{})

	first.stop()
	down := time.Now()
	time.Sleep(7 * time.Second) // three or more scheduled times pass
	restarted := time.Now()
	startManager(t)

	late := waitForScheduled(t, gvk, ns, "c", "late", v1alpha1.ScheduleStarted, down.Add(5*time.Second))
	if !strings.Contains(late.Message, "earlier scheduled times passed unrun; only the latest runs") || late.LastRunUID == before.LastRunUID {
		t.Fatalf("after the restart: %+v", late)
	}
	waitForEvents(t, ns, "c", "ScheduledRunMissed")
	// The times that passed while it was down did not run, but for the
	// latest, which the catch-up above ran: no burst.
	burst := 0
	list := &eventsv1.EventList{}
	if err := k8s.List(ctx(t), list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, e := range list.Items {
		var at time.Time
		if _, err := fmt.Sscanf(e.Note, "schedule late started plan backup for %s", new(string)); err != nil || e.Reason != "ScheduledRun" {
			continue
		}
		when := strings.Fields(e.Note)[6]
		if at, _ = time.Parse(time.RFC3339, when); at.After(down) && at.Before(restarted.Add(-2*time.Second)) {
			burst++
		}
	}
	if burst != 0 {
		t.Fatalf("%d runs for times that passed while the manager was down, besides the latest", burst)
	}
}

// triggerPlan sets the instance's operetta.dev/run-plan annotation.
func triggerPlan(t *testing.T, gvk schema.GroupVersionKind, ns, name, value string) {
	t.Helper()
	u, err := get(t, gvk, ns, name)
	if err != nil {
		t.Fatal(err)
	}
	a := u.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a[v1alpha1.AnnotationRunPlan] = value
	u.SetAnnotations(a)
	if err := k8s.Update(ctx(t), u); err != nil {
		t.Fatal(err)
	}
}
