package plans

import (
	"testing"

	"operetta.dev/operetta/api/v1alpha1"
)

func TestTriggered(t *testing.T) {
	deployed := v1alpha1.InstanceStatus{Plans: map[string]v1alpha1.PlanStatus{"deploy": {Status: v1alpha1.Complete}}}
	onlyDeploy := map[string]v1alpha1.Plan{"deploy": {}}
	withUpdate := map[string]v1alpha1.Plan{"deploy": {}, "update": {}}
	tests := []struct {
		name  string
		plans map[string]v1alpha1.Plan
		obs   Observed
		want  string
	}{
		{"a new instance deploys", onlyDeploy, Observed{Generation: 1}, "deploy"},
		{"nothing changed", withUpdate, Observed{Generation: 2, ObservedGeneration: 2, Status: deployed}, ""},
		{"a spec change runs update", withUpdate, Observed{Generation: 3, ObservedGeneration: 2, Status: deployed}, "update"},
		{"a spec change without update deploys", onlyDeploy, Observed{Generation: 3, ObservedGeneration: 2, Status: deployed}, "deploy"},
	}
	for _, tt := range tests {
		if got := Triggered(tt.plans, tt.obs); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

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
