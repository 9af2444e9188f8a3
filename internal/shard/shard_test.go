package shard

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"operetta.dev/operetta/api/v1alpha1"
)

func TestSelectors(t *testing.T) {
	managed := labels.Set{v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue}
	inA := labels.Merge(managed, labels.Set{v1alpha1.LabelShard: "a"})
	inB := labels.Merge(managed, labels.Set{v1alpha1.LabelShard: "b"})
	tests := []struct {
		name  string
		shard string
		set   labels.Set
		fw    bool // a Framework with these labels is the shard's
		child bool // a child with these labels is the shard's
	}{
		{"unlabelled, default shard", "", managed, true, true},
		{"unlabelled, shard a", "a", managed, false, false},
		{"labelled a, shard a", "a", inA, true, true},
		{"labelled b, shard a", "a", inB, false, false},
		{"labelled a, default shard", "", inA, false, false},
		{"not operetta's child", "a", labels.Set{v1alpha1.LabelShard: "a"}, true, false},
	}
	for _, tt := range tests {
		fw := &metav1.ObjectMeta{Labels: tt.set}
		if got := Owns(tt.shard, fw); got != tt.fw {
			t.Errorf("%s: Framework selected %v, want %v", tt.name, got, tt.fw)
		}
		if got := Children(tt.shard).Matches(tt.set); got != tt.child {
			t.Errorf("%s: child selected %v, want %v", tt.name, got, tt.child)
		}
	}
}

func TestValidateAndNames(t *testing.T) {
	if err := Validate("Team_A"); err == nil {
		t.Error("Team_A accepted")
	}
	for _, ok := range []string{"", "team-a", "s1"} {
		if err := Validate(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	if LeaderElectionID("") != "operetta.dev" || LeaderElectionID("a") != "operetta.dev-a" {
		t.Errorf("lease names %q %q", LeaderElectionID(""), LeaderElectionID("a"))
	}
}
