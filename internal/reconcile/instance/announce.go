package instance

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/metrics"
	"operetta.dev/operetta/internal/plans"
)

// Event reasons on instances.
const (
	EventPlanComplete = "PlanComplete"
	EventPlanError    = "PlanError"
	EventPlanFailed   = "PlanFailed"
	EventUnknownPlan  = "UnknownPlan"
	// EventChildLeft: a child the instance would delete is no longer its
	// own (its labels name another instance, or none), so it was left.
	EventChildLeft = "ChildLeft"
	// A scheduled time started its plan, was skipped (a plan ran), was
	// missed (past its starting deadline), or the instance's schedule is
	// not one.
	EventScheduledRun     = "ScheduledRun"
	EventScheduledSkipped = "ScheduledRunSkipped"
	EventScheduledMissed  = "ScheduledRunMissed"
	EventInvalidSchedule  = "InvalidSchedule"
	// A change of watched data started or queued its plan, or an
	// instance's trigger names no object.
	EventTriggeredRun   = "TriggeredRun"
	EventInvalidTrigger = "InvalidTrigger"
)

// announce emits an event and records metrics for every outcome between the
// status that was read and the one that was written: a plan run that
// completed, hit an error or failed, and a run-plan request that named no
// plan. A plan's start is in the status (startedAt) and not announced: an
// event costs a request per instance, and what users act on is the outcome,
// which says how long the run took; a run a schedule or trigger started is
// told when it starts, and, when it also completed in the same reconcile,
// by that one event. It runs after the status write
// succeeded, so what it tells matches what the instance shows.
func announce(rec recorder.EventRecorder, framework string, instance *unstructured.Unstructured, old, st v1alpha1.InstanceStatus) {
	if st.RunPlanError != "" && st.RunPlanError != old.RunPlanError {
		rec.Eventf(instance, nil, corev1.EventTypeWarning, EventUnknownPlan, "RunPlan", "%s", st.RunPlanError)
	}
	// A run a schedule or trigger started that completed in the same
	// reconcile is told by one event, its start's, saying both: an event
	// costs a request, and a fleet's nightly runs are many.
	completed := map[types.UID]v1alpha1.PlanStatus{}
	for name, now := range st.Plans {
		if now.Status == v1alpha1.Complete && old.Plans[name].UID != now.UID {
			completed[now.UID] = now
		}
	}
	told := map[types.UID]bool{}
	announceSchedules(rec, framework, instance, old.Schedules, st, completed, told)
	announceTriggers(rec, framework, instance, old.Triggers, st, completed, told)
	for name, now := range st.Plans {
		before, seen := old.Plans[name]
		if !seen || before.UID != now.UID {
			before = v1alpha1.PlanStatus{}
		}
		if before.Status == now.Status {
			continue
		}
		switch now.Status {
		case v1alpha1.Complete:
			if !told[now.UID] {
				rec.Eventf(instance, nil, corev1.EventTypeNormal, EventPlanComplete, "RunPlan", "plan %s is complete%s (run %s)", name, took(now), now.UID)
			}
			observe(framework, name, "complete", now)
		case v1alpha1.FatalError:
			rec.Eventf(instance, nil, corev1.EventTypeWarning, EventPlanFailed, "RunPlan", "plan %s failed: %s", name, now.Message)
			observe(framework, name, "failed", now)
		case v1alpha1.Error:
			rec.Eventf(instance, nil, corev1.EventTypeWarning, EventPlanError, "RunPlan", "plan %s hit an error and retries: %s", name, now.Message)
		}
	}
}

// announceSchedules tells what became of each scheduled time that passed
// since the status that was read, and of a schedule that turned invalid.
func announceSchedules(rec recorder.EventRecorder, framework string, instance *unstructured.Unstructured, old []v1alpha1.ScheduleStatus, st v1alpha1.InstanceStatus,
	completed map[types.UID]v1alpha1.PlanStatus, told map[types.UID]bool) {
	before := byName(old, func(e v1alpha1.ScheduleStatus) string { return e.Name })
	for _, e := range st.Schedules {
		was := before[e.Name]
		if e.LastOutcome == v1alpha1.ScheduleInvalid {
			if was.LastOutcome != e.LastOutcome || was.Message != e.Message {
				rec.Eventf(instance, nil, corev1.EventTypeWarning, EventInvalidSchedule, "Schedule", "%s", e.Message)
			}
			continue
		}
		if e.LastScheduleTime == nil || was.LastScheduleTime != nil && was.LastScheduleTime.Equal(e.LastScheduleTime) {
			continue
		}
		at := e.LastScheduleTime.UTC().Format(time.RFC3339)
		switch e.LastOutcome {
		case v1alpha1.ScheduleStarted:
			plan := runOf(st, e.LastRunUID)
			rec.Eventf(instance, nil, corev1.EventTypeNormal, EventScheduledRun, "Schedule", "schedule %s started plan %s for %s (run %s)%s", e.Name, plan, at, e.LastRunUID, completedToo(completed, told, e.LastRunUID))
		case v1alpha1.ScheduleSkipped:
			rec.Eventf(instance, nil, corev1.EventTypeNormal, EventScheduledSkipped, "Schedule", "schedule %s skipped %s: %s", e.Name, at, e.Message)
		case v1alpha1.ScheduleMissed:
			rec.Eventf(instance, nil, corev1.EventTypeWarning, EventScheduledMissed, "Schedule", "schedule %s missed %s: %s", e.Name, at, e.Message)
		}
		metrics.ScheduledRuns.WithLabelValues(framework, e.Name, string(e.LastOutcome)).Inc()
	}
}

// announceTriggers tells of each change a trigger acted on since the
// status that was read, and of a trigger that turned invalid.
func announceTriggers(rec recorder.EventRecorder, framework string, instance *unstructured.Unstructured, old []v1alpha1.TriggerStatus, st v1alpha1.InstanceStatus,
	completed map[types.UID]v1alpha1.PlanStatus, told map[types.UID]bool) {
	before := byName(old, func(e v1alpha1.TriggerStatus) string { return e.Name })
	for _, e := range st.Triggers {
		was := before[e.Name]
		switch {
		case e.LastOutcome == v1alpha1.TriggerInvalid:
			if was.LastOutcome != e.LastOutcome || was.Message != e.Message {
				rec.Eventf(instance, nil, corev1.EventTypeWarning, EventInvalidTrigger, "Trigger", "%s", e.Message)
			}
			continue
		case e.LastTriggerTime == nil || was.LastTriggerTime != nil && was.LastTriggerTime.Equal(e.LastTriggerTime) && was.Digest == e.Digest:
			continue
		case e.LastOutcome == v1alpha1.TriggerStarted:
			rec.Eventf(instance, nil, corev1.EventTypeNormal, EventTriggeredRun, "Trigger", "trigger %s: %s changed; plan %s started (run %s)%s", e.Name, e.Watching, runOf(st, e.LastRunUID), e.LastRunUID, completedToo(completed, told, e.LastRunUID))
		default:
			rec.Eventf(instance, nil, corev1.EventTypeNormal, EventTriggeredRun, "Trigger", "trigger %s: %s", e.Name, e.Message)
		}
		metrics.TriggeredRuns.WithLabelValues(framework, e.Name, string(e.LastOutcome)).Inc()
	}
}

// byName indexes list by name.
func byName[T any](list []T, name func(T) string) map[string]T {
	out := make(map[string]T, len(list))
	for _, e := range list {
		out[name(e)] = e
	}
	return out
}

// completedToo says, for a start event of run uid, that the run completed
// too when it did in the same reconcile, and notes it told, so no
// PlanComplete event repeats it.
func completedToo(completed map[types.UID]v1alpha1.PlanStatus, told map[types.UID]bool, uid types.UID) string {
	run, ok := completed[uid]
	if !ok {
		return ""
	}
	told[uid] = true
	return "; it is complete" + took(run)
}

// runOf names the plan whose run has uid.
func runOf(st v1alpha1.InstanceStatus, uid types.UID) string {
	for name, p := range st.Plans {
		if p.UID == uid {
			return name
		}
	}
	return "?"
}

// announceLeft warns of each child left in place because it is no longer
// the instance's own: someone relabelled or replaced it, and it is theirs
// to clean up now.
func announceLeft(rec recorder.EventRecorder, instance *unstructured.Unstructured, left []string) {
	for _, child := range left {
		rec.Eventf(instance, nil, corev1.EventTypeWarning, EventChildLeft, "Delete", "%s", child)
	}
}

// took says how long a finished run took, when its times are known.
func took(st v1alpha1.PlanStatus) string {
	if st.StartedAt == nil || st.FinishedAt == nil {
		return ""
	}
	return " after " + st.FinishedAt.Sub(st.StartedAt.Time).Round(time.Second).String()
}

func observe(framework, plan, result string, st v1alpha1.PlanStatus) {
	metrics.PlanRuns.WithLabelValues(framework, plan, result, plans.CauseKind(st.Cause)).Inc()
	if st.StartedAt != nil && st.FinishedAt != nil {
		metrics.PlanDuration.WithLabelValues(framework, plan, result).Observe(st.FinishedAt.Sub(st.StartedAt.Time).Seconds())
	}
}
