package tasks

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/kube"
)

// ReferenceReader reads what externalRefs name, whole, from the caches the
// Framework's own account fills (engine.LoopWatched). ok is false while
// the kind is not read yet.
type ReferenceReader interface {
	Object(ctx context.Context, gvk schema.GroupVersionKind, key types.NamespacedName) (obj *unstructured.Unstructured, found, ok bool, err error)
	Objects(ctx context.Context, gvk schema.GroupVersionKind, ns string, sel labels.Selector) ([]unstructured.Unstructured, bool, error)
}

// readExternal reads externalRef id into resources.<id>, and says what
// the step waits for: the object to exist, its kind to be read, or its
// readyWhen ("" when nothing).
func (r *applier) readExternal(ctx context.Context, id string, ext *compile.External) (string, error) {
	got, what, err := r.external(ctx, id, ext)
	if err != nil || got == nil {
		return what, err
	}
	r.vars.Resources[id] = got
	if cond := r.fw.Resources[id].ReadyWhen; cond != nil {
		ok, err := cond.EvalBool(r.vars)
		switch {
		case err != nil:
			return fmt.Sprintf("%s: readyWhen: %v", what, err), nil
		case !ok:
			return what + ": readyWhen is false", nil
		}
	}
	return "", nil
}

// external reads what externalRef id names for this instance: the object,
// or the list a selector picks (nil when there is nothing to read yet, with
// what it waits for). A name or namespace outside what the Framework
// allows is terminal.
func (r *applier) external(ctx context.Context, id string, ext *compile.External) (any, string, error) {
	ns, name, err := r.fw.ReferenceTarget(id, r.vars, r.instance.GetNamespace())
	if err != nil {
		return nil, "", kube.Fail("%w", err)
	}
	what := ext.Describe(ns, name)
	if r.c.References == nil {
		return nil, what + ": not read by this manager", nil
	}
	if ext.Selector != nil {
		items, ok, err := r.c.References.Objects(ctx, ext.GVK, ns, ext.Selector)
		if err != nil || !ok {
			return nil, what + ": its kind is not read yet", err
		}
		list := make([]any, len(items))
		for i := range items {
			list[i] = items[i].Object
		}
		return list, what, nil
	}
	obj, found, ok, err := r.c.References.Object(ctx, ext.GVK, types.NamespacedName{Namespace: ns, Name: name})
	switch {
	case err != nil:
		return nil, "", fmt.Errorf("reading %s: %w", what, err)
	case !ok:
		return nil, what + ": its kind is not read yet", nil
	case !found:
		return nil, what + ": it does not exist yet (an externalRef: operetta reads it, never creates it)", nil
	}
	return obj.Object, what, nil
}

// observeExternals puts every externalRef that can be read into
// resources.<id>, for templates and conditions of steps that do not read
// it themselves.
func (r *applier) observeExternals(ctx context.Context) error {
	for id, res := range r.fw.Resources {
		if res.External == nil {
			continue
		}
		if _, seen := r.vars.Resources[id]; seen {
			continue
		}
		got, _, err := r.external(ctx, id, res.External)
		if err != nil {
			continue // its own step says what is wrong
		}
		if got != nil {
			r.vars.Resources[id] = got
		}
	}
	return nil
}
