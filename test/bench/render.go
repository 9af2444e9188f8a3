//go:build benchcluster

package main

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

// framework is the part of a Framework manifest the benchmark reads: its
// names, parameter defaults and resource templates.
type framework struct {
	raw       map[string]any // the whole manifest, to apply it
	name      string
	group     string
	version   string
	kind      string
	defaults  map[string]any
	templates []map[string]any
}

func loadFramework(path string) (*framework, error) {
	raw, err := readYAML(path)
	if err != nil {
		return nil, err
	}
	fw := &framework{raw: raw, defaults: map[string]any{}}
	fw.name, _, _ = unstructured.NestedString(raw, "metadata", "name")
	fw.group, _, _ = unstructured.NestedString(raw, "spec", "names", "group")
	fw.kind, _, _ = unstructured.NestedString(raw, "spec", "names", "kind")
	fw.version, _, _ = unstructured.NestedString(raw, "spec", "names", "version")
	if fw.version == "" {
		fw.version = "v1"
	}
	if fw.name == "" || fw.group == "" || fw.kind == "" {
		return nil, fmt.Errorf("%s: want metadata.name, spec.names.group and spec.names.kind", path)
	}
	params, _, _ := unstructured.NestedSlice(raw, "spec", "parameters")
	for _, p := range params {
		m, _ := p.(map[string]any)
		if d, ok := m["default"]; ok {
			fw.defaults[fmt.Sprint(m["name"])] = d
		}
	}
	resources, _, _ := unstructured.NestedSlice(raw, "spec", "resources")
	for i, r := range resources {
		m, _ := r.(map[string]any)
		t, ok := m["template"].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: spec.resources[%d] has no template", path, i)
		}
		fw.templates = append(fw.templates, t)
	}
	if len(fw.templates) == 0 {
		return nil, fmt.Errorf("%s: no resources", path)
	}
	return fw, nil
}

// manifest returns a copy of the Framework as an object to apply.
func (fw *framework) manifest() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: runtime.DeepCopyJSON(fw.raw)}
}

// variant is a copy of the Framework under another name and kind, so that
// nothing of it exists yet, with deletionPolicy Delete so that deleting it
// removes its CRD and instances; and the resource of its instances.
func (fw *framework) variant(name, kind string) (*unstructured.Unstructured, schema.GroupVersionResource) {
	plural := strings.ToLower(kind) + "s"
	u := fw.manifest()
	u.SetName(name)
	_ = unstructured.SetNestedField(u.Object, kind, "spec", "names", "kind")
	_ = unstructured.SetNestedField(u.Object, plural, "spec", "names", "plural")
	unstructured.RemoveNestedField(u.Object, "spec", "names", "shortNames")
	_ = unstructured.SetNestedField(u.Object, "Delete", "spec", "deletionPolicy")
	return u, schema.GroupVersionResource{Group: fw.group, Version: fw.version, Resource: plural}
}

// render renders the Framework's templates for an instance the way operetta
// does, for the direct baseline and to know which children an instance has.
// It understands only what the example uses: instance.metadata.name,
// instance.metadata.namespace, instance.spec.<parameter> and
// string(instance.spec.<parameter>), a lone ${...} keeping its type, and $${
// as a literal ${. Anything else is an error, so that the baseline can never
// silently differ from what operetta renders.
func (fw *framework) render(name, namespace string, spec map[string]any) ([]*unstructured.Unstructured, error) {
	values := map[string]any{}
	for k, v := range fw.defaults {
		values[k] = v
	}
	for k, v := range spec {
		values[k] = v
	}
	eval := func(expr string) (any, error) {
		expr = strings.TrimSpace(expr)
		asString := false
		if strings.HasPrefix(expr, "string(") && strings.HasSuffix(expr, ")") {
			expr, asString = strings.TrimSpace(expr[len("string("):len(expr)-1]), true
		}
		var v any
		switch {
		case expr == "instance.metadata.name":
			v = name
		case expr == "instance.metadata.namespace":
			v = namespace
		case strings.HasPrefix(expr, "instance.spec."):
			p := strings.TrimPrefix(expr, "instance.spec.")
			var ok bool
			if v, ok = values[p]; !ok {
				return nil, fmt.Errorf("${%s}: no value and no default", expr)
			}
		default:
			return nil, fmt.Errorf("${%s}: the benchmark's renderer does not understand this expression", expr)
		}
		if asString {
			return text(v), nil
		}
		return v, nil
	}
	var out []*unstructured.Unstructured
	for _, t := range fw.templates {
		v, err := renderValue(runtime.DeepCopyJSONValue(t), eval)
		if err != nil {
			return nil, fmt.Errorf("rendering %v/%v: %w", t["kind"], t["metadata"], err)
		}
		u := &unstructured.Unstructured{Object: v.(map[string]any)}
		u.SetNamespace(namespace)
		out = append(out, u)
	}
	return out, nil
}

func renderValue(v any, eval func(string) (any, error)) (any, error) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			r, err := renderValue(e, eval)
			if err != nil {
				return nil, err
			}
			v[k] = r
		}
		return v, nil
	case []any:
		for i, e := range v {
			r, err := renderValue(e, eval)
			if err != nil {
				return nil, err
			}
			v[i] = r
		}
		return v, nil
	case string:
		return renderString(v, eval)
	case float64:
		return normalize(v), nil
	default:
		return v, nil
	}
}

func renderString(s string, eval func(string) (any, error)) (any, error) {
	if strings.HasPrefix(s, "${") && strings.HasSuffix(s, "}") && strings.Count(s, "${") == 1 {
		v, err := eval(s[2 : len(s)-1])
		return normalize(v), err
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			b.WriteString("${")
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("unterminated ${ in %q", s)
			}
			v, err := eval(s[i+2 : i+end])
			if err != nil {
				return nil, err
			}
			b.WriteString(text(v))
			i += end + 1
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String(), nil
}

// normalize turns JSON's integral float64 into int64, as the API server
// would see an integer.
func normalize(v any) any {
	if f, ok := v.(float64); ok && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return int64(f)
	}
	return v
}

func text(v any) string {
	switch v := normalize(v).(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	default:
		return fmt.Sprint(v)
	}
}

func readYAML(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return m, nil
}
