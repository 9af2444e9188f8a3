package tasks

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	u, err := asUnstructured(gvk, kstatusView(obj))
	if err != nil {
		return nil, err
	}
	res, err := status.Compute(u)
	if err == nil && remember {
		v.recent.Add(key, res)
	}
	return res, err
}

// kstatusView is what kstatus reads of obj, so that converting it for
// kstatus costs little: its rules read the metadata's generation and
// deletion, a workload's counts, strategy and type, and the status. A
// shallow copy keeps only the metadata it reads and leaves out the pod (or
// job, or claim) templates and a ConfigMap's or Secret's data, most of what
// converting costs. Any other kind is returned whole.
func kstatusView(obj client.Object) client.Object {
	meta := metav1.ObjectMeta{Name: obj.GetName(), Namespace: obj.GetNamespace(),
		Generation: obj.GetGeneration(), DeletionTimestamp: obj.GetDeletionTimestamp()}
	switch o := obj.(type) {
	case *appsv1.Deployment:
		spec := o.Spec
		spec.Template = corev1.PodTemplateSpec{}
		return &appsv1.Deployment{ObjectMeta: meta, Spec: spec, Status: o.Status}
	case *appsv1.StatefulSet:
		spec := o.Spec
		spec.Template, spec.VolumeClaimTemplates = corev1.PodTemplateSpec{}, nil
		return &appsv1.StatefulSet{ObjectMeta: meta, Spec: spec, Status: o.Status}
	case *appsv1.DaemonSet:
		spec := o.Spec
		spec.Template = corev1.PodTemplateSpec{}
		return &appsv1.DaemonSet{ObjectMeta: meta, Spec: spec, Status: o.Status}
	case *appsv1.ReplicaSet:
		spec := o.Spec
		spec.Template = corev1.PodTemplateSpec{}
		return &appsv1.ReplicaSet{ObjectMeta: meta, Spec: spec, Status: o.Status}
	case *batchv1.Job:
		spec := o.Spec
		spec.Template = corev1.PodTemplateSpec{}
		return &batchv1.Job{ObjectMeta: meta, Spec: spec, Status: o.Status}
	case *batchv1.CronJob:
		spec := o.Spec
		spec.JobTemplate = batchv1.JobTemplateSpec{}
		return &batchv1.CronJob{ObjectMeta: meta, Spec: spec, Status: o.Status}
	case *corev1.Service:
		return &corev1.Service{ObjectMeta: meta, Spec: o.Spec, Status: o.Status}
	case *corev1.ConfigMap:
		return &corev1.ConfigMap{ObjectMeta: meta}
	case *corev1.Secret:
		return &corev1.Secret{ObjectMeta: meta, Type: o.Type}
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
