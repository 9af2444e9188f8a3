package integration

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
)

func TestABreakingChangeNeedsTheOptIn(t *testing.T) {
	m := startManager(t)
	ns := namespace(t, "breaking")
	group := "breaking.test.operetta.dev"
	fw := framework("breaking", group, []v1alpha1.Parameter{
		{Name: "size", Type: v1alpha1.TypeInteger, Default: &apiextensionsv1.JSON{Raw: []byte("1")}},
		{Name: "legacy", Type: v1alpha1.TypeString},
	},
		[]v1alpha1.Resource{configMap("config", "")}, []v1alpha1.Task{apply("config", "config")},
		map[string]v1alpha1.Plan{"deploy": {Phases: []v1alpha1.Phase{{Name: "main", Steps: steps("config")}}}})
	createFramework(t, fw)
	frameworkReady(t, "breaking", metav1.ConditionTrue)
	if err := k8s.Create(ctx(t), instance(thingGVK(group), ns, "b", map[string]any{})); err != nil {
		t.Fatal(err)
	}
	waitForPlan(t, thingGVK(group), ns, "b", "deploy", "COMPLETE")

	editFramework(t, "breaking", fw, func() {
		fw.Spec.Parameters[1].Type = v1alpha1.TypeString
		fw.Spec.Parameters[1].Default = &apiextensionsv1.JSON{Raw: []byte(`"small"`)}
		fw.Spec.Parameters = fw.Spec.Parameters[:2] // legacy is gone
	})
	cond := frameworkReady(t, "breaking", metav1.ConditionFalse)
	if cond.Reason != "BreakingChange" {
		t.Fatalf("reason %s: %s", cond.Reason, cond.Message)
	}
	mustContain(t, cond.Message, "spec: field legacy is removed", "spec.size: type changes from integer to string", `operetta.dev/allow-breaking-changes="true"`)
	expectFrameworkEvents(t, "breaking", map[string]int32{"Installed": 1, "BreakingChange": 1})
	// kubectl operetta verify --existing says so before anyone applies it.
	file := frameworkFile(t, fw)
	out, err := plugin(t, "", "verify", "--existing", file)
	if err == nil || !strings.Contains(out, "Framework breaking: BreakingChange\n  "+cond.Message) {
		t.Fatalf("verify --existing: %v\n%s\nwant the condition's message: %s", err, out, cond.Message)
	}
	if gen, _ := loopGeneration(m, "breaking"); gen != 1 {
		t.Fatalf("loop runs generation %d, want the previous one", gen)
	}
	if typ := crdSpecField(t, "things."+group, "size"); typ != "integer" {
		t.Fatalf("CRD field size is %q: the refused change was applied", typ)
	}

	if err := k8s.Patch(ctx(t), fw, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"operetta.dev/allow-breaking-changes":"true"}}}`))); err != nil {
		t.Fatal(err)
	}
	frameworkReady(t, "breaking", metav1.ConditionTrue)
	expectFrameworkEvents(t, "breaking", map[string]int32{"Installed": 2, "BreakingChange": 1})
	if typ := crdSpecField(t, "things."+group, "size"); typ != "string" {
		t.Fatalf("CRD field size is %q after the opt-in", typ)
	}
}

func crdSpecField(t *testing.T, crdName, field string) string {
	t.Helper()
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := k8s.Get(ctx(t), client.ObjectKey{Name: crdName}, crd); err != nil {
		t.Fatal(err)
	}
	return crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties[field].Type
}

func TestAForeignCRDIsLeftUntouched(t *testing.T) {
	startManager(t)
	group := "foreign.test.operetta.dev"
	foreign := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "things." + group},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: group, Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "things", Singular: "thing", Kind: "Thing", ListKind: "ThingList"},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: ptrTrue()}}}},
		},
	}
	if err := k8s.Create(ctx(t), foreign); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := k8s.Get(ctx(t), client.ObjectKey{Name: foreign.Name}, crd); err != nil {
			return err
		}
		for _, c := range crd.Status.Conditions {
			if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("the foreign CRD is not established yet")
	})
	before := crdBytes(t, foreign.Name)
	createFramework(t, framework("foreign", group, nil, []v1alpha1.Resource{configMap("config", "")}, []v1alpha1.Task{apply("config", "config")},
		map[string]v1alpha1.Plan{"deploy": {Phases: []v1alpha1.Phase{{Name: "main", Steps: steps("config")}}}}))
	cond := frameworkReady(t, "foreign", metav1.ConditionFalse)
	if cond.Reason != "CRDConflict" {
		t.Fatalf("reason %s: %s", cond.Reason, cond.Message)
	}
	mustContain(t, cond.Message, "CRD things."+group+" exists and was not created by operetta")
	// The refusal is written after the decision not to touch the CRD: no
	// wait is needed to see that it was not touched.
	if after := crdBytes(t, foreign.Name); after != before {
		t.Fatalf("the foreign CRD changed:\nbefore %s\nafter  %s", before, after)
	}
}

func crdBytes(t *testing.T, name string) string {
	t.Helper()
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := k8s.Get(ctx(t), client.ObjectKey{Name: name}, crd); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(crd)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func ptrTrue() *bool { b := true; return &b }

func TestAFrameworkChangeRollsOutAtMostMaxConcurrentAtATime(t *testing.T) {
	startManager(t)
	ns := namespace(t, "rollout")
	group := "rollout.test.operetta.dev"
	gvk := thingGVK(group)
	fw := gatedUpgradeFramework("rollout", group)
	fw.Spec.Rollout.MaxConcurrent = 2
	createFramework(t, fw)
	frameworkReady(t, "rollout", metav1.ConditionTrue)
	names := []string{"r1", "r2", "r3", "r4", "r5"}
	deployInstances(t, gvk, ns, names...)

	editFramework(t, "rollout", fw, func() {
		fw.Spec.Resources[0].Template = &runtime.RawExtension{Raw: []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"${instance.metadata.name}-config"},"data":{"v":"${string(instance.spec.value)}","release":"2"}}`)}
	})
	most, opened, sawRollingOut := 0, map[string]bool{}, false
	eventually(t, 90*time.Second, func() error {
		if u, err := get(t, frameworkGVK, "", "rollout"); err == nil {
			if res, _ := status.Compute(u); res != nil && res.Status == status.InProgressStatus {
				sawRollingOut = true
			}
		}
		var running, done []string
		for _, n := range names {
			st := instanceStatus(t, gvk, ns, n)
			switch up := st.Plans["upgrade"]; {
			case up.Status == v1alpha1.Complete:
				done = append(done, n)
			case up.Status != "" && !up.Status.IsTerminal():
				running = append(running, n)
			}
		}
		if len(running) > most {
			most = len(running)
		}
		if len(running) > 2 {
			t.Fatalf("%d instances upgrade at once (%v), maxConcurrent is 2", len(running), running)
		}
		sort.Strings(running)
		for _, n := range running {
			if !opened[n] && exists(t, &corev1.ConfigMap{}, ns, n+"-gate") {
				openGateOf(t, ns, n+"-gate")
				opened[n] = true
			}
		}
		if len(done) < len(names) {
			return fmt.Errorf("upgraded %v, upgrading %v", done, running)
		}
		return nil
	})
	if most != 2 {
		t.Fatalf("at most %d instances upgraded at once; the rollout should use its 2 places", most)
	}
	eventually(t, 30*time.Second, func() error {
		fw := &v1alpha1.Framework{}
		if err := k8s.Get(ctx(t), client.ObjectKey{Name: "rollout"}, fw); err != nil {
			return err
		}
		if r := fw.Status.Rollout; r == nil || r.Generation != 2 || r.Updated != 5 || r.Total != 5 {
			return fmt.Errorf("rollout status %+v, want generation 2, 5/5", fw.Status.Rollout)
		}
		if meta.FindStatusCondition(fw.Status.Conditions, v1alpha1.ConditionReconciling) != nil {
			return fmt.Errorf("the rollout is done, yet Reconciling is %+v", fw.Status.Conditions)
		}
		if c := fw.Status.Instances; c == nil || c.Ready != 5 || c.Total != 5 {
			return fmt.Errorf("instances %+v, want 5 of 5 ready", c)
		}
		return nil
	})
	if !sawRollingOut {
		t.Error("the Framework never read InProgress to kstatus while generation 2 rolled out")
	}
	// Creating the instances was no rollout; generation 2's was, once.
	expectFrameworkEvents(t, "rollout", map[string]int32{"RolloutStarted": 1, "RolloutComplete": 1})
	_, notes := frameworkEvents(t, "rollout")
	mustContain(t, strings.Join(notes, "\n"), "RolloutStarted: generation 2 is rolling out to 5 instances", "RolloutComplete: generation 2 reached 5 instances (5 updated, 0 failed)")
}

// TestHeldInstancesKeepTheirGenerationUntilTheirTurn: with maxConcurrent 1,
// a generation that drops a template reaches one instance at a time; the
// others keep running the generation they are on — their child of the
// dropped template stays, and is even restored if deleted — until admitted.
func TestHeldInstancesKeepTheirGenerationUntilTheirTurn(t *testing.T) {
	startManager(t)
	ns := namespace(t, "held")
	group := "held.test.operetta.dev"
	gvk := thingGVK(group)
	fw := heldFramework("held", group)
	fw.Spec.Rollout.MaxConcurrent = 1
	createFramework(t, fw)
	frameworkReady(t, "held", metav1.ConditionTrue)
	names := []string{"h1", "h2", "h3"}
	deployInstances(t, gvk, ns, names...)

	// Generation 2 drops the extra template.
	editFramework(t, "held", fw, func() {
		fw.Spec.Resources = append(fw.Spec.Resources[:1], fw.Spec.Resources[2])
		fw.Spec.Tasks[0].Resources = []string{"config"}
	})
	upgrading := func() (running, done []string) {
		for _, n := range names {
			switch up := instanceStatus(t, gvk, ns, n).Plans["upgrade"]; {
			case up.Status == v1alpha1.Complete:
				done = append(done, n)
			case up.Status != "":
				running = append(running, n)
			}
		}
		return running, done
	}
	for len(names) > 0 {
		var first string
		eventually(t, 30*time.Second, func() error {
			running, _ := upgrading()
			if len(running) != 1 {
				return fmt.Errorf("upgrading %v, want exactly one", running)
			}
			first = running[0]
			return nil
		})
		waitForPlan(t, gvk, ns, first, "upgrade", "IN_PROGRESS")
		var held []string
		for _, n := range names {
			if n != first {
				held = append(held, n)
			}
		}
		// The admitted instance has its extra child pruned only once its
		// upgrade completes; the held ones keep theirs, and restore it.
		for _, n := range held {
			if err := k8s.Delete(ctx(t), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: n + "-extra"}}); err != nil {
				t.Fatal(err)
			}
		}
		for _, n := range held {
			eventually(t, 30*time.Second, func() error {
				if !exists(t, &corev1.ConfigMap{}, ns, n+"-extra") {
					return fmt.Errorf("%s waits for its turn but did not restore its child of generation 1", n)
				}
				return nil
			})
		}
		openGateOf(t, ns, first+"-gate")
		waitForPlan(t, gvk, ns, first, "upgrade", "COMPLETE")
		eventually(t, 30*time.Second, func() error {
			if exists(t, &corev1.ConfigMap{}, ns, first+"-extra") {
				return fmt.Errorf("%s upgraded but still has the child of the dropped template", first)
			}
			return nil
		})
		names = held
	}
}
