package integration

import (
	"fmt"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
)

// The bad-input catalogue: malformed Frameworks and instances, each with the
// exact reason or admission message a user gets. A Framework the Framework
// CRD's schema already refuses is refused at admission; every other mistake
// is a Ready=False condition naming the field, with nothing installed. It
// includes the cases the foundation asked for: a CEL syntax error, an unknown
// parameter type, a duplicate resource id, a step naming an unknown task and a
// plan without phases.

func js(s string) *apiextensionsv1.JSON { return &apiextensionsv1.JSON{Raw: []byte(s)} }

func f64(v float64) *float64 { return &v }

func TestBadFrameworkCatalogue(t *testing.T) {
	startManager(t)
	type mut = func(*v1alpha1.Framework)
	tmpl := func(i int, s string) mut {
		return func(fw *v1alpha1.Framework) { fw.Spec.Resources[i].Template.Raw = []byte(s) }
	}
	const (
		invalid    = "InvalidFramework"
		expression = "InvalidExpression"
		admission  = "admission"
	)
	cases := []struct {
		name   string
		mutate mut
		reason string
		want   string
	}{
		{"no-deploy-plan", func(fw *v1alpha1.Framework) {
			fw.Spec.Plans = map[string]v1alpha1.Plan{"update": fw.Spec.Plans["deploy"]}
		}, invalid, "spec.plans[deploy]: Required value: every Framework needs a deploy plan"},
		{"plan-without-phases", func(fw *v1alpha1.Framework) { fw.Spec.Plans["deploy"] = v1alpha1.Plan{} }, invalid, "spec.plans[deploy].phases: Required value: a plan needs at least one phase"},
		{"phase-without-steps", func(fw *v1alpha1.Framework) { fw.Spec.Plans["deploy"].Phases[0].Steps = nil }, invalid, "spec.plans[deploy].phases[0].steps: Required value: a phase needs at least one step"},
		{"step-without-tasks", func(fw *v1alpha1.Framework) { fw.Spec.Plans["deploy"].Phases[0].Steps[0].Tasks = nil }, invalid, "spec.plans[deploy].phases[0].steps[0].tasks: Required value: a step needs at least one task"},
		{"step-naming-unknown-task", func(fw *v1alpha1.Framework) { fw.Spec.Plans["deploy"].Phases[0].Steps[0].Tasks = []string{"cfg"} }, invalid, `spec.plans[deploy].phases[0].steps[0].tasks[0]: Not found: "cfg"`},
		{"duplicate-phase", func(fw *v1alpha1.Framework) {
			p := fw.Spec.Plans["deploy"]
			p.Phases = append(p.Phases, p.Phases[0])
			fw.Spec.Plans["deploy"] = p
		}, invalid, `spec.plans[deploy].phases[1].name: Duplicate value: "main"`},
		{"duplicate-step", func(fw *v1alpha1.Framework) {
			fw.Spec.Plans["deploy"].Phases[0].Steps = append(fw.Spec.Plans["deploy"].Phases[0].Steps, fw.Spec.Plans["deploy"].Phases[0].Steps[0])
		}, invalid, `spec.plans[deploy].phases[0].steps[1].name: Duplicate value: "config"`},
		{"unknown-strategy", func(fw *v1alpha1.Framework) { fw.Spec.Plans["deploy"].Phases[0].Strategy = "random" }, invalid, `spec.plans[deploy].phases[0].strategy: Unsupported value: "random": supported values: "serial", "parallel"`},
		{"negative-step-timeout", func(fw *v1alpha1.Framework) {
			fw.Spec.Plans["deploy"].Phases[0].Steps[0].Timeout = &metav1.Duration{Duration: -1}
		}, invalid, "spec.plans[deploy].phases[0].steps[0].timeout: Invalid value: \"-1ns\": must be positive"},
		{"unknown-parameter-type", func(fw *v1alpha1.Framework) { fw.Spec.Parameters[0].Type = "text" }, invalid, `spec.parameters[0].type: Unsupported value: "text"`},
		{"duplicate-parameter", func(fw *v1alpha1.Framework) { fw.Spec.Parameters = append(fw.Spec.Parameters, fw.Spec.Parameters[0]) }, invalid, `spec.parameters[1].name: Duplicate value: "greeting"`},
		{"parameter-name-not-identifier", func(fw *v1alpha1.Framework) { fw.Spec.Parameters[0].Name = "max-size" }, invalid, `spec.parameters[0].name: Invalid value: "max-size": must be a CEL identifier`},
		{"minimum-above-maximum", func(fw *v1alpha1.Framework) {
			fw.Spec.Parameters = append(fw.Spec.Parameters, v1alpha1.Parameter{Name: "n", Type: v1alpha1.TypeInteger, Minimum: f64(5), Maximum: f64(1)})
		}, invalid, "spec.parameters[1].minimum: Invalid value: 5: is greater than maximum 1"},
		{"pattern-on-integer", func(fw *v1alpha1.Framework) {
			fw.Spec.Parameters = append(fw.Spec.Parameters, v1alpha1.Parameter{Name: "n", Type: v1alpha1.TypeInteger, Pattern: "^1$"})
		}, invalid, `spec.parameters[1].pattern: Invalid value: "^1$": applies to string parameters only`},
		{"bounds-on-string", func(fw *v1alpha1.Framework) { fw.Spec.Parameters[0].Maximum = f64(3) }, invalid, "minimum and maximum apply to integer and number parameters, not string"},
		{"schema-on-string", func(fw *v1alpha1.Framework) { fw.Spec.Parameters[0].Schema = js(`{"type":"string"}`) }, invalid, "spec.parameters[0].schema: Invalid value: \"\": applies to object and array parameters only"},
		{"trigger-naming-unknown-plan", func(fw *v1alpha1.Framework) { fw.Spec.Parameters[0].Trigger = "restart" }, invalid, `spec.parameters[0].trigger: Not found: "restart"`},
		{"default-above-maximum", func(fw *v1alpha1.Framework) {
			fw.Spec.Parameters = append(fw.Spec.Parameters, v1alpha1.Parameter{Name: "n", Type: v1alpha1.TypeInteger, Maximum: f64(3), Default: js("9")})
		}, invalid, "spec.parameters[1].default: Invalid value: 9:  in body should be less than or equal to 3"},
		{"default-not-in-enum", func(fw *v1alpha1.Framework) { fw.Spec.Parameters[0].Enum = []apiextensionsv1.JSON{*js(`"hi"`)} }, invalid, `spec.parameters[0].default: Unsupported value: "hello": supported values: "hi"`},
		{"validation-rule-syntax", func(fw *v1alpha1.Framework) { fw.Spec.Validations = []v1alpha1.Validation{{Rule: "self.greeting =="}} }, invalid, "spec.validations[0].rule: Invalid value: \"self.greeting ==\": compilation failed"},
		{"validation-rule-unknown-field", func(fw *v1alpha1.Framework) { fw.Spec.Validations = []v1alpha1.Validation{{Rule: "self.size > 1"}} }, invalid, "undefined field 'size'"},
		{"duplicate-resource-id", func(fw *v1alpha1.Framework) { fw.Spec.Resources = append(fw.Spec.Resources, fw.Spec.Resources[0]) }, invalid, `spec.resources[1].id: Duplicate value: "config"`},
		{"resource-id-not-identifier", func(fw *v1alpha1.Framework) { fw.Spec.Resources[0].ID = "my-config" }, invalid, `spec.resources[0].id: Invalid value: "my-config": must be a CEL identifier`},
		{"template-without-kind", tmpl(0, `{"apiVersion":"v1","metadata":{"name":"x"}}`), invalid, "spec.resources[0].template.kind: Required value: every template needs one"},
		{"template-without-name", tmpl(0, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{}}`), invalid, "spec.resources[0].template.metadata.name: Required value"},
		{"templated-kind", tmpl(0, `{"apiVersion":"v1","kind":"${instance.spec.greeting}","metadata":{"name":"x"}}`), invalid, `spec.resources[0].template.kind: Invalid value: "${instance.spec.greeting}": must be literal`},
		{"template-cel-syntax", tmpl(0, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"${instance.metadata.name +}"}}`), expression, "spec.resources[0].template.metadata.name: Invalid value: \"${instance.metadata.name +}\": ERROR: <input>:1:25: Syntax error"},
		{"template-unknown-field", tmpl(0, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"${instance.spec.greting}"}}`), expression, "spec.resources[0].template.metadata.name: Invalid value: \"${instance.spec.greting}\": ERROR: <input>:1:14: undefined field 'greting'"},
		{"template-type-error", tmpl(0, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":{"n":"${instance.spec.greeting * 2}"}}`), expression, "found no matching overload for '_*_' applied to '(string, int)'"},
		{"template-unterminated", tmpl(0, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"${instance.metadata.name"}}`), expression, "unterminated expression"},
		{"template-undeclared-variable", tmpl(0, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"${self.name}"}}`), expression, "undeclared reference to 'self'"},
		{"readywhen-not-boolean", func(fw *v1alpha1.Framework) { fw.Spec.Resources[0].ReadyWhen = "${instance.spec.greeting}" }, expression, "spec.resources[0].readyWhen: Invalid value: \"${instance.spec.greeting}\": must be a boolean expression, but its type is string"},
		{"unknown-task-kind", func(fw *v1alpha1.Framework) { fw.Spec.Tasks[0].Kind = "Helm" }, invalid, `spec.tasks[0].kind: Unsupported value: "Helm": supported values: "Apply", "Delete", "Wait", "Toggle", "Instance"`},
		{"task-naming-unknown-resource", func(fw *v1alpha1.Framework) { fw.Spec.Tasks[0].Resources = []string{"cfg"} }, invalid, `spec.tasks[0].resources[0]: Not found: "cfg"`},
		{"toggle-without-when", func(fw *v1alpha1.Framework) { fw.Spec.Tasks[0].Kind = v1alpha1.TaskToggle }, invalid, "spec.tasks[0].when: Required value: a Toggle task needs a condition"},
		{"wait-without-condition", func(fw *v1alpha1.Framework) {
			fw.Spec.Tasks[0] = v1alpha1.Task{Name: "config", Kind: v1alpha1.TaskWait}
		}, invalid, "spec.tasks[0].condition: Required value: a Wait task needs a condition"},
		{"wait-with-resources", func(fw *v1alpha1.Framework) {
			fw.Spec.Tasks[0].Kind, fw.Spec.Tasks[0].Condition = v1alpha1.TaskWait, "${true}"
		}, invalid, `spec.tasks[0].resources: Invalid value: ["config"]: a Wait task has no resources`},
		{"instance-without-framework", func(fw *v1alpha1.Framework) {
			fw.Spec.Tasks[0] = v1alpha1.Task{Name: "config", Kind: v1alpha1.TaskInstance}
		}, invalid, "spec.tasks[0].framework: Required value: a Instance task needs the name of the Framework whose kind it creates"},
		{"projection-over-reserved-field", func(fw *v1alpha1.Framework) { fw.Spec.Status = map[string]string{"plans": "${1}"} }, invalid, `spec.status[plans]: Invalid value: "plans": is a status field operetta writes itself`},
		{"projection-unknown-field", func(fw *v1alpha1.Framework) { fw.Spec.Status = map[string]string{"x": "${instance.spec.nope}"} }, expression, "spec.status[x]: Invalid value: \"${instance.spec.nope}\": ERROR: <input>:1:14: undefined field 'nope'"},
		{"group-without-dot", func(fw *v1alpha1.Framework) { fw.Spec.Names.Group = "local" }, invalid, `spec.names.group: Invalid value: "local": must be a DNS subdomain with at least one dot`},
		{"kind-not-a-kind", func(fw *v1alpha1.Framework) { fw.Spec.Names.Kind = "my kind" }, invalid, "spec.names"},
		{"service-account-without-namespace", func(fw *v1alpha1.Framework) { fw.Spec.ServiceAccountName = "deployer" }, invalid, "spec.serviceAccountNamespace: Required value: serviceAccountName and serviceAccountNamespace go together"},
		{"printer-column-bad-type", func(fw *v1alpha1.Framework) {
			fw.Spec.PrinterColumns = []v1alpha1.PrinterColumn{{Name: "G", JSONPath: ".spec.greeting", Type: "text"}}
		}, invalid, `spec.printerColumns[0].type: Invalid value: "text": must be one of boolean,date,integer,number,string`},
		{"deletion-policy-unknown", func(fw *v1alpha1.Framework) { fw.Spec.DeletionPolicy = "Purge" }, admission, `spec.deletionPolicy: Unsupported value: "Purge": supported values: "Retain", "Delete"`},
		{"max-concurrent-zero", func(fw *v1alpha1.Framework) { fw.Spec.Rollout.MaxConcurrent = -1 }, admission, "spec.rollout.maxConcurrent: Invalid value: -1: spec.rollout.maxConcurrent in body should be greater than or equal to 1"},
		{"names-without-kind", func(fw *v1alpha1.Framework) { fw.Spec.Names.Kind = "" }, invalid, "spec.names.kind: Required value"},
	}
	for i, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			group := fmt.Sprintf("c%d.catalogue.test.operetta.dev", i)
			fw := configMapFramework("catalogue-"+tt.name, group, "Greeter")
			tt.mutate(fw)
			// kubectl operetta verify, offline, says what the cluster says.
			file := frameworkFile(t, fw)
			verified, verifyErr := plugin(t, "", "verify", file)
			if verifyErr == nil || !strings.Contains(verified, tt.want) {
				t.Errorf("kubectl operetta verify: %v, want it to print %q:\n%s", verifyErr, tt.want, verified)
			}
			err := k8s.Create(ctx(t), fw)
			if tt.reason == admission {
				if !apierrors.IsInvalid(err) {
					t.Fatalf("got %v, want the API server to refuse it", err)
				}
				mustContain(t, err.Error(), tt.want)
				return
			}
			if err != nil {
				t.Fatalf("creating: %v", err)
			}
			t.Cleanup(func() { _ = k8s.Delete(ctx(t), fw) })
			cond := frameworkReady(t, fw.Name, metav1.ConditionFalse)
			if cond.Reason != tt.reason {
				t.Fatalf("reason %s, want %s (%s)", cond.Reason, tt.reason, cond.Message)
			}
			mustContain(t, cond.Message, tt.want)
			// verify's lines under the reason, joined as the condition joins
			// errors, are the condition's message.
			// A problem's first line starts with its field path; the lines of
			// a CEL error after it start with a space.
			var problems []string
			for _, line := range strings.Split(strings.TrimRight(verified, "\n"), "\n") {
				p, ok := strings.CutPrefix(line, "  ")
				switch {
				case !ok:
				case len(problems) > 0 && (p == "" || p[0] == ' '):
					problems[len(problems)-1] += "\n" + p
				default:
					problems = append(problems, p)
				}
			}
			if !strings.Contains(verified, ": "+cond.Reason+"\n") || strings.Join(problems, "; ") != cond.Message {
				t.Errorf("kubectl operetta verify printed\n%s\nthe controller's condition is %s: %s", verified, cond.Reason, cond.Message)
			}
			crds := &apiextensionsv1.CustomResourceDefinitionList{}
			if err := k8s.List(ctx(t), crds); err != nil {
				t.Fatal(err)
			}
			for _, c := range crds.Items {
				if strings.HasSuffix(c.Name, "."+group) {
					t.Fatalf("CRD %s was installed for an invalid Framework", c.Name)
				}
			}
		})
	}
	if len(cases) < 30 {
		t.Fatalf("the catalogue has %d Frameworks, the issue asks for at least 30", len(cases))
	}
}

func TestBadInstanceCatalogue(t *testing.T) {
	startManager(t)
	ns := namespace(t, "bad-instances")
	group := "instances.catalogue.test.operetta.dev"
	fw := framework("bad-instances", group, []v1alpha1.Parameter{
		{Name: "size", Type: v1alpha1.TypeInteger, Minimum: f64(1), Maximum: f64(9), Default: js("3")},
		{Name: "ratio", Type: v1alpha1.TypeNumber, Default: js("0.5")},
		{Name: "enabled", Type: v1alpha1.TypeBoolean, Default: js("true")},
		{Name: "tier", Type: v1alpha1.TypeString, Enum: []apiextensionsv1.JSON{*js(`"gold"`), *js(`"silver"`)}, Default: js(`"silver"`)},
		{Name: "memory", Type: v1alpha1.TypeString, Pattern: "^[0-9]+(Mi|Gi)$", Default: js(`"1Gi"`)},
		{Name: "owner", Type: v1alpha1.TypeString, Required: true},
		{Name: "storage", Type: v1alpha1.TypeString, Immutable: true, Default: js(`"10Gi"`)},
		{Name: "tls", Type: v1alpha1.TypeObject, Schema: js(`{"properties":{"enabled":{"type":"boolean"},"secret":{"type":"string"}},"required":["secret"]}`)},
		{Name: "ports", Type: v1alpha1.TypeArray, Schema: js(`{"items":{"type":"integer"}}`)},
	}, []v1alpha1.Resource{configMap("config", "")}, []v1alpha1.Task{apply("config", "config")}, onePlan("config"))
	fw.Spec.Validations = []v1alpha1.Validation{{Rule: "self.size <= 3 || self.tier == 'gold'", Message: "more than 3 needs the gold tier"}}
	createFramework(t, fw)
	frameworkReady(t, fw.Name, metav1.ConditionTrue)
	gvk := thingGVK(group)
	ok := map[string]any{"owner": "team-a"}
	with := func(k string, v any) map[string]any {
		m := map[string]any{"owner": "team-a"}
		m[k] = v
		return m
	}
	cases := []struct {
		name string
		spec any
		want string
	}{
		{"above-maximum", with("size", int64(10)), "spec.size: Invalid value: 10: spec.size in body should be less than or equal to 9"},
		{"below-minimum", with("size", int64(0)), "spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1"},
		{"integer-as-string", with("size", "3"), `spec.size: Invalid value: "string": spec.size in body must be of type integer: "string"`},
		{"number-as-string", with("ratio", "half"), `spec.ratio: Invalid value: "string": spec.ratio in body must be of type number: "string"`},
		{"boolean-as-string", with("enabled", "yes"), `spec.enabled: Invalid value: "string": spec.enabled in body must be of type boolean: "string"`},
		{"not-in-enum", with("tier", "bronze"), `spec.tier: Unsupported value: "bronze": supported values: "gold", "silver"`},
		{"pattern-mismatch", with("memory", "1TB"), `spec.memory: Invalid value: "1TB": spec.memory in body should match '^[0-9]+(Mi|Gi)$'`},
		{"required-missing", map[string]any{"size": int64(2)}, "spec.owner: Required value"},
		{"rule-broken", map[string]any{"owner": "a", "size": int64(5)}, "more than 3 needs the gold tier"},
		{"nested-wrong-type", with("tls", map[string]any{"secret": "s", "enabled": "yes"}), `spec.tls.enabled: Invalid value: "string": spec.tls.enabled in body must be of type boolean: "string"`},
		{"nested-required-missing", with("tls", map[string]any{"enabled": true}), "spec.tls.secret: Required value"},
		{"array-item-wrong-type", with("ports", []any{"http"}), `spec.ports[0]: Invalid value: "string": spec.ports[0] in body must be of type integer: "string"`},
		{"array-as-object", with("ports", map[string]any{"a": int64(1)}), `spec.ports: Invalid value: "object": spec.ports in body must be of type array: "object"`},
		{"no-spec", nil, "spec: Required value"},
		{"spec-as-string", "big", `spec: Invalid value: "string": spec in body must be of type object: "string"`},
		{"unknown-field-strict", with("sise", int64(2)), `unknown field "spec.sise"`},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			u := instance(gvk, ns, tt.name, nil)
			if tt.spec == nil {
				delete(u.Object, "spec")
			} else {
				u.Object["spec"] = tt.spec
			}
			var opts []client.CreateOption
			if strings.HasSuffix(tt.name, "-strict") {
				opts = append(opts, client.FieldValidation("Strict")) // kubectl apply --validate=strict
			}
			err := k8s.Create(ctx(t), u, opts...)
			if err == nil {
				t.Fatal("the API server accepted it")
			}
			mustContain(t, err.Error(), tt.want)
		})
	}
	t.Run("immutable-changed", func(t *testing.T) {
		if err := k8s.Create(ctx(t), instance(gvk, ns, "good", ok)); err != nil {
			t.Fatal(err)
		}
		u, _ := get(t, gvk, ns, "good")
		u.Object["spec"].(map[string]any)["storage"] = "20Gi"
		err := k8s.Update(ctx(t), u)
		if !apierrors.IsInvalid(err) {
			t.Fatalf("got %v, want Invalid", err)
		}
		mustContain(t, err.Error(), "storage is immutable: create a new instance to change it")
	})
	if len(cases)+1 < 15 {
		t.Fatalf("the catalogue has %d instances, the issue asks for at least 15", len(cases)+1)
	}
}
