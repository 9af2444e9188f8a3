package compile_test

import (
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/tasks"
)

// configMapSchema answers a ConfigMap's schema, as the API server's
// OpenAPI has it (in part), and nothing else.
type configMapSchema struct{}

func (configMapSchema) ResolveSchema(gvk schema.GroupVersionKind) (*spec.Schema, error) {
	if gvk != (schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}) {
		return nil, errors.New("not found")
	}
	str := spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"string"}}}
	return &spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"object"}, Properties: map[string]spec.Schema{
		"apiVersion": str, "kind": str,
		"metadata":  {SchemaProps: spec.SchemaProps{Type: []string{"object"}, Properties: map[string]spec.Schema{"name": str, "namespace": str}}},
		"data":      {SchemaProps: spec.SchemaProps{Type: []string{"object"}, AdditionalProperties: &spec.SchemaOrBool{Allows: true, Schema: &str}}},
		"immutable": {SchemaProps: spec.SchemaProps{Type: []string{"boolean"}}},
	}}}, nil
}

func withDefaults(t *testing.T, data string) *v1alpha1.Framework {
	fw := zookeeper(t)
	fw.Spec.Resources = append(fw.Spec.Resources,
		v1alpha1.Resource{ID: "defaults", ExternalRef: &v1alpha1.ExternalRef{APIVersion: "v1", Kind: "ConfigMap", Name: "defaults"}},
		v1alpha1.Resource{ID: "copy", Template: raw(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"${instance.metadata.name}-copy"},"data":{"v":"` + data + `"}}`)})
	return fw
}

func TestAnExternalRefIsTypedByItsKindsSchema(t *testing.T) {
	opts := compile.Options{Schemas: configMapSchema{}}
	c, errs := compile.CompileWith(withDefaults(t, "${resources.defaults.data['retention.ms']}"), opts)
	if len(errs) > 0 {
		t.Fatal(compile.Message(errs))
	}
	if got := c.Resources["copy"].DependsOn; len(got) != 1 || got[0] != "defaults" {
		t.Fatalf("copy depends on %v", got)
	}
	for expr, want := range map[string]string{
		"${resources.defaults.dta}":                  "undefined field 'dta'",
		"${resources.defaults.immutable + 'x'}":      "found no matching overload for '_+_' applied to '(bool, string)'",
		"${string(resources.servers.spec.replicas)}": "", // a child of the Framework's own: dynamic
	} {
		_, errs := compile.CompileWith(withDefaults(t, expr), opts)
		if msg := compile.Message(errs); (want == "") != (msg == "") || !strings.Contains(msg, want) {
			t.Errorf("%s: %q, want %q", expr, msg, want)
		}
	}
	// Without a schema the reference is dynamic: the typo passes here and
	// fails when a step reads it.
	if _, errs := compile.Compile(withDefaults(t, "${resources.defaults.dta}")); len(errs) > 0 {
		t.Fatalf("offline: %s", compile.Message(errs))
	}

	// A typed reference renders as the dynamic one did.
	zk := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{}}}
	zk.SetName("zk")
	zk.SetNamespace("default")
	vars := tasks.NewVars(c, zk)
	vars.Resources["defaults"] = map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "defaults"},
		"data": map[string]any{"retention.ms": "604800000"}}
	m, err := c.Resources["copy"].Template.RenderObject(vars)
	if err != nil || m["data"].(map[string]any)["v"] != "604800000" {
		t.Fatalf("rendered %v, %v", m, err)
	}
}
