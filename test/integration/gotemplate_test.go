package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
)

// nodesFramework renders one ConfigMap per node from a Go template, as a
// KUDO package renders one object per broker.
func nodesFramework(name, group, text string) *v1alpha1.Framework {
	fw := framework(name, group,
		[]v1alpha1.Parameter{{Name: "NODES", Type: v1alpha1.TypeString, Default: &apiextensionsv1.JSON{Raw: []byte(`"3"`)}}},
		[]v1alpha1.Resource{{ID: "nodes", GoTemplate: &v1alpha1.GoTemplate{
			File: "templates/nodes.yaml", Text: text, Kinds: []v1alpha1.ChildKind{{APIVersion: "v1", Kind: "ConfigMap"}},
		}}},
		[]v1alpha1.Task{apply("nodes", "nodes")},
		map[string]v1alpha1.Plan{"deploy": {Phases: []v1alpha1.Phase{{Name: "main", Steps: steps("nodes")}}}})
	fw.Spec.KUDO = &v1alpha1.KUDO{OperatorName: "nodes-operator", OperatorVersion: "1.0.0"}
	return fw
}

const nodesTemplate = `{{ range $i := until (int .Params.NODES) }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ $.Name }}-node-{{ $i }}
data:
  plan: {{ $.PlanName }}
{{ end }}`

// TestAGoTemplateFollowsItsParameters: N children from one Go template on a
// real API server, marked as KUDO marked them; fewer nodes delete the extra
// ones once the plan is done.
func TestAGoTemplateFollowsItsParameters(t *testing.T) {
	startManager(t)
	ns := namespace(t, "gotemplate")
	group := "gotemplate.test.operetta.dev"
	createFramework(t, nodesFramework("gotemplate", group, nodesTemplate))
	frameworkReady(t, "gotemplate", metav1.ConditionTrue)
	inst := instance(thingGVK(group), ns, "n", map[string]any{})
	if err := k8s.Create(ctx(t), inst); err != nil {
		t.Fatal(err)
	}
	waitForPlan(t, thingGVK(group), ns, "n", "deploy", "COMPLETE")
	nodes := func() ([]string, error) {
		list := &corev1.ConfigMapList{}
		err := k8s.List(ctx(t), list, client.InNamespace(ns), client.MatchingLabels{"kudo.dev/instance": "n", "heritage": "kudo", v1alpha1.LabelInstance: "n"})
		var names []string
		for _, cm := range list.Items {
			if cm.DeletionTimestamp == nil {
				names = append(names, cm.Name+"="+cm.Data["plan"]+"@"+cm.Annotations["kudo.dev/step"])
			}
		}
		return names, err
	}
	got, err := nodes()
	if want := "n-node-0=deploy@nodes,n-node-1=deploy@nodes,n-node-2=deploy@nodes"; err != nil || strings.Join(got, ",") != want {
		t.Fatalf("children %v (%v), want %s", got, err, want)
	}

	if err := k8s.Patch(ctx(t), inst, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"NODES":"1"}}`))); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		got, err := nodes()
		if err != nil {
			return err
		}
		if strings.Join(got, ",") != "n-node-0=deploy@nodes" {
			return fmt.Errorf("children %v after NODES=1, want n-node-0 only", got)
		}
		return nil
	})
	// Every entry records the step that applied it, drift corrections
	// included; the deleted ones leave the inventory once the cache says
	// they are gone.
	eventually(t, 30*time.Second, func() error {
		st := instanceStatus(t, thingGVK(group), ns, "n")
		if len(st.Inventory) != 1 || st.Inventory[0].Name != "n-node-0" || st.Inventory[0].Step != "deploy/main/nodes" {
			return fmt.Errorf("inventory %+v, want n-node-0 applied in deploy/main/nodes", st.Inventory)
		}
		return nil
	})
}

// TestAGoTemplateIsCheckedWhenTheFrameworkIsApplied: its parse errors and
// unknown parameters are in the Framework's Ready condition, with the file
// and line; nothing is installed.
func TestAGoTemplateIsCheckedWhenTheFrameworkIsApplied(t *testing.T) {
	startManager(t)
	bad := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: '{{ .Name }}'}\ndata: {port: '{{ .Params.PORT }}'}\n"
	createFramework(t, nodesFramework("gotemplate-bad", "gotemplate-bad.test.operetta.dev", bad))
	cond := frameworkReady(t, "gotemplate-bad", metav1.ConditionFalse)
	mustContain(t, cond.Reason+": "+cond.Message, "InvalidExpression",
		`spec.resources[0].goTemplate.text: Invalid value: "templates/nodes.yaml": templates/nodes.yaml:4:`,
		"reads .Params.PORT, which is not a parameter of the Framework")
}
