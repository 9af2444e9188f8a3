package framework

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"operetta.dev/operetta/api/v1alpha1"
)

// ReasonRollingOut is the Reconciling reason of a Framework whose current
// generation has not reached every instance yet.
const ReasonRollingOut = "RollingOut"

// A Framework's conditions are read by kstatus, and through it by Flux,
// `kubectl wait` and the Argo CD health check: Ready says whether its kind is
// served for the current generation; Reconciling is present while operetta
// works towards that or rolls it out (installing, waiting for the CRD,
// rolling out, deleting); Stalled is present while only a change of the
// Framework can help. Reconciling and Stalled exist only while true.

// serving records that the current generation is installed and its loop
// runs; whether it is rolling out decides Reconciling.
func serving(fw *v1alpha1.Framework, msg string, rollingOut bool) {
	setCondition(fw, v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonServing, msg)
	meta.RemoveStatusCondition(&fw.Status.Conditions, v1alpha1.ConditionStalled)
	rolloutCondition(fw, rollingOut)
}

// working records that the current generation is on its way: the next event
// moves it on, without a change of the Framework.
func working(fw *v1alpha1.Framework, reason, msg string) {
	setCondition(fw, v1alpha1.ConditionReady, metav1.ConditionFalse, reason, msg)
	setCondition(fw, v1alpha1.ConditionReconciling, metav1.ConditionTrue, reason, msg)
	meta.RemoveStatusCondition(&fw.Status.Conditions, v1alpha1.ConditionStalled)
}

// refused records that the current generation cannot be installed as it is:
// it is invalid, conflicts with another owner or would break instances. The
// previous generation, if any, keeps running.
func refused(fw *v1alpha1.Framework, reason, msg string) {
	setCondition(fw, v1alpha1.ConditionReady, metav1.ConditionFalse, reason, msg)
	setCondition(fw, v1alpha1.ConditionStalled, metav1.ConditionTrue, reason, msg)
	meta.RemoveStatusCondition(&fw.Status.Conditions, v1alpha1.ConditionReconciling)
}

// rolloutCondition sets Reconciling on a serving Framework while its
// current generation has not reached every instance: some stand on an older
// one, or are being moved to it. Instances being created or updated for
// their own reasons are no rollout, so they never make the Framework read as
// in progress.
func rolloutCondition(fw *v1alpha1.Framework, rollingOut bool) {
	ready := meta.FindStatusCondition(fw.Status.Conditions, v1alpha1.ConditionReady)
	if ready == nil || ready.Status != metav1.ConditionTrue {
		return
	}
	if !rollingOut {
		meta.RemoveStatusCondition(&fw.Status.Conditions, v1alpha1.ConditionReconciling)
		return
	}
	// The counts are in status.rollout; a message without them does not
	// change with every instance.
	setCondition(fw, v1alpha1.ConditionReconciling, metav1.ConditionTrue, ReasonRollingOut,
		fmt.Sprintf("generation %d is rolling out to the instances; status.rollout counts them", fw.Generation))
}

func setCondition(fw *v1alpha1.Framework, t string, status metav1.ConditionStatus, reason, msg string) {
	fw.Status.ObservedGeneration = fw.Generation
	meta.SetStatusCondition(&fw.Status.Conditions, metav1.Condition{
		Type: t, Status: status, Reason: reason, Message: msg, ObservedGeneration: fw.Generation,
	})
}

// readyNow says whether fw's status reports its current generation Ready:
// installed and served, as the manager that runs it saw.
func readyNow(fw *v1alpha1.Framework) bool {
	c := meta.FindStatusCondition(fw.Status.Conditions, v1alpha1.ConditionReady)
	return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == fw.Generation
}
