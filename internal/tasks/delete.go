package tasks

import (
	"context"
	"errors"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/kube"
	"operetta.dev/operetta/internal/plans"
)

// delete deletes every resource and waits until all of them are gone. An
// object that is not this instance's is left, and said so in the step's
// message.
func (r *pruner) delete(ctx context.Context, ids []string) plans.Outcome {
	var waiting, left []string
	for _, id := range ids {
		objs, err := r.renderer.renderAll(id)
		if kube.NotServed(err) {
			continue // a kind the cluster does not serve has nothing to delete
		}
		if err != nil {
			return outcome(err)
		}
		for _, obj := range objs {
			gone, leaving, err := r.deleteObject(ctx, obj)
			if err != nil {
				return outcome(err)
			}
			if !gone {
				waiting = append(waiting, fmt.Sprintf("%s %s: being deleted", obj.GetKind(), obj.GetName()))
				continue
			}
			if leaving != "" {
				left = append(left, leaving)
			}
			delete(r.vars.Resources, id)
			r.inventory.forget(r.inventory.itemOf(obj))
		}
	}
	out := waitingFor(waiting)
	if out.Result == plans.Done && len(left) > 0 {
		out.Message = strings.Join(left, "; ")
	}
	return out
}

// deleteObject deletes obj in the background, if it is this instance's,
// and reports whether it is gone. The children cache says whether it still
// exists, so waiting for it to go sends nothing: a child the cache does not
// hold is gone (operetta deletes only its own children), one marked for
// deletion is on its way. An object whose labels name another instance, or
// none, is never deleted: it counts as gone, for the caller to forget, and
// leaving says why, for the instance's status and events. The delete names
// the UID of the object found to be this instance's, so one replaced since
// is not deleted either.
func (r *pruner) deleteObject(ctx context.Context, obj *unstructured.Unstructured) (gone bool, leaving string, err error) {
	live, found, err := r.c.Children.Get(ctx, obj.GroupVersionKind(), client.ObjectKeyFromObject(obj))
	var notCached *cache.ErrResourceNotCached
	unwatched := errors.As(err, &notCached)
	switch {
	case unwatched:
		// A kind no loop watches any more (its template was removed): ask
		// the API server.
		if live, err = r.writer.readMetadata(ctx, obj); kube.NotServed(err) || kube.Gone(err) {
			return true, "", nil // nothing of it is left
		}
		if err != nil {
			return false, "", fmt.Errorf("reading %s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
	case err != nil:
		return false, "", fmt.Errorf("reading %s %s from the cache: %w", obj.GetKind(), obj.GetName(), err)
	case !found:
		return true, "", nil
	}
	if !r.writer.owns(live) && !unwatched {
		// Let go of it for good only on the API server's word, not on a
		// cache that may be behind.
		if live, err = r.writer.readMetadata(ctx, obj); kube.Gone(err) {
			return true, "", nil
		}
		if err != nil {
			return false, "", fmt.Errorf("reading whose %s %s is: %w", obj.GetKind(), obj.GetName(), err)
		}
	}
	if !r.writer.owns(live) {
		return true, r.writer.leaving(ctx, obj, live), nil
	}
	if live.GetDeletionTimestamp() != nil {
		// On its way; with no informer, its accepted delete is all there
		// is to wait for.
		return unwatched, "", nil
	}
	uid := live.GetUID()
	err = r.c.Writer.Delete(ctx, obj, client.PropagationPolicy(metav1.DeletePropagationBackground), client.Preconditions{UID: &uid})
	if kube.Conflict(err) {
		// Replaced since it was read: the next try looks at the new one.
		return false, "", fmt.Errorf("deleting %s %s: it was replaced meanwhile: %w", obj.GetKind(), obj.GetName(), err)
	}
	if client.IgnoreNotFound(err) != nil {
		return false, "", fmt.Errorf("deleting %s %s: %w", obj.GetKind(), obj.GetName(), err)
	}
	// Gone if it was not found. Else its delete event comes, unless no
	// informer watches the kind: then the accepted delete is all there
	// is to wait for, since nothing would wake the instance again.
	return err != nil || unwatched, "", nil
}

// Kept is what Keep did.
type Kept struct {
	// Pruned children, whose template the Framework no longer has.
	Pruned []string
	// Corrected children, which someone else changed or deleted.
	Corrected []string
	// Left describes the children not pruned because they are not this
	// instance's (their labels name another instance, or none): forgotten,
	// and worth a Warning.
	Left []string
	// NotReady describes the children that are not healthy now (by their
	// readyWhen, else kstatus), each named; Failed those of them that
	// failed for good (kstatus Failed).
	NotReady, Failed []string
}

// keep keeps an instance whose plans are done as they left it: children whose
// template the Framework no longer has are pruned, and children someone else
// changed or deleted are applied again. The others' health is reported, so
// the instance's readiness follows its children after its plans are done.
// It reads from the children cache, so an instance with nothing to fix
// costs no request.
func (r *pruner) keep(ctx context.Context) (Kept, error) {
	var kept Kept
	items := append([]v1alpha1.InventoryItem(nil), r.status.Inventory...)
	prune := r.prunable(items)
	// A collection's health is its readyWhen over all its objects, or
	// each one's: judged once they are all read.
	collections := map[string][]client.Object{}
	for i, item := range items {
		res, rendered := r.fw.Resources[item.ID]
		if prune[i] {
			gone, leaving, err := r.deleteObject(ctx, r.inventory.objectOf(item))
			if err != nil {
				return kept, err
			}
			switch {
			case leaving != "":
				r.inventory.forget(item)
				kept.Left = append(kept.Left, leaving)
			case gone:
				r.inventory.forget(item)
				kept.Pruned = append(kept.Pruned, item.Kind+"/"+item.Name)
			}
			continue
		}
		if !rendered {
			continue // a task's: a child instance's own loop keeps it, a Pipe task's output is data
		}
		live, current, err := r.applier.current(ctx, item)
		if err != nil {
			return kept, err
		}
		if current {
			if len(res.ForEach) > 0 {
				collections[item.ID] = append(collections[item.ID], live)
				continue
			}
			kept.health(r.applier, item, live)
			continue
		}
		if r.applier.cacheBehind(item, live) {
			// Applied a moment ago by a plan: the event that shows it
			// wakes the instance, and its health is judged then.
			continue
		}
		if res.ReadsResources {
			if err := r.applier.observe(ctx); err != nil {
				return kept, err
			}
		}
		corrected, err := r.correct(ctx, item)
		var notOwned notOwnedError
		if errors.As(err, &notOwned) {
			// Its object became another's: no retry frees it, and the
			// instance's conditions say whose it is.
			kept.Failed = append(kept.Failed, err.Error())
			continue
		}
		if err != nil {
			return kept, err
		}
		if !corrected {
			r.inventory.markSuperseded(item) // pruned by the next Keep
			continue
		}
		kept.Corrected = append(kept.Corrected, item.Kind+"/"+item.Name)
	}
	for id, lives := range collections {
		waiting, err := r.applier.collectionHealth(id, lives)
		if err != nil && Classify(err) == plans.Fatal {
			kept.Failed = append(kept.Failed, err.Error())
			continue
		}
		if err != nil {
			return kept, err
		}
		kept.NotReady = append(kept.NotReady, waiting...)
	}
	return kept, nil
}

// prunable says which of the inventory's entries items keep prunes: those
// of a resource or task the Framework no longer has, and stale ones. An
// entry of a CEL template's id applied again under another name or API
// version since is stale: the last one recorded for an id is its child now.
// A Go template's render says itself which objects it no longer has
// (superseded).
func (r *pruner) prunable(items []v1alpha1.InventoryItem) []bool {
	last := map[string]int{}
	for i, item := range items {
		last[item.ID] = i
	}
	prune := make([]bool, len(items))
	for i, item := range items {
		res, rendered := r.fw.Resources[item.ID]
		// Instance and Pipe tasks record what they write under the
		// task's name; another task of an old resource's name does not
		// keep its child.
		task, isTask := r.fw.Tasks[item.ID]
		taskWrote := isTask && (task.Kind == v1alpha1.TaskInstance || task.Kind == v1alpha1.TaskPipe)
		stale := item.Superseded || (rendered && !res.Collection() && last[item.ID] != i)
		prune[i] = stale || (!rendered && !taskWrote)
	}
	return prune
}

// correct applies the object an inventory entry records again, rendered as
// the step that applied it rendered it, and recorded as applied there; it
// returns false if that render no longer has the object.
func (r *pruner) correct(ctx context.Context, item v1alpha1.InventoryItem) (bool, error) {
	if r.fw.Resources[item.ID].Go != nil {
		defer r.renderer.enterStep(item.Step)()
	}
	objs, err := r.renderer.renderAll(item.ID)
	if err != nil {
		return false, err
	}
	for _, obj := range objs {
		if sameObject(r.inventory.itemOf(obj), item) {
			_, err := r.applier.applyChild(ctx, item.ID, obj, r.inventory.hash(obj))
			return true, err
		}
	}
	return false, nil
}

// health records a kept child that is not healthy.
func (k *Kept) health(r *applier, item v1alpha1.InventoryItem, live client.Object) {
	var ready bool
	var msg string
	err := r.expose(item.ID, live) // first: a readyWhen reads it
	if err == nil {
		ready, msg, err = r.health(item.ID, live)
	}
	switch {
	case err != nil && Classify(err) == plans.Fatal:
		k.Failed = append(k.Failed, err.Error())
	case err != nil:
		k.NotReady = append(k.NotReady, fmt.Sprintf("%s %s: %v", item.Kind, item.Name, err))
	case !ready:
		k.NotReady = append(k.NotReady, fmt.Sprintf("%s %s: %s", item.Kind, item.Name, msg))
	}
}

// deleteOutside deletes the children no owner reference covers (in other
// namespaces, or cluster-scoped) and reports whether all of them are gone.
// One that is not this instance's is left and forgotten, so the instance's
// deletion never waits on it; Executor.Left says which.
func (r *pruner) deleteOutside(ctx context.Context) (bool, error) {
	all := true
	for _, item := range append([]v1alpha1.InventoryItem(nil), r.status.Inventory...) {
		if item.Namespace == "" && !item.Cluster {
			continue // the garbage collector follows the owner reference
		}
		gone, leaving, err := r.deleteObject(ctx, r.inventory.objectOf(item))
		if err != nil {
			return false, err
		}
		if leaving != "" {
			r.left = append(r.left, leaving)
		}
		if gone {
			r.inventory.forget(item)
		} else {
			all = false
		}
	}
	return all, nil
}

// Left describes the children DeleteOutside left because they are not this
// instance's: forgotten, and worth a Warning.
func (r *Executor) Left() []string { return r.left }
