package crdgen_test

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	apiextensions "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/crdgen"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func load(t *testing.T, path string) *v1alpha1.Framework {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fw := &v1alpha1.Framework{}
	if err := yaml.UnmarshalStrict(b, fw); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return fw
}

func TestGenerateGolden(t *testing.T) {
	inputs := map[string]string{
		"zookeeper": "../../examples/zookeeper/framework.yaml",
		"all-types": "testdata/all-types.framework.yaml",
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			crd, errs := crdgen.Generate(load(t, in))
			if len(errs) > 0 {
				t.Fatalf("generate: %v", errs)
			}
			got, err := yaml.Marshal(crd)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", name+".crd.golden.yaml")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/crdgen -update to create it)", err)
			}
			if string(got) != string(want) {
				t.Fatalf("%s is stale; run go test ./internal/crdgen -update and review the diff.\ngot:\n%s", golden, got)
			}
		})
	}
}

func TestGenerateErrorsNameFrameworkFields(t *testing.T) {
	base := func() *v1alpha1.Framework { return load(t, "testdata/all-types.framework.yaml") }
	tests := []struct {
		name   string
		mutate func(*v1alpha1.Framework)
		field  string
		detail string
	}{
		{"default outside the bounds", func(fw *v1alpha1.Framework) {
			fw.Spec.Parameters[1].Default = &apiextensionsv1.JSON{Raw: []byte("9")}
		}, "spec.parameters[1].default", "less than or equal to 5"},
		{"validation rule that does not compile", func(fw *v1alpha1.Framework) {
			fw.Spec.Validations[0].Rule = "self.count <"
		}, "spec.validations[0].rule", "compilation failed"},
		{"validation rule over an unknown parameter", func(fw *v1alpha1.Framework) {
			fw.Spec.Validations[0].Rule = "self.nope > 1"
		}, "spec.validations[0].rule", "undefined field 'nope'"},
		{"kind that is not a kind", func(fw *v1alpha1.Framework) {
			fw.Spec.Names.Kind = "no spaces"
		}, "spec.names", ""},
		{"printer column with a bad type", func(fw *v1alpha1.Framework) {
			fw.Spec.PrinterColumns[0].Type = "float"
		}, "spec.printerColumns[0].type", "must be one of"},
		{"schema escape hatch that is not structural", func(fw *v1alpha1.Framework) {
			fw.Spec.Parameters[6].Schema = &apiextensionsv1.JSON{Raw: []byte(`{"properties":{"x":{}}}`)}
		}, "spec.parameters[6].properties[x].type", "Required value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fw := base()
			tt.mutate(fw)
			crd, errs := crdgen.Generate(fw)
			if crd != nil || len(errs) == 0 {
				t.Fatal("want errors and no CRD")
			}
			for _, e := range errs {
				if strings.HasPrefix(e.Field, tt.field) && strings.Contains(e.Error(), tt.detail) {
					return
				}
			}
			t.Fatalf("no error at %s containing %q in %v", tt.field, tt.detail, errs)
		})
	}
}

func TestPluralize(t *testing.T) {
	for kind, want := range map[string]string{
		"Kafka": "kafkas", "Redis": "redises", "Policy": "policies", "Gateway": "gateways",
		"Box": "boxes", "Mesh": "meshes", "ZooKeeper": "zookeepers",
	} {
		if got := crdgen.Pluralize(kind); got != want {
			t.Errorf("Pluralize(%s) = %s, want %s", kind, got, want)
		}
	}
}

// TestStatusSchemaKeepsEveryStatusField fills every field of InstanceStatus and
// prunes it with the generated schema, as the API server would: nothing the
// controller writes may be dropped.
func TestStatusSchemaKeepsEveryStatusField(t *testing.T) {
	crd, errs := crdgen.Generate(load(t, "testdata/all-types.framework.yaml"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	now := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	status := v1alpha1.InstanceStatus{
		ObservedGeneration: 3,
		Conditions:         []metav1.Condition{{Type: "Ready", Status: "True", Reason: "Succeeded", Message: "m", ObservedGeneration: 3, LastTransitionTime: now}},
		ActivePlan:         "deploy",
		ActivePlanStatus:   v1alpha1.Complete,
		Plans: map[string]v1alpha1.PlanStatus{"deploy": {
			Status: v1alpha1.Complete, Message: "m", UID: "u", Cause: "schedule nightly", StartedAt: &now, FinishedAt: &now,
			Phases: []v1alpha1.PhaseStatus{{Name: "p", Status: v1alpha1.Complete, Message: "m",
				Steps: []v1alpha1.StepStatus{{Name: "s", Status: v1alpha1.Complete, Message: "m", StartedAt: &now, FinishedAt: &now}}}},
		}},
		PlanQueue:           []string{"update"},
		QueuedCauses:        map[string]string{"update": "parameter config"},
		ParameterDigests:    map[string]string{"count": "abc"},
		FrameworkGeneration: 2,
		Inventory:           []v1alpha1.InventoryItem{{ID: "cm", APIVersion: "v1", Kind: "ConfigMap", Name: "x", Observed: "12"}},
		LastRunPlan:         "backup@1",
		Schedules: []v1alpha1.ScheduleStatus{{Name: "nightly", Schedule: "0 2 * * *", Since: &now, LastScheduleTime: &now,
			LastRunUID: "u", LastOutcome: v1alpha1.ScheduleSkipped, Message: "m", NextScheduleTime: &now}},
	}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&status)
	if err != nil {
		t.Fatal(err)
	}
	internal := &apiextensions.JSONSchemaProps{}
	statusProps := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["status"]
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(&statusProps, internal, nil); err != nil {
		t.Fatal(err)
	}
	structural, err := structuralschema.NewStructural(internal)
	if err != nil {
		t.Fatal(err)
	}
	pruned := runtime.DeepCopyJSONValue(obj)
	pruning.Prune(pruned, structural, false)
	if !reflect.DeepEqual(pruned, obj) {
		t.Fatalf("the status schema drops fields:\nwrote  %v\nstored %v", obj, pruned)
	}
}

// TestEveryStatusFieldIsExplained: `kubectl explain <kind>.status` explains
// every field of the status operetta writes, however deep.
func TestEveryStatusFieldIsExplained(t *testing.T) {
	crd, errs := crdgen.Generate(load(t, "testdata/all-types.framework.yaml"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var walk func(path string, s apiextensionsv1.JSONSchemaProps)
	walk = func(path string, s apiextensionsv1.JSONSchemaProps) {
		if s.Description == "" {
			t.Errorf("%s has no description", path)
		}
		for name, p := range s.Properties {
			walk(path+"."+name, p)
		}
		if s.Items != nil && s.Items.Schema != nil {
			walk(path+"[]", *s.Items.Schema)
		}
		if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
			walk(path+"{}", *s.AdditionalProperties.Schema)
		}
	}
	walk("status", crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["status"])
}

// A Framework's projected status fields are its own: the status schema
// every CRD shares keeps none, and the projecting CRD keeps the standard
// fields beside its own.
func TestProjectedStatusFieldsStayInTheirCRD(t *testing.T) {
	fw := load(t, "testdata/all-types.framework.yaml")
	crd, errs := crdgen.Generate(fw)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	projected, errs := crdgen.WithStatusFields(crd, fw, map[string]apiextensionsv1.JSONSchemaProps{
		"endpoint": {Type: "string", Description: "Where clients connect."},
	})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	statusOf := func(c *apiextensionsv1.CustomResourceDefinition) map[string]apiextensionsv1.JSONSchemaProps {
		return c.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["status"].Properties
	}
	if _, ok := statusOf(projected)["endpoint"]; !ok {
		t.Error("the projected field is missing from the projecting CRD")
	}
	if _, ok := statusOf(projected)["conditions"]; !ok {
		t.Error("the standard field conditions is missing beside the projected one")
	}
	again, errs := crdgen.Generate(fw)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	for _, c := range []*apiextensionsv1.CustomResourceDefinition{crd, again} {
		if _, ok := statusOf(c)["endpoint"]; ok {
			t.Fatal("a CRD generated without projections has the projected field: the shared status schema was written into")
		}
	}
}
