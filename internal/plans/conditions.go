package plans

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"operetta.dev/operetta/api/v1alpha1"
)

// Condition reasons on instances.
const (
	ReasonSucceeded   = "Succeeded"
	ReasonProgressing = "Progressing"
	ReasonRetrying    = "Retrying"
	ReasonFailed      = "Failed"
	// ReasonChildNotReady: the plans are done, and a child is not healthy
	// now (a StatefulSet lost replicas, say).
	ReasonChildNotReady = "ChildNotReady"
	// ReasonChildFailed: the plans are done, and a child failed for good.
	ReasonChildFailed = "ChildFailed"
)

// ChildHealth is what the children of an instance whose plans are done show
// now: each child that is not healthy, and each that failed for good,
// described with its kind and name.
type ChildHealth struct {
	NotReady, Failed []string
}

// SetConditions derives Ready, Reconciling and Stalled from the active plan
// and, once it is complete, from the children's health, the way kstatus
// reads them: Reconciling and Stalled are present only while true. Messages
// depend only on the status and on which children are unhealthy, never on
// how far they got, so they do not flap.
func SetConditions(st *v1alpha1.InstanceStatus, generation int64, children ChildHealth) {
	plan := st.Plans[st.ActivePlan]
	set := func(t string, s metav1.ConditionStatus, reason, msg string) {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{
			Type: t, Status: s, Reason: reason, Message: msg, ObservedGeneration: generation,
		})
	}
	what := fmt.Sprintf("plan %s", st.ActivePlan)
	detail := func(state string) string {
		if plan.Message == "" {
			return what + " " + state
		}
		return what + " " + state + ": " + plan.Message
	}
	switch plan.Status {
	case v1alpha1.Complete:
		if len(children.Failed) > 0 {
			msg := what + " is complete, but a child failed: " + strings.Join(children.Failed, "; ")
			if len(children.NotReady) > 0 {
				msg += "; not ready: " + strings.Join(children.NotReady, "; ")
			}
			set(v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonChildFailed, msg)
			set(v1alpha1.ConditionStalled, metav1.ConditionTrue, ReasonChildFailed, msg)
			meta.RemoveStatusCondition(&st.Conditions, v1alpha1.ConditionReconciling)
			return
		}
		if len(children.NotReady) > 0 {
			msg := what + " is complete, but not every child is ready: " + strings.Join(children.NotReady, "; ")
			set(v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonChildNotReady, msg)
			set(v1alpha1.ConditionReconciling, metav1.ConditionTrue, ReasonChildNotReady, msg)
			meta.RemoveStatusCondition(&st.Conditions, v1alpha1.ConditionStalled)
			return
		}
		set(v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonSucceeded, what+" is complete")
		meta.RemoveStatusCondition(&st.Conditions, v1alpha1.ConditionReconciling)
		meta.RemoveStatusCondition(&st.Conditions, v1alpha1.ConditionStalled)
	case v1alpha1.FatalError:
		msg := detail("failed")
		if st.ActivePlan == v1alpha1.PlanCleanup {
			msg += "; to delete the instance without cleanup, annotate it " + v1alpha1.AnnotationSkipCleanup + `="true"`
		}
		set(v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonFailed, msg)
		set(v1alpha1.ConditionStalled, metav1.ConditionTrue, ReasonFailed, msg)
		meta.RemoveStatusCondition(&st.Conditions, v1alpha1.ConditionReconciling)
	case v1alpha1.Error:
		set(v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonRetrying, detail("is retrying"))
		set(v1alpha1.ConditionReconciling, metav1.ConditionTrue, ReasonRetrying, detail("is retrying"))
		meta.RemoveStatusCondition(&st.Conditions, v1alpha1.ConditionStalled)
	default:
		set(v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonProgressing, detail("is in progress"))
		set(v1alpha1.ConditionReconciling, metav1.ConditionTrue, ReasonProgressing, detail("is in progress"))
		meta.RemoveStatusCondition(&st.Conditions, v1alpha1.ConditionStalled)
	}
}
