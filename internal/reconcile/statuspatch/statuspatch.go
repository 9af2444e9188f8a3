// Package statuspatch writes a status the one way both controllers must:
// a JSON merge patch of the status fields that changed, with the
// resourceVersion the status was computed from as an optimistic lock, and
// only metadata in the answer. Instances and Frameworks are large next to
// their status, and decoding the whole object back cost more than building
// the patch.
package statuspatch

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
)

// Write patches the status of obj, of kind gvk, from was to now (both as
// decoded JSON), as operetta's field manager. obj's resourceVersion is the
// lock: a status computed from an object that changed since is refused as a
// conflict. It returns the resourceVersion written. The API server's error
// is returned as it is, so callers can still tell a conflict.
func Write(ctx context.Context, c client.Client, gvk schema.GroupVersionKind, obj metav1.Object, was, now map[string]any) (string, error) {
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": obj.GetResourceVersion()},
		"status":   mergePatch(was, now),
	})
	if err != nil {
		return "", fmt.Errorf("encoding the status patch: %w", err)
	}
	written := &metav1.PartialObjectMetadata{}
	written.SetGroupVersionKind(gvk)
	written.SetNamespace(obj.GetNamespace())
	written.SetName(obj.GetName())
	if err := c.Status().Patch(ctx, written, client.RawPatch(types.MergePatchType, patch), client.FieldOwner(v1alpha1.FieldManager)); err != nil {
		return "", err
	}
	return written.GetResourceVersion(), nil
}

// mergePatch is the JSON merge patch (RFC 7386) that turns the decoded JSON
// object from into to: what changed, nil for what was removed. Lists are
// replaced whole, as merge patches do.
func mergePatch(from, to map[string]any) map[string]any {
	patch := map[string]any{}
	for k, v := range to {
		was, found := from[k]
		switch {
		case !found:
			patch[k] = v
		case reflect.DeepEqual(was, v):
		default:
			wasObj, ok1 := was.(map[string]any)
			obj, ok2 := v.(map[string]any)
			if ok1 && ok2 {
				patch[k] = mergePatch(wasObj, obj)
			} else {
				patch[k] = v
			}
		}
	}
	for k := range from {
		if _, kept := to[k]; !kept {
			patch[k] = nil
		}
	}
	return patch
}
