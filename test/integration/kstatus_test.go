package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
)

// deployment is a one-replica Deployment resource, named after the instance.
func deployment(id string) v1alpha1.Resource {
	return resource(id, fmt.Sprintf(`{"apiVersion":"apps/v1","kind":"Deployment",
		"metadata":{"name":"${instance.metadata.name}-%s"},
		"spec":{"replicas":1,"selector":{"matchLabels":{"app":"${instance.metadata.name}"}},
		"template":{"metadata":{"labels":{"app":"${instance.metadata.name}"}},"spec":{"containers":[{"name":"web","image":"nginx:1.27"}]}}}}`, id))
}

// setDeploymentReady plays the Deployment controller, which envtest does not
// run: the Deployment reports its replica ready, or not.
func setDeploymentReady(t *testing.T, ns, name string, ready bool) {
	t.Helper()
	dep := &appsv1.Deployment{}
	if err := k8s.Get(ctx(t), client.ObjectKey{Namespace: ns, Name: name}, dep); err != nil {
		t.Fatal(err)
	}
	dep.Status = appsv1.DeploymentStatus{ObservedGeneration: dep.Generation, Replicas: 1, UpdatedReplicas: 1,
		Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable"}}}
	available := corev1.ConditionFalse
	if ready {
		dep.Status.ReadyReplicas, dep.Status.AvailableReplicas, available = 1, 1, corev1.ConditionTrue
	} else {
		dep.Status.UnavailableReplicas = 1
	}
	dep.Status.Conditions = append(dep.Status.Conditions, appsv1.DeploymentCondition{Type: appsv1.DeploymentAvailable, Status: available, Reason: "MinimumReplicas"})
	if err := k8s.Status().Update(ctx(t), dep); err != nil {
		t.Fatal(err)
	}
}

// expectHealth checks what kstatus, and so Flux and kubectl wait, and the
// chart's Argo CD health check make of u.
func expectHealth(t *testing.T, state string, u *unstructured.Unstructured, kstatus status.Status, argo string) {
	t.Helper()
	res, err := status.Compute(u)
	if err != nil {
		t.Fatalf("%s: kstatus: %v", state, err)
	}
	if res.Status != kstatus {
		t.Errorf("%s: kstatus reads %s (%s), want %s", state, res.Status, res.Message, kstatus)
	}
	if got, msg := argoHealth(t, u); got != argo {
		t.Errorf("%s: the Argo CD health check reads %s (%s), want %s", state, got, msg, argo)
	}
}

var frameworkGVK = v1alpha1.GroupVersion.WithKind("Framework")

// TestKstatusAndArgoCDReadEveryState reads real objects of every state with
// kstatus and with the Argo CD health check, from a Framework just created
// to an instance whose child degraded after its plan completed.
func TestKstatusAndArgoCDReadEveryState(t *testing.T) {
	startManager(t)
	ns := namespace(t, "health")
	group := "health.test.operetta.dev"
	gvk := thingGVK(group)

	// A Framework as created: operetta has not looked at it yet.
	fw := framework("health", group, nil,
		[]v1alpha1.Resource{
			resource("svc", `{"apiVersion":"v1","kind":"Service","metadata":{"name":"${instance.metadata.name}"},"spec":{"ports":[{"port":"${instance.spec.value}"}]}}`),
			deployment("web"),
		},
		[]v1alpha1.Task{apply("app", "svc", "web")}, onePlan("app"))
	created := unstructuredFramework(t, fw)
	if err := k8s.Create(ctx(t), created); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(ctx(t), created) })
	expectHealth(t, "a Framework just created", created, status.InProgressStatus, "Progressing")
	frameworkReady(t, "health", metav1.ConditionTrue)
	u, err := get(t, frameworkGVK, "", "health")
	if err != nil {
		t.Fatal(err)
	}
	expectHealth(t, "a Framework serving", u, status.CurrentStatus, "Healthy")

	// An invalid Framework: only changing it helps.
	bad := framework("health-bad", "health-bad.test.operetta.dev", nil,
		[]v1alpha1.Resource{configMap("config", "")}, []v1alpha1.Task{apply("config", "config")}, onePlan("config"))
	bad.Spec.Resources[0].Template.Raw = []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":{"n":"${instance.spec.value + 'a'}"}}`)
	createFramework(t, bad)
	frameworkReady(t, "health-bad", metav1.ConditionFalse)
	if u, err = get(t, frameworkGVK, "", "health-bad"); err != nil {
		t.Fatal(err)
	}
	expectHealth(t, "an invalid Framework", u, status.FailedStatus, "Degraded")

	// An instance as created: its status is only the schema's default.
	inst := instance(gvk, ns, "app", map[string]any{})
	if err := k8s.Create(ctx(t), inst); err != nil {
		t.Fatal(err)
	}
	expectHealth(t, "an instance just created", inst, status.InProgressStatus, "Progressing")

	u = waitForPlan(t, gvk, ns, "app", "deploy", "IN_PROGRESS")
	expectHealth(t, "a plan running", u, status.InProgressStatus, "Progressing")
	// An instance's own work is no rollout: its Framework still reads
	// Current (a GitOps tool waiting on Frameworks must not wait for it).
	eventually(t, 30*time.Second, func() error {
		fw, err := get(t, frameworkGVK, "", "health")
		if err != nil {
			return err
		}
		if st, ok, _ := unstructured.NestedInt64(fw.Object, "status", "instances", "total"); !ok || st != 1 {
			return fmt.Errorf("the Framework does not count the instance yet: %v", fw.Object["status"])
		}
		u = fw
		return nil
	})
	expectHealth(t, "a Framework serving while an instance deploys", u, status.CurrentStatus, "Healthy")
	u = waitForPlan(t, gvk, ns, "app", "deploy", "IN_PROGRESS")

	setDeploymentReady(t, ns, "app-web", true)
	u = waitForPlan(t, gvk, ns, "app", "deploy", "COMPLETE")
	expectHealth(t, "a plan complete", u, status.CurrentStatus, "Healthy")

	// After the plan, readiness follows the children: one transition each
	// way, seen by a watch of the instance from here on.
	transitions := watchReady(t, gvk, ns, "app", u.GetResourceVersion())
	setDeploymentReady(t, ns, "app-web", false)
	u = waitForReady(t, gvk, ns, "app", metav1.ConditionFalse)
	expectHealth(t, "a child degraded", u, status.InProgressStatus, "Degraded")
	ready := readyCondition(t, u)
	if ready.Reason != "ChildNotReady" || !strings.Contains(ready.Message, "Deployment app-web") {
		t.Fatalf("Ready after the Deployment lost its replica: %+v; want reason ChildNotReady naming Deployment app-web", ready)
	}
	if planStatus(u, "deploy") != "COMPLETE" || u.GetGeneration() != 1 {
		t.Fatalf("a degraded child re-ran the plan or changed the instance: plan %s, generation %d", planStatus(u, "deploy"), u.GetGeneration())
	}
	setDeploymentReady(t, ns, "app-web", true)
	u = waitForReady(t, gvk, ns, "app", metav1.ConditionTrue)
	expectHealth(t, "the child healthy again", u, status.CurrentStatus, "Healthy")
	if got := transitions(u.GetResourceVersion()); strings.Join(got, ",") != "False,True" {
		t.Fatalf("Ready went %v, want False then True, once each", got)
	}

	// A plan that failed for good: the API server refuses the Service.
	if err := k8s.Create(ctx(t), instance(gvk, ns, "bad", map[string]any{"value": int64(70000)})); err != nil {
		t.Fatal(err)
	}
	u = waitForPlan(t, gvk, ns, "bad", "deploy", "FATAL_ERROR")
	expectHealth(t, "a plan failed", u, status.FailedStatus, "Degraded")
	// (A plan retrying an error, ERROR, is read in
	// TestChildrenAreAppliedAsTheServiceAccount.)
}

// watchReady watches an instance from resourceVersion rv, and returns a
// function that waits until the watch has seen version until, stops it, and
// gives every change of the Ready condition's status on the way (from True).
func watchReady(t *testing.T, gvk schema.GroupVersionKind, ns, name, rv string) func(until string) []string {
	t.Helper()
	wc, err := client.NewWithWatch(restConfig, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	w, err := wc.Watch(ctx(t), list, &client.ListOptions{
		Namespace: ns, FieldSelector: fields.OneTermEqualSelector("metadata.name", name),
		Raw: &metav1.ListOptions{ResourceVersion: rv},
	})
	if err != nil {
		t.Fatal(err)
	}
	return func(until string) []string {
		t.Helper()
		defer w.Stop()
		var changes []string
		last := string(metav1.ConditionTrue)
		timeout := time.After(30 * time.Second)
		for {
			select {
			case ev, ok := <-w.ResultChan():
				if !ok {
					t.Fatalf("the watch of %s ended before version %s", name, until)
				}
				u, isObj := ev.Object.(*unstructured.Unstructured)
				if ev.Type == watch.Error || !isObj {
					t.Fatalf("watching %s: %v", name, ev.Object)
				}
				if now := string(readyCondition(t, u).Status); now != last {
					changes = append(changes, now)
					last = now
				}
				if u.GetResourceVersion() == until {
					return changes
				}
			case <-timeout:
				t.Fatalf("the watch of %s did not reach version %s; Ready went %v", name, until, changes)
			}
		}
	}
}

// waitForReady waits until an instance's Ready condition has status.
func waitForReady(t *testing.T, gvk schema.GroupVersionKind, ns, name string, want metav1.ConditionStatus) *unstructured.Unstructured {
	t.Helper()
	return waitForInstance(t, gvk, ns, name, func(u *unstructured.Unstructured) error {
		if c := readyCondition(t, u); c.Status != want {
			return fmt.Errorf("%s: Ready is %s (%s), want %s", name, c.Status, c.Message, want)
		}
		return nil
	})
}

// readyCondition is the Ready condition in an object's status, or an empty
// one.
func readyCondition(t *testing.T, u *unstructured.Unstructured) metav1.Condition {
	t.Helper()
	var st struct {
		Conditions []metav1.Condition `json:"conditions"`
	}
	if s, ok := u.Object["status"]; ok {
		if err := fromUnstructured(s, &st); err != nil {
			t.Fatal(err)
		}
	}
	if c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionReady); c != nil {
		return *c
	}
	return metav1.Condition{}
}

// unstructuredFramework converts fw, for requests whose answer must be read
// as the API server wrote it, with the fields the Go type omits when empty.
func unstructuredFramework(t *testing.T, fw *v1alpha1.Framework) *unstructured.Unstructured {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(fw)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(frameworkGVK)
	return u
}
