package convert

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"operetta.dev/operetta/internal/expr"
)

// Direction converts specs of version From into version To.
type Direction struct {
	From, To string
	from, to *apiextensionsv1.JSONSchemaProps
	mappings []mapping
}

// mapping sets one field of the version converted to.
type mapping struct {
	path []string
	prg  *expr.Program
}

// Compile compiles the mappings from version from (schema fromSchema, the
// spec) to version to (toSchema): each key is a field path of to
// ("replicas", "resources.cpu"), each value one ${...} over self. A path to
// has not, an expression that does not compile against from, or one whose
// type the field cannot hold is an error below path.
func Compile(from, to string, fromSchema, toSchema *apiextensionsv1.JSONSchemaProps, mappings map[string]string, path *field.Path) (*Direction, field.ErrorList) {
	d := &Direction{From: from, To: to, from: fromSchema, to: toSchema}
	env, err := expr.NewSelfEnv(fromSchema)
	if err != nil {
		return nil, field.ErrorList{field.InternalError(path, err)}
	}
	var errs field.ErrorList
	for _, k := range slices.Sorted(maps.Keys(mappings)) {
		kp := path.Key(k)
		target, ok := fieldSchema(toSchema, strings.Split(k, "."))
		if !ok {
			errs = append(errs, field.Invalid(kp, k, fmt.Sprintf("version %s's spec has no field %s", to, k)))
			continue
		}
		src := mappings[k]
		prg, err := env.CompileOne(strings.TrimSpace(src), `over self, such as "${self.size}"`)
		if err != nil {
			errs = append(errs, field.Invalid(kp, src, err.Error()))
			continue
		}
		if out := prg.Output(); !holds(target, out) {
			errs = append(errs, field.Invalid(kp, src, fmt.Sprintf("gives %s; spec.%s of version %s is %s", typeName(out), k, to, typeName(*target))))
			continue
		}
		d.mappings = append(d.mappings, mapping{path: strings.Split(k, "."), prg: prg})
	}
	return d, errs
}

// Convert converts spec from d.From to d.To. It never changes spec.
func (d *Direction) Convert(spec map[string]any) (map[string]any, error) {
	out, _ := carry(spec, d.from, d.to).(map[string]any)
	if out == nil {
		out = map[string]any{}
	}
	for _, m := range d.mappings {
		v, err := m.prg.EvalSelf(spec)
		if err != nil {
			return nil, fmt.Errorf("converting spec.%s from %s to %s: %w", strings.Join(m.path, "."), d.From, d.To, err)
		}
		set(out, m.path, v)
	}
	return out, nil
}

// carry is what of v, of schema from, version to's schema has with the same
// type; nil when nothing.
func carry(v any, from, to *apiextensionsv1.JSONSchemaProps) any {
	if v == nil || from == nil || to == nil {
		return nil
	}
	preserve := func(s *apiextensionsv1.JSONSchemaProps) bool {
		return s.XPreserveUnknownFields != nil && *s.XPreserveUnknownFields
	}
	switch {
	case from.Type != to.Type && !(numeric(from.Type) && numeric(to.Type)):
		return nil
	case to.Type == "object" || to.Type == "":
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		if preserve(from) && preserve(to) && len(to.Properties) == 0 {
			return runtime.DeepCopyJSONValue(m)
		}
		out := map[string]any{}
		for k, tp := range to.Properties {
			fp, ok := from.Properties[k]
			if !ok {
				continue
			}
			tp := tp
			if c := carry(m[k], &fp, &tp); c != nil {
				out[k] = c
			}
		}
		if to.AdditionalProperties != nil && to.AdditionalProperties.Schema != nil && from.AdditionalProperties != nil && from.AdditionalProperties.Schema != nil {
			for k, val := range m {
				if _, named := to.Properties[k]; named {
					continue
				}
				if c := carry(val, from.AdditionalProperties.Schema, to.AdditionalProperties.Schema); c != nil {
					out[k] = c
				}
			}
		}
		return out
	case to.Type == "array":
		l, ok := v.([]any)
		if !ok || from.Items == nil || to.Items == nil || from.Items.Schema == nil || to.Items.Schema == nil {
			return nil
		}
		out := make([]any, 0, len(l))
		for _, item := range l {
			c := carry(item, from.Items.Schema, to.Items.Schema)
			if c == nil {
				return nil // items that do not carry across: the list does not either
			}
			out = append(out, c)
		}
		return out
	case to.Type == "integer":
		if f, ok := v.(float64); ok && f == float64(int64(f)) {
			return int64(f)
		}
		if _, ok := v.(int64); ok {
			return v
		}
		return nil
	default:
		return v
	}
}

func numeric(t string) bool { return t == "integer" || t == "number" }

// set puts v at path in m, making the objects on the way; nil removes it.
func set(m map[string]any, path []string, v any) {
	for _, k := range path[:len(path)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			if v == nil {
				return
			}
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	last := path[len(path)-1]
	if v == nil {
		delete(m, last)
		return
	}
	m[last] = v
}

// fieldSchema is the schema of the field at path in s.
func fieldSchema(s *apiextensionsv1.JSONSchemaProps, path []string) (*apiextensionsv1.JSONSchemaProps, bool) {
	for _, k := range path {
		p, ok := s.Properties[k]
		if !ok {
			return nil, false
		}
		s = &p
	}
	return s, true
}

// holds says whether a field of schema target can hold what an expression
// of schema out gives ("" for out: dynamic, checked when it runs).
func holds(target *apiextensionsv1.JSONSchemaProps, out apiextensionsv1.JSONSchemaProps) bool {
	switch {
	case out.Type == "" || target.Type == "":
		return true
	case out.Type == target.Type:
		return true
	case out.Type == "integer" && target.Type == "number":
		return true
	}
	return false
}

func typeName(s apiextensionsv1.JSONSchemaProps) string {
	if s.Type == "" {
		return "any type"
	}
	return "a value of type " + s.Type
}
