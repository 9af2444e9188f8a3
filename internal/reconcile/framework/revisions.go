package framework

import (
	"context"
	"fmt"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/kube"
	"operetta.dev/operetta/internal/reconcile/instance"
	"operetta.dev/operetta/internal/revisions"
)

// defaultRevisionHistoryLimit is how many revisions are kept when the
// Framework does not say (the API server defaults it too).
const defaultRevisionHistoryLimit = 10

// keepRevision returns the revision fw's generation runs as
// (revisions.Decide), recording it as a FrameworkRevision if it is a new
// one. Revisions are read from the cache: a generation already recorded
// costs no request.
func (r *Reconciler) keepRevision(ctx context.Context, fw *v1alpha1.Framework) (revisions.RunsAs, error) {
	rev, recorded, err := r.revisionOf(ctx, fw)
	if err != nil || recorded {
		return rev, err
	}
	annotations := map[string]string{v1alpha1.AnnotationSpecHash: rev.Hash}
	if rev.ReturnsTo > 0 {
		annotations[v1alpha1.AnnotationReturnsTo] = strconv.FormatInt(rev.ReturnsTo, 10)
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
		return revisions.RunsAs{}, fmt.Errorf("recording revision %s: %w", name, err)
	}
	return rev, nil
}

// revisionOf says which revision fw's generation runs as, and whether it
// is recorded already.
func (r *Reconciler) revisionOf(ctx context.Context, fw *v1alpha1.Framework) (rev revisions.RunsAs, recorded bool, err error) {
	kept, err := r.revisions(ctx, fw.Name)
	if err != nil {
		return revisions.RunsAs{}, false, err
	}
	rev, recorded = revisions.Decide(kept, fw.Generation, revisions.SpecHash(fw.Spec))
	return rev, recorded, nil
}

// revisions lists framework's revisions from the cache, newest first.
func (r *Reconciler) revisions(ctx context.Context, framework string) ([]revisions.Kept, error) {
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("FrameworkRevisionList"))
	if err := r.Client.List(ctx, list, client.MatchingLabels{v1alpha1.LabelFramework: framework}); err != nil {
		return nil, fmt.Errorf("listing the revisions of %s: %w", framework, err)
	}
	return revisions.Of(framework, list.Items), nil
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
		if kept < limit || inUse[rev.N] {
			kept++
			continue
		}
		uid := rev.Meta.UID
		if err := r.Client.Delete(ctx, rev.Meta, client.Preconditions{UID: &uid}); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting revision %s: %w", rev.Meta.Name, err)
		}
	}
	return nil
}
