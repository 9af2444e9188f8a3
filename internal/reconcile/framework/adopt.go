package framework

import (
	"context"
	"encoding/json"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/shard"
)

// adoptTimeout bounds one adoption pass.
const adoptTimeout = 5 * time.Minute

// adopt labels with this shard the children of a Framework that another
// shard applied: it was moved here, and this shard's child informers
// select its own label only, so they would not see children of steps
// already done (a wait on one would never end, a delete would take one
// for gone). It runs once per loop this manager starts, in the
// background; after a move its patches make the children appear in the
// cache, and their events wake their instances. With nothing to adopt it
// costs one LIST per child kind.
func (r *Reconciler) adopt(compiled *compile.Framework, writer client.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), adoptTimeout)
	defer cancel()
	log := ctrl.Log.WithName("adopt").WithValues("framework", compiled.Name)
	var label any = r.Shard
	if r.Shard == "" {
		label = nil // a merge patch's null removes it
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]any{v1alpha1.LabelShard: label}}})
	if err != nil {
		log.Error(err, "encoding the patch")
		return
	}
	adopted := 0
	for _, gvk := range compiled.ChildKinds {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := r.APIReader.List(ctx, list, client.MatchingLabelsSelector{Selector: shard.Others(r.Shard, compiled.Name)}); err != nil {
			log.V(1).Info("listing children to adopt", "kind", gvk.Kind, "error", err.Error())
			continue // a kind not served: nothing of it to adopt
		}
		for i := range list.Items {
			if err := writer.Patch(ctx, &list.Items[i], client.RawPatch(types.MergePatchType, patch), client.FieldOwner(v1alpha1.FieldManager)); client.IgnoreNotFound(err) != nil {
				log.Error(err, "adopting a child", "kind", gvk.Kind, "name", list.Items[i].GetName(), "namespace", list.Items[i].GetNamespace())
				continue
			}
			adopted++
		}
	}
	if adopted > 0 {
		log.Info("adopted the children another shard applied", "children", adopted)
	}
}
