package instance

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/metrics"
	"operetta.dev/operetta/internal/testutil"
)

func value(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		t.Fatal(err)
	}
	return out.GetCounter().GetValue() + float64(out.GetHistogram().GetSampleCount())
}

// run is a run of the deploy plan with status s.
func run(uid types.UID, s v1alpha1.ExecutionStatus, msg string) v1alpha1.InstanceStatus {
	start := metav1.NewTime(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	p := v1alpha1.PlanStatus{Status: s, UID: uid, Message: msg, StartedAt: &start}
	if s.IsTerminal() {
		end := metav1.NewTime(start.Add(90 * time.Second))
		p.FinishedAt = &end
	}
	return v1alpha1.InstanceStatus{Plans: map[string]v1alpha1.PlanStatus{v1alpha1.PlanDeploy: p}}
}

func TestAnnounceTellsEachOutcomeOnce(t *testing.T) {
	none := v1alpha1.InstanceStatus{Plans: map[string]v1alpha1.PlanStatus{}}
	unknown := func(msg string) v1alpha1.InstanceStatus {
		st := *none.DeepCopy()
		st.RunPlanError = msg
		return st
	}
	for _, tc := range []struct {
		name    string
		old, st v1alpha1.InstanceStatus
		want    []string
		// runs counts the finished runs the metrics record, by result.
		complete, failed float64
	}{
		{name: "a plan starts", old: none, st: run("r1", v1alpha1.InProgress, "")},
		{name: "a plan completes", old: run("r1", v1alpha1.InProgress, ""), st: run("r1", v1alpha1.Complete, ""),
			want: []string{"Normal PlanComplete"}, complete: 1},
		{name: "a plan fails", old: run("r1", v1alpha1.InProgress, ""), st: run("r1", v1alpha1.FatalError, "boom"),
			want: []string{"Warning PlanFailed"}, failed: 1},
		{name: "a plan hits an error", old: run("r1", v1alpha1.InProgress, ""), st: run("r1", v1alpha1.Error, "conflict"),
			want: []string{"Warning PlanError"}},
		{name: "an error goes on", old: run("r1", v1alpha1.Error, "conflict"), st: run("r1", v1alpha1.Error, "timeout")},
		{name: "a completed run, reconciled again", old: run("r1", v1alpha1.Complete, ""), st: run("r1", v1alpha1.Complete, "")},
		// Read before its start was written: a new run that completes at
		// once is an outcome of its own.
		{name: "a new run completes within one reconcile", old: run("r1", v1alpha1.Complete, ""), st: run("r2", v1alpha1.Complete, ""),
			want: []string{"Normal PlanComplete"}, complete: 1},
		{name: "a run-plan that names no plan", old: none, st: unknown("no plan x"), want: []string{"Warning UnknownPlan"}},
		{name: "the same run-plan error again", old: unknown("no plan x"), st: unknown("no plan x")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			framework := "announce-" + strings.ReplaceAll(tc.name, " ", "-")
			complete := metrics.PlanRuns.WithLabelValues(framework, v1alpha1.PlanDeploy, "complete", "unknown")
			failed := metrics.PlanRuns.WithLabelValues(framework, v1alpha1.PlanDeploy, "failed", "unknown")
			completeBefore, failedBefore := value(t, complete), value(t, failed)
			rec := newRecorder()
			announce(rec, framework, thing("a"), tc.old, tc.st)
			if got := testutil.Reasons(testutil.Drain(rec)); !slices.Equal(got, tc.want) {
				t.Errorf("events %q, want %q", got, tc.want)
			}
			if c, f := value(t, complete)-completeBefore, value(t, failed)-failedBefore; c != tc.complete || f != tc.failed {
				t.Errorf("plan runs counted: %v complete, %v failed; want %v, %v", c, f, tc.complete, tc.failed)
			}
		})
	}
}

// A scheduled or triggered run that starts and completes in one reconcile
// is one event, its start's, saying both; one that completes later gets
// its PlanComplete then.
func TestARunStartedAndCompletedAtOnceIsOneEvent(t *testing.T) {
	at := stamp(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	before := run("r1", v1alpha1.Complete, "")
	scheduled := func(s v1alpha1.ExecutionStatus) v1alpha1.InstanceStatus {
		st := run("r2", s, "")
		st.Schedules = []v1alpha1.ScheduleStatus{{Name: "nightly", LastScheduleTime: at, LastOutcome: v1alpha1.ScheduleStarted, LastRunUID: "r2"}}
		return st
	}
	triggered := func(s v1alpha1.ExecutionStatus) v1alpha1.InstanceStatus {
		st := run("r2", s, "")
		st.Triggers = []v1alpha1.TriggerStatus{{Name: "tls", Watching: "Secret zk-tls", Digest: "b", LastTriggerTime: at, LastOutcome: v1alpha1.TriggerStarted, LastRunUID: "r2"}}
		return st
	}
	for _, tc := range []struct {
		name    string
		old, st v1alpha1.InstanceStatus
		want    []string
	}{
		{"a scheduled run done at once", before, scheduled(v1alpha1.Complete),
			[]string{"Normal ScheduledRun schedule nightly started plan deploy for 2030-01-01T00:00:00Z (run r2); it is complete after 1m30s"}},
		{"a scheduled run that goes on", before, scheduled(v1alpha1.InProgress),
			[]string{"Normal ScheduledRun schedule nightly started plan deploy for 2030-01-01T00:00:00Z (run r2)"}},
		{"a scheduled run that completes later", scheduled(v1alpha1.InProgress), scheduled(v1alpha1.Complete),
			[]string{"Normal PlanComplete plan deploy is complete after 1m30s (run r2)"}},
		{"a triggered run done at once", before, triggered(v1alpha1.Complete),
			[]string{"Normal TriggeredRun trigger tls: Secret zk-tls changed; plan deploy started (run r2); it is complete after 1m30s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder()
			announce(rec, "announce-at-once", thing("a"), tc.old, tc.st)
			if got := testutil.Drain(rec); !slices.Equal(got, tc.want) {
				t.Fatalf("events:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestAnnouncedOutcomesSayWhatHappened(t *testing.T) {
	duration := metrics.PlanDuration.WithLabelValues("announce-notes", v1alpha1.PlanDeploy, "complete").(prometheus.Metric)
	observed := value(t, duration)
	rec := newRecorder()
	announce(rec, "announce-notes", thing("a"), run("r1", v1alpha1.InProgress, ""), run("r1", v1alpha1.Complete, ""))
	announce(rec, "announce-notes", thing("a"), run("r1", v1alpha1.InProgress, ""), run("r1", v1alpha1.FatalError, "the Job failed"))
	got := testutil.Drain(rec)
	want := []string{
		"Normal PlanComplete plan deploy is complete after 1m30s (run r1)",
		"Warning PlanFailed plan deploy failed: the Job failed",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events:\n got %q\nwant %q", got, want)
	}
	if n := value(t, duration) - observed; n != 1 {
		t.Fatalf("the completed run's duration was observed %v times, want once", n)
	}
}

func TestEachChildLeftIsAWarning(t *testing.T) {
	rec := newRecorder()
	announceLeft(rec, thing("a"), []string{"ConfigMap ns/x", "Service ns/y"})
	want := []string{"Warning ChildLeft ConfigMap ns/x", "Warning ChildLeft Service ns/y"}
	if got := testutil.Drain(rec); !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
}
