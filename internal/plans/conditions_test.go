package plans

import (
	"testing"

	"operetta.dev/operetta/api/v1alpha1"
)

func TestSetConditions(t *testing.T) {
	tests := []struct {
		status               v1alpha1.ExecutionStatus
		ready                string
		reconciling, stalled bool
	}{
		{v1alpha1.InProgress, "False", true, false},
		{v1alpha1.Error, "False", true, false},
		{v1alpha1.FatalError, "False", false, true},
		{v1alpha1.Complete, "True", false, false},
	}
	st := v1alpha1.InstanceStatus{ActivePlan: "deploy", Plans: map[string]v1alpha1.PlanStatus{}}
	for _, tt := range tests {
		st.Plans["deploy"] = v1alpha1.PlanStatus{Status: tt.status, Message: "m"}
		SetConditions(&st, 7)
		got := map[string]string{}
		for _, c := range st.Conditions {
			got[c.Type] = string(c.Status)
			if c.ObservedGeneration != 7 {
				t.Errorf("%s: %s has observedGeneration %d", tt.status, c.Type, c.ObservedGeneration)
			}
		}
		_, reconciling := got["Reconciling"]
		_, stalled := got["Stalled"]
		if got["Ready"] != tt.ready || reconciling != tt.reconciling || stalled != tt.stalled {
			t.Errorf("%s: conditions %v", tt.status, got)
		}
	}
}
