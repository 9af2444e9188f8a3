package expr

import (
	"reflect"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func newEnv(t testing.TB) *Env {
	t.Helper()
	env, err := NewEnv(nil)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// vars are those of a reconcile in a plan run.
var vars = Vars{
	Instance: map[string]any{
		"metadata": map[string]any{"name": "zk", "namespace": "prod"},
		"spec": map[string]any{
			"replicas": int64(3),
			"ratio":    0.5,
			"debug":    true,
			"image":    "zookeeper:3.9",
			"labels":   map[string]any{"team": "data"},
			"zones":    []any{"a", "b"},
		},
	},
	Framework: map[string]any{"name": "zookeeper", "appVersion": "3.9", "generation": int64(4)},
	Plan:      map[string]any{"name": "deploy", "uid": "6f1c", "phase": "servers", "step": "roll"},
}

func TestRender(t *testing.T) {
	tests := []struct {
		name     string
		template any
		want     any
	}{
		{"a lone expression keeps an integer", "${instance.spec.replicas}", int64(3)},
		{"a lone expression keeps a double", "${instance.spec.ratio}", 0.5},
		{"a lone expression keeps a boolean", "${instance.spec.debug}", true},
		{"a lone expression keeps a map", "${instance.spec.labels}", map[string]any{"team": "data"}},
		{"a lone expression keeps a list", "${instance.spec.zones}", []any{"a", "b"}},
		{"spaces around a lone expression", "${ instance.spec.replicas }", int64(3)},
		{"interpolation makes a string", "${instance.metadata.name}-${instance.spec.replicas}", "zk-3"},
		{"interpolating a double", "x${instance.spec.ratio}", "x0.5"},
		{"interpolating a map is JSON", "l=${instance.spec.labels}", `l={"team":"data"}`},
		{"plain text is kept", "no expressions here", "no expressions here"},
		{"$${ escapes a shell variable", "echo $${HOME} ${instance.metadata.name}", "echo ${HOME} zk"},
		{"braces inside an expression", `${{"a": instance.metadata.name}.a}`, "zk"},
		{"a closing brace inside a string", `${"}" + instance.metadata.name}`, "}zk"},
		{"string extension library", "${instance.metadata.name.upperAscii()}", "ZK"},
		{"lists.range from the lists library", "${lists.range(instance.spec.replicas).map(i, 'zk-' + string(i)).join(',')}", "zk-0,zk-1,zk-2"},
		{"optional field absent renders null and is dropped", map[string]any{
			"a": "${instance.spec.?missing.orValue(null)}", "b": int64(1),
		}, map[string]any{"b": int64(1)}},
		{"plan fields", "${plan.name}/${plan.phase}/${plan.step}", "deploy/servers/roll"},
		{"the plan run's uid", "${plan.uid}", "6f1c"},
		{"framework fields", "${framework.name}:${framework.appVersion}", "zookeeper:3.9"},
		{"a lone expression keeps the framework generation an integer", "${framework.generation}", int64(4)},
		{"nested objects and lists", map[string]any{
			"metadata": map[string]any{"name": "${instance.metadata.name}-svc"},
			"spec":     map[string]any{"ports": []any{map[string]any{"port": int64(2181)}}, "replicas": "${instance.spec.replicas}"},
		}, map[string]any{
			"metadata": map[string]any{"name": "zk-svc"},
			"spec":     map[string]any{"ports": []any{map[string]any{"port": int64(2181)}}, "replicas": int64(3)},
		}},
	}
	env := newEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl, errs := env.CompileTemplate(tt.template, field.NewPath("template"))
			if len(errs) > 0 {
				t.Fatalf("compile: %v", errs)
			}
			got, err := tpl.Render(vars)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestRenderDoesNotShareLiterals(t *testing.T) {
	env := newEnv(t)
	tpl, errs := env.CompileTemplate(map[string]any{"a": map[string]any{"b": "c"}}, field.NewPath("t"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	first, _ := tpl.RenderObject(Vars{})
	first["a"].(map[string]any)["b"] = "changed"
	second, _ := tpl.RenderObject(Vars{})
	if got := second["a"].(map[string]any)["b"]; got != "c" {
		t.Fatalf("second render sees the first one's change: %v", got)
	}
}

// A Framework repeats expressions (${instance.metadata.name} in every
// template); each cel.Program carries a table of every function, so one
// source compiles to one Program, which renders every place it stands.
func TestAnExpressionRepeatedIsCompiledOnce(t *testing.T) {
	env := newEnv(t)
	tpl, errs := env.CompileTemplate(map[string]any{
		"name":  "${instance.metadata.name}",
		"label": "app-${instance.metadata.name}",
	}, field.NewPath("t"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if n := len(env.programs); n != 1 {
		t.Fatalf("programs compiled for one expression in two places: %d, want 1", n)
	}
	got, err := tpl.RenderObject(vars)
	if err != nil {
		t.Fatal(err)
	}
	if got["name"] != "zk" || got["label"] != "app-zk" {
		t.Fatalf("rendered %v, want name zk and label app-zk", got)
	}
	again, err := env.Compile("instance.metadata.name")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Compile("instance.metadata.namespace"); err != nil {
		t.Fatal(err)
	}
	if len(env.programs) != 2 || again != env.programs["instance.metadata.name"] {
		t.Fatalf("compiling again: %d programs, shared %v; want 2 and the first one again", len(env.programs), again == env.programs["instance.metadata.name"])
	}
}

func TestCompileErrorsNameTheField(t *testing.T) {
	tests := []struct {
		name     string
		template any
		field    string
		message  string
	}{
		{"syntax error", map[string]any{"spec": map[string]any{"replicas": "${instance.spec.replicas +}"}}, "t.spec.replicas", "Syntax error"},
		{"undeclared variable", map[string]any{"a": []any{"x", "${nope.field}"}}, "t.a[1]", "undeclared reference to 'nope'"},
		{"unterminated expression", map[string]any{"name": "${instance.metadata.name"}, "t.name", "no closing }"},
		{"empty expression", map[string]any{"name": "a-${}"}, "t.name", "empty expression"},
		{"error inside interpolation", map[string]any{"name": "x-${1 +* 2}"}, "t.name", "Syntax error"},
		{"misspelt plan field", map[string]any{"name": "x-${plan.nme}"}, "t.name", "undefined field 'nme'"},
		{"misspelt framework field", map[string]any{"v": []any{"${framework.version}"}}, "t.v[0]", "undefined field 'version'"},
		{"framework generation is an integer", map[string]any{"v": "${framework.generation + 'x'}"}, "t.v", "found no matching overload for '_+_' applied to '(int, string)'"},
	}
	env := newEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs := env.CompileTemplate(tt.template, field.NewPath("t"))
			if len(errs) != 1 {
				t.Fatalf("want one error, got %v", errs)
			}
			if errs[0].Field != tt.field || !strings.Contains(errs[0].Detail, tt.message) {
				t.Fatalf("got %s: %s; want field %s and a message with %q", errs[0].Field, errs[0].Detail, tt.field, tt.message)
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	env := newEnv(t)
	tests := []struct {
		name, src, message string
	}{
		{"missing field", "${instance.spec.nope}", "no such key: nope"},
		{"division by zero", "${1 / (instance.spec.replicas - 3)}", "division by zero"},
		{"cost limit at runtime", "${lists.range(instance.spec.replicas * 300000).map(i, i * 2).size()}", "cost limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl, errs := env.CompileTemplate(map[string]any{"v": tt.src}, field.NewPath("t"))
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			_, err := tpl.Render(vars)
			if err == nil || !strings.Contains(err.Error(), tt.message) || !strings.Contains(err.Error(), "t.v") {
				t.Fatalf("got %v, want an error at t.v with %q", err, tt.message)
			}
		})
	}
}

func TestAnExpressionOverTheCostLimitIsRefused(t *testing.T) {
	env := newEnv(t)
	_, errs := env.CompileTemplate("${lists.range(10000).map(i, lists.range(10000).map(j, i*j)).size()}", field.NewPath("t"))
	if len(errs) != 1 || !strings.Contains(errs[0].Detail, "above the limit of 1000000 per evaluation") {
		t.Fatalf("errors %v, want the cost limit", errs)
	}
}

func TestCompileCondition(t *testing.T) {
	env := newEnv(t)
	// Outside a plan run, as for a status projection: no plan, no framework.
	noPlan := Vars{Resources: map[string]any{"sts": map[string]any{"status": map[string]any{"readyReplicas": int64(3)}}}, Instance: vars.Instance}
	for _, src := range []string{
		"${resources.sts.status.readyReplicas == instance.spec.replicas}",
		"resources.sts.status.readyReplicas == instance.spec.replicas",
		"${plan.name == '' && plan.uid == '' && plan.phase == '' && plan.step == ''}",
		"${framework.name == '' && framework.appVersion == '' && framework.generation == 0}",
		"${has(plan.name) && has(framework.generation)}",
	} {
		p, err := env.CompileCondition(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		ok, err := p.EvalBool(noPlan)
		if err != nil || !ok {
			t.Fatalf("%s: got %v, %v; want true", src, ok, err)
		}
	}
	for src, msg := range map[string]string{
		"${instance.spec.replicas + 1}": "must be a boolean",
		"ready: ${true}":                "must be one ${...} expression",
	} {
		if _, err := env.CompileCondition(src); err == nil || !strings.Contains(err.Error(), msg) {
			t.Fatalf("%s: got %v, want %q", src, err, msg)
		}
	}
}

func TestTypedInstance(t *testing.T) {
	spec := &apiextensionsv1.JSONSchemaProps{Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
		"ratio":    {Type: "number"},
		"replicas": {Type: "integer"},
	}}
	env, err := NewEnv(spec)
	if err != nil {
		t.Fatal(err)
	}
	tpl, errs := env.CompileTemplate("${instance.spec.ratio * 2.0 + double(instance.spec.replicas)}", field.NewPath("t"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	// JSON has no separate integer: a number field may hold 1, which the
	// schema makes the double 1.0.
	got, err := tpl.Render(Vars{Instance: map[string]any{"spec": map[string]any{"ratio": int64(1), "replicas": int64(3)}}})
	if err != nil || got != 5.0 {
		t.Fatalf("got %v, %v; want 5.0", got, err)
	}
	if _, errs := env.CompileTemplate("${instance.spec.nope}", field.NewPath("t")); len(errs) != 1 || !strings.Contains(errs[0].Detail, "undefined field 'nope'") {
		t.Fatalf("errors %v, want an undefined field", errs)
	}
}

func TestCompileValueTypesTheField(t *testing.T) {
	spec := &apiextensionsv1.JSONSchemaProps{Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
		"replicas": {Type: "integer"}, "name": {Type: "string"}, "ratio": {Type: "number"}, "on": {Type: "boolean"},
		"zones": {Type: "array", Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &apiextensionsv1.JSONSchemaProps{Type: "string"}}},
	}}
	env, err := NewEnv(spec)
	if err != nil {
		t.Fatal(err)
	}
	for src, want := range map[string]string{
		"${instance.spec.replicas * 2}":         "integer",
		"${instance.spec.ratio}":                "number",
		"${instance.spec.on}":                   "boolean",
		"${instance.spec.name}:2181":            "string",
		"${instance.spec.zones}":                "array",
		"${resources.sts.status.readyReplicas}": "",
		"${framework.generation}":               "integer",
		"${plan.uid}":                           "string",
	} {
		_, schema, errs := env.CompileValue(src, field.NewPath("spec", "status"))
		if len(errs) > 0 {
			t.Fatalf("%s: %v", src, errs)
		}
		if schema.Type != want {
			t.Errorf("%s: type %q, want %q", src, schema.Type, want)
		}
	}
}

func TestATemplateKnowsWhichVariablesItReads(t *testing.T) {
	env := newEnv(t)
	for _, tc := range []struct {
		name string
		obj  any
		want bool
	}{
		{"a child's field", map[string]any{"ip": "${resources.service.spec.clusterIP}"}, true},
		{"deep in a list", map[string]any{"items": []any{"x", map[string]any{"n": "${size(resources) > 0}"}}}, true},
		{"the word as a key and in text", map[string]any{"resources": map[string]any{"requests": "resources: ${instance.spec.image}"}}, false},
		{"a field of the instance called resources", map[string]any{"v": "${has(instance.spec.resources)}"}, false},
		{"no expression at all", map[string]any{"v": "resources"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tpl, errs := env.CompileTemplate(tc.obj, field.NewPath("template"))
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			if got := tpl.Reads(VarResources); got != tc.want {
				t.Errorf("Reads(resources) = %v; want %v", got, tc.want)
			}
			if !tc.want && !strings.Contains(tc.name, "no expression") && !tpl.Reads(VarInstance) {
				t.Errorf("Reads(instance) = false; want true")
			}
		})
	}
}
