package expr

import (
	"reflect"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func topicsEnv(t *testing.T) *Env {
	t.Helper()
	topic := apiextensionsv1.JSONSchemaProps{Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
		"name": {Type: "string"}, "partitions": {Type: "integer"},
	}}
	spec := &apiextensionsv1.JSONSchemaProps{Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
		"topics": {Type: "array", Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &topic}},
		"zones":  {Type: "array", Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &apiextensionsv1.JSONSchemaProps{Type: "string"}}},
		"quotas": {Type: "object", AdditionalProperties: &apiextensionsv1.JSONSchemaPropsOrBool{Allows: true, Schema: &apiextensionsv1.JSONSchemaProps{Type: "integer"}}},
		"size":   {Type: "integer"},
	}}
	env, err := NewEnv(spec)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func TestACollectionsElementIsTyped(t *testing.T) {
	env := topicsEnv(t)
	topics, err := env.CompileCollection("${instance.spec.topics}")
	if err != nil {
		t.Fatal(err)
	}
	each, err := env.Extend(Variable{Name: "topic", Type: topics.Element}, Variable{Name: "topicIndex", Type: topics.Index})
	if err != nil {
		t.Fatal(err)
	}
	tpl, errs := each.CompileTemplate(map[string]any{"name": "${topic.name}-${string(topicIndex)}", "partitions": "${topic.partitions * 2}"}, field.NewPath("template"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if _, errs := each.CompileTemplate("${topic.nmae}", field.NewPath("template")); len(errs) != 1 || !strings.Contains(errs[0].Detail, "undefined field 'nmae'") {
		t.Fatalf("a misspelt field of the element: %v", errs)
	}
	if _, errs := each.CompileTemplate("${topic.partitions + 'x'}", field.NewPath("template")); len(errs) != 1 {
		t.Fatalf("an integer field used as a string: %v", errs)
	}

	vars := Vars{Instance: map[string]any{"spec": map[string]any{"topics": []any{
		map[string]any{"name": "orders", "partitions": int64(3)}, map[string]any{"name": "audit", "partitions": int64(1)},
	}}}}
	elems, err := topics.Elements(vars, 10)
	if err != nil || len(elems) != 2 {
		t.Fatalf("elements %v, %v", elems, err)
	}
	var got []any
	for _, e := range elems {
		vars.Extra = map[string]any{"topic": e.Value, "topicIndex": e.Index}
		v, err := tpl.Render(vars)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	want := []any{map[string]any{"name": "orders-0", "partitions": int64(6)}, map[string]any{"name": "audit-1", "partitions": int64(2)}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("rendered %v, want %v", got, want)
	}
	if _, err := topics.Elements(vars, 1); err == nil || !strings.Contains(err.Error(), "has 2 elements, more than the 1 a collection may have") {
		t.Fatalf("over the bound: %v", err)
	}
	vars.Instance = map[string]any{"spec": map[string]any{}}
	// A list the instance leaves out has no field to read: an error the
	// caller reports (orValue([]) says "none"), never elements.
	if elems, err := topics.Elements(vars, 10); err == nil || len(elems) != 0 {
		t.Fatalf("a missing list: %v, %v", elems, err)
	}
}

func TestAMapIsIteratedByKey(t *testing.T) {
	env := topicsEnv(t)
	quotas, err := env.CompileCollection("${instance.spec.quotas}")
	if err != nil {
		t.Fatal(err)
	}
	if quotas.Index.String() != "string" || quotas.Element.String() != "int" {
		t.Fatalf("a map of integers: index %s, element %s", quotas.Index, quotas.Element)
	}
	elems, err := quotas.Elements(Vars{Instance: map[string]any{"spec": map[string]any{"quotas": map[string]any{"b": int64(2), "a": int64(1)}}}}, 10)
	if err != nil || len(elems) != 2 || elems[0].Index.Value() != "a" || elems[1].Native() != int64(2) {
		t.Fatalf("elements %v, %v", elems, err)
	}
}

func TestOnlyAListOrAMapIsACollection(t *testing.T) {
	env := topicsEnv(t)
	for src, want := range map[string]string{
		"${instance.spec.size}":          "its type is int; a collection iterates over a list or a map",
		"topics: ${instance.spec.zones}": "must be one ${...} expression",
		"${instance.spec.zonse}":         "undefined field 'zonse'",
	} {
		if _, err := env.CompileCollection(src); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", src, err, want)
		}
	}
}

func TestAnExpressionSaysWhichChildrenItReads(t *testing.T) {
	env := newEnv(t)
	for src, want := range map[string]struct {
		ids     string
		dynamic bool
	}{
		"${resources.db.status.host}:${string(resources.cache.spec.port)}": {"cache,db", false},
		"${resources.?db.status.host.orValue('')}":                         {"db", false},
		"${resources['db'].status.host}":                                   {"db", false},
		"${resources[instance.spec.name].status}":                          {"", true},
		"${size(resources) > 0}":                                           {"", true},
		"${instance.spec.resources}":                                       {"", false},
		"${has(resources.db) ? 1 : 0}":                                     {"db", false},
	} {
		tpl, errs := env.CompileTemplate(src, field.NewPath("t"))
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		ids, dynamic := tpl.ResourceIDs()
		if strings.Join(ids, ",") != want.ids || dynamic != want.dynamic {
			t.Errorf("%s: %v, %v; want %s, %v", src, ids, dynamic, want.ids, want.dynamic)
		}
	}
}
