package instance

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/metrics"
)

// Event reasons on instances.
const (
	EventPlanStarted  = "PlanStarted"
	EventPlanComplete = "PlanComplete"
	EventPlanError    = "PlanError"
	EventPlanFailed   = "PlanFailed"
	EventUnknownPlan  = "UnknownPlan"
)

// announce emits an event and records metrics for every transition between
// the status that was read and the one that was written: a plan run that
// started, completed, hit an error or failed, and a run-plan request that
// named no plan. It runs after the status write succeeded, so what it tells
// matches what the instance shows.
func announce(rec recorder.EventRecorder, framework string, instance *unstructured.Unstructured, old, st v1alpha1.InstanceStatus) {
	if st.RunPlanError != "" && st.RunPlanError != old.RunPlanError {
		rec.Eventf(instance, nil, corev1.EventTypeWarning, EventUnknownPlan, "RunPlan", "%s", st.RunPlanError)
	}
	for name, now := range st.Plans {
		before, seen := old.Plans[name]
		if !seen || before.UID != now.UID {
			rec.Eventf(instance, nil, corev1.EventTypeNormal, EventPlanStarted, "RunPlan", "plan %s started (run %s)", name, now.UID)
			before = v1alpha1.PlanStatus{}
		}
		if before.Status == now.Status {
			continue
		}
		switch now.Status {
		case v1alpha1.Complete:
			rec.Eventf(instance, nil, corev1.EventTypeNormal, EventPlanComplete, "RunPlan", "plan %s is complete", name)
			observe(framework, name, "complete", now)
		case v1alpha1.FatalError:
			rec.Eventf(instance, nil, corev1.EventTypeWarning, EventPlanFailed, "RunPlan", "plan %s failed: %s", name, now.Message)
			observe(framework, name, "failed", now)
		case v1alpha1.Error:
			rec.Eventf(instance, nil, corev1.EventTypeWarning, EventPlanError, "RunPlan", "plan %s hit an error and retries: %s", name, now.Message)
		}
	}
}

func observe(framework, plan, result string, st v1alpha1.PlanStatus) {
	metrics.PlanRuns.WithLabelValues(framework, plan, result).Inc()
	if st.StartedAt != nil && st.FinishedAt != nil {
		metrics.PlanDuration.WithLabelValues(framework, plan, result).Observe(st.FinishedAt.Sub(st.StartedAt.Time).Seconds())
	}
}
