package tasks_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/plans"
)

// withTopics adds to the demo a collection: one ConfigMap per element of
// the comma-separated greeting (a list from the instance), applied by the
// plan "topics", and readyWhen over the whole collection when given.
func withTopics(name string, iterators []v1alpha1.Iterator, readyWhen string) func(*v1alpha1.Framework) {
	return func(fw *v1alpha1.Framework) {
		fw.Spec.Resources = append(fw.Spec.Resources, v1alpha1.Resource{
			ID:        "topics",
			ForEach:   iterators,
			ReadyWhen: readyWhen,
			Template: &runtime.RawExtension{Raw: []byte(`{"apiVersion":"v1","kind":"ConfigMap",
				"metadata":{"name":"${instance.metadata.name}-` + name + `"},"data":{"index":"${string(topicIndex)}"}}`)},
		})
		fw.Spec.Tasks = append(fw.Spec.Tasks, v1alpha1.Task{Name: "apply-topics", Kind: v1alpha1.TaskApply, Resources: []string{"topics"}})
		fw.Spec.Plans["topics"] = v1alpha1.Plan{Phases: []v1alpha1.Phase{{Name: "main", Steps: []v1alpha1.Step{{Name: "only", Tasks: []string{"apply-topics"}}}}}}
	}
}

var topicsOfGreeting = []v1alpha1.Iterator{{Name: "topic", In: "${instance.spec.greeting.split(',')}"}}

// configMaps lists the names of the ConfigMaps the API server has, sorted.
func (h *harness) configMaps() []string {
	list := &corev1.ConfigMapList{}
	if err := h.server.List(context.Background(), list, client.InNamespace(namespace)); err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, cm := range list.Items {
		out = append(out, cm.Name)
	}
	slices.Sort(out)
	return out
}

func (h *harness) greet(s string) {
	h.t.Helper()
	if err := unstructured.SetNestedField(h.instance.Object, s, "spec", "greeting"); err != nil {
		h.t.Fatal(err)
	}
}

// TestACollectionHasOneChildPerElement: a list grows and shrinks; exactly
// the elements' objects exist after each change, the removed ones pruned
// once the plan is done.
func TestACollectionHasOneChildPerElement(t *testing.T) {
	h := newHarnessWith(t, withTopics("${topic}", topicsOfGreeting, ""))
	h.greet("a,b")
	expectResult(t, "two elements", h.step("topics"), plans.Done)
	h.expectSent("two elements", "apply ConfigMap demo-1-a", "apply ConfigMap demo-1-b")
	if got := h.configMaps(); !slices.Equal(got, []string{"demo-1-a", "demo-1-b"}) {
		t.Fatalf("ConfigMaps %v", got)
	}

	h.greet("a,b,c,d,e")
	expectResult(t, "five elements", h.step("topics"), plans.Done)
	h.expectSent("five elements", "apply ConfigMap demo-1-c", "apply ConfigMap demo-1-d", "apply ConfigMap demo-1-e")

	h.greet("c")
	expectResult(t, "one element", h.step("topics"), plans.Done)
	// Its index changed: c is the first element now.
	h.expectSent("one element", "apply ConfigMap demo-1-c")
	h.keep() // deletes them; the next sees them gone
	deletes := h.requests
	slices.Sort(deletes)
	if want := []string{"delete ConfigMap demo-1-a", "delete ConfigMap demo-1-b", "delete ConfigMap demo-1-d", "delete ConfigMap demo-1-e"}; !slices.Equal(deletes, want) {
		t.Fatalf("sent %v, want %v", deletes, want)
	}
	h.requests = nil
	kept := h.keep()
	slices.Sort(kept.Pruned)
	if want := []string{"ConfigMap/demo-1-a", "ConfigMap/demo-1-b", "ConfigMap/demo-1-d", "ConfigMap/demo-1-e"}; !slices.Equal(kept.Pruned, want) {
		t.Fatalf("pruned %v, want %v", kept.Pruned, want)
	}
	if got := h.configMaps(); !slices.Equal(got, []string{"demo-1-c"}) {
		t.Fatalf("ConfigMaps after the shrink %v", got)
	}
	h.requests = nil
	h.keep()
	h.expectSent("keep once nothing changed")
}

func TestACollectionOfTwoIteratorsIsTheirProduct(t *testing.T) {
	h := newHarnessWith(t, withTopics("${topic}-${zone}", append(topicsOfGreeting, v1alpha1.Iterator{Name: "zone", In: "${['x', 'y']}"}), ""))
	h.greet("a,b")
	expectResult(t, "2 x 2", h.step("topics"), plans.Done)
	if got := h.configMaps(); !slices.Equal(got, []string{"demo-1-a-x", "demo-1-a-y", "demo-1-b-x", "demo-1-b-y"}) {
		t.Fatalf("ConfigMaps %v", got)
	}
}

func TestTwoElementsOfOneNameAreAnErrorNamingBoth(t *testing.T) {
	h := newHarnessWith(t, withTopics("${topic.lowerAscii()}", topicsOfGreeting, ""))
	h.greet("a,b,A")
	run := h.run()
	run.SetPlan("topics")
	phase := h.fw.Plans["topics"].Phases[0]
	out := run.Step(context.Background(), phase, phase.Steps[0])
	if out.Result != plans.Fatal || !strings.Contains(out.Message, "topic[0] and topic[2] both render ConfigMap demo-1-a") {
		t.Fatalf("result %v: %s", out.Result, out.Message)
	}
	h.expectSent("a collision")
}

func TestACollectionsReadyWhenJudgesItWhole(t *testing.T) {
	h := newHarnessWith(t, withTopics("${topic}", topicsOfGreeting, "${resources.topics.size() == 3}"))
	h.greet("a,b")
	out := h.step("topics")
	if out.Result != plans.Waiting || !strings.Contains(out.Message, "resource topics: readyWhen is false") {
		t.Fatalf("two of three: %v %s", out.Result, out.Message)
	}
	h.greet("a,b,c")
	expectResult(t, "three", h.step("topics"), plans.Done)
	if kept := h.keep(); len(kept.NotReady)+len(kept.Failed) > 0 {
		t.Fatalf("keep judged it %+v", kept)
	}
}

// TestAStepRendersWhatReadsAChildAfterItIsReady: a step lists a template
// that reads the Deployment before the Deployment: the Deployment is
// applied first, and the reader only once the Deployment is ready.
func TestAStepRendersWhatReadsAChildAfterItIsReady(t *testing.T) {
	h := newHarnessWith(t, func(fw *v1alpha1.Framework) {
		fw.Spec.Resources = append(fw.Spec.Resources, v1alpha1.Resource{ID: "reader", Template: &runtime.RawExtension{Raw: []byte(`{"apiVersion":"v1","kind":"ConfigMap",
			"metadata":{"name":"${instance.metadata.name}-reader"},"data":{"ready":"${string(resources.web.status.readyReplicas)}"}}`)}})
		fw.Spec.Tasks[0].Resources = []string{"reader", "web"}
	})
	out := h.step(v1alpha1.PlanDeploy)
	h.expectSent("first", "apply Deployment "+deployment)
	if out.Result != plans.Waiting || !strings.Contains(out.Message, "resource reader: waiting for resource web, which it reads, to be ready") {
		t.Fatalf("first: %v %s", out.Result, out.Message)
	}
	h.rollOut()
	expectResult(t, "after the rollout", h.step(v1alpha1.PlanDeploy), plans.Done)
	h.expectSent("after the rollout", "apply ConfigMap demo-1-reader")
}
