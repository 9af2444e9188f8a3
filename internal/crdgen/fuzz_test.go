package crdgen_test

import (
	"testing"

	apiextensions "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/crdgen"
)

// FuzzGenerate builds a Framework around one arbitrary parameter: Generate
// must never panic, and whatever it returns without errors must be a
// structural schema the API server would accept.
func FuzzGenerate(f *testing.F) {
	f.Add("replicas", "integer", "3", "", 1.0, 7.0, "")
	f.Add("image", "string", `"zk"`, "^[a-z]+$", 0.0, 0.0, `"zk"`)
	f.Add("tls", "object", `{"a":1}`, "", 0.0, 0.0, "")
	f.Add("ports", "array", `[1]`, "", 0.0, 0.0, "")
	f.Add("on", "boolean", "maybe", "(", -1.0, -2.0, "[")
	f.Fuzz(func(t *testing.T, name, typ, def, pattern string, min, max float64, enum string) {
		p := v1alpha1.Parameter{Name: name, Type: v1alpha1.ParameterType(typ), Pattern: pattern}
		if def != "" {
			p.Default = &apiextensionsv1.JSON{Raw: []byte(def)}
		}
		if enum != "" {
			p.Enum = []apiextensionsv1.JSON{{Raw: []byte(enum)}}
		}
		if min != 0 || max != 0 {
			p.Minimum, p.Maximum = &min, &max
		}
		fw := &v1alpha1.Framework{Spec: v1alpha1.FrameworkSpec{
			Names:      v1alpha1.Names{Group: "fuzz.example.com", Kind: "Fuzz"},
			Parameters: []v1alpha1.Parameter{p},
		}}
		fw.Name = "fuzz"
		crd, errs := crdgen.Generate(fw)
		if crd == nil {
			if len(errs) == 0 {
				t.Fatal("no CRD and no error")
			}
			return
		}
		internal := &apiextensions.JSONSchemaProps{}
		if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(crd.Spec.Versions[0].Schema.OpenAPIV3Schema, internal, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := structuralschema.NewStructural(internal); err != nil {
			t.Fatalf("generated a schema that is not structural: %v", err)
		}
	})
}
