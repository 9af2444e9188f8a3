package instance

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/reconcile/statuspatch"
)

// ReadStatus decodes an instance's status. A status the controller cannot
// read is treated as empty: it is the controller's own and will be rewritten.
func ReadStatus(u *unstructured.Unstructured) v1alpha1.InstanceStatus {
	var st v1alpha1.InstanceStatus
	if m, ok := u.Object["status"].(map[string]any); ok {
		_ = runtime.DefaultUnstructuredConverter.FromUnstructured(m, &st)
	}
	if st.Plans == nil {
		st.Plans = map[string]v1alpha1.PlanStatus{}
	}
	return st
}

// List lists the instances of a generated kind through reader, narrowed
// by opts: the loop's informer cache, or the API server itself. What a
// cache returns is shared with it and must not be changed.
func List(ctx context.Context, reader client.Reader, gvk schema.GroupVersionKind, opts ...client.ListOption) ([]unstructured.Unstructured, error) {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	if err := reader.List(ctx, list, append(opts, client.UnsafeDisableDeepCopy)...); err != nil {
		return nil, fmt.Errorf("listing %s instances: %w", gvk.Kind, err)
	}
	return list.Items, nil
}

// readProjected returns the projected fields of an instance's status.
func readProjected(u *unstructured.Unstructured, projections []compile.Projection) map[string]any {
	status, _ := u.Object["status"].(map[string]any)
	out := map[string]any{}
	for _, p := range projections {
		if v, ok := status[p.Name]; ok && v != nil {
			out[p.Name] = v
		}
	}
	return out
}

// patchStatus writes st as u's status if it differs from old, through
// statuspatch: only the fields that changed, the instance's metadata back.
// A reconcile that changed nothing sends nothing, and reports that it wrote
// nothing.
//
// The patch carries u's resourceVersion: a reconcile that worked from a stale
// cache (its own last write not seen yet) must not act on what it saw, such as
// triggering a plan again, so its write conflicts and is retried.
func patchStatus(ctx context.Context, c client.Client, u *unstructured.Unstructured, old, st v1alpha1.InstanceStatus, oldProjected, projected map[string]any) (bool, error) {
	if equality.Semantic.DeepEqual(old, st) && equality.Semantic.DeepEqual(oldProjected, projected) {
		return false, nil
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&st)
	if err != nil {
		return false, fmt.Errorf("encoding status: %w", err)
	}
	for k, v := range projected {
		m[k] = v
	}
	was, _ := u.Object["status"].(map[string]any)
	written, err := statuspatch.Write(ctx, c, u.GroupVersionKind(), u, was, m)
	if err != nil {
		return false, fmt.Errorf("patching status: %w", err)
	}
	u.Object["status"] = m
	u.SetResourceVersion(written)
	return true, nil
}
