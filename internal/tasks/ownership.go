package tasks

import (
	"context"
	"errors"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/crdgen"
	"operetta.dev/operetta/internal/kube"
)

// Ownership: an instance writes and deletes only its own children. A
// child's labels say whose it is (Label); an object that exists and names
// another instance, or none, is neither overwritten, adopted nor deleted, as
// Helm refuses a release's object whose ownership metadata names another.
//
// Asking the API server whose an object is before every apply would cost a
// request per child. Instead an apply carries its precondition in its body,
// checked by the API server in the same request: the UID of the object the
// children cache shows as this instance's (an apply naming a UID fails on any
// other object: 422, metadata.uid is immutable, or 409 when there is none),
// else a resourceVersion no object has (createOnly), which an existing object
// of the name fails (409) and a create ignores. Only a refused apply reads the
// object, to name its owner, or to find it this instance's after all (the
// cache was behind) and apply again with its UID.

// createOnly, as an apply's metadata.resourceVersion, lets the apply create
// its object and fail on an existing one: the API server compares the
// resourceVersion an apply names with the object's (409 Conflict when they
// differ), and wipes it on create. No object has this one: it is the
// largest etcd revision there can be.
const createOnly = "18446744073709551615"

// readMetadata reads an object's metadata from the API server, as the
// account that writes children: the rare path of a refused write. The
// Writer's own client may read from a cache that holds no children, so it
// reads uncached (MetadataReader) when it can.
func (r *childWriter) readMetadata(ctx context.Context, obj *unstructured.Unstructured) (*metav1.PartialObjectMetadata, error) {
	if mr, ok := r.c.Writer.(kube.MetadataReader); ok {
		return mr.ReadMetadata(ctx, obj.GroupVersionKind(), client.ObjectKeyFromObject(obj))
	}
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(obj.GroupVersionKind())
	if err := r.c.Writer.Get(ctx, client.ObjectKeyFromObject(obj), m); err != nil {
		return nil, err
	}
	return m, nil
}

// write applies obj, a child of this instance, to the object of its name
// only if that object is this instance's or there is none. It returns the
// API server's answer.
func (r *childWriter) write(ctx context.Context, obj *unstructured.Unstructured) (client.Object, error) {
	uid, mine, err := r.claim(ctx, obj)
	if err != nil {
		return nil, err
	}
	if mine {
		applied, err := r.sendAs(ctx, obj, uid)
		if uid != "" && kube.Conflict(err) {
			// No object has the UID (another object of the name would be
			// a 422): deleted since, so it is created again.
			applied, err = r.sendAs(ctx, obj, "")
		}
		if !refused(err) {
			return applied, err
		}
	}
	// Refused, or the cache shows the object as another's: the API
	// server says whose it is now.
	if uid, err = r.ownedNow(ctx, obj); err != nil {
		return nil, err
	}
	applied, err := r.sendAs(ctx, obj, uid)
	if refused(err) {
		// Replaced or deleted since it was read: the next try reads it
		// again. %v, not %w: the API server's 422 would classify as
		// terminal, and this is a race, not a wrong request.
		return nil, fmt.Errorf("it changed while being applied, trying again: %v", err)
	}
	return applied, err
}

// claim says, from the children cache, which object an apply of obj may
// write: the one of uid, this instance's, or none at all (uid "": create
// only). mine is false if the cache shows the object as another's.
func (r *childWriter) claim(ctx context.Context, obj *unstructured.Unstructured) (uid types.UID, mine bool, err error) {
	live, found, err := r.c.Children.Get(ctx, obj.GroupVersionKind(), client.ObjectKeyFromObject(obj))
	var notCached *cache.ErrResourceNotCached
	switch {
	case errors.As(err, &notCached):
		return "", true, nil // a kind no informer holds: create only, else read it
	case err != nil:
		return "", false, fmt.Errorf("reading %s %s from the cache: %w", obj.GetKind(), obj.GetName(), err)
	case !found:
		// None, as far as the cache knows (it holds no object operetta
		// did not label), unless this loop applied it so recently that the
		// cache has not caught up: a reconcile woken by the instance's own
		// status write often comes first.
		return r.c.Renders.appliedUID(client.ObjectKeyFromObject(r.instance), obj), true, nil
	}
	r.c.Renders.shown(client.ObjectKeyFromObject(r.instance), obj.GroupVersionKind(), live)
	if r.owns(live) {
		return live.GetUID(), true, nil
	}
	return "", false, nil
}

// ownedNow reads obj's object from the API server and returns its UID if it
// is this instance's, "" if there is none, and a terminal error naming its
// owner if it is someone else's.
func (r *childWriter) ownedNow(ctx context.Context, obj *unstructured.Unstructured) (types.UID, error) {
	live, err := r.readMetadata(ctx, obj)
	switch {
	case kube.Gone(err):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("reading its owner: %w", err)
	}
	if r.owns(live) {
		return live.GetUID(), nil
	}
	return "", notOwnedError{kube.Fail("%s %s exists and belongs to %s: operetta neither overwrites nor adopts it",
		obj.GetKind(), obj.GetName(), r.ownerOf(ctx, live))}
}

// notOwnedError is the terminal failure to write a child whose object is
// not this instance's.
type notOwnedError struct{ err error }

func (e notOwnedError) Error() string { return e.err.Error() }
func (e notOwnedError) Unwrap() error { return e.err }

// owns says whether an object's labels name this instance.
func (r *childWriter) owns(live metav1.Object) bool {
	framework, instance, ok := v1alpha1.OwnerOfChild(live)
	return ok && framework == r.fw.Name && instance == client.ObjectKeyFromObject(r.instance)
}

// leaving says why a delete leaves an object that is not this instance's.
func (r *childWriter) leaving(ctx context.Context, obj *unstructured.Unstructured, live metav1.Object) string {
	return fmt.Sprintf("%s %s belongs to %s: left in place and forgotten", obj.GetKind(), obj.GetName(), r.ownerOf(ctx, live))
}

// ownerOf names the owner of an object that is not this instance's as a
// person knows it: by its kind, namespace and name ("Kafka tenant-a/db,
// not this instance"). The kind of another Framework's instance comes from
// the Frameworks cache.
func (r *childWriter) ownerOf(ctx context.Context, live metav1.Object) string {
	framework, instance, ok := v1alpha1.OwnerOfChild(live)
	if !ok {
		return "no operetta instance"
	}
	kind := ""
	if framework == r.fw.Name {
		kind = r.instance.GetKind()
	} else if r.c.Frameworks != nil {
		fw := &v1alpha1.Framework{}
		if err := r.c.Frameworks.Get(ctx, client.ObjectKey{Name: framework}, fw); err == nil {
			kind = crdgen.NamesOf(fw).Kind
		}
	}
	if kind == "" {
		return fmt.Sprintf("an instance of Framework %s, %s, not to this instance", framework, instance)
	}
	return fmt.Sprintf("%s %s, not to this instance", kind, instance)
}

// sendAs applies obj to the object of uid only, or, with uid "", creates it
// only. The precondition goes in the body sent, never in obj as rendered
// (its hash is taken before).
func (r *childWriter) sendAs(ctx context.Context, obj *unstructured.Unstructured, uid types.UID) (client.Object, error) {
	if uid != "" {
		obj.SetUID(uid)
	} else {
		obj.SetResourceVersion(createOnly)
	}
	applied, err := r.send(ctx, obj)
	if err != nil || applied != client.Object(obj) {
		// Not replaced by the API server's answer: as rendered again.
		unstructured.RemoveNestedField(obj.Object, "metadata", "uid")
		unstructured.RemoveNestedField(obj.Object, "metadata", "resourceVersion")
	}
	return applied, err
}

// refused says whether the API server refused an apply for its
// precondition (sendAs): 409 for a UID with no object or an object where
// none was expected, 422 for an object of another UID.
func refused(err error) bool {
	return kube.Conflict(err) || kube.ImmutableField(err, "metadata.uid")
}
