package revisions

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"operetta.dev/operetta/api/v1alpha1"
)

func TestDecide(t *testing.T) {
	// Revisions 5 (spec c), 3 (spec b) and 1 (spec a), newest first.
	kept := []Kept{{N: 5, Hash: "c"}, {N: 3, Hash: "b"}, {N: 1, Hash: "a"}}
	for _, tc := range []struct {
		name         string
		kept         []Kept
		generation   int64
		hash         string
		want         RunsAs
		wantRecorded bool
	}{
		{"the first generation is a new revision", nil, 1, "a", RunsAs{N: 1, Hash: "a"}, false},
		{"a recorded generation is its revision", kept, 3, "whatever", RunsAs{N: 3}, true},
		{"the latest spec again runs as the latest revision", kept, 6, "c", RunsAs{N: 5}, true},
		{"a new spec is a new revision", kept, 6, "d", RunsAs{N: 6, Hash: "d"}, false},
		{"an older spec again goes back to it", kept, 6, "b", RunsAs{N: 6, Hash: "b", ReturnsTo: 3}, false},
		{"the oldest spec again goes back to it", kept, 6, "a", RunsAs{N: 6, Hash: "a", ReturnsTo: 1}, false},
		{"a revision going back keeps saying so", []Kept{{N: 6, Hash: "a", ReturnsTo: 1}, {N: 5, Hash: "c"}}, 7, "a", RunsAs{N: 6, ReturnsTo: 1}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, recorded := Decide(tc.kept, tc.generation, tc.hash)
			if got != tc.want || recorded != tc.wantRecorded {
				t.Errorf("Decide(gen %d, %q) = %+v, recorded %t; want %+v, recorded %t", tc.generation, tc.hash, got, recorded, tc.want, tc.wantRecorded)
			}
		})
	}
}

func TestOfReadsAnnotationsNewestFirst(t *testing.T) {
	meta := func(name, hash, back string) metav1.PartialObjectMetadata {
		m := metav1.PartialObjectMetadata{}
		m.Name = name
		m.Annotations = map[string]string{v1alpha1.AnnotationSpecHash: hash}
		if back != "" {
			m.Annotations[v1alpha1.AnnotationReturnsTo] = back
		}
		return m
	}
	got := Of("zk", []metav1.PartialObjectMetadata{meta("zk-1", "a", ""), meta("zk-12", "a", "1"), meta("other-3", "x", ""), meta("zk-2", "b", "")})
	if len(got) != 3 {
		t.Fatalf("Of kept %d revisions, want zk-12, zk-2 and zk-1: %+v", len(got), got)
	}
	for i, want := range []Kept{{N: 12, Hash: "a", ReturnsTo: 1}, {N: 2, Hash: "b"}, {N: 1, Hash: "a"}} {
		if got[i].N != want.N || got[i].Hash != want.Hash || got[i].ReturnsTo != want.ReturnsTo {
			t.Errorf("revision %d = %+v, want %+v", i, got[i], want)
		}
	}
}

func TestSpecHashIgnoresWhatDoesNotReachInstances(t *testing.T) {
	spec := v1alpha1.FrameworkSpec{AppVersion: "3.8"}
	paused := *spec.DeepCopy()
	paused.Rollout.Paused = true
	paused.DeletionPolicy = "Orphan"
	if SpecHash(spec) != SpecHash(paused) {
		t.Error("a rollout or deletion policy change changed the spec hash")
	}
	upgraded := *spec.DeepCopy()
	upgraded.AppVersion = "3.9"
	if SpecHash(spec) == SpecHash(upgraded) {
		t.Error("an appVersion change left the spec hash as it was")
	}
}
