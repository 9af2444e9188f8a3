package revisions

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"operetta.dev/operetta/api/v1alpha1"
)

// Kept is one recorded revision, as its metadata says.
type Kept struct {
	N int64
	// Hash is SpecHash of its spec.
	Hash string
	// ReturnsTo is the older revision whose spec it has again, or 0.
	ReturnsTo int64
	// Meta is the object it was read from.
	Meta *metav1.PartialObjectMetadata
}

// RunsAs is the revision a Framework generation runs as.
type RunsAs struct {
	N, ReturnsTo int64
	// Hash of the spec, for a revision not recorded yet.
	Hash string
}

// Of reads Framework framework's revisions from their metadata, newest
// first; objects of other names are left out.
func Of(framework string, items []metav1.PartialObjectMetadata) []Kept {
	var revs []Kept
	for i := range items {
		if n, ok := v1alpha1.RevisionOf(framework, items[i].Name); ok {
			a := items[i].Annotations
			back, _ := strconv.ParseInt(a[v1alpha1.AnnotationReturnsTo], 10, 64)
			revs = append(revs, Kept{N: n, Hash: a[v1alpha1.AnnotationSpecHash], ReturnsTo: back, Meta: &items[i]})
		}
	}
	sort.Slice(revs, func(i, j int) bool { return revs[i].N > revs[j].N })
	return revs
}

// Decide says which revision generation runs as, given the revisions kept
// (newest first) and the hash of its spec, and whether it is recorded
// already. A generation that differs from the latest revision only in what
// does not reach instances runs as that revision: pausing a rollout is no
// new revision to roll out, as pausing a Deployment makes no new
// ReplicaSet. A spec an older revision had is going back to it.
func Decide(kept []Kept, generation int64, hash string) (rev RunsAs, recorded bool) {
	for _, k := range kept {
		if k.N == generation {
			return RunsAs{N: k.N, ReturnsTo: k.ReturnsTo}, true
		}
	}
	if len(kept) > 0 && kept[0].Hash == hash && kept[0].N < generation {
		return RunsAs{N: kept[0].N, ReturnsTo: kept[0].ReturnsTo}, true
	}
	rev = RunsAs{N: generation, Hash: hash}
	for _, k := range kept[min(1, len(kept)):] {
		if k.Hash == hash {
			rev.ReturnsTo = k.N
			break
		}
	}
	return rev, false
}

// SpecHash digests what of a Framework's spec reaches its instances: all
// but how its rollout goes, how many revisions are kept and what deleting
// it does.
func SpecHash(spec v1alpha1.FrameworkSpec) string {
	s := spec.DeepCopy()
	s.Rollout, s.RevisionHistoryLimit, s.DeletionPolicy = v1alpha1.Rollout{}, nil, ""
	b, err := json.Marshal(s)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}
