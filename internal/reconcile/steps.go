package reconcile

import (
	"context"
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/expr"
	"operetta.dev/operetta/internal/plans"
)

// stepRun runs the steps of one reconcile of one instance. Every step is
// idempotent: applying is server-side apply, health is read from the result.
type stepRun struct {
	ctx      context.Context
	client   client.Client
	fw       *compile.Framework
	instance *unstructured.Unstructured
	vars     expr.Vars
}

func newStepRun(ctx context.Context, c client.Client, fw *compile.Framework, instance *unstructured.Unstructured) *stepRun {
	return &stepRun{
		ctx: ctx, client: c, fw: fw, instance: instance,
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
		task := r.fw.Tasks[name]
		out := r.apply(task)
		if out.Result != plans.Done {
			return out
		}
	}
	return plans.Outcome{Result: plans.Done}
}

// apply applies every resource of an Apply task, then waits until all of them
// are healthy.
func (r *stepRun) apply(task v1alpha1.Task) plans.Outcome {
	var waiting []string
	for _, id := range task.Resources {
		obj, err := r.render(id)
		if err != nil {
			return outcome(err)
		}
		if err := r.client.Apply(r.ctx, client.ApplyConfigurationFromUnstructured(obj),
			client.FieldOwner(v1alpha1.FieldManager), client.ForceOwnership); err != nil {
			return outcome(fmt.Errorf("applying %s %s: %w", obj.GetKind(), obj.GetName(), err))
		}
		r.vars.Resources[id] = obj.Object
		ready, msg, err := r.health(id, obj)
		if err != nil {
			return outcome(err)
		}
		if !ready {
			waiting = append(waiting, fmt.Sprintf("%s %s: %s", obj.GetKind(), obj.GetName(), msg))
		}
	}
	if len(waiting) > 0 {
		sort.Strings(waiting)
		return plans.Outcome{Result: plans.Waiting, Message: "waiting for " + strings.Join(waiting, "; ")}
	}
	return plans.Outcome{Result: plans.Done}
}

// render renders resource id for this instance and marks it as the
// instance's: its namespace, operetta's labels and an owner reference.
func (r *stepRun) render(id string) (*unstructured.Unstructured, error) {
	m, err := r.fw.Resources[id].Template.RenderObject(r.vars)
	if err != nil {
		return nil, terminal("rendering resource %s: %w", id, err)
	}
	obj := &unstructured.Unstructured{Object: m}
	namespaced, err := r.client.IsObjectNamespaced(obj)
	if err != nil {
		return nil, terminal("resource %s: %s is not served by the API server: %w", id, obj.GroupVersionKind(), err)
	}
	if !namespaced {
		return nil, terminal("resource %s: %s is cluster-scoped; templates may create only namespaced objects in the instance's namespace", id, obj.GetKind())
	}
	ns := r.instance.GetNamespace()
	if obj.GetNamespace() != "" && obj.GetNamespace() != ns {
		return nil, terminal("resource %s: namespace %q is not the instance's namespace %q", id, obj.GetNamespace(), ns)
	}
	obj.SetNamespace(ns)
	labels := obj.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[v1alpha1.LabelManagedBy] = v1alpha1.ManagedByValue
	labels[v1alpha1.LabelFramework] = r.fw.Name
	labels[v1alpha1.LabelInstance] = r.instance.GetName()
	obj.SetLabels(labels)
	obj.SetOwnerReferences([]metav1.OwnerReference{*metav1.NewControllerRef(r.instance, r.instance.GroupVersionKind())})
	return obj, nil
}

// health says whether an applied object is ready: by its readyWhen if the
// Framework gives one, else by kstatus. A kstatus Failed object (a failed Job,
// say) fails the step for good.
func (r *stepRun) health(id string, obj *unstructured.Unstructured) (bool, string, error) {
	if cond := r.fw.Resources[id].ReadyWhen; cond != nil {
		ok, err := cond.EvalBool(r.vars)
		switch {
		case err != nil:
			// Fields a condition reads often appear only once the object's
			// controller has written status: not yet, rather than broken.
			return false, "readyWhen: " + err.Error(), nil
		case !ok:
			return false, "readyWhen is false", nil
		}
		return true, "", nil
	}
	res, err := status.Compute(obj)
	if err != nil {
		return false, "", fmt.Errorf("computing the health of %s %s: %w", obj.GetKind(), obj.GetName(), err)
	}
	switch res.Status {
	case status.CurrentStatus:
		return true, "", nil
	case status.FailedStatus:
		return false, "", terminal("%s %s failed: %s", obj.GetKind(), obj.GetName(), res.Message)
	default:
		msg := res.Message
		if msg == "" {
			msg = string(res.Status)
		}
		return false, msg, nil
	}
}
