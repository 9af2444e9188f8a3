package conditions

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"operetta.dev/operetta/api/v1alpha1"
)

func TestSetWritesTheTripleAsKstatusReadsIt(t *testing.T) {
	var conds []metav1.Condition
	for _, tt := range []struct {
		state                State
		ready                metav1.ConditionStatus
		reconciling, stalled bool
	}{
		{Working, metav1.ConditionFalse, true, false},
		{Stalled, metav1.ConditionFalse, false, true},
		{Ready, metav1.ConditionTrue, false, false},
		{Working, metav1.ConditionFalse, true, false},
	} {
		Set(&conds, 3, tt.state, Progressing, "m")
		ready := meta.FindStatusCondition(conds, v1alpha1.ConditionReady)
		reconciling := meta.FindStatusCondition(conds, v1alpha1.ConditionReconciling)
		stalled := meta.FindStatusCondition(conds, v1alpha1.ConditionStalled)
		if ready == nil || ready.Status != tt.ready || ready.Reason != "Progressing" || ready.ObservedGeneration != 3 ||
			(reconciling != nil) != tt.reconciling || (stalled != nil) != tt.stalled {
			t.Fatalf("state %d: conditions %+v", tt.state, conds)
		}
		for _, c := range conds {
			if c.Type != v1alpha1.ConditionReady && c.Status != metav1.ConditionTrue {
				t.Fatalf("state %d: %s is present while %s", tt.state, c.Type, c.Status)
			}
		}
	}
	// The same state again keeps its transition time: nothing flaps.
	Set(&conds, 3, Working, Progressing, "m")
	before := meta.FindStatusCondition(conds, v1alpha1.ConditionReady).LastTransitionTime
	time.Sleep(time.Millisecond)
	Set(&conds, 3, Working, Retrying, "other")
	if got := meta.FindStatusCondition(conds, v1alpha1.ConditionReady).LastTransitionTime; !got.Equal(&before) {
		t.Fatalf("Ready moved from %v to %v without changing status", before, got)
	}
}

func TestReadyAtTheGenerationOnly(t *testing.T) {
	var conds []metav1.Condition
	if ReadyAt(conds, 1) {
		t.Fatal("no condition reads as Ready")
	}
	Set(&conds, 1, Ready, Succeeded, "done")
	if !ReadyAt(conds, 1) || ReadyAt(conds, 2) {
		t.Fatalf("Ready at 1: %v, at 2: %v; want true, false", ReadyAt(conds, 1), ReadyAt(conds, 2))
	}
	Set(&conds, 2, Working, Progressing, "again")
	if ReadyAt(conds, 2) {
		t.Fatal("Working reads as Ready")
	}
	if IsReady(&metav1.Condition{Type: v1alpha1.ConditionStalled, Status: metav1.ConditionTrue, ObservedGeneration: 2}, 2) {
		t.Fatal("a Stalled condition reads as Ready")
	}
}
