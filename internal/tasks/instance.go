package tasks

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/conditions"
	"operetta.dev/operetta/internal/crdgen"
	"operetta.dev/operetta/internal/kube"
	"operetta.dev/operetta/internal/plans"
)

// childInstance creates or updates an instance of another Framework's kind,
// a dependency such as a ZooKeeper for a Kafka, and waits until it is Ready
// for its current generation. The child's kind is watched like any child's,
// so its status changes wake this instance.
func (r *Executor) childInstance(ctx context.Context, t *compile.Task) plans.Outcome {
	waiting := plans.Outcome{Result: plans.Waiting}
	if t.Timeout != nil {
		waiting.Timeout = t.Timeout.Duration
	}
	fw := &v1alpha1.Framework{}
	if err := r.c.Frameworks.Get(ctx, client.ObjectKey{Name: t.Framework}, fw); err != nil {
		if kube.Gone(err) {
			waiting.Message = fmt.Sprintf("waiting for Framework %s to exist", t.Framework)
			return waiting
		}
		return outcome(fmt.Errorf("reading Framework %s: %w", t.Framework, err))
	}
	if !conditions.ReadyAt(fw.Status.Conditions, fw.Generation) {
		waiting.Message = fmt.Sprintf("waiting for Framework %s to be Ready", t.Framework)
		return waiting
	}
	child, err := r.renderChildInstance(t, fw)
	if err != nil {
		return outcome(err)
	}
	if err := r.c.Children.Ensure(ctx, r.fw.Name, child.GroupVersionKind()); err != nil {
		return outcome(fmt.Errorf("watching %s: %w", child.GetKind(), err))
	}
	live, err := r.applier.ensure(ctx, t.Name, child, r.inventory.hash(child))
	if err != nil {
		return outcome(err)
	}
	if live == nil { // applied so recently that the cache does not show it yet
		waiting.Message = fmt.Sprintf("waiting for %s %s: applied, not seen yet", child.GetKind(), child.GetName())
		return waiting
	}
	if child, err = asUnstructured(child.GroupVersionKind(), live); err != nil {
		return outcome(err)
	}
	ready := findCondition(child, v1alpha1.ConditionReady)
	switch stalled := findCondition(child, v1alpha1.ConditionStalled); {
	case conditions.IsReady(ready, child.GetGeneration()):
		return plans.Outcome{Result: plans.Done}
	case stalled != nil && stalled.Status == metav1.ConditionTrue:
		return outcome(kube.Fail("%s %s failed: %s", child.GetKind(), child.GetName(), stalled.Message))
	case ready != nil:
		waiting.Message = fmt.Sprintf("waiting for %s %s: %s", child.GetKind(), child.GetName(), ready.Message)
	default:
		waiting.Message = fmt.Sprintf("waiting for %s %s to be reconciled", child.GetKind(), child.GetName())
	}
	return waiting
}

func (r *Executor) renderChildInstance(t *compile.Task, fw *v1alpha1.Framework) (*unstructured.Unstructured, error) {
	v, err := t.InstanceName.Render(r.vars)
	if err != nil {
		return nil, kube.Fail("task %s: rendering instanceName: %w", t.Name, err)
	}
	name, ok := v.(string)
	if !ok || name == "" {
		return nil, kube.Fail("task %s: instanceName rendered to %v, not a name", t.Name, v)
	}
	spec := map[string]any{}
	if t.InstanceSpec != nil {
		if spec, err = t.InstanceSpec.RenderObject(r.vars); err != nil {
			return nil, kube.Fail("task %s: rendering spec: %w", t.Name, err)
		}
	}
	names := crdgen.NamesOf(fw)
	child := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	child.SetAPIVersion(names.Group + "/" + names.Version)
	child.SetKind(names.Kind)
	child.SetName(name)
	if err := r.renderer.place(t.Name, child); err != nil {
		return nil, err
	}
	return child, nil
}

// findCondition returns condition t of an object's status, if it has one.
func findCondition(u *unstructured.Unstructured, t string) *metav1.Condition {
	list, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, item := range list {
		m, _ := item.(map[string]any)
		if m["type"] != t {
			continue
		}
		c := &metav1.Condition{Type: t}
		c.Status = metav1.ConditionStatus(fmt.Sprint(m["status"]))
		c.Reason, _ = m["reason"].(string)
		c.Message, _ = m["message"].(string)
		c.ObservedGeneration, _ = m["observedGeneration"].(int64)
		return c
	}
	return nil
}
