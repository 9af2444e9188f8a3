package reconcile

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/plans"
)

// maintain keeps an instance whose plans are done as they left it: children
// whose template the Framework no longer has are pruned, and children someone
// else changed or deleted are applied again. What it reads comes from the
// children's informers, so an instance with nothing to fix costs no request.
func (r *instanceReconciler) maintain(ctx context.Context, fw *compile.Framework, instance *unstructured.Unstructured, st *v1alpha1.InstanceStatus) error {
	if st.ActivePlanStatus != v1alpha1.Complete || len(st.PlanQueue) > 0 {
		return nil
	}
	run := newStepRun(ctx, r.childClient(), r.client, fw, instance, st)
	for _, item := range append([]v1alpha1.InventoryItem(nil), st.Inventory...) {
		res, rendered := fw.Resources[item.ID]
		if _, isTask := fw.Tasks[item.ID]; !rendered && !isTask {
			if err := r.prune(ctx, run, item); err != nil {
				return err
			}
			continue
		}
		if !rendered {
			continue // a child instance: its own loop keeps it
		}
		gvk := schema.FromAPIVersionAndKind(item.APIVersion, item.Kind)
		now, err := r.children.observed(ctx, gvk, client.ObjectKeyFromObject(run.objectOf(item)))
		if err != nil {
			return fmt.Errorf("reading %s %s: %w", item.Kind, item.Name, err)
		}
		if now == item.Observed {
			continue
		}
		ctrl.LoggerFrom(ctx).Info("correcting drift", "child", item.Kind+"/"+item.Name, "recorded", item.Observed, "found", now)
		if out := run.apply([]string{res.ID}); out.Result != plans.Done {
			ctrl.LoggerFrom(ctx).V(1).Info("child not healthy after correcting drift", "child", item.Kind+"/"+item.Name, "message", out.Message)
		}
	}
	return nil
}

// prune deletes a child whose template was removed from the Framework.
func (r *instanceReconciler) prune(ctx context.Context, run *stepRun, item v1alpha1.InventoryItem) error {
	gone, err := run.deleteObject(run.objectOf(item))
	if err != nil {
		return err
	}
	if gone {
		ctrl.LoggerFrom(ctx).Info("pruned child no longer rendered", "child", item.Kind+"/"+item.Name)
		run.forget(item)
	}
	return nil
}
