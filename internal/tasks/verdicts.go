package tasks

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/lru"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Verdicts remembers kstatus' verdict on recent versions of children. The
// children cache holds built-in kinds as Go types, and kstatus reads only
// unstructured objects: converting a Deployment costs more than the rest of
// a health check. Judging an update, then the reconcile it wakes, then the
// next update look at the same versions; with Verdicts each version is
// converted once. It is safe for concurrent use; a nil Verdicts remembers
// nothing.
type Verdicts struct{ recent *lru.Cache }

// verdictsKept bounds the versions remembered: a few per child in flight.
const verdictsKept = 8192

// NewVerdicts returns an empty memory of verdicts.
func NewVerdicts() *Verdicts { return &Verdicts{recent: lru.New(verdictsKept)} }

type version struct {
	uid             types.UID
	resourceVersion string
}

// of is kstatus' verdict on obj, of kind gvk.
func (v *Verdicts) of(gvk schema.GroupVersionKind, obj client.Object) (*status.Result, error) {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		return status.Compute(u)
	}
	key := version{obj.GetUID(), obj.GetResourceVersion()}
	// kstatus judges a Pod not scheduled by the clock (InProgress for 15 s,
	// Failed after) with no new version in between: never remembered.
	remember := v != nil && key.uid != "" && !(gvk.Group == "" && gvk.Kind == "Pod")
	if remember {
		if res, ok := v.recent.Get(key); ok {
			return res.(*status.Result), nil
		}
	}
	u, err := asUnstructured(gvk, withoutTemplates(obj))
	if err != nil {
		return nil, err
	}
	res, err := status.Compute(u)
	if err == nil && remember {
		v.recent.Add(key, res)
	}
	return res, err
}

// withoutTemplates is a shallow copy of a workload without its pod (or job,
// or claim) templates, which are most of what converting it costs and of
// which kstatus reads nothing: its rules read the spec's counts, strategy
// and type, and the status. Any other object is returned as it is.
func withoutTemplates(obj client.Object) client.Object {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		thin := *o
		thin.Spec.Template = corev1.PodTemplateSpec{}
		return &thin
	case *appsv1.StatefulSet:
		thin := *o
		thin.Spec.Template, thin.Spec.VolumeClaimTemplates = corev1.PodTemplateSpec{}, nil
		return &thin
	case *appsv1.DaemonSet:
		thin := *o
		thin.Spec.Template = corev1.PodTemplateSpec{}
		return &thin
	case *appsv1.ReplicaSet:
		thin := *o
		thin.Spec.Template = corev1.PodTemplateSpec{}
		return &thin
	case *batchv1.Job:
		thin := *o
		thin.Spec.Template = corev1.PodTemplateSpec{}
		return &thin
	case *batchv1.CronJob:
		thin := *o
		thin.Spec.JobTemplate = batchv1.JobTemplateSpec{}
		return &thin
	}
	return obj
}

// asUnstructured is a child as expressions and kstatus read it.
func asUnstructured(gvk schema.GroupVersionKind, obj client.Object) (*unstructured.Unstructured, error) {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		return u, nil
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("converting %s %s: %w", gvk.Kind, obj.GetName(), err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(gvk)
	return u, nil
}
