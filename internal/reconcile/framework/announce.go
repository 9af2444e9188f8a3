package framework

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/conditions"
)

// Event reasons on Frameworks, beside the Stalled reasons (the compile
// reasons, CRDConflict, BreakingChange, ...), which a refused generation is
// announced with.
const (
	EventInstalled       = "Installed"
	EventRolloutStarted  = "RolloutStarted"
	EventRolloutComplete = "RolloutComplete"
	EventDeletionBlocked = "DeletionBlocked"
	EventUserRolesFailed = "UserRolesFailed"
)

// announce emits an event for each transition between the status this
// manager wrote last (else the one that was read) and the one it just wrote:
// a generation installed, refused, rolling out, rolled out, a deletion that
// waits. It compares conditions by reason and generation, not message, so
// each transition is told once.
func (r *Reconciler) announce(fw *v1alpha1.Framework, read, now v1alpha1.FrameworkStatus, deletionBlocked bool) {
	old := read
	if last, ok := r.announced.Load(fw.Name); ok {
		old.Conditions = last.([]metav1.Condition)
	}
	r.announced.Store(fw.Name, now.Conditions)
	if r.Recorder != nil {
		emitEvents(r.Recorder, fw, old, now, deletionBlocked)
	}
}

// emitEvents records the events a change of fw's conditions calls for,
// chosen by their typed reasons.
func emitEvents(rec recorder.EventRecorder, fw *v1alpha1.Framework, old, now v1alpha1.FrameworkStatus, deletionBlocked bool) {
	changed := func(t string) (*metav1.Condition, bool) {
		before := meta.FindStatusCondition(old.Conditions, t)
		after := meta.FindStatusCondition(now.Conditions, t)
		if after == nil || after.Status != metav1.ConditionTrue {
			return nil, false
		}
		return after, before == nil || before.Status != metav1.ConditionTrue ||
			before.Reason != after.Reason || before.ObservedGeneration != after.ObservedGeneration
	}
	if ready, ok := changed(v1alpha1.ConditionReady); ok {
		rec.Eventf(fw, nil, corev1.EventTypeNormal, EventInstalled, "Install", "generation %d installed: %s", fw.Generation, ready.Message)
	}
	// A refusal's event has its Stalled reason: the vocabulary is one.
	if stalled, ok := changed(v1alpha1.ConditionStalled); ok {
		if conditions.Reason(stalled.Reason) == conditions.RolloutHalted {
			rec.Eventf(fw, nil, corev1.EventTypeWarning, stalled.Reason, "Rollout", "%s", stalled.Message)
		} else {
			rec.Eventf(fw, nil, corev1.EventTypeWarning, stalled.Reason, "Install", "generation %d refused: %s", fw.Generation, stalled.Message)
		}
	}
	if reconciling, ok := changed(v1alpha1.ConditionReconciling); ok {
		switch conditions.Reason(reconciling.Reason) {
		case conditions.RollingOut:
			rec.Eventf(fw, nil, corev1.EventTypeNormal, EventRolloutStarted, "Rollout", "generation %d is rolling out to %s", fw.Generation, instances(now.Rollout))
		case conditions.Deleting:
			if deletionBlocked {
				rec.Eventf(fw, nil, corev1.EventTypeWarning, EventDeletionBlocked, "Delete", "%s", reconciling.Message)
			}
		}
	}
	if rolledOut(old, now) {
		rec.Eventf(fw, nil, corev1.EventTypeNormal, EventRolloutComplete, "Rollout", "generation %d reached %s", fw.Generation, instances(now.Rollout))
	}
}

// rolledOut says whether a rollout ended between old and now with the
// Framework serving.
func rolledOut(old, now v1alpha1.FrameworkStatus) bool {
	before := meta.FindStatusCondition(old.Conditions, v1alpha1.ConditionReconciling)
	return before != nil && conditions.Reason(before.Reason) == conditions.RollingOut &&
		meta.FindStatusCondition(now.Conditions, v1alpha1.ConditionReconciling) == nil &&
		meta.IsStatusConditionTrue(now.Conditions, v1alpha1.ConditionReady)
}

func instances(ro *v1alpha1.RolloutStatus) string {
	if ro == nil {
		return "its instances"
	}
	s := fmt.Sprintf("%d instances", ro.Total)
	if ro.Updated+ro.Failed == ro.Total {
		s += fmt.Sprintf(" (%d updated, %d failed)", ro.Updated, ro.Failed)
	}
	return s
}
