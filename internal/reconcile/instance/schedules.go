package instance

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/robfig/cron/v3"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/plans"
	"operetta.dev/operetta/internal/schedule"
	"operetta.dev/operetta/internal/tasks"
)

// runSchedules starts the plan of every schedule of fw due on the instance
// now, if its concurrency policy lets it, and records where each schedule
// stands in st.Schedules. It returns how long until the next is due (0:
// none). It reads no clock but the reconciler's and sends nothing: a
// reconcile between two scheduled times changes nothing.
func (r *Reconciler) runSchedules(fw *compile.Framework, instance *unstructured.Unstructured, st *v1alpha1.InstanceStatus) time.Duration {
	if len(fw.Schedules) == 0 && len(st.Schedules) == 0 {
		return 0
	}
	now := r.cfg.Now()
	key := types.NamespacedName{Namespace: instance.GetNamespace(), Name: instance.GetName()}.String()
	var kept []v1alpha1.ScheduleStatus
	var next time.Time
	for _, s := range fw.Schedules {
		if s.Selector != nil && !s.Selector.Matches(labels.Set(instance.GetLabels())) {
			continue
		}
		entry := scheduleEntry(st.Schedules, s.Name)
		text, cs, err := scheduleOf(fw, s, instance, now)
		switch {
		case text == "" && err == nil:
			continue // the instance switched it off
		case err != nil:
			entry.Schedule, entry.LastOutcome, entry.NextScheduleTime = text, v1alpha1.ScheduleInvalid, nil
			entry.Message = err.Error()
			kept = append(kept, entry)
			continue
		}
		if entry.Schedule != text || entry.LastOutcome == v1alpha1.ScheduleInvalid {
			// A new schedule for this instance counts from now.
			entry = v1alpha1.ScheduleStatus{Name: s.Name, Schedule: text}
		}
		if entry.Since == nil {
			entry.Since = stamp(now)
		}
		if s.Suspend {
			entry.NextScheduleTime = nil
			kept = append(kept, entry)
			continue
		}
		var last time.Time
		if entry.LastScheduleTime != nil {
			last = entry.LastScheduleTime.Time
		}
		d := schedule.Decide(cs, last, entry.Since.Time, now, schedule.Offset(schedule.Jitter(cs, s.Jitter, now), key, s.Name), s.Deadline)
		switch {
		case !d.Missed.IsZero():
			entry.LastScheduleTime, entry.LastOutcome = stamp(d.Missed), v1alpha1.ScheduleMissed
			entry.Message = fmt.Sprintf("the run due at %s could not start within startingDeadlineSeconds (%s)", d.Missed.UTC().Format(time.RFC3339), s.Deadline)
		case !d.Due.IsZero():
			entry.LastScheduleTime = stamp(d.Due)
			r.startScheduled(fw, s, d, st, &entry)
		}
		entry.NextScheduleTime = stamp(d.Next)
		if next.IsZero() || d.Next.Before(next) {
			next = d.Next
		}
		kept = append(kept, entry)
	}
	st.Schedules = kept
	if next.IsZero() {
		return 0
	}
	return max(next.Sub(now), time.Millisecond)
}

// startScheduled starts the run d is due for, or says why it was skipped.
func (r *Reconciler) startScheduled(fw *compile.Framework, s *compile.Schedule, d schedule.Decision, st *v1alpha1.InstanceStatus, entry *v1alpha1.ScheduleStatus) {
	active := st.Plans[st.ActivePlan]
	busy := st.ActivePlan != "" && !active.Status.IsTerminal() || len(st.PlanQueue) > 0
	replacing := s.Replace && st.ActivePlan == s.Plan && active.UID == entry.LastRunUID && len(st.PlanQueue) == 0
	if busy && !replacing {
		entry.LastOutcome = v1alpha1.ScheduleSkipped
		entry.Message = fmt.Sprintf("plan %s is running (concurrencyPolicy %s)", st.ActivePlan, policyOf(s))
		return
	}
	plans.Schedule(st, []plans.Run{{Plan: s.Plan, Cause: "schedule " + s.Name}}, r.startPlan(fw))
	entry.LastRunUID, entry.LastOutcome, entry.Message = st.Plans[s.Plan].UID, v1alpha1.ScheduleStarted, ""
	if d.Dropped > 0 {
		entry.Message = fmt.Sprintf("%d earlier scheduled times passed unrun; only the latest runs", d.Dropped)
	}
}

func policyOf(s *compile.Schedule) v1alpha1.ConcurrencyPolicy {
	if s.Replace {
		return v1alpha1.ReplaceConcurrent
	}
	return v1alpha1.ForbidConcurrent
}

// scheduleOf is s's schedule on the instance: the Framework's, or the one
// its expression renders for the instance ("" for none).
func scheduleOf(fw *compile.Framework, s *compile.Schedule, instance *unstructured.Unstructured, now time.Time) (string, cron.Schedule, error) {
	if s.Expr == nil {
		return s.Text, s.Cron, nil
	}
	v, err := s.Expr.Render(tasks.NewVars(fw, instance))
	if err != nil {
		return "", nil, fmt.Errorf("schedule %s: %w", s.Name, err)
	}
	text, ok := v.(string)
	if !ok {
		return fmt.Sprint(v), nil, fmt.Errorf("schedule %s rendered %v, not a string", s.Name, v)
	}
	if text == "" {
		return "", nil, nil
	}
	cs, err := schedule.Parse(text, s.TimeZone)
	if err != nil {
		return text, nil, fmt.Errorf("schedule %s: %q: %w", s.Name, text, err)
	}
	if p := schedule.Period(cs, now); p < s.MinInterval {
		return text, nil, fmt.Errorf("schedule %s: %q runs every %s; the Framework allows an instance's own schedule no less than %s (minInterval)", s.Name, text, p, s.MinInterval)
	}
	return text, cs, nil
}

// stamp is t as the status keeps it, to the second: what is compared with
// what was read back is what was written.
func stamp(t time.Time) *metav1.Time {
	return &metav1.Time{Time: t.Truncate(time.Second)}
}

func scheduleEntry(list []v1alpha1.ScheduleStatus, name string) v1alpha1.ScheduleStatus {
	for _, e := range list {
		if e.Name == name {
			return *e.DeepCopy()
		}
	}
	return v1alpha1.ScheduleStatus{Name: name}
}
