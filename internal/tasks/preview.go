package tasks

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/kube"
)

// Change is what a preview found a plan would do to one child.
type Change struct {
	// Resource is the id of the resource, or the Instance task, it comes
	// from.
	Resource string
	// Before is the child as it is, nil if there is none; After is the
	// object the API server answered a dry run of its apply with, nil if
	// it is deleted or pruned.
	Before, After *unstructured.Unstructured
	// By says what does it: "plan upgrade, phase p, step s, task t", or
	// "pruned".
	By string
	// Refused says why the controller would not write it (it is another's).
	Refused string
}

// PreviewUID is the plan run UID a preview renders with: a real run has a
// new one, so a template that reads plan.uid shows as changed.
const PreviewUID = "preview"

// Preview says what running plan from its start would do to the children,
// without waiting for any of them: every child its apply tasks and
// Instance tasks apply, as the API server answers a dry run of the apply,
// and every child its delete tasks delete. c.Writer must only dry-run
// (client.NewDryRunClient); c.Children says what exists. notes name what
// the preview cannot show: waits, the pods of Pipe tasks.
func (r *Executor) Preview(ctx context.Context, plan string) (changes []Change, notes []string, err error) {
	spec, ok := r.fw.Plans[plan]
	if !ok {
		return nil, nil, fmt.Errorf("no plan %s", plan)
	}
	r.planUID = PreviewUID
	r.vars.Plan = map[string]any{"name": plan, "uid": PreviewUID}
	for _, phase := range spec.Phases {
		for _, step := range phase.Steps {
			r.vars.Plan["phase"], r.vars.Plan["step"] = phase.Name, step.Name
			for _, name := range step.Tasks {
				t := r.fw.Tasks[name]
				by := fmt.Sprintf("plan %s, phase %s, step %s, task %s", plan, phase.Name, step.Name, name)
				found, note, err := r.previewTask(ctx, t, by)
				if err != nil {
					return changes, notes, fmt.Errorf("%s: %w", by, err)
				}
				changes = append(changes, found...)
				if note != "" {
					notes = append(notes, by+": "+note)
				}
			}
		}
	}
	return changes, notes, nil
}

func (r *Executor) previewTask(ctx context.Context, t *compile.Task, by string) ([]Change, string, error) {
	switch t.Kind {
	case v1alpha1.TaskApply:
		changes, err := r.previewApply(ctx, t.Resources, by)
		return changes, "", err
	case v1alpha1.TaskDelete:
		changes, err := r.previewDelete(ctx, t.Resources, by)
		return changes, "", err
	case v1alpha1.TaskToggle:
		on, err := t.WhenExpr.EvalBool(r.vars)
		if err != nil {
			return nil, "", kube.Fail("when: %w", err)
		}
		var changes []Change
		if on {
			changes, err = r.previewApply(ctx, t.Resources, by)
		} else {
			changes, err = r.previewDelete(ctx, t.Resources, by)
		}
		return changes, "", err
	case v1alpha1.TaskWait:
		return nil, "waits until " + strings.TrimSpace(t.Condition), nil
	case v1alpha1.TaskPipe:
		return nil, fmt.Sprintf("runs pod %s for the files it pipes, then deletes it: not previewed", t.Pod), nil
	case v1alpha1.TaskInstance:
		fw := &v1alpha1.Framework{}
		if err := r.c.Frameworks.Get(ctx, client.ObjectKey{Name: t.Framework}, fw); err != nil {
			return nil, "", fmt.Errorf("reading Framework %s: %w", t.Framework, err)
		}
		child, err := r.renderChildInstance(t, fw)
		if err != nil {
			return nil, "", err
		}
		change, err := r.previewChild(ctx, t.Name, child, by)
		return []Change{change}, "", err
	}
	return nil, "", nil // a Dummy: nothing to do
}

func (r *Executor) previewApply(ctx context.Context, ids []string, by string) ([]Change, error) {
	var changes []Change
	for _, id := range ids {
		objs, err := r.renderer.renderAll(id)
		if err != nil {
			return changes, err
		}
		for _, obj := range objs {
			change, err := r.previewChild(ctx, id, obj, by)
			if err != nil {
				return changes, err
			}
			changes = append(changes, change)
		}
		if r.fw.Resources[id].Collection() {
			r.renderer.supersede(id, objs)
		}
	}
	return changes, nil
}

// previewChild applies obj through the dry-running writer, as a plan's
// apply would, and records it as applied, so later tasks see it as they
// would and pruning knows what the plan rendered.
func (r *Executor) previewChild(ctx context.Context, id string, obj *unstructured.Unstructured, by string) (Change, error) {
	change := Change{Resource: id, By: by}
	before, err := r.live(ctx, obj)
	if err != nil {
		return change, err
	}
	change.Before = before
	applied, err := r.applier.applyChild(ctx, id, obj.DeepCopy(), r.inventory.hash(obj))
	var notOwned notOwnedError
	switch {
	case errors.As(err, &notOwned):
		change.Refused = err.Error()
		return change, nil
	case err != nil:
		return change, err
	}
	change.After, err = asUnstructured(obj.GroupVersionKind(), applied)
	return change, err
}

func (r *Executor) previewDelete(ctx context.Context, ids []string, by string) ([]Change, error) {
	var changes []Change
	for _, id := range ids {
		objs, err := r.renderer.renderAll(id)
		if kube.NotServed(err) {
			continue
		}
		if err != nil {
			return changes, err
		}
		for _, obj := range objs {
			before, err := r.live(ctx, obj)
			if err != nil {
				return changes, err
			}
			if before != nil && r.writer.owns(before) {
				changes = append(changes, Change{Resource: id, Before: before, By: by})
			}
			delete(r.vars.Resources, id)
			r.inventory.forget(r.inventory.itemOf(obj))
		}
	}
	return changes, nil
}

// PreviewPrune says which children the instance's Keep would prune once the
// plans previewed before are done.
func (r *Executor) PreviewPrune(ctx context.Context) ([]Change, error) {
	var changes []Change
	prune := r.pruner.prunable(r.status.Inventory)
	for i, item := range r.status.Inventory {
		if !prune[i] {
			continue
		}
		before, err := r.live(ctx, r.inventory.objectOf(item))
		if err != nil {
			return changes, err
		}
		if before != nil && r.writer.owns(before) {
			changes = append(changes, Change{Resource: item.ID, Before: before, By: "pruned: no longer rendered"})
		}
	}
	return changes, nil
}

// live is obj's object as the children reader has it, nil if none.
func (r *Executor) live(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	got, found, err := r.c.Children.Get(ctx, obj.GroupVersionKind(), client.ObjectKeyFromObject(obj))
	if err != nil || !found {
		return nil, err
	}
	return asUnstructured(obj.GroupVersionKind(), got)
}
