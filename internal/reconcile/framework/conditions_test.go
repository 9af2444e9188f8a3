package framework

import (
	"reflect"
	"strconv"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/conditions"
)

// conds sums up a Framework's conditions as "Type=Status/Reason@generation",
// in the order Ready, Reconciling, Stalled; a missing one is left out.
func conds(fw *v1alpha1.Framework) []string {
	var out []string
	for _, t := range []string{v1alpha1.ConditionReady, v1alpha1.ConditionReconciling, v1alpha1.ConditionStalled} {
		if c := meta.FindStatusCondition(fw.Status.Conditions, t); c != nil {
			out = append(out, t+"="+string(c.Status)+"/"+c.Reason+"@"+strconv.FormatInt(c.ObservedGeneration, 10))
		}
	}
	return out
}

func TestAFrameworksConditionsSayWhereItStandsAsKstatusReadsThem(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*v1alpha1.Framework)
		want []string
	}{
		{"serving", func(fw *v1alpha1.Framework) { serving(fw, "served", false) },
			[]string{"Ready=True/Serving@3"}},
		{"serving, rolling out", func(fw *v1alpha1.Framework) { serving(fw, "served", true) },
			[]string{"Ready=True/Serving@3", "Reconciling=True/RollingOut@3"}},
		{"waiting for its CRD", func(fw *v1alpha1.Framework) { working(fw, conditions.WaitingForCRD, "waiting") },
			[]string{"Ready=False/WaitingForCRD@3", "Reconciling=True/WaitingForCRD@3"}},
		{"refused", func(fw *v1alpha1.Framework) { refused(fw, conditions.CRDConflict, "not ours") },
			[]string{"Ready=False/CRDConflict@3", "Stalled=True/CRDConflict@3"}},
		{"refused, then fixed", func(fw *v1alpha1.Framework) {
			refused(fw, conditions.InvalidFramework, "bad")
			serving(fw, "served", false)
		}, []string{"Ready=True/Serving@3"}},
		{"rolling out, then waiting", func(fw *v1alpha1.Framework) {
			serving(fw, "served", true)
			working(fw, conditions.Deleting, "waiting for instances")
		}, []string{"Ready=False/Deleting@3", "Reconciling=True/Deleting@3"}},
		// Reconciling of a rollout is for a Framework that serves.
		{"a rollout while refused", func(fw *v1alpha1.Framework) {
			refused(fw, conditions.BreakingChange, "would break")
			rolloutCondition(fw, true)
		}, []string{"Ready=False/BreakingChange@3", "Stalled=True/BreakingChange@3"}},
		{"the rollout ends", func(fw *v1alpha1.Framework) {
			serving(fw, "served", true)
			rolloutCondition(fw, false)
		}, []string{"Ready=True/Serving@3"}},
	} {
		fw := greeters()
		fw.Generation = 3
		tc.set(fw)
		if got := conds(fw); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
		if fw.Status.ObservedGeneration != 3 {
			t.Errorf("%s: observedGeneration %d, want 3", tc.name, fw.Status.ObservedGeneration)
		}
	}
}

func TestAFrameworksConditionsDoNotFlap(t *testing.T) {
	fw := greeters()
	serving(fw, "served", true)
	fw.Status.Rollout = &v1alpha1.RolloutStatus{Generation: 1, Total: 10, Updated: 1}
	// Set long ago: a condition written anew would have its time now.
	for i := range fw.Status.Conditions {
		fw.Status.Conditions[i].LastTransitionTime = metav1.NewTime(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	}
	before := fw.Status.DeepCopy()
	// Later reconciles of the same rollout, with more instances updated.
	for updated := int32(2); updated < 10; updated++ {
		fw.Status.Rollout.Updated = updated
		serving(fw, "served", true)
		rolloutCondition(fw, true)
	}
	if !reflect.DeepEqual(before.Conditions, fw.Status.Conditions) {
		t.Fatalf("conditions changed while the rollout went on:\nbefore %+v\n after %+v", before.Conditions, fw.Status.Conditions)
	}
}

func TestReadyNowIsReadyForTheCurrentGeneration(t *testing.T) {
	fw := greeters()
	if readyNow(fw) {
		t.Fatal("a Framework without conditions reads as Ready")
	}
	serving(fw, "served", false)
	if !readyNow(fw) {
		t.Fatal("a serving Framework does not read as Ready")
	}
	fw.Generation++ // edited: that generation is not installed yet
	if readyNow(fw) {
		t.Fatal("an older generation's Ready reads as the current one's")
	}
}
