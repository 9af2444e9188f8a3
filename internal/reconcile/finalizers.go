package reconcile

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"operetta.dev/operetta/api/v1alpha1"
)

// setFinalizer adds (present) or removes a finalizer of obj, with an
// optimistic lock so a finalizer list someone else changed since it was read
// is never overwritten. It writes nothing if obj already is as asked. The API
// server's error is wrapped, so callers can still tell a conflict or a
// vanished object (retryOrFail does).
func setFinalizer(ctx context.Context, c client.Client, obj client.Object, finalizer string, present bool) error {
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
