package framework

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/kube"
	"operetta.dev/operetta/internal/reconcile/instance"
)

// defaultRevisionHistoryLimit is how many revisions are kept when the
// Framework does not say (the API server defaults it too).
const defaultRevisionHistoryLimit = 10

// keepRevision returns the revision fw's generation runs as, recording it
// as a FrameworkRevision if it is a new one. A generation that differs from
// the latest revision only in what does not reach instances (how its
// rollout goes, how many revisions are kept, what deleting it does) runs as
// that revision: pausing a rollout is no new revision to roll out, as
// pausing a Deployment makes no new ReplicaSet. Revisions are read from the
// cache: a generation already recorded costs no request.
func (r *Reconciler) keepRevision(ctx context.Context, fw *v1alpha1.Framework) (runsAs, error) {
	rev, recorded, err := r.revisionOf(ctx, fw)
	if err != nil || recorded {
		return rev, err
	}
	annotations := map[string]string{v1alpha1.AnnotationSpecHash: rev.hash}
	if rev.returnsTo > 0 {
		annotations[v1alpha1.AnnotationReturnsTo] = strconv.FormatInt(rev.returnsTo, 10)
	}
	name := v1alpha1.RevisionName(fw.Name, fw.Generation)
	created := &v1alpha1.FrameworkRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name:            name,
			Labels:          map[string]string{v1alpha1.LabelFramework: fw.Name},
			Annotations:     annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(fw, v1alpha1.GroupVersion.WithKind("Framework"))},
		},
		Framework: fw.Name, Revision: fw.Generation, Spec: *fw.Spec.DeepCopy(),
	}
	if err := r.Client.Create(ctx, created); err != nil && !kube.Exists(err) {
		return runsAs{}, fmt.Errorf("recording revision %s: %w", name, err)
	}
	return rev, nil
}

// runsAs is the revision a Framework generation runs as, and the older
// revision whose spec it has again, if it goes back to one.
type runsAs struct {
	n, returnsTo int64
	hash         string // of the spec, for a revision not recorded yet
}

// revisionOf says which revision fw's generation runs as (keepRevision),
// and whether it is recorded already.
func (r *Reconciler) revisionOf(ctx context.Context, fw *v1alpha1.Framework) (rev runsAs, recorded bool, err error) {
	revs, err := r.revisions(ctx, fw.Name)
	if err != nil {
		return runsAs{}, false, err
	}
	for _, kept := range revs {
		if kept.n == fw.Generation {
			return runsAs{n: kept.n, returnsTo: kept.returnsTo}, true, nil
		}
	}
	hash := specHash(fw.Spec)
	if len(revs) > 0 && revs[0].hash == hash && revs[0].n < fw.Generation {
		return runsAs{n: revs[0].n, returnsTo: revs[0].returnsTo}, true, nil
	}
	// The spec of an older revision again: going back to it.
	rev = runsAs{n: fw.Generation, hash: hash}
	for _, kept := range revs[min(1, len(revs)):] {
		if kept.hash == hash {
			rev.returnsTo = kept.n
			break
		}
	}
	return rev, false, nil
}

// revision is one FrameworkRevision as the cache holds it: its metadata.
type revision struct {
	meta      *metav1.PartialObjectMetadata
	n         int64
	hash      string
	returnsTo int64
}

// revisions lists framework's revisions from the cache, newest first.
func (r *Reconciler) revisions(ctx context.Context, framework string) ([]revision, error) {
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("FrameworkRevisionList"))
	if err := r.Client.List(ctx, list, client.MatchingLabels{v1alpha1.LabelFramework: framework}); err != nil {
		return nil, fmt.Errorf("listing the revisions of %s: %w", framework, err)
	}
	var revs []revision
	for i := range list.Items {
		if n, ok := v1alpha1.RevisionOf(framework, list.Items[i].Name); ok {
			a := list.Items[i].Annotations
			back, _ := strconv.ParseInt(a[v1alpha1.AnnotationReturnsTo], 10, 64)
			revs = append(revs, revision{&list.Items[i], n, a[v1alpha1.AnnotationSpecHash], back})
		}
	}
	sort.Slice(revs, func(i, j int) bool { return revs[i].n > revs[j].n })
	return revs, nil
}

// specHash digests what of a Framework's spec reaches its instances.
func specHash(spec v1alpha1.FrameworkSpec) string {
	s := spec.DeepCopy()
	s.Rollout, s.RevisionHistoryLimit, s.DeletionPolicy = v1alpha1.Rollout{}, nil, ""
	b, err := json.Marshal(s)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// pruneRevisions deletes fw's revisions past its history limit, oldest
// first, except the one it runs and those instances stand on, as the
// instance cache shows them: only while its loop runs, whose informer holds
// every instance.
func (r *Reconciler) pruneRevisions(ctx context.Context, fw *v1alpha1.Framework, gvk schema.GroupVersionKind) error {
	rec, running := r.Engine.Reconciler(fw.Name)
	if !running {
		return nil
	}
	limit := defaultRevisionHistoryLimit
	if l := fw.Spec.RevisionHistoryLimit; l != nil {
		limit = int(*l)
	}
	revs, err := r.revisions(ctx, fw.Name)
	if err != nil {
		return err
	}
	if len(revs) <= limit {
		return nil
	}
	items, err := instance.List(ctx, r.Engine.Cache(), gvk)
	if err != nil {
		return err
	}
	inUse := map[int64]bool{rec.Generation(): true}
	for i := range items {
		inUse[instance.ReadStatus(&items[i]).FrameworkGeneration] = true
	}
	kept := 0
	for _, rev := range revs {
		if kept < limit || inUse[rev.n] {
			kept++
			continue
		}
		uid := rev.meta.UID
		if err := r.Client.Delete(ctx, rev.meta, client.Preconditions{UID: &uid}); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting revision %s: %w", rev.meta.Name, err)
		}
	}
	return nil
}
