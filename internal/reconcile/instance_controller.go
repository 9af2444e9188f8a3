package reconcile

import (
	"context"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/uuid"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/plans"
)

// pollInterval is how often a plan that waits for children to become healthy
// looks again.
const pollInterval = 2 * time.Second

// instanceReconciler drives the instances of one generated kind through the
// Framework's plans. The Framework it runs can be swapped while it runs.
type instanceReconciler struct {
	gvk       schema.GroupVersionKind
	reader    client.Reader // the loop's informer cache
	client    client.Client
	framework *atomic.Pointer[compile.Framework]
	now       func() time.Time
}

func (r *instanceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	fw := r.framework.Load()
	log := ctrl.LoggerFrom(ctx).WithValues("framework", fw.Name, "kind", r.gvk.Kind, "instance", req.Name, "namespace", req.Namespace)
	ctx = ctrl.LoggerInto(ctx, log)

	instance := &unstructured.Unstructured{}
	instance.SetGroupVersionKind(r.gvk)
	if err := r.reader.Get(ctx, req.NamespacedName, instance); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if instance.GetDeletionTimestamp() != nil {
		return ctrl.Result{}, nil
	}

	old := readStatus(instance)
	st := *old.DeepCopy()
	r.startTriggeredPlan(ctx, fw, instance, &st)
	st.ObservedGeneration = instance.GetGeneration()
	r.advanceActivePlan(ctx, fw, instance, &st)
	plans.SetConditions(&st, instance.GetGeneration())

	if err := patchStatus(ctx, r.client, instance, old, st); err != nil {
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			return ctrl.Result{Requeue: true}, nil //nolint:staticcheck // a rate-limited retry, not an error to log
		}
		return ctrl.Result{}, err
	}
	return resultFor(st), nil
}

// startTriggeredPlan starts the plan the instance needs, if any. A plan that
// is triggered again while it runs starts over with a new UID.
func (r *instanceReconciler) startTriggeredPlan(ctx context.Context, fw *compile.Framework, instance *unstructured.Unstructured, st *v1alpha1.InstanceStatus) {
	name := plans.Triggered(fw.Plans, plans.Observed{
		Generation:         instance.GetGeneration(),
		ObservedGeneration: st.ObservedGeneration,
		Status:             *st,
	})
	if name == "" {
		return
	}
	ctrl.LoggerFrom(ctx).V(1).Info("starting plan", "plan", name)
	st.Plans[name] = plans.Start(fw.Plans[name], uuid.NewUUID(), r.now())
	st.ActivePlan = name
}

func (r *instanceReconciler) advanceActivePlan(ctx context.Context, fw *compile.Framework, instance *unstructured.Unstructured, st *v1alpha1.InstanceStatus) {
	spec, ok := fw.Plans[st.ActivePlan]
	if !ok {
		return
	}
	before := st.Plans[st.ActivePlan]
	run := newStepRun(ctx, r.client, fw, instance)
	after := plans.Advance(spec, before, run.step, r.now())
	st.Plans[st.ActivePlan] = after
	st.ActivePlanStatus = after.Status
	if after.Status != before.Status {
		ctrl.LoggerFrom(ctx).V(1).Info("plan status changed", "plan", st.ActivePlan, "status", after.Status, "message", after.Message)
	}
}

// resultFor says when to look again: soon while a plan waits for children,
// with backoff while it retries, and not at all once it is done or stalled.
func resultFor(st v1alpha1.InstanceStatus) ctrl.Result {
	switch st.ActivePlanStatus {
	case v1alpha1.InProgress, v1alpha1.Pending:
		return ctrl.Result{RequeueAfter: pollInterval}
	case v1alpha1.Error:
		return ctrl.Result{Requeue: true} //nolint:staticcheck // rate-limited backoff, the message is in status
	default:
		return ctrl.Result{}
	}
}
