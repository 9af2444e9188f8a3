package compile_test

import (
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
)

// twoVersions is a kind stored as v2 ({name, replicas, resources.memory})
// that also serves v1 ({name, size, memory}).
func twoVersions(change func(*v1alpha1.Version)) *v1alpha1.Framework {
	one, nine := 1.0, 9.0
	obj := func(s string) *apiextensionsv1.JSON { return &apiextensionsv1.JSON{Raw: []byte(s)} }
	v1 := v1alpha1.Version{Name: "v1", Deprecated: true, DeprecationWarning: "v1 Thing is deprecated; use v2",
		Parameters: []v1alpha1.Parameter{
			{Name: "name", Type: v1alpha1.TypeString},
			{Name: "size", Type: v1alpha1.TypeInteger, Minimum: &one, Maximum: &nine, Required: true},
			{Name: "memory", Type: v1alpha1.TypeString},
		},
		ToNext:   map[string]string{"replicas": "${self.size}", "resources.memory": "${self.?memory}"},
		FromNext: map[string]string{"size": "${self.replicas}", "memory": "${self.?resources.?memory}"},
	}
	if change != nil {
		change(&v1)
	}
	return &v1alpha1.Framework{
		ObjectMeta: metav1.ObjectMeta{Name: "things", Generation: 1},
		Spec: v1alpha1.FrameworkSpec{
			Names: v1alpha1.Names{Group: "things.example.com", Kind: "Thing", Version: "v2"},
			Parameters: []v1alpha1.Parameter{
				{Name: "name", Type: v1alpha1.TypeString},
				{Name: "replicas", Type: v1alpha1.TypeInteger, Minimum: &one, Maximum: &nine, Required: true},
				{Name: "resources", Type: v1alpha1.TypeObject, Schema: obj(`{"properties":{"memory":{"type":"string"}}}`)},
			},
			Tasks:    []v1alpha1.Task{{Name: "noop", Kind: v1alpha1.TaskDummy, Done: true}},
			Plans:    map[string]v1alpha1.Plan{"deploy": {Phases: []v1alpha1.Phase{{Name: "p", Steps: []v1alpha1.Step{{Name: "s", Tasks: []string{"noop"}}}}}}},
			Versions: []v1alpha1.Version{v1},
		},
	}
}

func TestAKindWithTwoVersions(t *testing.T) {
	c, errs := compile.Compile(twoVersions(nil))
	if len(errs) > 0 {
		t.Fatal(compile.Message(errs))
	}
	vs := c.CRD.Spec.Versions
	if len(vs) != 2 || vs[0].Name != "v2" || !vs[0].Storage || vs[1].Name != "v1" || vs[1].Storage || !vs[1].Served || !vs[1].Deprecated ||
		vs[1].DeprecationWarning == nil || *vs[1].DeprecationWarning != "v1 Thing is deprecated; use v2" {
		t.Fatalf("versions %+v", vs)
	}
	if _, ok := vs[1].Schema.OpenAPIV3Schema.Properties["spec"].Properties["size"]; !ok {
		t.Fatal("v1's schema has no size")
	}
	got, err := c.ConvertSpec(map[string]any{"name": "a", "size": int64(3), "memory": "1Gi"}, "v1", "v2")
	if err != nil || got["replicas"] != int64(3) || got["resources"].(map[string]any)["memory"] != "1Gi" || got["name"] != "a" || got["size"] != nil {
		t.Fatalf("v1 → v2: %v, %v", got, err)
	}
	back, err := c.ConvertSpec(got, "v2", "v1")
	if err != nil || back["size"] != int64(3) || back["memory"] != "1Gi" || back["replicas"] != nil {
		t.Fatalf("v2 → v1: %v, %v", back, err)
	}
	if _, err := c.ConvertSpec(got, "v2", "v3"); err == nil || !strings.Contains(err.Error(), "Thing has no version v2 or v3") {
		t.Fatalf("an unknown version: %v", err)
	}
}

func TestVersionsAreCheckedAtApply(t *testing.T) {
	for name, tc := range map[string]struct {
		change func(*v1alpha1.Version)
		want   string
	}{
		"a name that is no version":     {func(v *v1alpha1.Version) { v.Name = "version1" }, `spec.versions[0].name: Invalid value: "version1": must be a Kubernetes API version`},
		"the stored version again":      {func(v *v1alpha1.Version) { v.Name = "v2" }, `spec.versions[0].name: Duplicate value: "v2"`},
		"a mapping to a field v2 lacks": {func(v *v1alpha1.Version) { v.ToNext["replica"] = "${self.size}" }, `spec.versions[0].toNext[replica]: Invalid value: "replica": version v2's spec has no field replica`},
		"a mapping from a field v1 lacks": {func(v *v1alpha1.Version) { v.ToNext["replicas"] = "${self.sise}" },
			`spec.versions[0].toNext[replicas]: Invalid value: "${self.sise}": ERROR: <input>:1:5: undefined field 'sise'`},
		"a way back that loses a field": {func(v *v1alpha1.Version) { delete(v.FromNext, "memory") },
			`spec.versions[0].fromNext: Invalid value: "v1": converting to v2 and back does not give what was converted: v1 → v2 → v1 loses spec.memory`},
		"a parameter of a bad type": {func(v *v1alpha1.Version) { v.Parameters[0].Type = "text" }, `spec.versions[0].parameters[0].type: Unsupported value: "text"`},
	} {
		t.Run(name, func(t *testing.T) {
			_, errs := compile.Compile(twoVersions(tc.change))
			if msg := compile.Message(errs); !strings.Contains(msg, tc.want) {
				t.Fatalf("got %q, want %q", msg, tc.want)
			}
		})
	}
}
