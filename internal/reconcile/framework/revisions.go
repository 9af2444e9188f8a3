package framework

import (
	"context"
	"fmt"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/kube"
)

// defaultRevisionHistoryLimit is how many revisions are kept when the
// Framework does not say (the API server defaults it too).
const defaultRevisionHistoryLimit = 10

// keepRevision records the generation fw installed as a FrameworkRevision,
// once, and deletes the revisions past spec.revisionHistoryLimit that no
// instance runs. It reads revisions from the cache: a generation already
// recorded costs no request.
func (r *Reconciler) keepRevision(ctx context.Context, fw *v1alpha1.Framework) error {
	name := v1alpha1.RevisionName(fw.Name, fw.Generation)
	err := r.Client.Get(ctx, client.ObjectKey{Name: name}, revisionMetadata())
	switch {
	case kube.Gone(err):
		rev := &v1alpha1.FrameworkRevision{
			ObjectMeta: metav1.ObjectMeta{
				Name:            name,
				Labels:          map[string]string{v1alpha1.LabelFramework: fw.Name},
				OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(fw, v1alpha1.GroupVersion.WithKind("Framework"))},
			},
			Framework: fw.Name, Revision: fw.Generation, Spec: *fw.Spec.DeepCopy(),
		}
		if err := r.Client.Create(ctx, rev); err != nil && !kube.Exists(err) {
			return fmt.Errorf("recording revision %s: %w", name, err)
		}
	case err != nil:
		return fmt.Errorf("reading revision %s: %w", name, err)
	}
	return r.pruneRevisions(ctx, fw)
}

// pruneRevisions deletes fw's revisions past its history limit, oldest
// first, except the current one and those instances still run.
func (r *Reconciler) pruneRevisions(ctx context.Context, fw *v1alpha1.Framework) error {
	limit := defaultRevisionHistoryLimit
	if l := fw.Spec.RevisionHistoryLimit; l != nil {
		limit = int(*l)
	}
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("FrameworkRevisionList"))
	if err := r.Client.List(ctx, list, client.MatchingLabels{v1alpha1.LabelFramework: fw.Name}); err != nil {
		return fmt.Errorf("listing the revisions of %s: %w", fw.Name, err)
	}
	type revision struct {
		meta *metav1.PartialObjectMetadata
		n    int64
	}
	var revs []revision
	for i := range list.Items {
		n, ok := v1alpha1.RevisionOf(fw.Name, list.Items[i].Name)
		if ok {
			revs = append(revs, revision{&list.Items[i], n})
		}
	}
	sort.Slice(revs, func(i, j int) bool { return revs[i].n > revs[j].n })
	inUse := map[int64]bool{fw.Generation: true}
	if rec, ok := r.Engine.Reconciler(fw.Name); ok {
		for g := range rec.GenerationsInUse() {
			inUse[g] = true
		}
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

// revisionMetadata is an empty FrameworkRevision's metadata, as the cache
// holds revisions.
func revisionMetadata() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("FrameworkRevision"))
	return m
}
