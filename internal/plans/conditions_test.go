package plans

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/conditions"
)

func TestSetConditions(t *testing.T) {
	notReady := ChildHealth{NotReady: []string{"StatefulSet zk: not ready yet (InProgress)"}}
	failed := ChildHealth{Failed: []string{"Job backup failed: BackoffLimitExceeded"}, NotReady: notReady.NotReady}
	tests := []struct {
		status               v1alpha1.ExecutionStatus
		children             ChildHealth
		ready                string
		reason               conditions.Reason
		reconciling, stalled bool
	}{
		{v1alpha1.InProgress, ChildHealth{}, "False", conditions.Progressing, true, false},
		{v1alpha1.Error, ChildHealth{}, "False", conditions.Retrying, true, false},
		{v1alpha1.FatalError, ChildHealth{}, "False", conditions.Failed, false, true},
		{v1alpha1.Complete, ChildHealth{}, "True", conditions.Succeeded, false, false},
		// Once the plans are done, readiness follows the children.
		{v1alpha1.Complete, notReady, "False", conditions.ChildNotReady, true, false},
		{v1alpha1.Complete, failed, "False", conditions.ChildFailed, false, true},
		{v1alpha1.Complete, ChildHealth{}, "True", conditions.Succeeded, false, false},
		// A plan that runs says so, whatever the children show.
		{v1alpha1.InProgress, notReady, "False", conditions.Progressing, true, false},
	}
	st := v1alpha1.InstanceStatus{ActivePlan: "deploy", Plans: map[string]v1alpha1.PlanStatus{}}
	for _, tt := range tests {
		st.Plans["deploy"] = v1alpha1.PlanStatus{Status: tt.status, Message: "m"}
		SetConditions(&st, 7, tt.children)
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
			t.Errorf("%s %v: conditions %v", tt.status, tt.children, got)
		}
		ready := meta.FindStatusCondition(st.Conditions, "Ready")
		if ready.Reason != string(tt.reason) {
			t.Errorf("%s %v: Ready reason %s, want %s", tt.status, tt.children, ready.Reason, tt.reason)
		}
		for _, child := range append(tt.children.Failed, tt.children.NotReady...) {
			if tt.status == v1alpha1.Complete && !strings.Contains(ready.Message, strings.SplitN(child, ":", 2)[0]) {
				t.Errorf("%s %v: Ready message %q does not name %q", tt.status, tt.children, ready.Message, child)
			}
		}
	}
}
