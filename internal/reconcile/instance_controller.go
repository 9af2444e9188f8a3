package reconcile

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/uuid"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

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
	gvk    schema.GroupVersionKind
	reader client.Reader // the loop's informer cache
	client client.Client // the manager's: instances and Frameworks
	// childClient handles children, as the Framework's service account if
	// it names one.
	childClient func() client.Client
	children    *childWatcher
	rollout     *rollout
	recorder    recorder.EventRecorder
	framework   *atomic.Pointer[compile.Framework]
	now         func() time.Time
}

func (r *instanceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	fw := r.framework.Load()
	log := ctrl.LoggerFrom(ctx).WithValues("framework", fw.Name, "kind", r.gvk.Kind, "instance", req.Name, "namespace", req.Namespace)
	ctx = ctrl.LoggerInto(ctx, log)

	instance := &unstructured.Unstructured{}
	instance.SetGroupVersionKind(r.gvk)
	if err := r.reader.Get(ctx, req.NamespacedName, instance); err != nil {
		if apierrors.IsNotFound(err) {
			r.rollout.done(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if err := r.ensureFinalizer(ctx, fw, instance); err != nil {
		return retryOrFail(err)
	}

	old := readStatus(instance)
	st := *old.DeepCopy()
	if instance.GetDeletionTimestamp() != nil {
		return r.finalize(ctx, fw, instance, old, st)
	}
	held, err := r.schedule(ctx, fw, instance, &st)
	if err != nil {
		return ctrl.Result{}, err
	}
	r.advance(ctx, fw, instance, &st)
	if st.FrameworkGeneration == fw.Generation && st.ActivePlanStatus.IsTerminal() {
		r.rollout.done(req.NamespacedName)
	}
	if err := r.maintain(ctx, fw, instance, &st); err != nil {
		return ctrl.Result{}, err
	}
	plans.SetConditions(&st, instance.GetGeneration())
	oldProjected := readProjected(instance, fw.Projections)
	projected := r.project(ctx, fw, instance, &st)

	if err := patchStatus(ctx, r.client, instance, old, st, oldProjected, projected); err != nil {
		return retryOrFail(err)
	}
	announce(ctx, r.recorder, fw.Name, instance, old, st)
	if held {
		return ctrl.Result{RequeueAfter: pollInterval}, nil // waiting for a rollout slot
	}
	return resultFor(st), nil
}

// schedule starts or queues the plans the instance's changes trigger and
// records what they were triggered for. A Framework change reaches the
// instance only when the rollout admits it; held reports that it waits.
func (r *instanceReconciler) schedule(ctx context.Context, fw *compile.Framework, instance *unstructured.Unstructured, st *v1alpha1.InstanceStatus) (held bool, err error) {
	generation := fw.Generation
	if st.FrameworkGeneration != 0 && st.FrameworkGeneration != fw.Generation {
		ok, err := r.rollout.admit(ctx, r.reader, r.gvk, client.ObjectKeyFromObject(instance), fw.Generation, fw.MaxConcurrent)
		if err != nil {
			return false, fmt.Errorf("admitting to the rollout: %w", err)
		}
		if !ok {
			generation, held = st.FrameworkGeneration, true
		}
	}
	spec, _, _ := unstructured.NestedMap(instance.Object, "spec")
	digests := plans.ParameterDigests(spec, fw.Parameters)
	runPlan := instance.GetAnnotations()[v1alpha1.AnnotationRunPlan]
	triggered := plans.Triggered(fw.Triggers, plans.Observed{
		ParameterDigests:    digests,
		FrameworkGeneration: generation,
		RunPlan:             runPlan,
		Status:              *st,
	})
	if len(triggered) > 0 {
		ctrl.LoggerFrom(ctx).V(1).Info("plans triggered", "plans", triggered)
	}
	plans.Schedule(st, triggered, r.startPlan(fw))
	st.ParameterDigests = digests
	st.FrameworkGeneration = generation
	st.LastRunPlan = runPlan
	st.ObservedGeneration = instance.GetGeneration()
	return held, nil
}

func (r *instanceReconciler) startPlan(fw *compile.Framework) func(string) v1alpha1.PlanStatus {
	return func(name string) v1alpha1.PlanStatus {
		return plans.Start(fw.Plans[name], uuid.NewUUID(), r.now())
	}
}

// advance runs the active plan as far as it goes now, and the queued plans
// after it when it completes.
func (r *instanceReconciler) advance(ctx context.Context, fw *compile.Framework, instance *unstructured.Unstructured, st *v1alpha1.InstanceStatus) {
	run := newStepRun(ctx, r.childClient(), r.client, fw, instance, st)
	for range len(fw.Plans) + 1 { // each plan at most once per reconcile
		spec, ok := fw.Plans[st.ActivePlan]
		before := st.Plans[st.ActivePlan]
		if !ok || before.Status.IsTerminal() {
			return
		}
		after := plans.Advance(spec, before, run.step, r.now())
		st.Plans[st.ActivePlan] = after
		st.ActivePlanStatus = after.Status
		if after.Status != before.Status {
			ctrl.LoggerFrom(ctx).V(1).Info("plan status changed", "plan", st.ActivePlan, "status", after.Status, "message", after.Message)
		}
		if after.Status != v1alpha1.Complete || len(st.PlanQueue) == 0 {
			return
		}
		plans.Schedule(st, nil, r.startPlan(fw))
	}
}

// project computes the Framework's status projections. One that cannot be
// computed now (a child without the field yet, say) is left out.
func (r *instanceReconciler) project(ctx context.Context, fw *compile.Framework, instance *unstructured.Unstructured, st *v1alpha1.InstanceStatus) map[string]any {
	out := map[string]any{}
	if len(fw.Projections) == 0 {
		return out
	}
	run := newStepRun(ctx, r.childClient(), r.client, fw, instance, st)
	for _, p := range fw.Projections {
		if p.UsesResources {
			if err := run.observeInventory(); err != nil {
				ctrl.LoggerFrom(ctx).V(1).Info("reading children for status projections", "error", err.Error())
			}
			break
		}
	}
	for _, p := range fw.Projections {
		v, err := p.Template.Render(run.vars)
		if err != nil {
			ctrl.LoggerFrom(ctx).V(1).Info("status projection not computed", "field", p.Name, "error", err.Error())
			continue
		}
		if v != nil {
			out[p.Name] = v
		}
	}
	return out
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
