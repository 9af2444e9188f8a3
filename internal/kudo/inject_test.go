package kudo

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// positions are the YAML positions a template prints a parameter in, each
// with the path of the node the value fills.
var positions = []struct {
	name, template string
	slot           []string
}{
	{"plain", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  greeting: {{ .Params.X }}\n  other: o\n", []string{"data", "greeting"}},
	{"double-quoted", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  greeting: \"{{ .Params.X }}\"\n  other: o\n", []string{"data", "greeting"}},
	{"single-quoted", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  greeting: '{{ .Params.X }}'\n  other: o\n", []string{"data", "greeting"}},
	{"flow map", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\ndata: {greeting: {{ .Params.X }}, other: o}\n", []string{"data", "greeting"}},
	{"label key", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  labels:\n    {{ .Params.X }}: v\ndata:\n  other: o\n", []string{"metadata", "labels"}},
	{"literal block", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  greeting: |\n    {{ .Params.X }}\n  other: o\n", []string{"data", "greeting"}},
	{"flow list", "apiVersion: v1\nkind: Pod\nmetadata: {name: cm}\nspec:\n  args: [{{ .Params.X }}, other]\n", []string{"spec", "args"}},
	{"part of a name", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{{ .Params.X }}-x\ndata:\n  other: o\n", []string{"metadata", "name"}},
}

// payloads are values a tenant might try, from the issue and beyond.
var payloads = []string{
	"x\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: mallory}\nsubjects: [{kind: User, name: mallory}]\nroleRef: {kind: ClusterRole, name: cluster-admin}",
	"x\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: other, namespace: kube-system}",
	"1, hostNetwork: true",
	"x\nhostNetwork: true",
	"x\n  nested: true",
	"x\"\nextra: \"1",
	"x'\nextra: '1",
	"a: b",
	"[1, 2]",
	"{a: b, c: d}",
	"*anchor",
	"&anchor x",
	"x # comment",
	"- item",
	"|\n  block",
	"x}\nextra: {a: 1",
	"x]\nextra: [1",
	"\n  indented: true",
	"x\n...\n---\nkind: Secret",
	"",
	"plain",
	"~", // YAML's null: as a map key, no object has it
	"null",
}

func renderX(t testing.TB, template, x string) ([]map[string]any, error) {
	tmpl, err := Parse("t.yaml", template)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Params([]string{"X"}, map[string]any{"X": x})
	if err != nil {
		t.Fatal(err)
	}
	return tmpl.Render(vars(p))
}

// checkFills checks the property every render must have: varying X never
// changes the set of objects nor anything outside the node X fills, and X
// fills it with one scalar (a label key: one key).
func checkFills(t testing.TB, template string, slot []string, x string) {
	plain, err := renderX(t, template, "plain")
	if err != nil {
		t.Fatalf("plain value: %v", err)
	}
	got, err := renderX(t, template, x)
	if err != nil {
		if !strings.Contains(err.Error(), "spec.X") || strings.Contains(err.Error(), "mallory") {
			t.Fatalf("%q: the error must name spec.X and quote no value: %v", x, err)
		}
		return
	}
	if len(got) != len(plain) {
		t.Fatalf("%q: %d objects, want %d", x, len(got), len(plain))
	}
	for i := range got {
		filled := nodeAt(got[i], slot)
		if m, ok := filled.(map[string]any); ok && slot[len(slot)-1] == "labels" {
			if len(m) != 1 {
				t.Fatalf("%q: labels %v, want one key", x, m)
			}
			for _, v := range m {
				filled = v
			}
		}
		if l, ok := filled.([]any); ok && slot[len(slot)-1] == "args" {
			if len(l) != 2 || l[1] != "other" {
				t.Fatalf("%q: args %v, want the value and other", x, l)
			}
			filled = l[0]
		}
		switch filled.(type) {
		case map[string]any, []any:
			t.Fatalf("%q: filled %v with %#v, not a scalar", x, slot, filled)
		}
		if !reflect.DeepEqual(without(got[i], slot), without(plain[i], slot)) {
			t.Fatalf("%q changed the object outside %v:\n got  %#v\n want %#v", x, slot, got[i], plain[i])
		}
	}
}

func TestAValueFillsOneScalar(t *testing.T) {
	for _, pos := range positions {
		for _, x := range payloads {
			t.Run(pos.name, func(t *testing.T) { checkFills(t, pos.template, pos.slot, x) })
		}
	}
}

// TestInjectionIsRefused pins the two attacks: they must be refused,
// not merely made harmless.
func TestInjectionIsRefused(t *testing.T) {
	for _, tt := range []struct{ template, x string }{
		{positions[0].template, payloads[0]},
		{positions[3].template, payloads[2]},
		{positions[4].template, "a\nmetadata: {namespace: kube-system}\nx"},
		{positions[5].template, "ok\nother: p"},
	} {
		_, err := renderX(t, tt.template, tt.x)
		if err == nil || !strings.Contains(err.Error(), "spec.X printed at t.yaml:") {
			t.Errorf("%q in %q: %v, want a refusal naming spec.X and the line", tt.x, tt.template, err)
		}
	}
}

// TestStructureStillRenders: what packages mean to be structure (an
// encoder's output, indented) still is, and plain values still read as YAML
// reads them.
func TestStructureStillRenders(t *testing.T) {
	tmpl, err := Parse("t.yaml", "kind: Pod\nspec:\n  resources: {{ toYaml .Params.R | nindent 4 }}\n  json: {{ toJson .Params.R }}\n  count: {{ .Params.N }}\n  s: {{ .Params.S | quote }}\n")
	if err != nil {
		t.Fatal(err)
	}
	r := map[string]any{"limits": map[string]any{"cpu": "1"}, "evil\n---\nkind: X": "y"}
	p, err := Params([]string{"R", "N", "S"}, map[string]any{"R": r, "N": int64(3), "S": "a\n---\nb: \"c"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := tmpl.Render(vars(p))
	if err != nil {
		t.Fatal(err)
	}
	spec := got[0]["spec"].(map[string]any)
	if !reflect.DeepEqual(spec["resources"], r) || !reflect.DeepEqual(spec["json"], r) || spec["count"] != int64(3) || spec["s"] != "a\n---\nb: \"c" || len(got) != 1 {
		t.Fatalf("got %#v", got)
	}
}

func TestRangesAndDefinesAreSlotsToo(t *testing.T) {
	tmpl := "{{ define \"cm\" }}apiVersion: v1\nkind: ConfigMap\nmetadata: {name: {{ . }}}\n{{ end }}{{ range $i, $v := .Params.L }}---\n{{ template \"cm\" $v }}{{ end }}"
	p, _ := Params([]string{"L"}, map[string]any{"L": []any{"a", "b"}})
	parsed, err := Parse("t.yaml", tmpl)
	if err != nil {
		t.Fatal(err)
	}
	got, err := parsed.Render(vars(p))
	if err != nil || len(got) != 2 {
		t.Fatalf("%v %v", got, err)
	}
	p, _ = Params([]string{"L"}, map[string]any{"L": []any{"a", "b}\n---\nkind: Secret\nmetadata: {name: c"}})
	if _, err := parsed.Render(vars(p)); err == nil {
		t.Fatal("a list element added an object")
	}
}

func TestBudgets(t *testing.T) {
	for _, tt := range []struct{ name, template, x string }{
		{"until", "{{ range until (int .Params.X) }}a: b\n{{ end }}", "3000000"},
		{"untilStep", "{{ range untilStep 1 (int .Params.X) 1 }}a: b\n{{ end }}", "3000000"},
		{"seq", "a: {{ seq (int .Params.X) }}", "3000000"},
		{"nested ranges", "{{ range until 200 }}{{ range until (int $.Params.X) }}{{ end }}{{ end }}", "200"},
		{"repeat", "a: {{ repeat (int .Params.X) \"aaaaaaaaaa\" }}", "1000000"},
		{"indent", "a: {{ indent (int .Params.X) \"b\" }}", "100000000"},
		{"output", "{{ range until 9000 }}a: {{ $.Params.X }}\n{{ end }}", strings.Repeat("x", 1000)},
		{"objects", "{{ range until (int .Params.X) }}---\nkind: A\n{{ end }}", "300"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := renderX(t, tt.template, tt.x)
			if !errors.Is(err, ErrBudget) {
				t.Fatalf("got %v, want a budget error", err)
			}
		})
	}
}

func nodeAt(obj map[string]any, path []string) any {
	var cur any = obj
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

// without is obj with the node at path removed (a deep copy).
func without(obj map[string]any, path []string) map[string]any {
	out := map[string]any{}
	for k, v := range obj {
		if k != path[0] {
			out[k] = v
			continue
		}
		if m, ok := v.(map[string]any); ok && len(path) > 1 {
			out[k] = without(m, path[1:])
		}
	}
	return out
}

// FuzzValueFillsOneScalar: whatever a parameter holds, in whichever position
// a template prints it, the render is refused (naming the field) or differs
// from a plain value's only inside the node the value fills.
func FuzzValueFillsOneScalar(f *testing.F) {
	for i := range positions {
		for _, x := range payloads {
			f.Add(uint8(i), x)
		}
	}
	f.Fuzz(func(t *testing.T, pos uint8, x string) {
		p := positions[int(pos)%len(positions)]
		checkFills(t, p.template, p.slot, x)
	})
}

// TestErrorsQuoteNoValue: a value that breaks the YAML is refused without
// the value in the message, which reaches status and events.
func TestErrorsQuoteNoValue(t *testing.T) {
	for _, pos := range positions {
		for _, x := range []string{"s3cr3t\"\n: [", "s3cr3t'\n{", "s3cr3t\n\t- : x", "s3cr3t: `x`\n  - y"} {
			_, err := renderX(t, pos.template, x)
			if err != nil && strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("%s: %q: the error quotes the value: %v", pos.name, x, err)
			}
		}
	}
}

// TestTheZooKeeperBombIsRefused: the real ZooKeeper package with
// NODE_COUNT "3000000" rendered 95 MB of YAML in 1.05 GB before budgets;
// now its validation.yaml, which ranges over it, is refused by its budget.
func TestTheZooKeeperBombIsRefused(t *testing.T) {
	dir := filepath.Join("testdata", "packages", "zookeeper", "templates")
	refused := 0
	for _, f := range []string{"validation.yaml"} {
		text, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		tmpl, err := Parse(f, string(text))
		if err != nil {
			t.Fatal(err)
		}
		params := map[string]any{}
		for _, u := range tmpl.ParamsUsed() {
			params[u.Name] = "1"
		}
		params["NODE_COUNT"] = "3000000"
		if _, err := tmpl.Render(vars(params)); errors.Is(err, ErrBudget) {
			refused++
		} else if err != nil {
			t.Errorf("%s: %v, want a budget error", f, err)
		}
	}
	if refused == 0 {
		t.Fatal("no ZooKeeper template was refused by its budget")
	}
}

// TestRendersRunAtOnce: renders of one template share nothing, so one
// tenant's values never show in another's render.
func TestRendersRunAtOnce(t *testing.T) {
	tmpl, err := Parse("t.yaml", "kind: ConfigMap\ndata: {x: {{ .Params.X }}}\n{{ range until 20 }}---\nkind: A\n{{ end }}")
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			for j := range 50 {
				want := fmt.Sprintf("v%d-%d", i, j)
				objs, err := tmpl.Render(vars(map[string]any{"X": want}))
				if err == nil && (len(objs) != 21 || objs[0]["data"].(map[string]any)["x"] != want) {
					err = fmt.Errorf("render %s got %v", want, objs[0])
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestMergedLabelsAsDocumented: frameworks.md's way to add a map
// parameter's entries to a mapping the template writes.
func TestMergedLabelsAsDocumented(t *testing.T) {
	tmpl, err := Parse("t.yaml", "kind: ConfigMap\nmetadata:\n  name: x\n  labels: {{ toYaml (merge (dict \"app\" \"x\") .Params.labels) | nindent 4 }}\n")
	if err != nil {
		t.Fatal(err)
	}
	got, err := tmpl.Render(vars(map[string]any{"labels": map[string]any{"team": "a", "tier\n---\nkind: Secret": "b"}}))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"app": "x", "team": "a", "tier\n---\nkind: Secret": "b"}
	if len(got) != 1 || !reflect.DeepEqual(got[0]["metadata"].(map[string]any)["labels"], want) {
		t.Fatalf("got %#v", got)
	}
}
