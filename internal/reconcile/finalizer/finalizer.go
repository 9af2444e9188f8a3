// Package finalizer changes finalizers the one way both controllers must:
// with an optimistic lock, and only when something changes.
package finalizer

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"operetta.dev/operetta/api/v1alpha1"
)

// Set adds (present) or removes a finalizer of obj, with an optimistic lock
// so a finalizer list someone else changed since it was read is never
// overwritten. It writes nothing if obj already is as asked. The API server's
// error is wrapped, so callers can still tell a conflict or a vanished object.
func Set(ctx context.Context, c client.Client, obj client.Object, finalizer string, present bool) error {
	if controllerutil.ContainsFinalizer(obj, finalizer) == present {
		return nil
	}
	orig := obj.DeepCopyObject().(client.Object)
	if present {
		controllerutil.AddFinalizer(obj, finalizer)
	} else {
		controllerutil.RemoveFinalizer(obj, finalizer)
	}
	if err := c.Patch(ctx, obj, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}), client.FieldOwner(v1alpha1.FieldManager)); err != nil {
		return fmt.Errorf("updating the finalizers of %s: %w", obj.GetName(), err)
	}
	return nil
}
