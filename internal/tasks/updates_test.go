package tasks

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/internal/compile"
)

func TestOnlyUpdatesThatCanChangeADecisionMatter(t *testing.T) {
	deploymentKind := appsv1.SchemeGroupVersion.WithKind("Deployment")
	deployment := func(generation int64, mutate func(*appsv1.Deployment)) *appsv1.Deployment {
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "apps", Generation: generation, Labels: map[string]string{"app": "web"}},
			Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](1)},
			Status:     appsv1.DeploymentStatus{ObservedGeneration: generation},
		}
		if mutate != nil {
			mutate(d)
		}
		return d
	}
	scheduled := func(d *appsv1.Deployment) { d.Status.Replicas, d.Status.UpdatedReplicas = 1, 1 }
	available := func(d *appsv1.Deployment) {
		scheduled(d)
		d.Status.ReadyReplicas, d.Status.AvailableReplicas = 1, 1
		d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue}}
	}
	kstatusOnly := &compile.Framework{}
	looksInside := &compile.Framework{Projections: []compile.Projection{{Name: "endpoint", UsesResources: true}}}
	custom := func(status string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("example.com/v1")
		u.SetKind("ZooKeeper")
		u.SetGeneration(1)
		_ = unstructured.SetNestedField(u.Object, status, "status", "phase")
		return u
	}
	for _, tc := range []struct {
		name     string
		fw       *compile.Framework
		old, new client.Object
		want     bool
	}{
		{"status written, still rolling out", kstatusOnly, deployment(1, nil), deployment(1, scheduled), false},
		{"status written, now available", kstatusOnly, deployment(1, scheduled), deployment(1, available), true},
		{"available, then unavailable", kstatusOnly, deployment(1, available), deployment(1, scheduled), true},
		{"spec changed by someone else", kstatusOnly, deployment(1, available), deployment(2, available), true},
		{"labels changed", kstatusOnly, deployment(1, nil), deployment(1, func(d *appsv1.Deployment) { d.Labels = nil }), true},
		{"being deleted", kstatusOnly, deployment(1, nil), deployment(1, func(d *appsv1.Deployment) { d.DeletionTimestamp = &metav1.Time{} }), true},
		{"a kind without a generation drifts on any change", kstatusOnly,
			&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "page", ResourceVersion: "1"}},
			&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "page", ResourceVersion: "2"}}, true},
		{"a Framework that reads children", looksInside, deployment(1, nil), deployment(1, scheduled), true},
		{"deleted and made again by someone else", kstatusOnly, deployment(1, nil), deployment(1, func(d *appsv1.Deployment) { d.UID = "again" }), true},
		{"still failed, for a new reason", kstatusOnly, failedJob(1), failedJob(2), true},
		{"still failed, for the same reason", kstatusOnly, failedJob(1), failedJob(1), false},
		{"a custom kind", kstatusOnly, custom("Pending"), custom("Running"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gvk := deploymentKind
			if _, ok := tc.new.(*batchv1.Job); ok {
				gvk = batchv1.SchemeGroupVersion.WithKind("Job")
			}
			if u, ok := tc.new.(*unstructured.Unstructured); ok {
				gvk = u.GroupVersionKind()
			} else if _, ok := tc.new.(*corev1.ConfigMap); ok {
				gvk = corev1.SchemeGroupVersion.WithKind("ConfigMap")
			}
			if got := UpdateMatters(tc.fw, NewVerdicts(), gvk, tc.old, tc.new); got != tc.want {
				t.Errorf("UpdateMatters = %v; want %v", got, tc.want)
			}
		})
	}
}

// failedJob is a Job that failed, its pods having failed the given times.
func failedJob(failed int32) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "migrate", Namespace: "apps", Generation: 1},
		Status: batchv1.JobStatus{Failed: failed, Conditions: []batchv1.JobCondition{
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue}}},
	}
}

func TestAPodVerdictIsNotRemembered(t *testing.T) {
	gvk := corev1.SchemeGroupVersion.WithKind("Pod")
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", UID: "u1", ResourceVersion: "3", CreationTimestamp: metav1.Now()},
		Status: corev1.PodStatus{Phase: corev1.PodPending}}
	v := NewVerdicts()
	if first, err := v.of(gvk, pod); err != nil || first.Status != "InProgress" {
		t.Fatalf("a pending Pod: %v, %v; want InProgress", first, err)
	}
	// kstatus judges a Pod by the time too: the same version turns Failed
	// once it has waited too long to be scheduled. Here its status changes
	// under the same version instead, which only a fresh look sees.
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	if again, err := v.of(gvk, pod); err != nil || again.Status != "Current" {
		t.Errorf("the same Pod version, looked at again: %v, %v; want it judged again (Current)", again, err)
	}
}

func TestAVerdictIsComputedOncePerVersion(t *testing.T) {
	gvk := appsv1.SchemeGroupVersion.WithKind("Deployment")
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", UID: "u1", ResourceVersion: "7", Generation: 1},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](1)},
		Status:     appsv1.DeploymentStatus{ObservedGeneration: 1},
	}
	v := NewVerdicts()
	first, err := v.of(gvk, d)
	if err != nil || first.Status != "InProgress" {
		t.Fatalf("a Deployment with no replica up: %v, %v; want InProgress", first, err)
	}
	// The same version again is not looked at again: a cache's object of
	// one resourceVersion never changes.
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1,
		Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue}}}
	if again, _ := v.of(gvk, d); again != first {
		t.Errorf("the same version: %v; want the remembered %v", again, first)
	}
	d.ResourceVersion = "8"
	if next, err := v.of(gvk, d); err != nil || next.Status != "Current" {
		t.Errorf("a new version, available: %v, %v; want Current", next, err)
	}
}

func TestAVerdictOnItsViewIsKstatusOwn(t *testing.T) {
	template := corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}}}}
	available := []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue}}
	meta := func(kind string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: kind, Namespace: "apps", UID: types.UID(kind), ResourceVersion: "1", Generation: 2,
			Labels: map[string]string{"app": kind}, Annotations: map[string]string{"note": kind}}
	}
	gone := metav1.Now()
	deleting, deletingDeployment := meta("leaving"), meta("retiring")
	deleting.DeletionTimestamp, deletingDeployment.DeletionTimestamp = &gone, &gone
	for _, obj := range []client.Object{
		&appsv1.Deployment{ObjectMeta: meta("rolling"), Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](3), Template: template},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 2, AvailableReplicas: 2}},
		&appsv1.Deployment{ObjectMeta: meta("available"), Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Template: template},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1, Conditions: available}},
		&appsv1.Deployment{ObjectMeta: meta("changed"), Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Template: template},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1, Conditions: available}},
		&appsv1.StatefulSet{ObjectMeta: meta("partitioned"), Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](3), Template: template,
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](2)}}},
			Status: appsv1.StatefulSetStatus{ObservedGeneration: 2, Replicas: 3, ReadyReplicas: 3, CurrentReplicas: 2, UpdatedReplicas: 1}},
		&batchv1.Job{ObjectMeta: meta("failed"), Spec: batchv1.JobSpec{Template: template},
			Status: batchv1.JobStatus{Failed: 1, Conditions: []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue}}}},
		&appsv1.DaemonSet{ObjectMeta: meta("scheduling"), Spec: appsv1.DaemonSetSpec{Template: template},
			Status: appsv1.DaemonSetStatus{ObservedGeneration: 2, DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, UpdatedNumberScheduled: 3, NumberAvailable: 2, NumberReady: 2}},
		&appsv1.ReplicaSet{ObjectMeta: meta("ready"), Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](2), Template: template},
			Status: appsv1.ReplicaSetStatus{ObservedGeneration: 2, Replicas: 2, ReadyReplicas: 2, AvailableReplicas: 2, FullyLabeledReplicas: 2}},
		&batchv1.CronJob{ObjectMeta: meta("nightly"), Spec: batchv1.CronJobSpec{Schedule: "@daily", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: template}}}},
		&corev1.Service{ObjectMeta: meta("balancing"), Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}},
		&corev1.Service{ObjectMeta: meta("plain"), Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.0.0.2"}},
		&corev1.ConfigMap{ObjectMeta: meta("settings"), Data: map[string]string{"greeting": "hello"}},
		&corev1.Secret{ObjectMeta: meta("password"), Data: map[string][]byte{"password": []byte("s3cret")}},
		&corev1.ConfigMap{ObjectMeta: deleting},
		&appsv1.Deployment{ObjectMeta: deletingDeployment, Spec: appsv1.DeploymentSpec{Template: template},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1, Conditions: available}},
	} {
		gvks, _, err := clientgoscheme.Scheme.ObjectKinds(obj)
		if err != nil {
			t.Fatal(err)
		}
		full, err := asUnstructured(gvks[0], obj)
		if err != nil {
			t.Fatal(err)
		}
		want, err := status.Compute(full)
		if err != nil {
			t.Fatal(err)
		}
		got, err := NewVerdicts().of(gvks[0], obj)
		if err != nil || got.Status != want.Status || got.Message != want.Message {
			t.Errorf("%s %s: %v (%v); want kstatus' own %v", gvks[0].Kind, obj.GetName(), got, err, want)
		}
	}
}
