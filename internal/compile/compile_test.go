package compile_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/conditions"
)

func zookeeper(t testing.TB) *v1alpha1.Framework { return example(t, "zookeeper") }

// example reads the Framework of examples/NAME.
func example(t testing.TB, name string) *v1alpha1.Framework {
	t.Helper()
	b, err := os.ReadFile("../../examples/" + name + "/framework.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fw := &v1alpha1.Framework{}
	if err := yaml.UnmarshalStrict(b, fw); err != nil {
		t.Fatal(err)
	}
	return fw
}

func TestEveryExampleCompiles(t *testing.T) {
	paths, err := filepath.Glob("../../examples/*/framework.yaml")
	if err != nil || len(paths) < 2 {
		t.Fatalf("examples: %v %v", paths, err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		fw := &v1alpha1.Framework{}
		if err := yaml.UnmarshalStrict(b, fw); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if _, errs := compile.Compile(fw); len(errs) > 0 {
			t.Errorf("%s: %s", p, compile.Message(errs))
		}
	}
}

func TestCompileExample(t *testing.T) {
	c, errs := compile.Compile(zookeeper(t))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if c.GVK.String() != "apps.example.com/v1, Kind=ZooKeeper" || c.CRD.Name != "zookeepers.apps.example.com" {
		t.Fatalf("gvk %s crd %s", c.GVK, c.CRD.Name)
	}
	if len(c.Resources) != 6 || !c.Resources["servers"].ReadsResources || c.Resources["servers"].ReadyWhen == nil || c.Resources["config"].ReadyWhen != nil {
		t.Fatalf("resources %v", c.Resources)
	}
	if len(c.Schedules) != 1 || c.Schedules[0].Expr == nil || c.Schedules[0].Jitter != 10*time.Minute || c.Schedules[0].Deadline != time.Hour {
		t.Fatalf("schedules %+v", c.Schedules)
	}
	if len(c.WatchTriggers) != 1 || c.WatchTriggers[0].ObjectExpr == nil || c.WatchTriggers[0].Plan != "rotate" ||
		len(c.WatchedKinds) != 1 || c.WatchedKinds[0].Kind != "Secret" {
		t.Fatalf("triggers %+v, kinds %v", c.WatchTriggers, c.WatchedKinds)
	}
}

func TestExpressionsAreTypeCheckedAgainstTheSchema(t *testing.T) {
	set := func(expr string) func(*v1alpha1.Framework) {
		return func(fw *v1alpha1.Framework) {
			fw.Spec.Resources[0].Template = raw(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":{"v":"` + expr + `"}}`)
		}
	}
	valid := []string{
		"${string(quantity(instance.spec.memory).isGreaterThan(quantity('256Mi')))}",
		"${instance.spec.image.find('[0-9.]+$')}",
		"${string(semver('3.9.2').isGreaterThan(semver('3.8.0')))}",
		"${url('https://example.com/x').getHost()}",
		"${string(math.greatest(instance.spec.replicas, 3))}",
		"${base64.encode(bytes(instance.metadata.name))}",
		"${instance.metadata.labels[?'team'].orValue('none')}",
		"${cel.bind(n, instance.spec.replicas, string(n * 2))}",
		"${[1, 2, 3].sum() > 0 ? 'yes' : 'no'}",
		"${plan.name}-${plan.uid}-${plan.phase}-${plan.step}",
		"${framework.name}:${framework.appVersion}",
		"${string(framework.generation + 1)}",
	}
	for _, e := range valid {
		fw := zookeeper(t)
		set(e)(fw)
		if _, errs := compile.Compile(fw); len(errs) > 0 {
			t.Errorf("%s: %s", e, compile.Message(errs))
		}
	}
	invalid := []struct{ expr, want string }{
		{"${instance.spec.replicsa}", "undefined field 'replicsa'"},
		{"${instance.spec.image + 1}", "found no matching overload for '_+_' applied to '(string, int)'"},
		{"${instance.spec.replicas.startsWith('a')}", "found no matching overload for 'startsWith'"},
		{"${instance.metadata.nme}", "undefined field 'nme'"},
		{"${plan.nme}", "undefined field 'nme'"},
		{"${framework.version}", "undefined field 'version'"},
		{"${framework.generation + 'x'}", "found no matching overload for '_+_' applied to '(int, string)'"},
	}
	for _, tt := range invalid {
		fw := zookeeper(t)
		set(tt.expr)(fw)
		_, errs := compile.Compile(fw)
		if msg := compile.Message(errs); !strings.Contains(msg, "spec.resources[0].template.data.v") || !strings.Contains(msg, tt.want) {
			t.Errorf("%s: message %q, want the field and %q", tt.expr, msg, tt.want)
		}
		if r := compile.Reason(errs); r != conditions.InvalidExpression {
			t.Errorf("%s: reason %s, want InvalidExpression", tt.expr, r)
		}
	}
	fw := zookeeper(t)
	fw.Spec.Parameters[0].Type = "int"
	_, errs := compile.Compile(fw)
	if r := compile.Reason(errs); r != conditions.InvalidFramework {
		t.Errorf("reason %s for a wrong parameter type, want InvalidFramework", r)
	}
}

func TestCompileRefusesInvalidFrameworks(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*v1alpha1.Framework)
		want   string // field path and message, as in the condition
	}{
		{"CEL syntax error in a template", func(fw *v1alpha1.Framework) {
			fw.Spec.Resources[3].Template = raw(`{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"x"},"spec":{"replicas":"${instance.spec.replicas +}"}}`)
		}, "spec.resources[3].template.spec.replicas: Invalid value: \"${instance.spec.replicas +}\": ERROR: <input>:1:25: Syntax error"},
		{"CEL syntax error in readyWhen", func(fw *v1alpha1.Framework) {
			fw.Spec.Resources[3].ReadyWhen = "${resources.servers.status.(}"
		}, "spec.resources[3].readyWhen: Invalid value"},
		{"a Go template that does not parse", func(fw *v1alpha1.Framework) {
			fw.Spec.Resources[0] = goResource("config", "kind: ConfigMap\nname: {{ .Name }\n")
		}, `spec.resources[0].goTemplate.text: Invalid value: "templates/config.yaml": template: templates/config.yaml:2: unexpected "}" in operand`},
		{"a Go template calling a function sprig's environment part would give", func(fw *v1alpha1.Framework) {
			fw.Spec.Resources[0] = goResource("config", "kind: ConfigMap\n\nhome: {{ env \"HOME\" }}\n")
		}, `template: templates/config.yaml:3: function "env" not defined`},
		{"a Go template reading a parameter the Framework lacks", func(fw *v1alpha1.Framework) {
			fw.Spec.Resources[0] = goResource("config", "kind: ConfigMap\nreplicas: {{ .Params.replicas }}\nport: {{ .Params.CLIENT_PORT }}\n")
		}, `spec.resources[0].goTemplate.text: Invalid value: "templates/config.yaml": templates/config.yaml:3:16: reads .Params.CLIENT_PORT, which is not a parameter of the Framework`},
		{"a Go template without kinds", func(fw *v1alpha1.Framework) {
			fw.Spec.Resources[0] = goResource("config", "kind: ConfigMap\n")
			fw.Spec.Resources[0].GoTemplate.Kinds = nil
		}, "spec.resources[0].goTemplate.kinds: Required value"},
		{"a Go template with readyWhen", func(fw *v1alpha1.Framework) {
			fw.Spec.Resources[0] = goResource("config", "kind: ConfigMap\n")
			fw.Spec.Resources[0].ReadyWhen = "${true}"
		}, "spec.resources[0].readyWhen: Invalid value: \"${true}\": applies to a template, not a goTemplate"},
		{"a Pipe task whose pod resource is missing", func(fw *v1alpha1.Framework) {
			fw.Spec.Tasks[0] = v1alpha1.Task{Name: fw.Spec.Tasks[0].Name, Kind: v1alpha1.TaskPipe, Pod: "gen",
				Pipe: []v1alpha1.PipeFile{{File: "/tmp/tls.crt", Kind: "Secret", Key: "cert"}}}
		}, `spec.tasks[0].pod: Not found: "gen"`},
		{"a Pipe task whose pod resource renders no Pod", func(fw *v1alpha1.Framework) {
			fw.Spec.Tasks[0] = v1alpha1.Task{Name: fw.Spec.Tasks[0].Name, Kind: v1alpha1.TaskPipe, Pod: fw.Spec.Resources[0].ID,
				Pipe: []v1alpha1.PipeFile{{File: "/tmp/tls.crt", Kind: "Secret", Key: "cert"}}}
		}, `spec.tasks[0].pod: Invalid value: "config": the resource does not render a v1 Pod`},
		{"a Pipe file that is not a clean absolute path", func(fw *v1alpha1.Framework) {
			fw.Spec.Tasks[0] = v1alpha1.Task{Name: fw.Spec.Tasks[0].Name, Kind: v1alpha1.TaskPipe, Pod: fw.Spec.Resources[0].ID,
				Pipe: []v1alpha1.PipeFile{{File: "/tmp/../etc/passwd", Kind: "Secret", Key: "cert"}}}
		}, `spec.tasks[0].pipe[0].file: Invalid value: "/tmp/../etc/passwd": must be a clean absolute path`},
		{"a Pipe file whose name cannot key a Secret", func(fw *v1alpha1.Framework) {
			fw.Spec.Tasks[0] = v1alpha1.Task{Name: fw.Spec.Tasks[0].Name, Kind: v1alpha1.TaskPipe, Pod: fw.Spec.Resources[0].ID,
				Pipe: []v1alpha1.PipeFile{{File: "/tmp/tls key", Kind: "Secret", Key: "cert"}}}
		}, `spec.tasks[0].pipe[0].file: Invalid value: "/tmp/tls key": its base name keys the data`},
		{"a Pipe key templates cannot read", func(fw *v1alpha1.Framework) {
			fw.Spec.Tasks[0] = v1alpha1.Task{Name: fw.Spec.Tasks[0].Name, Kind: v1alpha1.TaskPipe, Pod: fw.Spec.Resources[0].ID,
				Pipe: []v1alpha1.PipeFile{{File: "/tmp/tls.crt", Kind: "Secret", Key: "tls-cert"}}}
		}, `spec.tasks[0].pipe[0].key: Invalid value: "tls-cert": templates read it as .Pipes.tls-cert`},
		{"a Pipe kind that is neither Secret nor ConfigMap", func(fw *v1alpha1.Framework) {
			fw.Spec.Tasks[0] = v1alpha1.Task{Name: fw.Spec.Tasks[0].Name, Kind: v1alpha1.TaskPipe, Pod: fw.Spec.Resources[0].ID,
				Pipe: []v1alpha1.PipeFile{{File: "/tmp/tls.crt", Kind: "Service", Key: "cert"}}}
		}, `spec.tasks[0].pipe[0].kind: Unsupported value: "Service"`},
		{"a pod on a task that is no Pipe", func(fw *v1alpha1.Framework) {
			fw.Spec.Tasks[0].Pod = "gen"
		}, `spec.tasks[0].pod: Invalid value: "gen": only a Pipe task has pod and pipe`},
		{"a resource with both templates", func(fw *v1alpha1.Framework) {
			fw.Spec.Resources[0].GoTemplate = goResource("config", "kind: ConfigMap\n").GoTemplate
		}, `spec.resources[0]: Invalid value: "config": a resource has exactly one of template, goTemplate and externalRef`},
		{"done on a task that is no Dummy", func(fw *v1alpha1.Framework) {
			fw.Spec.Tasks[0].Done = true
		}, "spec.tasks[0].done: Invalid value: true: only a Dummy task has done"},
		{"a name too long to label children with", func(fw *v1alpha1.Framework) {
			fw.Name = strings.Repeat("z", 64)
		}, "metadata.name: Invalid value: \"zzzz"},
		{"unknown parameter type", func(fw *v1alpha1.Framework) {
			fw.Spec.Parameters[0].Type = "int"
		}, `spec.parameters[0].type: Unsupported value: "int": supported values: "string", "integer", "number", "boolean", "object", "array"`},
		{"duplicate resource id", func(fw *v1alpha1.Framework) {
			fw.Spec.Resources[1].ID = "config"
		}, `spec.resources[1].id: Duplicate value: "config"`},
		{"step naming an unknown task", func(fw *v1alpha1.Framework) {
			fw.Spec.Plans["deploy"].Phases[1].Steps[0].Tasks = []string{"nodes"}
		}, `spec.plans[deploy].phases[1].steps[0].tasks[0]: Not found: "nodes"`},
		{"plan without phases", func(fw *v1alpha1.Framework) {
			fw.Spec.Plans["update"] = v1alpha1.Plan{}
		}, "spec.plans[update].phases: Required value: a plan needs at least one phase"},
		{"no deploy plan", func(fw *v1alpha1.Framework) {
			delete(fw.Spec.Plans, "deploy")
		}, "spec.plans[deploy]: Required value"},
		{"task naming an unknown resource", func(fw *v1alpha1.Framework) {
			fw.Spec.Tasks[0].Resources = []string{"cfg"}
		}, `spec.tasks[0].resources[0]: Not found: "cfg"`},
		{"unknown task kind", func(fw *v1alpha1.Framework) {
			fw.Spec.Tasks[0].Kind = "Helm"
		}, `spec.tasks[0].kind: Unsupported value: "Helm"`},
		{"toggle without a condition", func(fw *v1alpha1.Framework) {
			fw.Spec.Tasks[0].Kind = v1alpha1.TaskToggle
		}, "spec.tasks[0].when: Required value: a Toggle task needs a condition"},
		{"wait with a condition that is not boolean", func(fw *v1alpha1.Framework) {
			fw.Spec.Tasks = append(fw.Spec.Tasks, v1alpha1.Task{Name: "w", Kind: v1alpha1.TaskWait, Condition: "${instance.spec.replicas + 1}"})
		}, "spec.tasks[5].condition: Invalid value: \"${instance.spec.replicas + 1}\": must be a boolean expression"},
		{"instance task without a framework", func(fw *v1alpha1.Framework) {
			fw.Spec.Tasks = append(fw.Spec.Tasks, v1alpha1.Task{Name: "zk", Kind: v1alpha1.TaskInstance})
		}, "spec.tasks[5].framework: Required value"},
		{"unknown strategy", func(fw *v1alpha1.Framework) {
			fw.Spec.Plans["deploy"].Phases[0].Strategy = "random"
		}, `spec.plans[deploy].phases[0].strategy: Unsupported value: "random"`},
		{"template without a name", func(fw *v1alpha1.Framework) {
			fw.Spec.Resources[0].Template = raw(`{"apiVersion":"v1","kind":"ConfigMap"}`)
		}, "spec.resources[0].template.metadata.name: Required value"},
		{"resource id CEL cannot address", func(fw *v1alpha1.Framework) {
			fw.Spec.Resources[0].ID = "my-config"
		}, `spec.resources[0].id: Invalid value: "my-config": must be a CEL identifier`},
		{"trigger naming an unknown plan", func(fw *v1alpha1.Framework) {
			fw.Spec.Parameters[1].Trigger = "upgrade"
		}, `spec.parameters[1].trigger: Not found: "upgrade"`},
		{"bounds on a string", func(fw *v1alpha1.Framework) {
			one := 1.0
			fw.Spec.Parameters[1].Minimum = &one
		}, "spec.parameters[1]: Invalid value: \"image\": minimum and maximum apply to integer and number parameters, not string"},
		{"default that breaks a bound, from the CRD validation", func(fw *v1alpha1.Framework) {
			fw.Spec.Parameters[0].Default = &apiextensionsv1.JSON{Raw: []byte("9")}
		}, "spec.parameters[0].default: Invalid value: 9"},
		{"projection over a reserved status field", func(fw *v1alpha1.Framework) {
			fw.Spec.Status = map[string]string{"conditions": "${instance.metadata.name}"}
		}, `spec.status[conditions]: Invalid value: "conditions": is a status field operetta writes itself`},
		{"projection with a type error", func(fw *v1alpha1.Framework) {
			fw.Spec.Status = map[string]string{"next": "${instance.spec.replicas + '1'}"}
		}, `spec.status[next]: Invalid value: "${instance.spec.replicas + '1'}": ERROR: <input>:1:24: found no matching overload`},
		{"a schedule of a plan the Framework lacks", func(fw *v1alpha1.Framework) {
			fw.Spec.Schedules = []v1alpha1.Schedule{{Name: "nightly", Plan: "restore", Schedule: "0 2 * * *"}}
		}, `spec.schedules[0].plan: Not found: "restore"`},
		{"a schedule that is not cron", func(fw *v1alpha1.Framework) {
			fw.Spec.Schedules = []v1alpha1.Schedule{{Name: "nightly", Plan: "update", Schedule: "0 2 * *"}}
		}, `spec.schedules[0].schedule: Invalid value: "0 2 * *": expected exactly 5 fields, found 4: [0 2 * *]`},
		{"a schedule in no time zone", func(fw *v1alpha1.Framework) {
			fw.Spec.Schedules = []v1alpha1.Schedule{{Name: "nightly", Plan: "update", Schedule: "0 2 * * *", TimeZone: "Mars/Olympus"}}
		}, `spec.schedules[0].timeZone: Invalid value: "Mars/Olympus": not a time zone`},
		{"a schedule's expression that is no string", func(fw *v1alpha1.Framework) {
			fw.Spec.Schedules = []v1alpha1.Schedule{{Name: "nightly", Plan: "update", Schedule: "${instance.spec.replicas}"}}
		}, `spec.schedules[0].schedule: Invalid value: "${instance.spec.replicas}": the expression's type is integer; it must give the schedule as a string`},
		{"two schedules of one name", func(fw *v1alpha1.Framework) {
			fw.Spec.Schedules = []v1alpha1.Schedule{{Name: "nightly", Plan: "update", Schedule: "@daily"}, {Name: "nightly", Plan: "update", Schedule: "@hourly"}}
		}, `spec.schedules[1].name: Duplicate value: "nightly"`},
		{"Replace for a plan with a Pipe task", func(fw *v1alpha1.Framework) {
			fw.Spec.Tasks = append(fw.Spec.Tasks, v1alpha1.Task{Name: "dump", Kind: v1alpha1.TaskPipe, Pod: "config",
				Pipe: []v1alpha1.PipeFile{{File: "/tmp/x", Kind: "ConfigMap", Key: "x"}}})
			fw.Spec.Plans["backup"] = v1alpha1.Plan{Phases: []v1alpha1.Phase{{Name: "p", Steps: []v1alpha1.Step{{Name: "s", Tasks: []string{"dump"}}}}}}
			fw.Spec.Schedules = []v1alpha1.Schedule{{Name: "nightly", Plan: "backup", Schedule: "@daily", ConcurrencyPolicy: v1alpha1.ReplaceConcurrent}}
		}, `spec.schedules[0].concurrencyPolicy: Invalid value: "Replace": plan backup has task dump, which runs a pod or an instance that operetta cannot cut and start again safely: use Forbid`},
		{"a trigger of a plan the Framework lacks", func(fw *v1alpha1.Framework) {
			fw.Spec.Triggers = []v1alpha1.Trigger{{Name: "tls", Plan: "restore", Watch: v1alpha1.Watch{APIVersion: "v1", Kind: "Secret", Name: "tls"}}}
		}, `spec.triggers[0].plan: Not found: "restore"`},
		{"a trigger with both a name and a selector", func(fw *v1alpha1.Framework) {
			fw.Spec.Triggers = []v1alpha1.Trigger{{Name: "tls", Plan: "update", Watch: v1alpha1.Watch{APIVersion: "v1", Kind: "Secret", Name: "tls",
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}}}}
		}, `spec.triggers[0].watch: Invalid value: "name: \"tls\", selector: &LabelSelector{MatchLabels:map[string]string{a: b,},MatchExpressions:[]LabelSelectorRequirement{},}": set exactly one of name`},
		{"a trigger with neither", func(fw *v1alpha1.Framework) {
			fw.Spec.Triggers = []v1alpha1.Trigger{{Name: "tls", Plan: "update", Watch: v1alpha1.Watch{APIVersion: "v1", Kind: "Secret"}}}
		}, `spec.triggers[0].watch: Invalid value: "name: \"\", selector: nil": set exactly one of name`},
		{"a trigger without a kind", func(fw *v1alpha1.Framework) {
			fw.Spec.Triggers = []v1alpha1.Trigger{{Name: "tls", Plan: "update", Watch: v1alpha1.Watch{APIVersion: "v1", Name: "tls"}}}
		}, `spec.triggers[0].watch.kind: Required value`},
		{"a trigger's bad apiVersion", func(fw *v1alpha1.Framework) {
			fw.Spec.Triggers = []v1alpha1.Trigger{{Name: "tls", Plan: "update", Watch: v1alpha1.Watch{APIVersion: "a/b/c", Kind: "Secret", Name: "tls"}}}
		}, `spec.triggers[0].watch.apiVersion: Invalid value: "a/b/c"`},
		{"a trigger's name expression that is no string", func(fw *v1alpha1.Framework) {
			fw.Spec.Triggers = []v1alpha1.Trigger{{Name: "tls", Plan: "update", Watch: v1alpha1.Watch{APIVersion: "v1", Kind: "Secret", Name: "${instance.spec.replicas}"}}}
		}, `spec.triggers[0].watch.name: Invalid value: "${instance.spec.replicas}": the expression's type is integer; it must give a name, a string`},
		{"a trigger's name expression with a typo", func(fw *v1alpha1.Framework) {
			fw.Spec.Triggers = []v1alpha1.Trigger{{Name: "tls", Plan: "update", Watch: v1alpha1.Watch{APIVersion: "v1", Kind: "Secret", Name: "${instance.spec.imgae}"}}}
		}, `spec.triggers[0].watch.name: Invalid value: "${instance.spec.imgae}"`},
		{"a trigger's name that is no name", func(fw *v1alpha1.Framework) {
			fw.Spec.Triggers = []v1alpha1.Trigger{{Name: "tls", Plan: "update", Watch: v1alpha1.Watch{APIVersion: "v1", Kind: "Secret", Name: "TLS_Secret"}}}
		}, `spec.triggers[0].watch.name: Invalid value: "TLS_Secret": a lowercase RFC 1123 subdomain`},
		{"a trigger's bad selector", func(fw *v1alpha1.Framework) {
			fw.Spec.Triggers = []v1alpha1.Trigger{{Name: "cfg", Plan: "update", Watch: v1alpha1.Watch{APIVersion: "v1", Kind: "ConfigMap",
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"a b": "c"}}}}}
		}, `spec.triggers[0].watch.selector: Invalid value`},
		{"two triggers of one name", func(fw *v1alpha1.Framework) {
			w := v1alpha1.Watch{APIVersion: "v1", Kind: "Secret", Name: "tls"}
			fw.Spec.Triggers = []v1alpha1.Trigger{{Name: "tls", Plan: "update", Watch: w}, {Name: "tls", Plan: "update", Watch: w}}
		}, `spec.triggers[1].name: Duplicate value: "tls"`},
		{"group without a dot", func(fw *v1alpha1.Framework) {
			fw.Spec.Names.Group = "apps"
		}, `spec.names.group: Invalid value: "apps": must be a DNS subdomain with at least one dot`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fw := zookeeper(t)
			fw.Spec.Plans["update"] = fw.Spec.Plans["deploy"]
			tt.mutate(fw)
			c, errs := compile.Compile(fw)
			if c != nil {
				t.Fatal("an invalid Framework compiled")
			}
			if msg := compile.Message(errs); !strings.Contains(msg, tt.want) {
				t.Fatalf("message %q does not contain %q", msg, tt.want)
			}
		})
	}
}

func goResource(id, text string) v1alpha1.Resource {
	return v1alpha1.Resource{ID: id, GoTemplate: &v1alpha1.GoTemplate{
		File: "templates/" + id + ".yaml", Text: text, Kinds: []v1alpha1.ChildKind{{APIVersion: "v1", Kind: "ConfigMap"}},
	}}
}

func raw(s string) *runtime.RawExtension { return &runtime.RawExtension{Raw: []byte(s)} }

func TestWhatLooksInsideChildrenIsKnown(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*v1alpha1.Framework)
		want   bool
	}{
		{"kstatus only", func(*v1alpha1.Framework) {}, false},
		{"a readyWhen", func(fw *v1alpha1.Framework) {
			fw.Spec.Resources[1].ReadyWhen = "${resources.server.status.availableReplicas > 0}"
		}, true},
		{"a projection of a child's field", func(fw *v1alpha1.Framework) {
			fw.Spec.Status = map[string]string{"ip": "${resources.service.spec.clusterIP}"}
		}, true},
		{"a Wait task's condition", func(fw *v1alpha1.Framework) {
			fw.Spec.Tasks = append(fw.Spec.Tasks, v1alpha1.Task{Name: "up", Kind: v1alpha1.TaskWait,
				Condition: "${resources.server.status.readyReplicas == 1}"})
		}, true},
		{"a Toggle on a parameter", func(fw *v1alpha1.Framework) {
			fw.Spec.Tasks = append(fw.Spec.Tasks, v1alpha1.Task{Name: "page", Kind: v1alpha1.TaskToggle,
				Resources: []string{"page"}, When: "${instance.spec.replicas > 1}"})
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fw := example(t, "webapp")
			tc.change(fw)
			c, errs := compile.Compile(fw)
			if len(errs) > 0 {
				t.Fatal(compile.Message(errs))
			}
			if got := c.LooksInsideChildren(); got != tc.want {
				t.Errorf("LooksInsideChildren = %v; want %v", got, tc.want)
			}
		})
	}
}

// topicsFramework is the ZooKeeper example with a list parameter of typed
// topics and a collection of ConfigMaps over it.
func topicsFramework(t *testing.T, name string, iterators ...v1alpha1.Iterator) *v1alpha1.Framework {
	fw := zookeeper(t)
	fw.Spec.Parameters = append(fw.Spec.Parameters, v1alpha1.Parameter{Name: "topics", Type: v1alpha1.TypeArray,
		Schema: &apiextensionsv1.JSON{Raw: []byte(`{"items":{"type":"object","properties":{"name":{"type":"string"},"partitions":{"type":"integer"}}}}`)}})
	fw.Spec.Resources = append(fw.Spec.Resources, v1alpha1.Resource{ID: "topics", ForEach: iterators,
		Template: raw(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"` + name + `"},"data":{"partitions":"${string(topic.partitions)}"}}`)})
	return fw
}

func TestACollectionIsTypeCheckedAtApply(t *testing.T) {
	topics := v1alpha1.Iterator{Name: "topic", In: "${instance.spec.topics}"}
	c, errs := compile.Compile(topicsFramework(t, "${instance.metadata.name}-${topic.name}-${string(topicIndex)}", topics))
	if len(errs) > 0 {
		t.Fatal(compile.Message(errs))
	}
	if res := c.Resources["topics"]; !res.Collection() || len(res.ForEach) != 1 || res.ForEach[0].In.Element.String() == "dyn" {
		t.Fatalf("the collection: %+v", res)
	}
	for _, tc := range []struct {
		name string
		fw   *v1alpha1.Framework
		want string
	}{
		{"a misspelt field of the element", topicsFramework(t, "${topic.nmae}", topics),
			`spec.resources[6].template.metadata.name: Invalid value: "${topic.nmae}": ERROR: <input>:1:6: undefined field 'nmae'`},
		{"an index used as a string", topicsFramework(t, "${topicIndex + 'x'}", topics), `found no matching overload for '_+_' applied to '(int, string)'`},
		{"a collection of no list", topicsFramework(t, "x", v1alpha1.Iterator{Name: "topic", In: "${instance.spec.replicas}"}),
			`spec.resources[6].forEach[0].in: Invalid value: "${instance.spec.replicas}": its type is int; a collection iterates over a list or a map`},
		{"a field the instance lacks", topicsFramework(t, "x", v1alpha1.Iterator{Name: "topic", In: "${instance.spec.topix}"}),
			`spec.resources[6].forEach[0].in: Invalid value: "${instance.spec.topix}"`},
		{"an iterator named like a variable", topicsFramework(t, "x", v1alpha1.Iterator{Name: "instance", In: "${instance.spec.topics}"}),
			`spec.resources[6].forEach[0].name: Invalid value: "instance": is a variable every expression has`},
		{"two iterators of one name", topicsFramework(t, "x", topics, topics), `spec.resources[6].forEach[1].name: Duplicate value: "topic"`},
		{"an iterator's name that is no identifier", topicsFramework(t, "x", v1alpha1.Iterator{Name: "my-topic", In: "${instance.spec.topics}"}),
			`spec.resources[6].forEach[0].name: Invalid value: "my-topic": must be a CEL identifier`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, errs := compile.Compile(tc.fw); !strings.Contains(compile.Message(errs), tc.want) {
				t.Fatalf("got %q, want %q", compile.Message(errs), tc.want)
			}
		})
	}
	t.Run("forEach on a goTemplate", func(t *testing.T) {
		fw := zookeeper(t)
		fw.Spec.Resources = append(fw.Spec.Resources, goResource("nodes", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"))
		fw.Spec.Resources[len(fw.Spec.Resources)-1].ForEach = []v1alpha1.Iterator{topics}
		if _, errs := compile.Compile(fw); !strings.Contains(compile.Message(errs), "spec.resources[6].forEach: Invalid value: \"nodes\": is for a template") {
			t.Fatalf("got %q", compile.Message(errs))
		}
	})
}

func TestDependenciesAreInferredAndACycleIsRefused(t *testing.T) {
	cm := func(id, data string) v1alpha1.Resource {
		return v1alpha1.Resource{ID: id, Template: raw(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"${instance.metadata.name}-` + id + `"},"data":{"v":"` + data + `"}}`)}
	}
	with := func(resources ...v1alpha1.Resource) *v1alpha1.Framework {
		fw := zookeeper(t)
		fw.Spec.Resources = append(fw.Spec.Resources, resources...)
		return fw
	}
	c, errs := compile.Compile(with(cm("app", "${resources.db.data.v}-${resources.?cache.data.v.orValue('')}"), cm("db", "x"), cm("cache", "${resources.db.data.v}")))
	if len(errs) > 0 {
		t.Fatal(compile.Message(errs))
	}
	if got := c.Resources["app"].DependsOn; !slices.Equal(got, []string{"cache", "db"}) {
		t.Fatalf("app depends on %v", got)
	}
	if got := c.Ordered([]string{"app", "cache", "db", "config"}); !slices.Equal(got, []string{"db", "cache", "app", "config"}) {
		t.Fatalf("ordered %v", got)
	}
	_, errs = compile.Compile(with(cm("a", "${resources.b.data.v}"), cm("b", "${resources.c.data.v}"), cm("c", "${resources.a.data.v}")))
	if msg := compile.Message(errs); !strings.Contains(msg, `spec.resources[6]: Invalid value: "a": its template and 2 other(s) read each other in a cycle, a → b → c → a`) {
		t.Fatalf("a cycle: %s", msg)
	}
	_, errs = compile.Compile(with(cm("a", "${resources.nope.data.v}")))
	if msg := compile.Message(errs); !strings.Contains(msg, `spec.resources[6]: Invalid value: "a": reads resources.nope, which is no resource or task of the Framework`) {
		t.Fatalf("an unknown resource: %s", msg)
	}
}
