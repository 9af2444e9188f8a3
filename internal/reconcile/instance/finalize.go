package instance

import (
	"context"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/uuid"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/kube"
	"operetta.dev/operetta/internal/plans"
	"operetta.dev/operetta/internal/reconcile/finalizer"
	"operetta.dev/operetta/internal/tasks"
)

// ensureFinalizer puts operetta's finalizer on an instance whose Framework
// has a cleanup plan, before anything else happens to it, and takes it off
// when the Framework has none (any more).
func (r *Reconciler) ensureFinalizer(ctx context.Context, fw *compile.Framework, instance *unstructured.Unstructured) error {
	_, wants := fw.Plans[v1alpha1.PlanCleanup]
	wants = wants || fw.ReachesOutside()
	if wants && instance.GetDeletionTimestamp() != nil {
		return nil // never added to an instance on its way out
	}
	return finalizer.Set(ctx, r.cfg.Client, instance, v1alpha1.FinalizerCleanup, wants)
}

// finalize runs the cleanup plan of an instance being deleted and lets it go
// when the plan is complete, or when a person says to skip it.
func (r *Reconciler) finalize(ctx context.Context, fw *compile.Framework, exec *tasks.Executor, instance *unstructured.Unstructured, old, st v1alpha1.InstanceStatus) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(instance, v1alpha1.FinalizerCleanup) {
		return ctrl.Result{}, nil
	}
	release := func() (ctrl.Result, error) {
		if err := finalizer.Set(ctx, r.cfg.Client, instance, v1alpha1.FinalizerCleanup, false); err != nil {
			return kube.ResultOf(err)
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
			st.Plans[v1alpha1.PlanCleanup] = plans.Start(fw.Plans[v1alpha1.PlanCleanup], uuid.NewUUID(), r.cfg.Now())
			st.ActivePlan = v1alpha1.PlanCleanup
		}
		r.advance(ctx, fw, exec, &st)
		plans.SetConditions(&st, instance.GetGeneration(), plans.ChildHealth{})
	}
	cleaned := st.ActivePlan != v1alpha1.PlanCleanup || st.ActivePlanStatus == v1alpha1.Complete
	outsideGone := true
	if cleaned {
		var err error
		outsideGone, err = exec.DeleteOutside(ctx)
		announceLeft(r.cfg.Recorder, instance, exec.Left())
		if err != nil {
			return kube.ResultOf(err)
		}
	}
	projected := readProjected(instance, fw.Projections)
	if _, err := patchStatus(ctx, r.cfg.Client, instance, old, st, projected, projected); err != nil {
		return kube.ResultOf(err)
	}
	announce(r.cfg.Recorder, fw.Name, instance, old, st)
	switch {
	case cleaned && outsideGone:
		return release()
	case cleaned:
		return ctrl.Result{}, nil // the children's delete events come back here
	default:
		return r.resultFor(fw, st), nil
	}
}
