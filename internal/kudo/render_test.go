package kudo

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func vars(params map[string]any) Vars {
	return Vars{Name: "zk", Namespace: "team", OperatorName: "zookeeper", OperatorVersion: "0.3.3", AppVersion: "3.6.2",
		PlanName: "deploy", PhaseName: "zookeeper", StepName: "deploy", Params: params}
}

func TestRenderFollowsKUDO(t *testing.T) {
	tests := []struct {
		name     string
		template string
		params   map[string]any
		want     []map[string]any
		err      string
	}{
		{
			name:     "scalars are strings; YAML decides the type",
			template: "kind: ConfigMap\nreplicas: {{ .Params.COUNT }}\nquoted: \"{{ .Params.COUNT }}\"\nflag: {{ .Params.ON }}",
			params:   map[string]any{"COUNT": int64(3), "ON": true},
			want:     []map[string]any{{"kind": "ConfigMap", "replicas": int64(3), "quoted": "3", "flag": true}},
		},
		{
			name:     "string comparison, as packages write it",
			template: `{{ if eq .Params.ON "true" }}kind: A{{ else }}kind: B{{ end }}`,
			params:   map[string]any{"ON": true},
			want:     []map[string]any{{"kind": "A"}},
		},
		{
			name:     "several documents, empty ones skipped",
			template: "kind: A\n---\n---\nkind: B\n",
			want:     []map[string]any{{"kind": "A"}, {"kind": "B"}},
		},
		{
			name:     "a range makes N objects",
			template: "{{ range $i := until (int .Params.N) }}---\nkind: Service\nmetadata: {name: {{ $.Name }}-{{ $i }}}\n{{ end }}",
			params:   map[string]any{"N": "2"},
			want: []map[string]any{
				{"kind": "Service", "metadata": map[string]any{"name": "zk-0"}},
				{"kind": "Service", "metadata": map[string]any{"name": "zk-1"}},
			},
		},
		{
			name:     "toYaml and indent of a map parameter",
			template: "kind: ConfigMap\ndata:\n{{ toYaml .Params.DATA | indent 2 }}",
			params:   map[string]any{"DATA": map[string]any{"a": "1", "b": "x"}},
			// toYaml quotes a string that would read as a number.
			want: []map[string]any{{"kind": "ConfigMap", "data": map[string]any{"a": "1", "b": "x"}}},
		},
		{
			name:     "KUDO's variables",
			template: "kind: X\nmetadata: {name: '{{ .Name }}', namespace: '{{ .Namespace }}'}\nv: '{{ .OperatorName }} {{ .OperatorVersion }} {{ .AppVersion }} {{ .PlanName }}/{{ .PhaseName }}/{{ .StepName }}'",
			want:     []map[string]any{{"kind": "X", "metadata": map[string]any{"name": "zk", "namespace": "team"}, "v": "zookeeper 0.3.3 3.6.2 deploy/zookeeper/deploy"}},
		},
		{
			name:     "a missing key is an error",
			template: "kind: {{ .Params.NOPE }}",
			params:   map[string]any{"COUNT": "3"},
			err:      `map has no entry for key "NOPE"`,
		},
		{
			name:     "sprig arithmetic on strings",
			template: "sum: {{ add (int .Params.N) 1 }}\nmost: {{ max 2 (int .Params.N) }}",
			params:   map[string]any{"N": "3"},
			want:     []map[string]any{{"sum": int64(4), "most": int64(3)}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, err := Parse("t.yaml", tt.template)
			if err != nil {
				t.Fatal(err)
			}
			names := make([]string, 0, len(tt.params))
			for k := range tt.params {
				names = append(names, k)
			}
			p, err := Params(names, tt.params)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tmpl.Render(vars(p))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestParseRefusesWhatKUDOWould(t *testing.T) {
	for _, tt := range []struct{ template, want string }{
		{"a: {{ env \"HOME\" }}", `t.yaml:1: function "env" not defined`},
		{"a: {{ now }}", `t.yaml:1: function "now" not defined`},
		{"a: {{ randAlpha 5 }}", `t.yaml:1: function "randAlpha" not defined`},
		{"a: 1\nb: {{ .Name ", `t.yaml:2: unclosed action`},
	} {
		if _, err := Parse("t.yaml", tt.template); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want %q", tt.template, err, tt.want)
		}
	}
}

func TestParamsUsed(t *testing.T) {
	tmpl, err := Parse("t.yaml", "{{ .Params.A }}{{ if eq .Params.B \"x\" }}{{ range until (int .Params.C) }}{{ $.Params.D }}{{ end }}{{ end }}{{ .Name }}{{ .Params.A }}")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range tmpl.ParamsUsed() {
		got = append(got, u.Name+"@"+u.At)
	}
	sort.Strings(got)
	// $.Params.D is a variable chain, not a field: it is read at render.
	if want := "A@t.yaml:1:10,B@t.yaml:1:31,C@t.yaml:1:67"; strings.Join(got, ",") != want {
		t.Fatalf("params used %v, want %s", got, want)
	}
}

func TestParamsAreStrings(t *testing.T) {
	p, err := Params([]string{"I", "F", "B", "S", "MISSING", "L"}, map[string]any{
		"I": int64(3), "F": 1.5, "B": false, "S": "x", "L": []any{"a"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"I": "3", "F": "1.5", "B": "false", "S": "x", "MISSING": "", "L": []any{"a"}}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("got %#v", p)
	}
}

// TestTheRealPackagesRender renders every template of the real KUDO
// packages (testdata/packages: zookeeper, redis, first-operator and kafka
// from kudobuilder/operators, Apache-2.0) with their default parameters, as KUDO
// would for a new instance.
func TestTheRealPackagesRender(t *testing.T) {
	root := filepath.Join("testdata", "packages")
	dirs, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	rendered := 0
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		t.Run(d.Name(), func(t *testing.T) {
			dir := filepath.Join(root, d.Name())
			names, values := defaults(t, dir)
			files, err := filepath.Glob(filepath.Join(dir, "templates", "*.yaml"))
			if err != nil || len(files) == 0 {
				t.Fatalf("templates: %v", err)
			}
			for _, f := range files {
				text, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				tmpl, err := Parse(filepath.Base(f), string(text))
				if err != nil {
					t.Errorf("parsing: %v", err)
					continue
				}
				for _, used := range tmpl.ParamsUsed() {
					if _, declared := values[used.Name]; !declared {
						t.Errorf("%s reads .Params.%s, which params.yaml does not declare", used.At, used.Name)
					}
				}
				p, err := Params(names, values)
				if err != nil {
					t.Fatal(err)
				}
				objs, err := tmpl.Render(vars(p))
				if err != nil {
					t.Errorf("rendering: %v", err)
					continue
				}
				// A template wholly inside an if renders nothing with
				// defaults that turn it off (Kafka's ServiceMonitor).
				if len(objs) == 0 && !strings.HasPrefix(strings.TrimSpace(string(text)), "{{ if ") {
					t.Errorf("%s rendered no object", filepath.Base(f))
				}
				rendered += len(objs)
				for _, o := range objs {
					if o["apiVersion"] == nil || o["kind"] == nil {
						t.Errorf("%s rendered an object without apiVersion or kind: %v", filepath.Base(f), o)
					}
				}
			}
		})
	}
	if rendered < 10 {
		t.Fatalf("%d objects rendered from the packages, want every template's", rendered)
	}
	t.Logf("%d objects rendered from %d packages", rendered, len(dirs)-1)
}

// BenchmarkRenderZooKeeper renders the real ZooKeeper package's largest
// template, its StatefulSet, with its defaults: the cost a Go-template child
// adds to a reconcile that renders.
func BenchmarkRenderZooKeeper(b *testing.B) {
	dir := filepath.Join("testdata", "packages", "zookeeper")
	text, err := os.ReadFile(filepath.Join(dir, "templates", "statefulset.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	tmpl, err := Parse("statefulset.yaml", string(text))
	if err != nil {
		b.Fatal(err)
	}
	names, values := defaults(b, dir)
	p, err := Params(names, values)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tmpl.Render(vars(p)); err != nil {
			b.Fatal(err)
		}
	}
}

// defaults reads a package's parameters and their defaults.
func defaults(t testing.TB, dir string) (names []string, values map[string]any) {
	var params struct {
		Parameters []struct {
			Name    string `json:"name"`
			Default any    `json:"default"`
		} `json:"parameters"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "params.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &params); err != nil {
		t.Fatal(err)
	}
	values = map[string]any{}
	for _, p := range params.Parameters {
		names, values[p.Name] = append(names, p.Name), p.Default
	}
	return names, values
}
