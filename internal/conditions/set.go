package conditions

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"operetta.dev/operetta/api/v1alpha1"
)

// State is where an object stands, as kstatus reads it.
type State int

const (
	// Ready: Ready True; Reconciling and Stalled absent.
	Ready State = iota
	// Working: Ready False, Reconciling True: the next event moves it on.
	Working
	// Stalled: Ready False, Stalled True: it waits for a person.
	Stalled
)

// Set writes Ready, Reconciling and Stalled for state, with reason and msg,
// observed at generation. Reconciling and Stalled are present only while
// true, as kstatus reads them; a condition that does not change keeps its
// transition time.
func Set(conds *[]metav1.Condition, generation int64, state State, reason Reason, msg string) {
	ready, flag, clear := metav1.ConditionFalse, "", ""
	switch state {
	case Ready:
		ready = metav1.ConditionTrue
		meta.RemoveStatusCondition(conds, v1alpha1.ConditionReconciling)
		meta.RemoveStatusCondition(conds, v1alpha1.ConditionStalled)
	case Working:
		flag, clear = v1alpha1.ConditionReconciling, v1alpha1.ConditionStalled
	case Stalled:
		flag, clear = v1alpha1.ConditionStalled, v1alpha1.ConditionReconciling
	}
	put(conds, generation, v1alpha1.ConditionReady, ready, reason, msg)
	if flag != "" {
		put(conds, generation, flag, metav1.ConditionTrue, reason, msg)
		meta.RemoveStatusCondition(conds, clear)
	}
}

// SetReconciling sets (or, with on false, removes) Reconciling alone: a
// Ready object that still works towards something (a rollout) reads as in
// progress without being any less Ready.
func SetReconciling(conds *[]metav1.Condition, generation int64, on bool, reason Reason, msg string) {
	if !on {
		meta.RemoveStatusCondition(conds, v1alpha1.ConditionReconciling)
		return
	}
	put(conds, generation, v1alpha1.ConditionReconciling, metav1.ConditionTrue, reason, msg)
}

// SetStalled sets (or, with on false, removes) Stalled alone, with reason:
// a Ready object that something keeps from going on (a halted rollout)
// reads as failed without being any less Ready. Reconciling goes with it.
func SetStalled(conds *[]metav1.Condition, generation int64, on bool, reason Reason, msg string) {
	if !on {
		if c := meta.FindStatusCondition(*conds, v1alpha1.ConditionStalled); c != nil && c.Reason == string(reason) {
			meta.RemoveStatusCondition(conds, v1alpha1.ConditionStalled)
		}
		return
	}
	put(conds, generation, v1alpha1.ConditionStalled, metav1.ConditionTrue, reason, msg)
	meta.RemoveStatusCondition(conds, v1alpha1.ConditionReconciling)
}

// SetPaused sets Paused True, for a held instance, and takes Reconciling
// away: a person took it out of the loop's hands, and tools that wait for
// it to settle (kstatus, Flux) must not wait on it; Ready and Stalled keep
// what they said. With on false it removes Paused.
func SetPaused(conds *[]metav1.Condition, generation int64, on bool, msg string) {
	if !on {
		meta.RemoveStatusCondition(conds, v1alpha1.ConditionPaused)
		return
	}
	put(conds, generation, v1alpha1.ConditionPaused, metav1.ConditionTrue, Held, msg)
	meta.RemoveStatusCondition(conds, v1alpha1.ConditionReconciling)
}

func put(conds *[]metav1.Condition, generation int64, t string, s metav1.ConditionStatus, reason Reason, msg string) {
	meta.SetStatusCondition(conds, metav1.Condition{
		Type: t, Status: s, Reason: string(reason), Message: msg, ObservedGeneration: generation,
	})
}

// IsReady says whether c, a Ready condition, reports generation ready: True,
// and observed at that generation (an older generation's Ready says nothing
// of the current one).
func IsReady(c *metav1.Condition, generation int64) bool {
	return c != nil && c.Type == v1alpha1.ConditionReady && c.Status == metav1.ConditionTrue && c.ObservedGeneration == generation
}

// ReadyAt says whether conds report generation Ready (see IsReady).
func ReadyAt(conds []metav1.Condition, generation int64) bool {
	return IsReady(meta.FindStatusCondition(conds, v1alpha1.ConditionReady), generation)
}
