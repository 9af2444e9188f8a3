package framework

import (
	"context"
	"fmt"
	"sort"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/conditions"
	"operetta.dev/operetta/internal/crdgen"
	"operetta.dev/operetta/internal/kube"
	"operetta.dev/operetta/internal/reconcile/finalizer"
	"operetta.dev/operetta/internal/reconcile/instance"
)

// delete takes a Framework away in the order its deletion policy says, and
// says in its Ready condition what it waits for:
//
//   - Delete: delete every instance and wait while their cleanup plans run
//     (the loop keeps running for them), then stop the loop, delete the CRD,
//     and let the Framework go.
//   - Retain: wait for cleanups already running, stop the loop, take the
//     cleanup finalizer off the remaining instances (no loop is left to honour
//     it; a Framework of the same kind puts it back), and let the Framework go.
func (r *Reconciler) delete(ctx context.Context, fw *v1alpha1.Framework) (ctrl.Result, deletionWait, error) {
	if !controllerutil.ContainsFinalizer(fw, v1alpha1.FinalizerFramework) {
		r.Engine.Stop(fw.Name)
		r.forget(fw.Name)
		return ctrl.Result{}, notWaiting, nil
	}
	names := crdgen.NamesOf(fw)
	gvk := schema.GroupVersionKind{Group: names.Group, Version: names.Version, Kind: names.Kind}
	instances, err := r.instances(ctx, fw, gvk)
	if err != nil {
		return ctrl.Result{}, notWaiting, err
	}
	if len(instances) > 0 && !r.Engine.IsRunning(fw.Name) {
		// Cleanup needs the loop: start it if this generation can run.
		if compiled, errs := r.Compiled.Of(fw); len(errs) == 0 {
			revision, _, err := r.revisionOf(ctx, fw)
			if err != nil {
				return ctrl.Result{}, notWaiting, err
			}
			if err := r.startLoop(ctx, compiled, revision); kube.Classify(err) == kube.Waiting {
				// Not elected yet: as install does, look again soon.
				return ctrl.Result{RequeueAfter: deletionPoll}, notWaiting, nil
			} else if err != nil {
				return ctrl.Result{}, notWaiting, err
			}
		}
	}
	if fw.Spec.DeletionPolicy == v1alpha1.DeletionDelete {
		if len(instances) > 0 {
			for i := range instances {
				if instances[i].GetDeletionTimestamp() == nil {
					if err := r.Client.Delete(ctx, &instances[i]); client.IgnoreNotFound(err) != nil {
						return ctrl.Result{}, notWaiting, fmt.Errorf("deleting %s %s/%s: %w", gvk.Kind, instances[i].GetNamespace(), instances[i].GetName(), err)
					}
				}
			}
			if !r.Engine.IsRunning(fw.Name) {
				if err := r.releaseInstances(ctx, instances); err != nil {
					return ctrl.Result{}, notWaiting, err
				}
			}
			setDeleting(fw, "deletionPolicy Delete: "+waitingForInstances+": "+describeInstances(instances))
			return ctrl.Result{RequeueAfter: deletionPoll}, forInstances, nil
		}
		r.Engine.Stop(fw.Name)
		if gone, err := r.deleteCRD(ctx, fw); err != nil || !gone {
			setDeleting(fw, fmt.Sprintf("deletionPolicy Delete: waiting for CRD %s to be deleted", crdgen.CRDName(fw)))
			return ctrl.Result{RequeueAfter: deletionPoll}, forCRD, err
		}
	} else {
		var cleaning []unstructured.Unstructured
		for _, u := range instances {
			if u.GetDeletionTimestamp() != nil && controllerutil.ContainsFinalizer(&u, v1alpha1.FinalizerCleanup) {
				cleaning = append(cleaning, u)
			}
		}
		if len(cleaning) > 0 && r.Engine.IsRunning(fw.Name) {
			setDeleting(fw, "deletionPolicy Retain: "+waitingForCleanups+": "+describeInstances(cleaning))
			return ctrl.Result{RequeueAfter: deletionPoll}, forCleanups, nil
		}
		r.Engine.Stop(fw.Name)
		if err := r.releaseInstances(ctx, instances); err != nil {
			return ctrl.Result{}, notWaiting, err
		}
	}
	if r.UserRoles {
		if err := r.deleteRoles(ctx, fw.Name); err != nil {
			return ctrl.Result{}, notWaiting, err
		}
	}
	if err := finalizer.Set(ctx, r.Client, fw, v1alpha1.FinalizerFramework, false); err != nil {
		res, err := kube.ResultOf(err)
		return res, notWaiting, err
	}
	r.forget(fw.Name)
	ctrl.LoggerFrom(ctx).Info("Framework deleted", "deletionPolicy", fw.Spec.DeletionPolicy)
	return ctrl.Result{}, notWaiting, nil
}

// instances lists the instances of the kind that this Framework generated.
// A kind that is not served (no CRD, or another Framework's) has none.
func (r *Reconciler) instances(ctx context.Context, fw *v1alpha1.Framework, gvk schema.GroupVersionKind) ([]unstructured.Unstructured, error) {
	crd, err := r.existingCRD(ctx, crdgen.CRDName(fw))
	if err != nil || crdgen.Owner(crd, "") != fw.Name {
		return nil, err
	}
	items, err := instance.List(ctx, r.APIReader, gvk)
	if kube.Gone(err) || kube.NotServed(err) {
		return nil, nil
	}
	return items, err
}

// releaseInstances takes operetta's cleanup finalizer off instances no loop
// will reconcile, so none of them is stuck on deletion.
func (r *Reconciler) releaseInstances(ctx context.Context, instances []unstructured.Unstructured) error {
	for i := range instances {
		if err := finalizer.Set(ctx, r.Client, &instances[i], v1alpha1.FinalizerCleanup, false); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("releasing %s/%s: %w", instances[i].GetNamespace(), instances[i].GetName(), err)
		}
	}
	return nil
}

// deleteCRD deletes the Framework's CRD if it is the Framework's own, and
// reports whether it is gone.
func (r *Reconciler) deleteCRD(ctx context.Context, fw *v1alpha1.Framework) (bool, error) {
	name := crdgen.CRDName(fw)
	existing, err := r.existingCRD(ctx, name)
	if err != nil {
		return false, err
	}
	if crdgen.Owner(existing, "") != fw.Name {
		return true, nil // never ours, or gone
	}
	crd := &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := r.Client.Delete(ctx, crd); client.IgnoreNotFound(err) != nil {
		return false, fmt.Errorf("deleting CRD %s: %w", name, err)
	}
	return false, nil // the next reconcile sees whether it went
}

// What a deletion can wait for that someone may have to act on; a CRD being
// deleted is only a moment.
const (
	waitingForInstances = "waiting for instances to be deleted"
	waitingForCleanups  = "waiting for running cleanups before stopping the loop"
)

// deletionWait is what a Framework being deleted waits for.
type deletionWait int

const (
	notWaiting   deletionWait = iota
	forCRD                    // a moment
	forInstances              // their deletion, or cleanups someone may have to act on
	forCleanups
)

// blocked says whether the wait may need a person: the DeletionBlocked
// event tells them.
func (w deletionWait) blocked() bool { return w == forInstances || w == forCleanups }

func setDeleting(fw *v1alpha1.Framework, msg string) {
	working(fw, conditions.Deleting, msg)
}

// describeInstances names instances and what their active plan does, sorted
// so the message does not change while nothing does.
func describeInstances(instances []unstructured.Unstructured) string {
	parts := make([]string, 0, len(instances))
	for i := range instances {
		st := instance.ReadStatus(&instances[i])
		p := fmt.Sprintf("%s/%s", instances[i].GetNamespace(), instances[i].GetName())
		if st.ActivePlan != "" {
			p += fmt.Sprintf(" (plan %s %s)", st.ActivePlan, st.ActivePlanStatus)
		}
		parts = append(parts, p)
	}
	sort.Strings(parts)
	const most = 10
	if len(parts) > most {
		parts = append(parts[:most], fmt.Sprintf("and %d more", len(parts)-most))
	}
	return strings.Join(parts, ", ")
}
