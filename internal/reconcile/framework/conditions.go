package framework

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/conditions"
	"operetta.dev/operetta/internal/reconcile/instance"
)

// A Framework's conditions are read by kstatus, and through it by Flux,
// `kubectl wait` and the Argo CD health check: Ready says whether its kind is
// served for the current generation; Reconciling is present while operetta
// works towards that or rolls it out (installing, waiting for the CRD,
// rolling out, deleting); Stalled is present while only a change of the
// Framework can help. Reconciling and Stalled exist only while true.

// serving records that the current generation is installed and its loop
// runs; whether it is rolling out decides Reconciling.
func serving(fw *v1alpha1.Framework, msg string, rollingOut bool) {
	// Ready drops Reconciling, which rolloutCondition puts back: a rollout
	// that goes on keeps the time it started.
	var was metav1.Condition
	if c := meta.FindStatusCondition(fw.Status.Conditions, v1alpha1.ConditionReconciling); c != nil {
		was = *c
	}
	set(fw, conditions.Ready, conditions.Serving, msg)
	rolloutCondition(fw, rollingOut)
	if c := meta.FindStatusCondition(fw.Status.Conditions, v1alpha1.ConditionReconciling); c != nil && c.Status == was.Status {
		c.LastTransitionTime = was.LastTransitionTime
	}
}

// working records that the current generation is on its way: the next event
// moves it on, without a change of the Framework.
func working(fw *v1alpha1.Framework, reason conditions.Reason, msg string) {
	set(fw, conditions.Working, reason, msg)
}

// refused records that the current generation cannot be installed as it is:
// it is invalid, conflicts with another owner or would break instances. The
// previous generation, if any, keeps running.
func refused(fw *v1alpha1.Framework, reason conditions.Reason, msg string) {
	set(fw, conditions.Stalled, reason, msg)
}

func set(fw *v1alpha1.Framework, state conditions.State, reason conditions.Reason, msg string) {
	fw.Status.ObservedGeneration = fw.Generation
	conditions.Set(&fw.Status.Conditions, fw.Generation, state, reason, msg)
}

// rolloutCondition sets Reconciling on a serving Framework while its
// current generation has not reached every instance: some stand on an older
// one, or are being moved to it. Instances being created or updated for
// their own reasons are no rollout, so they never make the Framework read as
// in progress.
func rolloutCondition(fw *v1alpha1.Framework, rollingOut bool) {
	if !conditions.ReadyAt(fw.Status.Conditions, fw.Generation) {
		return
	}
	// The counts are in status.rollout; a message without them does not
	// change with every instance.
	conditions.SetReconciling(&fw.Status.Conditions, fw.Generation, rollingOut, conditions.RollingOut,
		fmt.Sprintf("generation %d is rolling out to the instances; status.rollout counts them", fw.Generation))
}

// rollingOutNow says whether fw's status says a rollout goes on.
func rollingOutNow(fw *v1alpha1.Framework) bool {
	c := meta.FindStatusCondition(fw.Status.Conditions, v1alpha1.ConditionReconciling)
	return c != nil && c.Status == metav1.ConditionTrue && c.Reason == string(conditions.RollingOut)
}

// rolloutGates tells, beside a serving Ready, what the rollout's gates do:
// a paused rollout keeps Reconciling with its own reason; a halted one sets
// Stalled, naming the instances that failed, until the Framework changes.
func rolloutGates(fw *v1alpha1.Framework, report instance.Report) {
	if !readyNow(fw) {
		return
	}
	if report.Paused && !report.Halted {
		conditions.SetReconciling(&fw.Status.Conditions, fw.Generation, true, conditions.RolloutPaused,
			fmt.Sprintf("spec.rollout.paused holds revision %d from the instances not on it yet; status.rollout counts them", report.Rollout.Generation))
	}
	msg := ""
	switch {
	case report.Halted && report.Late && fw.Spec.Rollout.ProgressDeadline != nil:
		msg = fmt.Sprintf("the rollout of revision %d halted: instances admitted to it did not reach it within spec.rollout.progressDeadline (%s): %s; "+
			"no other instance is admitted until the Framework changes (a fix, or kubectl operetta rollout undo)",
			report.Rollout.Generation, fw.Spec.Rollout.ProgressDeadline.Duration, strings.Join(report.Working, ", "))
	case report.Halted:
		msg = fmt.Sprintf("the rollout of revision %d halted: as many instances failed on it as spec.rollout.maxFailures allows (%d: %s); "+
			"no other instance is admitted until the Framework changes (a fix, or kubectl operetta rollout undo)",
			report.Rollout.Generation, report.Rollout.Failed, strings.Join(report.Failed, ", "))
	}
	conditions.SetStalled(&fw.Status.Conditions, fw.Generation, report.Halted, conditions.RolloutHalted, msg)
}

// readyNow says whether fw's status reports its current generation Ready:
// installed and served, as the manager that runs it saw.
func readyNow(fw *v1alpha1.Framework) bool {
	return conditions.ReadyAt(fw.Status.Conditions, fw.Generation)
}
