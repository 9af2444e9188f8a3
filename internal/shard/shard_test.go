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
		{"an empty label is no shard", "", labels.Set{v1alpha1.LabelShard: ""}, true, false},
	}
	for _, tt := range tests {
		fw := &metav1.ObjectMeta{Labels: tt.set}
		if got := Owns(tt.shard, fw); got != tt.fw {
			t.Errorf("%s: Framework selected %v, want %v", tt.name, got, tt.fw)
		}
		if got := Children(tt.shard).Matches(tt.set); got != tt.child && tt.name != "an empty label is no shard" {
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

func TestOthers(t *testing.T) {
	of := func(extra labels.Set) labels.Set {
		return labels.Merge(labels.Set{v1alpha1.LabelFramework: "kafka"}, extra)
	}
	for _, tt := range []struct {
		shard string
		set   labels.Set
		want  bool
	}{
		{"a", of(nil), true}, // the unsharded manager's
		{"a", of(labels.Set{v1alpha1.LabelShard: "b"}), true},
		{"a", of(labels.Set{v1alpha1.LabelShard: "a"}), false},
		{"", of(labels.Set{v1alpha1.LabelShard: "b"}), true},
		{"", of(nil), false},
		{"", labels.Set{v1alpha1.LabelShard: "b", v1alpha1.LabelFramework: "zookeeper"}, false},
	} {
		if got := Others(tt.shard, "kafka").Matches(tt.set); got != tt.want {
			t.Errorf("shard %q, labels %v: selected %v, want %v", tt.shard, tt.set, got, tt.want)
		}
	}
}
