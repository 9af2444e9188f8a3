package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	operetta "operetta.dev/operetta/internal/manager"
)

// Builders for Frameworks written in Go, to keep each test's Framework short.

func configMap(id, readyWhen string) v1alpha1.Resource {
	return v1alpha1.Resource{
		ID:        id,
		Template:  &runtime.RawExtension{Raw: []byte(fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"${instance.metadata.name}-%s"},"data":{"v":"${string(instance.spec.value)}"}}`, id))},
		ReadyWhen: readyWhen,
	}
}

// gated is ready once the test labels its ConfigMap gate=open.
func gated(id string) v1alpha1.Resource {
	return configMap(id, fmt.Sprintf(`${resources.%s.metadata.labels[?'gate'].orValue('') == 'open'}`, id))
}

// deployInstances creates instances of gvk named names in ns, each with
// its defaults, and waits until each one's deploy plan is COMPLETE.
func deployInstances(t *testing.T, gvk schema.GroupVersionKind, ns string, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := k8s.Create(ctx(t), instance(gvk, ns, n, map[string]any{})); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range names {
		waitForPlan(t, gvk, ns, n, "deploy", "COMPLETE")
	}
}

// heldFramework is gatedUpgradeFramework with a second ConfigMap, extra,
// which a test's next generation drops.
func heldFramework(name, group string) *v1alpha1.Framework {
	return framework(name, group, nil, []v1alpha1.Resource{configMap("config", ""), configMap("extra", ""), gated("gate")},
		[]v1alpha1.Task{apply("config", "config", "extra"), apply("gate", "gate")},
		map[string]v1alpha1.Plan{
			"deploy":  {Phases: []v1alpha1.Phase{{Name: "main", Steps: steps("config")}}},
			"upgrade": {Phases: []v1alpha1.Phase{{Name: "main", Steps: steps("config", "gate")}}},
		})
}

// gatedUpgradeFramework deploys a ConfigMap; its upgrade applies it and
// then a gate (gated) that waits until the test opens it.
func gatedUpgradeFramework(name, group string) *v1alpha1.Framework {
	return framework(name, group, nil, []v1alpha1.Resource{configMap("config", ""), gated("gate")},
		[]v1alpha1.Task{apply("config", "config"), apply("gate", "gate")},
		map[string]v1alpha1.Plan{
			"deploy":  {Phases: []v1alpha1.Phase{{Name: "main", Steps: steps("config")}}},
			"upgrade": {Phases: []v1alpha1.Phase{{Name: "main", Steps: steps("config", "gate")}}},
		})
}

func apply(name string, ids ...string) v1alpha1.Task {
	return v1alpha1.Task{Name: name, Kind: v1alpha1.TaskApply, Resources: ids}
}

func steps(names ...string) []v1alpha1.Step {
	var out []v1alpha1.Step
	for _, n := range names {
		out = append(out, v1alpha1.Step{Name: n, Tasks: []string{n}})
	}
	return out
}

func framework(name, group string, params []v1alpha1.Parameter, resources []v1alpha1.Resource, tasks []v1alpha1.Task, plans map[string]v1alpha1.Plan) *v1alpha1.Framework {
	params = append([]v1alpha1.Parameter{{Name: "value", Type: v1alpha1.TypeInteger, Default: &apiextensionsv1.JSON{Raw: []byte("1")}}}, params...)
	return &v1alpha1.Framework{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.FrameworkSpec{
			Names: v1alpha1.Names{Group: group, Kind: "Thing"}, Parameters: params,
			Resources: resources, Tasks: tasks, Plans: plans,
		},
	}
}

func thingGVK(group string) schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: group, Version: "v1", Kind: "Thing"}
}

// instanceGone waits until the instance is deleted for good.
func instanceGone(t *testing.T, gvk schema.GroupVersionKind, ns, name string) {
	t.Helper()
	eventually(t, 30*time.Second, func() error {
		if _, err := get(t, gvk, ns, name); !apierrors.IsNotFound(err) {
			return fmt.Errorf("instance still there: %v", err)
		}
		return nil
	})
}

func openGateOf(t *testing.T, ns, name string) {
	t.Helper()
	cm := &corev1.ConfigMap{}
	if err := k8s.Get(ctx(t), client.ObjectKey{Namespace: ns, Name: name}, cm); err != nil {
		t.Fatal(err)
	}
	if cm.Labels == nil {
		cm.Labels = map[string]string{}
	}
	cm.Labels["gate"] = "open"
	if err := k8s.Update(ctx(t), cm); err != nil {
		t.Fatal(err)
	}
}

func exists(t *testing.T, obj client.Object, ns, name string) bool {
	t.Helper()
	err := k8s.Get(ctx(t), client.ObjectKey{Namespace: ns, Name: name}, obj)
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

func TestStrategiesOrderChildren(t *testing.T) {
	startManager(t)
	ns := namespace(t, "order")
	group := "order.test.operetta.dev"
	createFramework(t, framework("order", group, nil,
		[]v1alpha1.Resource{gated("a"), configMap("b", ""), gated("c"), configMap("d", "")},
		[]v1alpha1.Task{apply("a", "a"), apply("b", "b"), apply("c", "c"), apply("d", "d")},
		map[string]v1alpha1.Plan{"deploy": {Phases: []v1alpha1.Phase{
			{Name: "serial", Strategy: v1alpha1.Serial, Steps: steps("a", "b")},
			{Name: "parallel", Strategy: v1alpha1.Parallel, Steps: steps("c", "d")},
		}}}))
	frameworkReady(t, "order", metav1.ConditionTrue)
	if err := k8s.Create(ctx(t), instance(thingGVK(group), ns, "o", map[string]any{})); err != nil {
		t.Fatal(err)
	}
	// The reconcile that applied a wrote its status after it: every step
	// after a is still PENDING there, and their children do not exist.
	waitForPlan(t, thingGVK(group), ns, "o", "deploy", "IN_PROGRESS")
	if !exists(t, &corev1.ConfigMap{}, ns, "o-a") {
		t.Fatal("step a runs but applied nothing")
	}
	for _, phase := range instanceStatus(t, thingGVK(group), ns, "o").Plans["deploy"].Phases {
		for _, s := range phase.Steps {
			if s.Name != "a" && s.Status != v1alpha1.Pending {
				t.Fatalf("step %s is %s while serial step a waits", s.Name, s.Status)
			}
		}
	}
	for _, n := range []string{"o-b", "o-c", "o-d"} {
		if exists(t, &corev1.ConfigMap{}, ns, n) {
			t.Fatalf("%s exists while serial step a waits", n)
		}
	}
	openGateOf(t, ns, "o-a")
	eventually(t, 30*time.Second, func() error {
		for _, n := range []string{"o-b", "o-c", "o-d"} {
			if !exists(t, &corev1.ConfigMap{}, ns, n) {
				return fmt.Errorf("%s does not exist after step a completed", n)
			}
		}
		return nil
	})
	st := instanceStatus(t, thingGVK(group), ns, "o")
	if got := st.Plans["deploy"].Phases[1].Steps; got[0].Status != v1alpha1.InProgress || got[1].Status != v1alpha1.Complete {
		t.Fatalf("parallel steps %+v: d must complete while c waits", got)
	}
	openGateOf(t, ns, "o-c")
	waitForPlan(t, thingGVK(group), ns, "o", "deploy", "COMPLETE")
}

func TestARejectedChildIsFatalUntilTheSpecIsFixed(t *testing.T) {
	startManager(t)
	ns := namespace(t, "rejected")
	group := "rejected.test.operetta.dev"
	svc := v1alpha1.Resource{ID: "svc", Template: &runtime.RawExtension{Raw: []byte(`{"apiVersion":"v1","kind":"Service",
		"metadata":{"name":"${instance.metadata.name}"},"spec":{"ports":[{"port":"${instance.spec.value}"}]}}`)}}
	createFramework(t, framework("rejected", group, nil, []v1alpha1.Resource{svc}, []v1alpha1.Task{apply("svc", "svc")},
		map[string]v1alpha1.Plan{"deploy": {Phases: []v1alpha1.Phase{{Name: "main", Steps: steps("svc")}}}}))
	frameworkReady(t, "rejected", metav1.ConditionTrue)
	if err := k8s.Create(ctx(t), instance(thingGVK(group), ns, "s", map[string]any{"value": int64(70000)})); err != nil {
		t.Fatal(err)
	}
	u := waitForPlan(t, thingGVK(group), ns, "s", "deploy", "FATAL_ERROR")
	msg, _, _ := unstructuredString(u, "status", "plans", "deploy", "message")
	mustContain(t, msg, "applying Service s", "spec.ports[0].port: Invalid value: 70000")
	st := instanceStatus(t, thingGVK(group), ns, "s")
	stalled := meta.FindStatusCondition(st.Conditions, "Stalled")
	if stalled == nil || stalled.Status != metav1.ConditionTrue || !strings.Contains(stalled.Message, "spec.ports[0].port") {
		t.Fatalf("Stalled is %+v", stalled)
	}
	waitForEvents(t, ns, "s", "PlanFailed")
	patchInstance(t, thingGVK(group), ns, "s", `{"spec":{"value":8080}}`)
	waitForPlan(t, thingGVK(group), ns, "s", "deploy", "COMPLETE")
	st = instanceStatus(t, thingGVK(group), ns, "s")
	if meta.FindStatusCondition(st.Conditions, "Stalled") != nil || !meta.IsStatusConditionTrue(st.Conditions, "Ready") {
		t.Fatalf("conditions after the fix: %+v", st.Conditions)
	}
}

func TestToggleOffPrunesAndDeletedChildrenComeBack(t *testing.T) {
	startManager(t)
	ns := namespace(t, "toggle")
	group := "toggle.test.operetta.dev"
	createFramework(t, framework("toggle", group,
		[]v1alpha1.Parameter{{Name: "monitoring", Type: v1alpha1.TypeBoolean, Default: &apiextensionsv1.JSON{Raw: []byte("true")}}},
		[]v1alpha1.Resource{configMap("config", ""), configMap("metrics", "")},
		[]v1alpha1.Task{apply("config", "config"), {Name: "metrics", Kind: v1alpha1.TaskToggle, Resources: []string{"metrics"}, When: "${instance.spec.monitoring}"}},
		map[string]v1alpha1.Plan{"deploy": {Phases: []v1alpha1.Phase{{Name: "main", Steps: steps("config", "metrics")}}}}))
	frameworkReady(t, "toggle", metav1.ConditionTrue)
	gvk := thingGVK(group)
	if err := k8s.Create(ctx(t), instance(gvk, ns, "t", map[string]any{})); err != nil {
		t.Fatal(err)
	}
	waitForPlan(t, gvk, ns, "t", "deploy", "COMPLETE")
	if !exists(t, &corev1.ConfigMap{}, ns, "t-metrics") {
		t.Fatal("Toggle on applied nothing")
	}

	t.Run("toggle off deletes and forgets the child", func(t *testing.T) {
		patchInstance(t, gvk, ns, "t", `{"spec":{"monitoring":false}}`)
		eventually(t, 30*time.Second, func() error {
			st := instanceStatus(t, gvk, ns, "t")
			if exists(t, &corev1.ConfigMap{}, ns, "t-metrics") || st.ActivePlanStatus != v1alpha1.Complete {
				return fmt.Errorf("t-metrics still exists, plan %s", st.ActivePlanStatus)
			}
			for _, item := range st.Inventory {
				if item.ID == "metrics" {
					return fmt.Errorf("inventory still lists %+v", item)
				}
			}
			return nil
		})
	})

	t.Run("a deleted child comes back", func(t *testing.T) {
		cm := &corev1.ConfigMap{}
		if !exists(t, cm, ns, "t-config") {
			t.Fatal("no t-config")
		}
		old := cm.UID
		if err := k8s.Delete(ctx(t), cm); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, func() error {
			now := &corev1.ConfigMap{}
			if !exists(t, now, ns, "t-config") || now.UID == old {
				return fmt.Errorf("t-config was not recreated")
			}
			return nil
		})
	})

	t.Run("a changed child is put back", func(t *testing.T) {
		cm := &corev1.ConfigMap{}
		exists(t, cm, ns, "t-config")
		cm.Data["v"] = "tampered"
		if err := k8s.Update(ctx(t), cm); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, func() error {
			now := &corev1.ConfigMap{}
			exists(t, now, ns, "t-config")
			if now.Data["v"] != "1" {
				return fmt.Errorf("t-config data is %v", now.Data)
			}
			return nil
		})
	})

	t.Run("a template removed from the Framework is pruned", func(t *testing.T) {
		fw := &v1alpha1.Framework{}
		editFramework(t, "toggle", fw, func() {
			fw.Spec.Resources = append(fw.Spec.Resources, configMap("extra", ""))
			fw.Spec.Tasks = append(fw.Spec.Tasks, apply("extra", "extra"))
			fw.Spec.Plans["deploy"].Phases[0].Steps = append(fw.Spec.Plans["deploy"].Phases[0].Steps, steps("extra")...)
		})
		eventually(t, 30*time.Second, func() error {
			if !exists(t, &corev1.ConfigMap{}, ns, "t-extra") {
				return fmt.Errorf("the Framework change did not reach the instance")
			}
			return nil
		})
		editFramework(t, "toggle", fw, func() {
			fw.Spec.Resources = fw.Spec.Resources[:2]
			fw.Spec.Tasks = fw.Spec.Tasks[:2]
			fw.Spec.Plans["deploy"].Phases[0].Steps = fw.Spec.Plans["deploy"].Phases[0].Steps[:2]
		})
		eventually(t, 30*time.Second, func() error {
			if exists(t, &corev1.ConfigMap{}, ns, "t-extra") {
				return fmt.Errorf("t-extra is still there")
			}
			return nil
		})
	})
}

func TestCleanupRunsBeforeTheInstanceGoes(t *testing.T) {
	startManager(t)
	ns := namespace(t, "cleanup")
	group := "cleanup.test.operetta.dev"
	wait := func(name, timeout string) v1alpha1.Task {
		tk := v1alpha1.Task{Name: name, Kind: v1alpha1.TaskWait, Condition: `${resources.config.metadata.labels[?'gate'].orValue('') == 'open'}`}
		if timeout != "" {
			d, _ := time.ParseDuration(timeout)
			tk.Timeout = &metav1.Duration{Duration: d}
		}
		return tk
	}
	createFramework(t, framework("cleanup", group,
		[]v1alpha1.Parameter{{Name: "mode", Type: v1alpha1.TypeString, Default: &apiextensionsv1.JSON{Raw: []byte(`"gate"`)}}},
		[]v1alpha1.Resource{configMap("config", "")},
		[]v1alpha1.Task{apply("config", "config"), wait("gate", ""), wait("quick", "2s"),
			{Name: "choose", Kind: v1alpha1.TaskWait, Condition: "${true}"}},
		map[string]v1alpha1.Plan{
			"deploy":  {Phases: []v1alpha1.Phase{{Name: "main", Steps: steps("config")}}},
			"cleanup": {Phases: []v1alpha1.Phase{{Name: "main", Steps: []v1alpha1.Step{{Name: "drain", Tasks: []string{"gate"}}}}}},
			"timeout": {Phases: []v1alpha1.Phase{{Name: "main", Steps: steps("quick")}}},
		}))
	frameworkReady(t, "cleanup", metav1.ConditionTrue)
	gvk := thingGVK(group)

	t.Run("the cleanup plan runs and the instance goes once it completes", func(t *testing.T) {
		if err := k8s.Create(ctx(t), instance(gvk, ns, "c", map[string]any{})); err != nil {
			t.Fatal(err)
		}
		waitForPlan(t, gvk, ns, "c", "deploy", "COMPLETE")
		u, _ := get(t, gvk, ns, "c")
		if !strings.Contains(strings.Join(u.GetFinalizers(), ","), "operetta.dev/cleanup") {
			t.Fatalf("finalizers %v", u.GetFinalizers())
		}
		if err := k8s.Delete(ctx(t), u); err != nil {
			t.Fatal(err)
		}
		// The cleanup plan waits for its gate, so the finalizer holds.
		u = waitForPlan(t, gvk, ns, "c", "cleanup", "IN_PROGRESS")
		if !strings.Contains(strings.Join(u.GetFinalizers(), ","), "operetta.dev/cleanup") {
			t.Fatalf("cleanup runs but the finalizer is gone: %v", u.GetFinalizers())
		}
		openGateOf(t, ns, "c-config")
		instanceGone(t, gvk, ns, "c")
	})

	t.Run("a Wait past its timeout is fatal", func(t *testing.T) {
		if err := k8s.Create(ctx(t), instance(gvk, ns, "w", map[string]any{})); err != nil {
			t.Fatal(err)
		}
		waitForPlan(t, gvk, ns, "w", "deploy", "COMPLETE")
		patchInstance(t, gvk, ns, "w", `{"metadata":{"annotations":{"operetta.dev/run-plan":"timeout"}}}`)
		u := waitForPlan(t, gvk, ns, "w", "timeout", "FATAL_ERROR")
		msg, _, _ := unstructuredString(u, "status", "plans", "timeout", "message")
		mustContain(t, msg, "timed out after 2s")
	})

	t.Run("a failed cleanup holds the instance until skip-cleanup", func(t *testing.T) {
		fw := &v1alpha1.Framework{}
		editFramework(t, "cleanup", fw, func() {
			fw.Spec.Plans["cleanup"].Phases[0].Steps[0].Tasks = []string{"quick"}
		})
		frameworkReady(t, "cleanup", metav1.ConditionTrue)
		u, _ := get(t, gvk, ns, "w")
		if err := k8s.Delete(ctx(t), u); err != nil {
			t.Fatal(err)
		}
		waitForPlan(t, gvk, ns, "w", "cleanup", "FATAL_ERROR")
		st := instanceStatus(t, gvk, ns, "w")
		stalled := meta.FindStatusCondition(st.Conditions, "Stalled")
		if stalled == nil || !strings.Contains(stalled.Message, `operetta.dev/skip-cleanup="true"`) {
			t.Fatalf("Stalled %+v does not say how to let go", stalled)
		}
		patchInstance(t, gvk, ns, "w", `{"metadata":{"annotations":{"operetta.dev/skip-cleanup":"true"}}}`)
		instanceGone(t, gvk, ns, "w")
	})
}

// TestACleanupANamespaceBeingDeletedRefusesStalls: a cleanup plan that must
// create something in a namespace being deleted (envtest runs no namespace
// controller, so it stays Terminating) fails for good instead of retrying
// for ever, and its Stalled condition says how to let the instance go.
func TestACleanupANamespaceBeingDeletedRefusesStalls(t *testing.T) {
	startManager(t)
	ns := namespace(t, "terminating")
	group := "terminating.test.operetta.dev"
	createFramework(t, framework("terminating", group, nil,
		[]v1alpha1.Resource{configMap("config", ""), configMap("backup", "")},
		[]v1alpha1.Task{apply("config", "config"), apply("backup", "backup")},
		map[string]v1alpha1.Plan{
			"deploy":  {Phases: []v1alpha1.Phase{{Name: "main", Steps: steps("config")}}},
			"cleanup": {Phases: []v1alpha1.Phase{{Name: "main", Steps: steps("backup")}}},
		}))
	frameworkReady(t, "terminating", metav1.ConditionTrue)
	gvk := thingGVK(group)
	if err := k8s.Create(ctx(t), instance(gvk, ns, "t", map[string]any{})); err != nil {
		t.Fatal(err)
	}
	waitForPlan(t, gvk, ns, "t", "deploy", "COMPLETE")

	if err := k8s.Delete(ctx(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	u, _ := get(t, gvk, ns, "t")
	if err := k8s.Delete(ctx(t), u); err != nil {
		t.Fatal(err)
	}
	u = waitForPlan(t, gvk, ns, "t", "cleanup", "FATAL_ERROR")
	msg, _, _ := unstructuredString(u, "status", "plans", "cleanup", "message")
	mustContain(t, msg, "being terminated")
	stalled := meta.FindStatusCondition(instanceStatus(t, gvk, ns, "t").Conditions, "Stalled")
	if stalled == nil || !strings.Contains(stalled.Message, `operetta.dev/skip-cleanup="true"`) {
		t.Fatalf("Stalled %+v does not say how to let go", stalled)
	}
	patchInstance(t, gvk, ns, "t", `{"metadata":{"annotations":{"operetta.dev/skip-cleanup":"true"}}}`)
	instanceGone(t, gvk, ns, "t")
}

func TestInstanceTaskCreatesAndWaitsForADependency(t *testing.T) {
	startManager(t)
	ns := namespace(t, "dependency")
	childGVK := schema.GroupVersionKind{Group: "child.test.operetta.dev", Version: "v1", Kind: "Thing"}
	createFramework(t, framework("child", childGVK.Group, nil, []v1alpha1.Resource{gated("config")},
		[]v1alpha1.Task{apply("config", "config")},
		map[string]v1alpha1.Plan{"deploy": {Phases: []v1alpha1.Phase{{Name: "main", Steps: steps("config")}}}}))
	parentGroup := "parent.test.operetta.dev"
	spec := runtime.RawExtension{Raw: []byte(`{"value":"${instance.spec.value * 10}"}`)}
	createFramework(t, framework("parent", parentGroup, nil, []v1alpha1.Resource{configMap("after", "")},
		[]v1alpha1.Task{{Name: "dep", Kind: v1alpha1.TaskInstance, Framework: "child", Spec: &spec}, apply("after", "after")},
		map[string]v1alpha1.Plan{"deploy": {Phases: []v1alpha1.Phase{{Name: "main", Steps: steps("dep", "after")}}}}))
	frameworkReady(t, "child", metav1.ConditionTrue)
	frameworkReady(t, "parent", metav1.ConditionTrue)

	if err := k8s.Create(ctx(t), instance(thingGVK(parentGroup), ns, "p", map[string]any{"value": int64(4)})); err != nil {
		t.Fatal(err)
	}
	child := waitForPlan(t, childGVK, ns, "p-dep", "deploy", "IN_PROGRESS")
	if v := child.Object["spec"].(map[string]any)["value"]; v != int64(40) {
		t.Fatalf("child spec.value = %v, want 40 rendered from the parent", v)
	}
	if owner := metav1.GetControllerOf(child); owner == nil || owner.Kind != "Thing" || owner.Name != "p" {
		t.Fatalf("child controller %+v", owner)
	}
	parent := waitForPlan(t, thingGVK(parentGroup), ns, "p", "deploy", "IN_PROGRESS")
	msg, _, _ := unstructuredString(parent, "status", "plans", "deploy", "message")
	mustContain(t, msg, "p-dep")
	if exists(t, &corev1.ConfigMap{}, ns, "p-after") {
		t.Fatal("the parent went on before its dependency was Ready")
	}
	openGateOf(t, ns, "p-dep-config")
	waitForPlan(t, thingGVK(parentGroup), ns, "p", "deploy", "COMPLETE")
	if !exists(t, &corev1.ConfigMap{}, ns, "p-after") {
		t.Fatal("the step after the dependency did not run")
	}
}

// An Instance task whose Framework is not there yet waits; nothing of its
// own kind changes when that Framework turns Ready, so the Framework's own
// event must wake it. The resync is set far beyond the test's patience: only
// that wake can move the plan on.
func TestAnInstanceTaskGoesOnWhenItsFrameworkTurnsReady(t *testing.T) {
	startManagerWith(t, operetta.Options{WorkersPerKind: 2, Resync: time.Hour}, nil)
	ns := namespace(t, "latedependency")
	parentGroup := "lateparent.test.operetta.dev"
	createFramework(t, framework("lateparent", parentGroup, nil, []v1alpha1.Resource{configMap("after", "")},
		[]v1alpha1.Task{{Name: "dep", Kind: v1alpha1.TaskInstance, Framework: "latechild"}, apply("after", "after")},
		map[string]v1alpha1.Plan{"deploy": {Phases: []v1alpha1.Phase{{Name: "main", Steps: steps("dep", "after")}}}}))
	frameworkReady(t, "lateparent", metav1.ConditionTrue)
	if err := k8s.Create(ctx(t), instance(thingGVK(parentGroup), ns, "p", map[string]any{})); err != nil {
		t.Fatal(err)
	}
	waitForInstance(t, thingGVK(parentGroup), ns, "p", func(u *unstructured.Unstructured) error {
		msg, _, _ := unstructuredString(u, "status", "plans", "deploy", "message")
		if !strings.Contains(msg, "waiting for Framework latechild") {
			return fmt.Errorf("plan message %q, want it waiting for Framework latechild", msg)
		}
		return nil
	})

	childGVK := schema.GroupVersionKind{Group: "latechild.test.operetta.dev", Version: "v1", Kind: "Thing"}
	createFramework(t, framework("latechild", childGVK.Group, nil, []v1alpha1.Resource{configMap("config", "")},
		[]v1alpha1.Task{apply("config", "config")},
		map[string]v1alpha1.Plan{"deploy": {Phases: []v1alpha1.Phase{{Name: "main", Steps: steps("config")}}}}))
	waitForPlan(t, childGVK, ns, "p-dep", "deploy", "COMPLETE")
	waitForPlan(t, thingGVK(parentGroup), ns, "p", "deploy", "COMPLETE")
}

func TestAFailedChildIsFatal(t *testing.T) {
	startManager(t)
	ns := namespace(t, "failed")
	group := "failed.test.operetta.dev"
	job := v1alpha1.Resource{ID: "job", Template: &runtime.RawExtension{Raw: []byte(`{"apiVersion":"batch/v1","kind":"Job",
		"metadata":{"name":"${instance.metadata.name}-migrate"},
		"spec":{"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"m","image":"busybox"}]}}}}`)}}
	createFramework(t, framework("failed", group, nil, []v1alpha1.Resource{job}, []v1alpha1.Task{apply("job", "job")},
		map[string]v1alpha1.Plan{"deploy": {Phases: []v1alpha1.Phase{{Name: "main", Steps: steps("job")}}}}))
	frameworkReady(t, "failed", metav1.ConditionTrue)
	if err := k8s.Create(ctx(t), instance(thingGVK(group), ns, "f", map[string]any{})); err != nil {
		t.Fatal(err)
	}
	waitForPlan(t, thingGVK(group), ns, "f", "deploy", "IN_PROGRESS")
	// Play the Job controller: the Job failed.
	j := &batchv1.Job{}
	if !exists(t, j, ns, "f-migrate") {
		t.Fatal("no Job")
	}
	now := metav1.Now()
	j.Status = batchv1.JobStatus{
		Failed: 1, StartTime: &now,
		Conditions: []batchv1.JobCondition{
			{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now},
		},
	}
	if err := k8s.Status().Update(ctx(t), j); err != nil {
		t.Fatal(err)
	}
	u := waitForPlan(t, thingGVK(group), ns, "f", "deploy", "FATAL_ERROR")
	msg, _, _ := unstructuredString(u, "status", "plans", "deploy", "message")
	mustContain(t, msg, "Job f-migrate failed: Job Failed")
}

func TestChildKindsShareOneInformer(t *testing.T) {
	m := startManager(t)
	a := framework("share-a", "a.share.test.operetta.dev", nil, []v1alpha1.Resource{configMap("config", "")}, []v1alpha1.Task{apply("config", "config")},
		map[string]v1alpha1.Plan{"deploy": {Phases: []v1alpha1.Phase{{Name: "main", Steps: steps("config")}}}})
	b := a.DeepCopy()
	b.Name, b.Spec.Names.Group = "share-b", "b.share.test.operetta.dev"
	createFramework(t, a)
	createFramework(t, b)
	frameworkReady(t, "share-a", metav1.ConditionTrue)
	frameworkReady(t, "share-b", metav1.ConditionTrue)
	if got := strings.Join(m.registry.Children().Watched(), ","); got != "/v1, Kind=ConfigMap" {
		t.Fatalf("child informers %s, want one for ConfigMaps", got)
	}
	if err := k8s.Delete(ctx(t), a); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		if m.registry.IsRunning("share-a") {
			return fmt.Errorf("share-a still runs")
		}
		return nil
	})
	if got := strings.Join(m.registry.Children().Watched(), ","); got != "/v1, Kind=ConfigMap" {
		t.Fatalf("child informers %s after one of two users left", got)
	}
	if err := k8s.Delete(ctx(t), b); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		if got := m.registry.Children().Watched(); len(got) != 0 {
			return fmt.Errorf("child informers %v after every user left", got)
		}
		return nil
	})
}
