package reconcile

import (
	"context"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/uuid"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/plans"
)

// ensureFinalizer puts operetta's finalizer on an instance whose Framework
// has a cleanup plan, before anything else happens to it, and takes it off
// when the Framework has none (any more).
func (r *instanceReconciler) ensureFinalizer(ctx context.Context, fw *compile.Framework, instance *unstructured.Unstructured) error {
	_, wants := fw.Plans[v1alpha1.PlanCleanup]
	wants = wants || fw.ReachesOutside()
	if wants && instance.GetDeletionTimestamp() != nil {
		return nil // never added to an instance on its way out
	}
	return setFinalizer(ctx, r.client, instance, v1alpha1.FinalizerCleanup, wants)
}

// finalize runs the cleanup plan of an instance being deleted and lets it go
// when the plan is complete, or when a person says to skip it.
func (r *instanceReconciler) finalize(ctx context.Context, fw *compile.Framework, instance *unstructured.Unstructured, old, st v1alpha1.InstanceStatus) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(instance, v1alpha1.FinalizerCleanup) {
		return ctrl.Result{}, nil
	}
	release := func() (ctrl.Result, error) {
		if err := setFinalizer(ctx, r.client, instance, v1alpha1.FinalizerCleanup, false); err != nil {
			return retryOrFail(err)
		}
		return ctrl.Result{}, nil
	}
	if instance.GetAnnotations()[v1alpha1.AnnotationSkipCleanup] == "true" {
		ctrl.LoggerFrom(ctx).Info("cleanup skipped by annotation", "annotation", v1alpha1.AnnotationSkipCleanup)
		return release()
	}
	if _, hasCleanup := fw.Plans[v1alpha1.PlanCleanup]; hasCleanup {
		if st.ActivePlan != v1alpha1.PlanCleanup {
			st.PlanQueue = nil
			st.Plans[v1alpha1.PlanCleanup] = plans.Start(fw.Plans[v1alpha1.PlanCleanup], uuid.NewUUID(), r.now())
			st.ActivePlan = v1alpha1.PlanCleanup
		}
		r.advance(ctx, fw, instance, &st)
		plans.SetConditions(&st, instance.GetGeneration())
	}
	cleaned := st.ActivePlan != v1alpha1.PlanCleanup || st.ActivePlanStatus == v1alpha1.Complete
	outsideGone := true
	if cleaned {
		var err error
		if outsideGone, err = r.deleteOutside(ctx, fw, instance, &st); err != nil {
			return ctrl.Result{}, err
		}
	}
	projected := readProjected(instance, fw.Projections)
	if err := patchStatus(ctx, r.client, instance, old, st, projected, projected); err != nil {
		return retryOrFail(err)
	}
	announce(ctx, r.recorder, fw.Name, instance, old, st)
	if cleaned && outsideGone {
		return release()
	}
	if cleaned {
		return ctrl.Result{RequeueAfter: pollInterval}, nil
	}
	return resultFor(st), nil
}

// deleteOutside deletes the children no owner reference covers (in other
// namespaces, or cluster-scoped) and reports whether all of them are gone.
func (r *instanceReconciler) deleteOutside(ctx context.Context, fw *compile.Framework, instance *unstructured.Unstructured, st *v1alpha1.InstanceStatus) (bool, error) {
	run := newStepRun(ctx, r.childClient(), r.client, fw, instance, st)
	all := true
	for _, item := range append([]v1alpha1.InventoryItem(nil), st.Inventory...) {
		if item.Namespace == "" && !item.Cluster {
			continue // the garbage collector follows the owner reference
		}
		gone, err := run.deleteObject(run.objectOf(item))
		if err != nil {
			return false, err
		}
		if gone {
			run.forget(item)
		} else {
			all = false
		}
	}
	return all, nil
}
