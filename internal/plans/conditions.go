package plans

import (
	"fmt"

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
)

// SetConditions derives Ready, Reconciling and Stalled from the active plan,
// the way kstatus reads them: Reconciling and Stalled are present only while
// true. Messages depend only on the status, so they never flap.
func SetConditions(st *v1alpha1.InstanceStatus, generation int64) {
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
