package expr

import (
	"fmt"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/ext"
)

// The variables every expression may use.
const (
	VarInstance  = "instance"
	VarResources = "resources"
	VarFramework = "framework"
	VarPlan      = "plan"
)

// CostLimit bounds the work of one evaluation. It is far above what a
// template needs and far below what would stall a reconcile.
const CostLimit uint64 = 1_000_000

// maxRangeSize bounds lists.range so a parameter cannot make a huge list.
const maxRangeSize = 10_000

// Env compiles expressions. It is safe for concurrent use.
type Env struct {
	cel *cel.Env
}

// NewEnv returns the environment with operetta's variables and cel-go's
// extension libraries (strings, lists, math, encoders, sets, bindings,
// optional values).
func NewEnv() (*Env, error) {
	env, err := cel.NewEnv(
		cel.Variable(VarInstance, cel.DynType),
		cel.Variable(VarResources, cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable(VarFramework, cel.DynType),
		cel.Variable(VarPlan, cel.DynType),
		cel.OptionalTypes(),
		ext.Strings(),
		ext.Lists(ext.ListsMaxRangeSize(maxRangeSize)),
		ext.Math(),
		ext.Encoders(),
		ext.Sets(),
		ext.Bindings(),
		ext.TwoVarComprehensions(),
	)
	if err != nil {
		return nil, fmt.Errorf("building the CEL environment: %w", err)
	}
	return &Env{cel: env}, nil
}

// Compile parses and checks one expression (without ${ }).
func (e *Env) Compile(src string) (*Program, error) {
	ast, iss := e.cel.Compile(src)
	if iss.Err() != nil {
		return nil, iss.Err()
	}
	prg, err := e.cel.Program(ast, cel.CostLimit(CostLimit))
	if err != nil {
		return nil, err
	}
	return &Program{Source: src, prg: prg, output: ast.OutputType()}, nil
}

// CompileBool compiles an expression that must be a boolean, such as
// readyWhen.
func (e *Env) CompileBool(src string) (*Program, error) {
	p, err := e.Compile(src)
	if err != nil {
		return nil, err
	}
	if !p.output.IsAssignableType(cel.BoolType) {
		return nil, fmt.Errorf("must be a boolean expression, but its type is %s", p.output)
	}
	return p, nil
}

// Program is a compiled expression.
type Program struct {
	Source string
	prg    cel.Program
	output *cel.Type
}

// Eval evaluates the expression and returns its value as plain Go data:
// int64, float64, string, bool, nil, []any and map[string]any.
func (p *Program) Eval(vars Vars) (any, error) {
	out, _, err := p.prg.Eval(vars.activation())
	if err != nil {
		return nil, fmt.Errorf("evaluating %q: %w", p.Source, err)
	}
	v, err := toNative(out)
	if err != nil {
		return nil, fmt.Errorf("evaluating %q: %w", p.Source, err)
	}
	return v, nil
}

// EvalBool evaluates an expression that must be true or false.
func (p *Program) EvalBool(vars Vars) (bool, error) {
	v, err := p.Eval(vars)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("evaluating %q: want a boolean, got %T", p.Source, v)
	}
	return b, nil
}

// Vars are the values of the variables for one evaluation. Missing ones are
// empty maps, so has() works on them.
type Vars struct {
	Instance  map[string]any
	Resources map[string]any
	Framework map[string]any
	Plan      map[string]any
}

func (v Vars) activation() map[string]any {
	orEmpty := func(m map[string]any) map[string]any {
		if m == nil {
			return map[string]any{}
		}
		return m
	}
	return map[string]any{
		VarInstance:  orEmpty(v.Instance),
		VarResources: orEmpty(v.Resources),
		VarFramework: orEmpty(v.Framework),
		VarPlan:      orEmpty(v.Plan),
	}
}

// CompileCondition compiles a boolean condition written as "${expr}". A
// string without ${ } is taken as the bare expression.
func (e *Env) CompileCondition(s string) (*Program, error) {
	segs, err := parse(s)
	if err != nil {
		return nil, err
	}
	switch {
	case len(segs) == 1 && segs[0].isExpr:
		return e.CompileBool(segs[0].text)
	case len(segs) == 1 && !strings.Contains(s, "${"):
		return e.CompileBool(s)
	default:
		return nil, fmt.Errorf("must be one ${...} expression, not text around it")
	}
}
