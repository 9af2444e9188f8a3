package integration

import (
	"fmt"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"

	"operetta.dev/operetta/api/v1alpha1"
	operetta "operetta.dev/operetta/internal/manager"
)

// TestAChildKindNotServedYetIsWaitedFor: a Framework templating a kind the
// cluster does not serve yet (a ServiceMonitor before Prometheus' CRDs)
// is served; an Apply of that kind waits, saying so; deleting it counts as
// done; once its CRD is installed, the informer picks the kind up and the
// plan completes, with no change to the instance. The CRD's own event wakes
// the instance: the resync is longer than the test waits.
func TestAChildKindNotServedYetIsWaitedFor(t *testing.T) {
	startManagerWith(t, operetta.Options{WorkersPerKind: 2, Resync: time.Hour}, nil)
	ns := namespace(t, "unserved")
	group := "unserved.test.operetta.dev"
	gvk := thingGVK(group)
	widgets := "widgets.later.test.operetta.dev"
	widget := resource("widget", `{"apiVersion":"later.test.operetta.dev/v1","kind":"Widget","metadata":{"name":"${instance.metadata.name}"},"spec":{"size":1}}`)
	gadget := resource("gadget", `{"apiVersion":"later.test.operetta.dev/v1","kind":"Gadget","metadata":{"name":"${instance.metadata.name}"}}`)
	fw := framework("unserved", group, nil,
		[]v1alpha1.Resource{configMap("config", ""), widget, gadget},
		[]v1alpha1.Task{apply("config", "config"), apply("widget", "widget"),
			{Name: "no-gadget", Kind: v1alpha1.TaskDelete, Resources: []string{"gadget"}}},
		onePlan("config", "no-gadget", "widget"))
	controller := gvk.GroupKind().String()
	reconciled, skipped := reconciles(t, controller), childEventsSkipped(t, "unserved") // counted since the process began
	createFramework(t, fw)
	frameworkReady(t, "unserved", metav1.ConditionTrue)
	if err := k8s.Create(ctx(t), instance(gvk, ns, "u", map[string]any{})); err != nil {
		t.Fatal(err)
	}
	u := waitForInstance(t, gvk, ns, "u", func(u *unstructured.Unstructured) error {
		return stepIs(u, "widget", "IN_PROGRESS")
	})
	if err := stepIs(u, "no-gadget", "COMPLETE"); err != nil {
		t.Fatalf("deleting a kind the cluster does not serve: %v", err)
	}
	msg, _, _ := unstructuredString(u, "status", "plans", "deploy", "message")
	mustContain(t, msg, "Widget", "is not served by the API server (is its CRD installed?)")
	generation := u.GetGeneration()
	// The step's own child, the ConfigMap, has an add event on its way,
	// which would wake the instance too: it must be handled before the CRD
	// is created, so that the CRD's is the only event left to wake the
	// instance. The loop counts it either way: as a reconcile after the
	// instance's first (the step waited for the cache to show the
	// ConfigMap), or as a child event skipped (it shows the version the
	// loop's apply answered with). Nothing else wakes the instance: its
	// status writes bump no generation, and the resync is an hour.
	eventually(t, 10*time.Second, func() error {
		woke, skips := reconciles(t, controller)-reconciled-1, childEventsSkipped(t, "unserved")-skipped
		if woke+skips < 1 {
			return fmt.Errorf("the ConfigMap's event is not handled yet: %v reconciles after the first, %v child events skipped", woke, skips)
		}
		return nil
	})

	crd := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: widgets},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "later.test.operetta.dev", Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "widgets", Singular: "widget", Kind: "Widget", ListKind: "WidgetList"},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object", XPreserveUnknownFields: ptr.To(true),
				}}}},
		},
	}
	if err := k8s.Create(ctx(t), crd); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(ctx(t), crd) })
	u = waitForPlan(t, gvk, ns, "u", "deploy", "COMPLETE")
	if u.GetGeneration() != generation {
		t.Fatalf("the instance changed (generation %d, was %d)", u.GetGeneration(), generation)
	}
	w := &unstructured.Unstructured{}
	w.SetAPIVersion("later.test.operetta.dev/v1")
	w.SetKind("Widget")
	if !exists(t, w, ns, "u") {
		t.Fatal("the Widget was not applied once its kind was served")
	}
}

// stepIs checks the status of a step of the instance's deploy plan.
func stepIs(u *unstructured.Unstructured, step, want string) error {
	st := v1alpha1.InstanceStatus{}
	if err := fromUnstructured(u.Object["status"], &st); err != nil {
		return err
	}
	for _, ph := range st.Plans["deploy"].Phases {
		for _, s := range ph.Steps {
			if s.Name == step {
				if string(s.Status) != want {
					return fmt.Errorf("step %s is %s (%s), want %s", step, s.Status, s.Message, want)
				}
				return nil
			}
		}
	}
	return fmt.Errorf("no step %s, want it %s", step, want)
}
