package expr

import (
	"fmt"
	"sort"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// Variable is a variable an extended environment declares: the element of
// a collection a template is rendered for, say.
type Variable struct {
	Name string
	Type *cel.Type
}

// Extend returns an environment with vars declared besides the standard
// ones, typed: an expression that reads a field the type lacks is refused
// there as anywhere else.
func (e *Env) Extend(vars ...Variable) (*Env, error) {
	opts := make([]cel.EnvOption, len(vars))
	for i, v := range vars {
		opts[i] = cel.Variable(v.Name, v.Type)
	}
	ext, err := e.cel.Extend(opts...)
	if err != nil {
		return nil, fmt.Errorf("declaring %v: %w", vars, err)
	}
	return &Env{cel: ext, instance: e.instance, resources: e.resources, self: e.self}, nil
}

// Collection is a compiled expression whose value is iterated: a list, or a
// map in the order of its keys.
type Collection struct {
	*Program
	// Element is the type of each element (a map's values); Index the type
	// of its index: int for a list, the key's type for a map.
	Element, Index *cel.Type
}

// CompileOne compiles s, which must be exactly one ${...}; what says, in
// the error otherwise, what it must be ("of a list or a map, such as ...").
func (e *Env) CompileOne(s, what string) (*Program, error) {
	segs, err := parse(s)
	if err != nil {
		return nil, err
	}
	if len(segs) != 1 || !segs[0].isExpr {
		return nil, fmt.Errorf("must be one ${...} expression %s", what)
	}
	return e.Compile(segs[0].text)
}

// CompileCollection compiles "${expr}" whose value is a list or a map.
func (e *Env) CompileCollection(s string) (*Collection, error) {
	p, err := e.CompileOne(s, `of a list or a map, such as "${instance.spec.topics}"`)
	if err != nil {
		return nil, err
	}
	c := &Collection{Program: p}
	switch t := p.output; {
	case t.Kind() == types.ListKind:
		c.Element, c.Index = t.Parameters()[0], cel.IntType
	case t.Kind() == types.MapKind:
		c.Element, c.Index = t.Parameters()[1], t.Parameters()[0]
	case t.Kind() == types.DynKind || t.Kind() == types.AnyKind:
		c.Element, c.Index = cel.DynType, cel.DynType
	default:
		return nil, fmt.Errorf("its type is %s; a collection iterates over a list or a map", t)
	}
	return c, nil
}

// Element is one element of a collection as its variables are bound: the
// value, and its index (a list position, or a map key).
type Element struct {
	Value, Index ref.Val
}

// Elements evaluates the collection and returns its elements, at most max
// (more is an error): a list's in order, a map's by key.
func (c *Collection) Elements(vars Vars, max int) ([]Element, error) {
	out, _, err := c.prg.Eval((&binding{vars: vars}).activation(c.instance, c.resources))
	if err != nil {
		return nil, fmt.Errorf("evaluating %q: %w", c.Source, err)
	}
	switch v := out.(type) {
	case traits.Lister:
		n, ok := v.Size().(types.Int)
		if !ok {
			return nil, fmt.Errorf("evaluating %q: a list without a size", c.Source)
		}
		if int(n) > max {
			return nil, fmt.Errorf("%q has %d elements, more than the %d a collection may have", c.Source, n, max)
		}
		elems := make([]Element, n)
		for i := range elems {
			elems[i] = Element{Value: v.Get(types.Int(i)), Index: types.Int(i)}
		}
		return elems, nil
	case traits.Mapper:
		var elems []Element
		for it := v.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			if len(elems) == max {
				return nil, fmt.Errorf("%q has more than the %d elements a collection may have", c.Source, max)
			}
			elems = append(elems, Element{Value: v.Get(k), Index: k})
		}
		sort.Slice(elems, func(i, j int) bool {
			return fmt.Sprint(elems[i].Index.Value()) < fmt.Sprint(elems[j].Index.Value())
		})
		return elems, nil
	case types.Null:
		return nil, nil // a list the instance leaves out: no element
	}
	return nil, fmt.Errorf("evaluating %q: %s is no list or map", c.Source, out.Type())
}

// Native is the element's value as plain data, for messages.
func (e Element) Native() any {
	v, err := toNative(e.Value)
	if err != nil {
		return fmt.Sprint(e.Value)
	}
	return v
}
