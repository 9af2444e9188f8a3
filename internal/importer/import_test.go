package importer_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/importer"
)

var update = flag.Bool("update", false, "rewrite the golden Frameworks in testdata/")

// packages are real KUDO packages (kudobuilder/operators, Apache-2.0).
const packages = "../kudo/testdata/packages"

// TestKafkaImportsItsPipeTask: KUDO's Kafka, unmodified, imports its Pipe
// task as one, its pod template as a resource rendering a Pod, and
// compiles; the StatefulSet reads the piped Secrets' names.
func TestKafkaImportsItsPipeTask(t *testing.T) {
	res, err := importer.KUDO(filepath.Join(packages, "kafka"), importer.Options{AllowClusterScoped: true, Name: "kudo-kafka"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Framework.Name != "kudo-kafka" || res.Framework.Spec.KUDO.OperatorName != "kafka" {
		t.Errorf("named %s, operator %s; want the name asked for, the operator's own", res.Framework.Name, res.Framework.Spec.KUDO.OperatorName)
	}
	fw, errs := compile.Compile(res.Framework)
	if len(errs) > 0 {
		t.Fatalf("the imported Framework does not compile: %s", compile.Message(errs))
	}
	pipe := fw.Tasks["generate-tls-certificates"]
	if pipe == nil || pipe.Kind != v1alpha1.TaskPipe {
		t.Fatalf("task generate-tls-certificates: %+v", pipe)
	}
	want := []v1alpha1.PipeFile{{File: "/tmp/tls.key", Kind: "Secret", Key: "privatekey"}, {File: "/tmp/tls.crt", Kind: "Secret", Key: "certificate"}}
	if !reflect.DeepEqual(pipe.Pipe, want) {
		t.Errorf("pipe %+v, want %+v", pipe.Pipe, want)
	}
	pod := fw.Resources[pipe.Pod]
	if pod == nil || pod.Go == nil || !pod.Emits(schema.GroupVersionKind{Version: "v1", Kind: "Pod"}) {
		t.Fatalf("the pod resource %q: %+v", pipe.Pod, pod)
	}
	if !slices.Contains(fw.ChildKinds, schema.GroupVersionKind{Version: "v1", Kind: "Secret"}) {
		t.Errorf("the children cache would not watch the piped Secrets: %v", fw.ChildKinds)
	}
}

// TestTheRealPackagesImport imports zookeeper, redis and first-operator
// and compares each Framework with its golden file; each must compile.
func TestTheRealPackagesImport(t *testing.T) {
	for _, name := range []string{"first-operator", "redis", "zookeeper"} {
		t.Run(name, func(t *testing.T) {
			res, err := importer.KUDO(filepath.Join(packages, name), importer.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if _, errs := compile.Compile(res.Framework); len(errs) > 0 {
				t.Fatalf("the imported Framework does not compile: %s", compile.Message(errs))
			}
			got, err := res.YAML(name)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", name+".golden.yaml")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if string(got) != string(want) {
				t.Errorf("%s differs from the import; run go test ./internal/importer -update and review the diff", golden)
			}
		})
	}
}

// pkgDir writes a small package into a new directory and returns it:
// operator.yaml's tasks and plans as given, a params.yaml and templates.
func pkgDir(t *testing.T, tasks, params string, templates map[string]string) string {
	t.Helper()
	files := map[string]string{
		"operator.yaml": "apiVersion: kudo.dev/v1beta1\nname: demo\noperatorVersion: 0.1.0\n" + tasks +
			"plans:\n  deploy:\n    strategy: serial\n    phases:\n    - name: main\n      strategy: serial\n      steps:\n      - name: main\n        tasks: [main]\n",
		"params.yaml": "apiVersion: kudo.dev/v1beta1\nparameters:\n" + params,
	}
	for name, text := range templates {
		files["templates/"+name] = text
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "templates"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestImportMapsAndRefuses(t *testing.T) {
	role := "apiVersion: rbac.authorization.k8s.io/v1beta1\nkind: ClusterRole\nmetadata: {name: {{ .Name }}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"
	tests := []struct {
		name, tasks, params string
		templates           map[string]string
		opts                importer.Options
		want                []string // in the Framework's YAML or the notes
		err                 string
	}{
		{
			name:      "a Toggle over an untyped parameter is on when Go's ParseBool says true",
			tasks:     "tasks:\n- name: main\n  kind: Toggle\n  spec: {parameter: ENABLED, resources: [cm.yaml]}\n",
			params:    "- name: ENABLED\n  default: \"false\"\n",
			templates: map[string]string{"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"},
			want:      []string{"when: ${has(instance.spec.ENABLED) && instance.spec.ENABLED in ['1', 't', 'T',", "'TRUE', 'true', 'True']}"},
		},
		{
			name:      "removed RBAC versions rewritten, a cluster-scoped kind allowed when asked, both noted",
			tasks:     "tasks:\n- name: main\n  kind: Apply\n  spec: {resources: [rbac.yaml]}\n",
			templates: map[string]string{"rbac.yaml": role},
			opts:      importer.Options{AllowClusterScoped: true},
			want: []string{
				"templates/rbac.yaml:1: rbac.authorization.k8s.io/v1beta1 ClusterRole rewritten to rbac.authorization.k8s.io/v1",
				"templates/rbac.yaml: renders a cluster-scoped ClusterRole, which spec.allow.clusterScoped now lets it create (--allow-cluster-scoped)",
				"apiVersion: rbac.authorization.k8s.io/v1\n        kind: ClusterRole",
				"clusterScoped:\n    - group: rbac.authorization.k8s.io\n      kind: ClusterRole",
			},
		},
		{
			name:  "cluster-scoped kinds refused unless asked, each named with its file",
			tasks: "tasks:\n- name: main\n  kind: Apply\n  spec: {resources: [rbac.yaml, hook.yaml, cm.yaml]}\n",
			templates: map[string]string{
				"rbac.yaml": role + "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: b}\n",
				"hook.yaml": "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata: {name: h}\n",
				"cm.yaml":   "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
			},
			err: "the package renders cluster-scoped objects, outside any instance's namespace:\n" +
				"  templates/rbac.yaml: ClusterRole.rbac.authorization.k8s.io\n" +
				"  templates/rbac.yaml: ClusterRoleBinding.rbac.authorization.k8s.io\n" +
				"  templates/hook.yaml: ValidatingWebhookConfiguration.admissionregistration.k8s.io\n" +
				"the importer does not add them to spec.allow.clusterScoped by itself",
		},
		{
			name:  "count-like parameters get a bound, the larger of 100 and ten times the default",
			tasks: "tasks:\n- name: main\n  kind: Apply\n  spec: {resources: [cm.yaml]}\n",
			params: "- name: NODE_COUNT\n  default: 30\n- name: WORKERS\n  type: integer\n  default: 2\n- name: DATA_NODES\n  default: a,b\n" +
				"- name: PORT\n  default: \"2181\"\n- name: HOSTS\n  default: x\n- name: SIZE\n  default: \"3\"\n  enum: [\"1\", \"3\"]\n",
			templates: map[string]string{"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n" +
				"{{- range $i := until (int .Params.NODE_COUNT) }}\n  n{{ $i }}: '{{ $.Params.PORT }}'{{ end }}\n" +
				"{{- range $i := until (int .Params.WORKERS) }}\n  w{{ $i }}: x{{ end }}\n" +
				"{{- range $i := until (int .Params.HOSTS) }}\n  h{{ $i }}: x{{ end }}\n" +
				"{{- range $i := until (int .Params.SIZE) }}\n  s{{ $i }}: x{{ end }}\n"},
			want: []string{
				"default: \"30\"\n    name: NODE_COUNT\n    pattern: ^(0|[1-9][0-9]?|[1-2][0-9]{2}|300)$\n    type: string",
				"default: 2\n    maximum: 100\n    minimum: 0\n    name: WORKERS\n    type: integer",
				"name: DATA_NODES\n    type: string", "name: PORT\n    type: string", "name: HOSTS\n    type: string",
				"name: SIZE\n    type: string",
				"params.yaml: NODE_COUNT: a count (looped over in templates/cm.yaml; named as one): the generated kind takes 0 to 300 only (pattern ^(0|[1-9][0-9]?|[1-2][0-9]{2}|300)$), the larger of 100 and 10× the default 30",
				"params.yaml: WORKERS: a count (looped over in templates/cm.yaml): the generated kind takes 0 to 100 only (minimum 0, maximum 100)",
				"params.yaml: HOSTS: looped over in templates/cm.yaml, but its default is not a count (a whole number): no bound added",
			},
		},
		{
			name:   "a parameter without a default is required unless it says not",
			tasks:  "tasks:\n- name: main\n  kind: Dummy\n  spec: {done: true}\n",
			params: "- name: MUST\n- name: MAY\n  required: false\n",
			want:   []string{"name: MUST\n    required: true\n    type: string", "name: MAY\n    type: string"},
		},
		{
			name:  "a KudoOperator dependency becomes an Instance task",
			tasks: "tasks:\n- name: main\n  kind: KudoOperator\n  spec: {package: zookeeper, instanceName: zk}\n",
			want:  []string{"framework: zookeeper\n    instanceName: zk\n    kind: Instance", "the dependency zookeeper becomes an instance of the Framework named zookeeper"},
		},
		{
			name:   "a trigger plan that does not exist makes the parameter immutable",
			tasks:  "tasks:\n- name: main\n  kind: Apply\n  spec:\n    resources:\n",
			params: "- name: DISK\n  default: 5Gi\n  trigger: not-allowed\n",
			want: []string{
				"name: DISK\n    type: string", "immutable: true",
				`params.yaml: DISK: its trigger plan "not-allowed" does not exist`,
				"operator.yaml: task main: an Apply task of no resources, which does nothing: a Dummy task that is done",
				"- done: true\n    kind: Dummy\n    name: main",
			},
		},
		{
			name:  "tasks as a map, as before KUDO 0.8",
			tasks: "tasks:\n  main:\n    resources: [cm.yaml]\n",
			err:   "operator.yaml: tasks is a map, as in packages for KUDO before 0.8",
		},
		{
			name:      "a Pipe file of environment variables is refused by name",
			tasks:     "tasks:\n- name: main\n  kind: Pipe\n  spec: {pod: pod.yaml, pipe: [{envFile: /tmp/env, kind: ConfigMap, key: env}]}\n",
			templates: map[string]string{"pod.yaml": "apiVersion: v1\nkind: Pod\nspec: {}\n"},
			err:       "operator.yaml: tasks[0] (main): spec.pipe[0].envFile: a file of environment variables is not supported yet",
		},
		{
			name:  "a dependency's parameter file is refused",
			tasks: "tasks:\n- name: main\n  kind: KudoOperator\n  spec: {package: zookeeper, parameterFile: zk-params.yaml}\n",
			err:   "spec.parameterFile zk-params.yaml: a dependency's parameters from a template file are not supported yet",
		},
		{
			name:   "a parameter name no field can have",
			tasks:  "tasks:\n- name: main\n  kind: Dummy\n",
			params: "- name: heap-size\n  default: 1g\n",
			err:    `params.yaml: parameters[0]: name "heap-size"`,
		},
		{
			name:  "a task naming a template that is not there",
			tasks: "tasks:\n- name: main\n  kind: Apply\n  spec: {resources: [missing.yaml]}\n",
			err:   "operator.yaml: a task names resource missing.yaml, which is not in templates/",
		},
		{
			name:      "a template whose kind shows nowhere",
			tasks:     "tasks:\n- name: main\n  kind: Apply\n  spec: {resources: [dyn.yaml]}\n",
			templates: map[string]string{"dyn.yaml": "apiVersion: v1\nkind: {{ .Params.KIND }}\nmetadata: {name: x}\n"},
			err:       "templates/dyn.yaml: cannot tell which kinds it renders",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := importer.KUDO(pkgDir(t, tt.tasks, tt.params, tt.templates), tt.opts)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, errs := compile.Compile(res.Framework); len(errs) > 0 {
				t.Fatalf("does not compile: %s", compile.Message(errs))
			}
			b, err := res.YAML("demo")
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("missing %q in\n%s", w, b)
				}
			}
		})
	}
}

// TestParametersWithoutDefaultAreRequiredAsKUDOReadThem: KUDO's package
// reader made every parameter required unless it said required: false, and
// its install refused a required one without a default; an array or map
// without one was stored as null, which that check takes as a default, so
// KUDO installed cassandra with its three such arrays unset.
func TestParametersWithoutDefaultAreRequiredAsKUDOReadThem(t *testing.T) {
	params := "- {name: SEEDS}\n- {name: OPTIONAL, required: false}\n- {name: TOLERATIONS, type: array}\n- {name: LABELS, type: map, required: true}\n"
	res, err := importer.KUDO(pkgDir(t, "tasks:\n- name: main\n  kind: Dummy\n  spec: {done: true}\n", params, nil), importer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range res.Framework.Spec.Parameters {
		d := "none"
		if p.Default != nil {
			d = string(p.Default.Raw)
		}
		got[p.Name] = fmt.Sprintf("required %v, default %s", p.Required, d)
	}
	want := map[string]string{
		"SEEDS": "required true, default none", "OPTIONAL": "required false, default none",
		"TOLERATIONS": "required false, default []", "LABELS": "required false, default {}",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parameters %v, want %v", got, want)
	}
}
