package reconcile

import (
	"context"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/expr"
	"operetta.dev/operetta/internal/plans"
)

// stepRun runs the steps of one reconcile of one instance. Every task is
// idempotent: applying is server-side apply, deleting what is gone is done,
// health is read from what the API server returns.
type stepRun struct {
	ctx      context.Context
	client   client.Client // children
	managers client.Reader // Frameworks, with the manager's own rights
	fw       *compile.Framework
	instance *unstructured.Unstructured
	status   *v1alpha1.InstanceStatus // its inventory is kept current
	vars     expr.Vars
}

func newStepRun(ctx context.Context, children client.Client, managers client.Reader, fw *compile.Framework, instance *unstructured.Unstructured, st *v1alpha1.InstanceStatus) *stepRun {
	return &stepRun{
		ctx: ctx, client: children, managers: managers, fw: fw, instance: instance, status: st,
		vars: expr.Vars{
			Instance:  instance.Object,
			Resources: map[string]any{},
			Framework: map[string]any{"name": fw.Name, "appVersion": fw.AppVersion},
		},
	}
}

// step runs a step's tasks in order and stops at the first that is not done.
func (r *stepRun) step(phase v1alpha1.Phase, step v1alpha1.Step) plans.Outcome {
	r.vars.Plan = map[string]any{"phase": phase.Name, "step": step.Name}
	for _, name := range step.Tasks {
		out := r.task(r.fw.Tasks[name])
		if out.Result != plans.Done {
			return out
		}
	}
	return plans.Outcome{Result: plans.Done}
}

func (r *stepRun) task(t *compile.Task) plans.Outcome {
	switch t.Kind {
	case v1alpha1.TaskApply:
		return r.apply(t.Resources)
	case v1alpha1.TaskDelete:
		return r.delete(t.Resources)
	case v1alpha1.TaskToggle:
		on, err := r.eval(t.WhenExpr)
		if err != nil {
			return outcome(terminal("task %s: when: %w", t.Name, err))
		}
		if on {
			return r.apply(t.Resources)
		}
		return r.delete(t.Resources)
	case v1alpha1.TaskWait:
		return r.wait(t)
	case v1alpha1.TaskInstance:
		return r.childInstance(t)
	}
	return outcome(terminal("task %s: unknown kind %s", t.Name, t.Kind))
}

// apply applies every resource, then waits until all of them are healthy.
func (r *stepRun) apply(ids []string) plans.Outcome {
	var waiting []string
	for _, id := range ids {
		obj, err := r.render(id)
		if err != nil {
			return outcome(err)
		}
		if err := r.serverSideApply(id, obj); err != nil {
			return outcome(err)
		}
		ready, msg, err := r.health(id, obj)
		if err != nil {
			return outcome(err)
		}
		if !ready {
			waiting = append(waiting, fmt.Sprintf("%s %s: %s", obj.GetKind(), obj.GetName(), msg))
		}
	}
	return waitingFor(waiting)
}

func (r *stepRun) serverSideApply(id string, obj *unstructured.Unstructured) error {
	if err := r.client.Apply(r.ctx, client.ApplyConfigurationFromUnstructured(obj),
		client.FieldOwner(v1alpha1.FieldManager), client.ForceOwnership); err != nil {
		return fmt.Errorf("applying %s %s: %w", obj.GetKind(), obj.GetName(), err)
	}
	r.vars.Resources[id] = obj.Object
	r.remember(id, obj)
	return nil
}

// delete deletes every resource and waits until all of them are gone.
func (r *stepRun) delete(ids []string) plans.Outcome {
	var waiting []string
	for _, id := range ids {
		obj, err := r.render(id)
		if err != nil {
			return outcome(err)
		}
		gone, err := r.deleteObject(obj)
		if err != nil {
			return outcome(err)
		}
		if !gone {
			waiting = append(waiting, fmt.Sprintf("%s %s: being deleted", obj.GetKind(), obj.GetName()))
			continue
		}
		delete(r.vars.Resources, id)
		r.forget(r.itemOf(obj))
	}
	return waitingFor(waiting)
}

// deleteObject deletes obj in the background and reports whether it is gone.
func (r *stepRun) deleteObject(obj *unstructured.Unstructured) (bool, error) {
	err := r.client.Delete(r.ctx, obj, client.PropagationPolicy(metav1.DeletePropagationBackground))
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("deleting %s %s: %w", obj.GetKind(), obj.GetName(), err)
	}
	current := &unstructured.Unstructured{}
	current.SetGroupVersionKind(obj.GroupVersionKind())
	err = r.client.Get(r.ctx, client.ObjectKeyFromObject(obj), current)
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	return false, err
}

// wait is done when the task's condition is true.
func (r *stepRun) wait(t *compile.Task) plans.Outcome {
	out := plans.Outcome{Result: plans.Waiting, Message: fmt.Sprintf("waiting for %s", strings.TrimSpace(t.Condition))}
	if t.Timeout != nil {
		out.Timeout = t.Timeout.Duration
	}
	if err := r.observeInventory(); err != nil {
		return outcome(err)
	}
	ok, err := r.eval(t.ConditionExpr)
	if err != nil {
		out.Message += ": " + err.Error()
		return out
	}
	if ok {
		return plans.Outcome{Result: plans.Done}
	}
	return out
}

// eval evaluates a condition; fields that do not exist yet are not an error
// worth stopping for, so the caller decides what a failed evaluation means.
func (r *stepRun) eval(p *expr.Program) (bool, error) {
	return p.EvalBool(r.vars)
}

// observeInventory makes every child in the inventory visible to
// expressions as resources.<id>, for conditions over objects applied in
// earlier reconciles.
func (r *stepRun) observeInventory() error {
	for _, item := range r.status.Inventory {
		if _, seen := r.vars.Resources[item.ID]; seen {
			continue
		}
		u := r.objectOf(item)
		err := r.client.Get(r.ctx, client.ObjectKeyFromObject(u), u)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("reading %s %s: %w", item.Kind, item.Name, err)
		}
		r.vars.Resources[item.ID] = u.Object
	}
	return nil
}

func waitingFor(waiting []string) plans.Outcome {
	if len(waiting) == 0 {
		return plans.Outcome{Result: plans.Done}
	}
	sort.Strings(waiting)
	return plans.Outcome{Result: plans.Waiting, Message: "waiting for " + strings.Join(waiting, "; ")}
}
