package integration

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
)

func TestGeneratedKindIsServed(t *testing.T) {
	startManager(t)
	ns := namespace(t, "served")
	gvk := schema.GroupVersionKind{Group: "served.test.operetta.dev", Version: "v1", Kind: "ZooKeeper"}
	createFramework(t, loadExample(t, "zookeeper/framework.yaml", "zk-served", gvk.Group))
	cond := frameworkReady(t, "zk-served", metav1.ConditionTrue)
	if cond.Reason != "Serving" {
		t.Fatalf("Ready reason %s", cond.Reason)
	}

	t.Run("the CRD lists the kind under the operetta category with operetta's columns", func(t *testing.T) {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := k8s.Get(ctx(t), client.ObjectKey{Name: "zookeepers." + gvk.Group}, crd); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(crd.Spec.Names.Categories, ","); got != "operetta" {
			t.Errorf("categories %s", got)
		}
		var cols []string
		for _, c := range crd.Spec.Versions[0].AdditionalPrinterColumns {
			cols = append(cols, c.Name)
		}
		if got := strings.Join(cols, ","); got != "Ready,Plan,Status,Replicas,Image,Age,Revision,Reason,Message" {
			t.Errorf("columns %s", got)
		}
	})

	t.Run("the API server applies parameter defaults", func(t *testing.T) {
		zk := instance(gvk, ns, "defaults", map[string]any{})
		if err := k8s.Create(ctx(t), zk); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"replicas": int64(3), "image": "zookeeper:3.9.2", "cpu": "250m", "memory": "512Mi", "logLevel": "INFO", "clientPort": int64(2181)}
		for k, v := range want {
			if got := zk.Object["spec"].(map[string]any)[k]; got != v {
				t.Errorf("spec.%s = %#v, want the default %#v", k, got, v)
			}
		}
	})

	rejected := []struct {
		name    string
		spec    map[string]any
		message []string
	}{
		{"above the maximum", map[string]any{"replicas": int64(9)}, []string{"spec.replicas", "should be less than or equal to 7"}},
		{"below the minimum", map[string]any{"replicas": int64(0)}, []string{"spec.replicas", "should be greater than or equal to 1"}},
		{"not in the enum", map[string]any{"logLevel": "TRACE"}, []string{"spec.logLevel", `Unsupported value: "TRACE"`}},
		{"not matching the pattern", map[string]any{"memory": "1TB"}, []string{"spec.memory", "should match"}},
		{"the wrong type", map[string]any{"replicas": "three"}, []string{"spec.replicas", "must be of type integer"}},
		{"breaking a validation rule", map[string]any{"replicas": int64(2)}, []string{"replicas must be odd"}},
	}
	for _, tt := range rejected {
		t.Run("the API server rejects a value "+tt.name, func(t *testing.T) {
			err := k8s.Create(ctx(t), instance(gvk, ns, "bad", tt.spec))
			if !apierrors.IsInvalid(err) {
				t.Fatalf("got %v, want Invalid", err)
			}
			mustContain(t, err.Error(), tt.message...)
		})
	}

	t.Run("an immutable parameter cannot change", func(t *testing.T) {
		zk, err := get(t, gvk, ns, "defaults")
		if err != nil {
			t.Fatal(err)
		}
		zk.Object["spec"].(map[string]any)["clientPort"] = int64(2182)
		err = k8s.Update(ctx(t), zk)
		if !apierrors.IsInvalid(err) {
			t.Fatalf("got %v, want Invalid", err)
		}
		mustContain(t, err.Error(), "clientPort is immutable")
	})
}

func TestInvalidChangeKeepsThePreviousGenerationRunning(t *testing.T) {
	m := startManager(t)
	ns := namespace(t, "keep")
	gvk := schema.GroupVersionKind{Group: "keep.test.operetta.dev", Version: "v1", Kind: "Greeter"}
	fw := configMapFramework("keep", gvk.Group, gvk.Kind)
	createFramework(t, fw)
	frameworkReady(t, "keep", metav1.ConditionTrue)
	if err := k8s.Create(ctx(t), instance(gvk, ns, "before", map[string]any{})); err != nil {
		t.Fatal(err)
	}
	waitForPlan(t, gvk, ns, "before", "deploy", "COMPLETE")

	// A type error: greeting is a string.
	editFramework(t, "keep", fw, func() {
		fw.Spec.Resources[0].Template.Raw = []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"${instance.metadata.name}-greeting"},"data":{"n":"${instance.spec.greeting + 1}"}}`)
	})
	cond := frameworkReady(t, "keep", metav1.ConditionFalse)
	mustContain(t, cond.Reason, "InvalidExpression")
	mustContain(t, cond.Message, "spec.resources[0].template.data.n", "no matching overload for '_+_' applied to '(string, int)'")
	// Each transition is announced once: installed, then refused.
	expectFrameworkEvents(t, "keep", map[string]int32{"Installed": 1, "InvalidExpression": 1})
	if gen, ok := loopGeneration(m, "keep"); !ok || gen != 1 {
		t.Fatalf("loop runs generation %d (running %v), want the previous generation 1", gen, ok)
	}
	// The old generation keeps serving: new instances and changed ones.
	if err := k8s.Create(ctx(t), instance(gvk, ns, "after", map[string]any{})); err != nil {
		t.Fatal(err)
	}
	waitForPlan(t, gvk, ns, "after", "deploy", "COMPLETE")
	patchInstance(t, gvk, ns, "before", `{"spec":{"greeting":"still here"}}`)
	eventually(t, 30*time.Second, func() error {
		cm := &corev1.ConfigMap{}
		if err := k8s.Get(ctx(t), client.ObjectKey{Namespace: ns, Name: "before-greeting"}, cm); err != nil {
			return err
		}
		if cm.Data["greeting"] != "still here" {
			return fmt.Errorf("greeting %q", cm.Data["greeting"])
		}
		return nil
	})
}

func TestTwoFrameworksAreEachReconciled(t *testing.T) {
	startManager(t)
	ns := namespace(t, "two")
	kinds := []schema.GroupVersionKind{
		{Group: "one.test.operetta.dev", Version: "v1", Kind: "Greeter"},
		{Group: "two.test.operetta.dev", Version: "v1", Kind: "Welcomer"},
	}
	for i, gvk := range kinds {
		createFramework(t, configMapFramework(fmt.Sprintf("fw-%d", i), gvk.Group, gvk.Kind))
	}
	for i, gvk := range kinds {
		frameworkReady(t, fmt.Sprintf("fw-%d", i), metav1.ConditionTrue)
		if err := k8s.Create(ctx(t), instance(gvk, ns, strings.ToLower(gvk.Kind), map[string]any{"greeting": gvk.Kind})); err != nil {
			t.Fatal(err)
		}
	}
	for _, gvk := range kinds {
		name := strings.ToLower(gvk.Kind)
		waitForPlan(t, gvk, ns, name, "deploy", "COMPLETE")
		cm := &corev1.ConfigMap{}
		if err := k8s.Get(ctx(t), client.ObjectKey{Namespace: ns, Name: name + "-greeting"}, cm); err != nil {
			t.Fatal(err)
		}
		if got := cm.Data["greeting"]; got != gvk.Kind {
			t.Fatalf("ConfigMap of the %s says %q", gvk.Kind, got)
		}
	}
}

func TestDeletingTheFrameworkStopsItsLoop(t *testing.T) {
	m := startManager(t)
	ns := namespace(t, "stop")
	gvk := schema.GroupVersionKind{Group: "stop.test.operetta.dev", Version: "v1", Kind: "Greeter"}
	fw := configMapFramework("stop", gvk.Group, gvk.Kind)
	createFramework(t, fw)
	frameworkReady(t, "stop", metav1.ConditionTrue)
	if !m.registry.IsRunning("stop") {
		t.Fatal("no loop after Ready")
	}
	if err := k8s.Create(ctx(t), instance(gvk, ns, "before", map[string]any{})); err != nil {
		t.Fatal(err)
	}
	waitForPlan(t, gvk, ns, "before", "deploy", "COMPLETE")

	if err := k8s.Delete(ctx(t), fw); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		if m.registry.IsRunning("stop") {
			return errors.New("the loop still runs")
		}
		return nil
	})
	// The informer is gone: the cache no longer holds the kind at all.
	err := m.GetCache().Get(ctx(t), client.ObjectKey{Namespace: ns, Name: "before"}, instance(gvk, ns, "before", nil))
	var notCached *cache.ErrResourceNotCached
	if !errors.As(err, &notCached) {
		t.Fatalf("reading the kind through the cache: %v, want ErrResourceNotCached", err)
	}
	// The CRD stays (nothing is deleted by default); with no loop and no
	// informer, nothing reconciles its instances.
	if got := m.registry.Running(); len(got) != 0 {
		t.Fatalf("loops still running: %v", got)
	}
}

func TestLoopsDoNotLeakGoroutines(t *testing.T) {
	m := startManager(t)
	// Warm up: the first loop starts shared machinery (HTTP/2 connections,
	// the CRD informer) that stays for the manager's life.
	warm := configMapFramework("leak-warm", "warm.leak.test.operetta.dev", "Greeter")
	createFramework(t, warm)
	frameworkReady(t, warm.Name, metav1.ConditionTrue)
	settle()
	baseline := runtime.NumGoroutine()

	const n = 20
	var fws []*v1alpha1.Framework
	for i := 0; i < n; i++ {
		fw := configMapFramework(fmt.Sprintf("leak-%d", i), fmt.Sprintf("k%d.leak.test.operetta.dev", i), "Greeter")
		createFramework(t, fw)
		fws = append(fws, fw)
	}
	for _, fw := range fws {
		frameworkReady(t, fw.Name, metav1.ConditionTrue)
	}
	if got := len(m.registry.Running()); got != n+1 {
		t.Fatalf("%d loops run, want %d", got, n+1)
	}
	running := runtime.NumGoroutine()
	for _, fw := range fws {
		if err := k8s.Delete(ctx(t), fw); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 60*time.Second, func() error {
		if got := m.registry.Running(); len(got) != 1 {
			return fmt.Errorf("loops still running: %v", got)
		}
		return nil
	})
	eventually(t, 30*time.Second, func() error {
		settle()
		// A little slack for the API client's idle connections.
		if got := runtime.NumGoroutine(); got > baseline+5 {
			return fmt.Errorf("%d goroutines after stopping %d loops; %d before starting them, %d while they ran", got, n, baseline, running)
		}
		return nil
	})
	t.Logf("goroutines: %d before, %d with %d more loops, %d after", baseline, running, n, runtime.NumGoroutine())
}

func TestLoopsRestartWithTheManager(t *testing.T) {
	first := startManager(t)
	ns := namespace(t, "restart")
	gvk := schema.GroupVersionKind{Group: "restart.test.operetta.dev", Version: "v1", Kind: "Greeter"}
	createFramework(t, configMapFramework("restart", gvk.Group, gvk.Kind))
	frameworkReady(t, "restart", metav1.ConditionTrue)
	first.stop()

	// Created while no manager runs: only a restarted loop can deploy it.
	if err := k8s.Create(ctx(t), instance(gvk, ns, "while-down", map[string]any{})); err != nil {
		t.Fatal(err)
	}
	second := startManager(t)
	waitForPlan(t, gvk, ns, "while-down", "deploy", "COMPLETE")
	if !second.registry.IsRunning("restart") {
		t.Fatal("the new manager runs no loop for the existing Framework")
	}
}

func settle() {
	runtime.GC()
	time.Sleep(500 * time.Millisecond)
}

// TestAShortNameTakenElsewhereIsReported: the API server establishes no CRD
// whose names another CRD of its group has; the Framework says so instead of
// waiting.
func TestAShortNameTakenElsewhereIsReported(t *testing.T) {
	startManager(t)
	first := configMapFramework("names-first", "names-one.test.operetta.dev", "Greeter")
	first.Spec.Names.ShortNames = []string{"grt"}
	createFramework(t, first)
	frameworkReady(t, "names-first", metav1.ConditionTrue)
	second := configMapFramework("names-second", "names-one.test.operetta.dev", "Welcomer")
	second.Spec.Names.ShortNames = []string{"grt"}
	createFramework(t, second)
	var cond metav1.Condition
	eventually(t, 30*time.Second, func() error {
		cond = frameworkReady(t, "names-second", metav1.ConditionFalse)
		if cond.Reason != "CRDNotAccepted" {
			return fmt.Errorf("Ready is %s: %s, want CRDNotAccepted", cond.Reason, cond.Message)
		}
		return nil
	})
	mustContain(t, cond.Message, `"grt" is already in use`, "change spec.names")
}
