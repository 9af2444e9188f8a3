package expr

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Template is a compiled object template: plain data with ${...} expressions
// in its string values.
type Template struct {
	root node
}

// node is one value of a template.
type node interface {
	render(b *binding) (any, error)
	reads(variable string) bool
}

// Reads says whether any expression of the template names variable
// (VarResources, say).
func (t *Template) Reads(variable string) bool { return t != nil && t.root.reads(variable) }

func (literal) reads(string) bool { return false }

func (n mapNode) reads(variable string) bool {
	for _, v := range n.values {
		if v.reads(variable) {
			return true
		}
	}
	return false
}

func (n listNode) reads(variable string) bool {
	for _, v := range n.items {
		if v.reads(variable) {
			return true
		}
	}
	return false
}

func (n typedExpr) reads(variable string) bool { return n.prg.Reads(variable) }

func (n stringExpr) reads(variable string) bool {
	for _, p := range n.parts {
		if p.prg.Reads(variable) {
			return true
		}
	}
	return false
}

type (
	literal struct{ value any }
	mapNode struct {
		keys   []string
		values map[string]node
	}
	listNode  struct{ items []node }
	typedExpr struct {
		prg  *Program
		path string
	}
	stringExpr struct {
		parts []stringPart
		path  string
	}
	stringPart struct {
		text string
		prg  *Program
	}
)

// CompileTemplate compiles every expression in obj. Errors carry the field
// path of the string they are in, below path.
func (e *Env) CompileTemplate(obj any, path *field.Path) (*Template, field.ErrorList) {
	root, errs := e.compileNode(obj, path)
	if len(errs) > 0 {
		return nil, errs
	}
	return &Template{root: root}, nil
}

func (e *Env) compileNode(v any, path *field.Path) (node, field.ErrorList) {
	switch v := v.(type) {
	case map[string]any:
		m := mapNode{values: make(map[string]node, len(v))}
		var errs field.ErrorList
		for k, child := range v {
			n, cerrs := e.compileNode(child, path.Child(k))
			errs = append(errs, cerrs...)
			m.keys = append(m.keys, k)
			m.values[k] = n
		}
		sort.Strings(m.keys)
		return m, errs
	case []any:
		l := listNode{items: make([]node, len(v))}
		var errs field.ErrorList
		for i, child := range v {
			n, cerrs := e.compileNode(child, path.Index(i))
			errs = append(errs, cerrs...)
			l.items[i] = n
		}
		return l, errs
	case string:
		return e.compileStringNode(v, path)
	default:
		return literal{value: v}, nil
	}
}

func (e *Env) compileStringNode(s string, path *field.Path) (node, field.ErrorList) {
	segs, err := parse(s)
	if err != nil {
		return nil, field.ErrorList{field.Invalid(path, s, err.Error())}
	}
	if len(segs) == 1 && segs[0].isExpr {
		prg, err := e.Compile(segs[0].text)
		if err != nil {
			return nil, field.ErrorList{field.Invalid(path, s, err.Error())}
		}
		return typedExpr{prg: prg, path: path.String()}, nil
	}
	n := stringExpr{path: path.String()}
	var errs field.ErrorList
	for _, seg := range segs {
		if !seg.isExpr {
			n.parts = append(n.parts, stringPart{text: seg.text})
			continue
		}
		prg, err := e.Compile(seg.text)
		if err != nil {
			errs = append(errs, field.Invalid(path, s, err.Error()))
			continue
		}
		n.parts = append(n.parts, stringPart{prg: prg})
	}
	if len(errs) == 0 && !n.hasExpr() {
		return literal{value: strings.Join(n.texts(), "")}, nil
	}
	return n, errs
}

// Render evaluates the template. A map entry whose value renders to null is
// left out, so "${has(x) ? x : null}" makes a field optional.
func (t *Template) Render(vars Vars) (any, error) {
	return t.root.render(&binding{vars: vars})
}

// RenderObject renders a template whose root is an object.
func (t *Template) RenderObject(vars Vars) (map[string]any, error) {
	v, err := t.Render(vars)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("template renders to %T, not an object", v)
	}
	return m, nil
}

func (n literal) render(*binding) (any, error) { return deepCopy(n.value), nil }

func (n mapNode) render(b *binding) (any, error) {
	out := make(map[string]any, len(n.keys))
	for _, k := range n.keys {
		v, err := n.values[k].render(b)
		if err != nil {
			return nil, err
		}
		if v != nil {
			out[k] = v
		}
	}
	return out, nil
}

func (n listNode) render(b *binding) (any, error) {
	out := make([]any, len(n.items))
	for i, item := range n.items {
		v, err := item.render(b)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func (n typedExpr) render(b *binding) (any, error) {
	v, err := n.prg.evalIn(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", n.path, err)
	}
	return v, nil
}

func (n stringExpr) render(b *binding) (any, error) {
	var out strings.Builder
	for _, p := range n.parts {
		if p.prg == nil {
			out.WriteString(p.text)
			continue
		}
		v, err := p.prg.evalIn(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n.path, err)
		}
		s, err := interpolate(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n.path, err)
		}
		out.WriteString(s)
	}
	return out.String(), nil
}

func (n stringExpr) hasExpr() bool {
	for _, p := range n.parts {
		if p.prg != nil {
			return true
		}
	}
	return false
}

func (n stringExpr) texts() []string {
	out := make([]string, len(n.parts))
	for i, p := range n.parts {
		out[i] = p.text
	}
	return out
}

// interpolate formats a value inside a longer string.
func interpolate(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), nil
	case bool:
		return strconv.FormatBool(v), nil
	case nil:
		return "", nil
	default:
		b, err := json.Marshal(v)
		return string(b), err
	}
}

// deepCopy copies literal values so rendered objects never share maps or
// slices with the template.
func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = deepCopy(e)
		}
		return out
	default:
		return v
	}
}
