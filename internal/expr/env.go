package expr

import (
	"fmt"
	"math"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/ext"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel/model"
	"k8s.io/apimachinery/pkg/util/version"
	apiservercel "k8s.io/apiserver/pkg/cel"
	"k8s.io/apiserver/pkg/cel/common"
	"k8s.io/apiserver/pkg/cel/environment"
	"k8s.io/apiserver/pkg/cel/library"
)

// The variables every expression may use.
const (
	VarInstance  = "instance"
	VarResources = "resources"
	VarFramework = "framework"
	VarPlan      = "plan"
)

// The fields of plan and framework, each with the value it has when the
// caller does not give one: outside a plan run (a status projection, say),
// plan.name is "". The Go type of the value is the field's CEL type.
var (
	planFields      = map[string]any{"name": "", "uid": "", "phase": "", "step": ""}
	frameworkFields = map[string]any{"name": "", "appVersion": "", "generation": int64(0)}
)

// objectType declares an object whose fields are those of zero, so that a
// misspelt field is a compile error rather than a "no such key" at runtime.
func objectType(name string, zero map[string]any) *apiservercel.DeclType {
	fields := make(map[string]*apiservercel.DeclField, len(zero))
	for f, z := range zero {
		var t *apiservercel.DeclType
		switch z.(type) {
		case string:
			t = apiservercel.StringType
		case int64:
			t = apiservercel.IntType
		default:
			panic(fmt.Sprintf("field %s.%s: no CEL type for %T", name, f, z))
		}
		fields[f] = apiservercel.NewDeclField(f, t, true, nil, nil)
	}
	return apiservercel.NewObjectType(name, fields)
}

// CostLimit bounds the work of one evaluation. It is far above what a
// template needs and far below what would stall a reconcile.
const CostLimit uint64 = 1_000_000

// Env compiles expressions. It is safe for concurrent use.
type Env struct {
	cel *cel.Env
	// instance is the structural schema of the instance variable, nil when
	// it is untyped; evaluation converts instances with it.
	instance common.Schema
	// resources are the schemas of the children whose type is known (an
	// externalRef's kind), by id; nil when resources is a dynamic map.
	resources *typedResources
	// self is the schema of self, in a conversion's environment.
	self common.Schema

	// programs holds every expression compiled in this environment by its
	// source: a Framework repeats its expressions (${instance.metadata.name}
	// in every template), and checking one costs more than looking it up.
	mu       sync.Mutex
	programs map[string]*Program
}

// NewEnv returns the environment of a Framework's expressions: Kubernetes'
// CEL libraries (quantity, regex, lists, urls, ip, cidr, semver, format, and
// cel-go's strings, sets, optional values and comprehensions, as the API
// server has them), plus cel-go's math, encoders and bindings, and
// operetta's variables.
//
// With the schema of the generated kind's spec, instance is typed: a field
// that does not exist or an operation its type does not have is a compile
// error. Without it (nil), instance is dynamic and only syntax and unknown
// variables are checked.
func NewEnv(spec *apiextensionsv1.JSONSchemaProps) (*Env, error) {
	return NewEnvWith(spec, nil)
}

// Resources types the resources variable: IDs are every name it may have
// (resource ids and task names), Typed the schemas of those whose kind's
// schema is known. With none typed, resources stays a dynamic map; with
// some, it is an object of those fields, so resources.<id> of a typed one
// is checked field by field, and an unknown id is an error.
type Resources struct {
	IDs   []string
	Typed map[string]common.Schema
}

// typedResources are the schemas values of resources are converted with.
type typedResources struct{ schemas map[string]common.Schema }

// NewEnvWith is NewEnv with the resources variable typed as res says.
func NewEnvWith(spec *apiextensionsv1.JSONSchemaProps, res *Resources) (*Env, error) {
	e := &Env{}
	instanceType := cel.DynType
	// A type named like its variable would shadow it: CEL resolves
	// identifiers to type names too.
	planType := objectType("operettaPlanType", planFields)
	frameworkType := objectType("operettaFrameworkType", frameworkFields)
	declTypes := []*apiservercel.DeclType{planType, frameworkType}
	if spec != nil {
		structural, err := instanceSchema(spec)
		if err != nil {
			return nil, err
		}
		declType := model.SchemaDeclType(structural, false).MaybeAssignTypeName("operettaInstanceType")
		e.instance = newMemoSchema(structural)
		instanceType = declType.CelType()
		declTypes = append(declTypes, declType)
	}
	resourcesType := cel.MapType(cel.StringType, cel.DynType)
	if res != nil && len(res.Typed) > 0 {
		fields := make(map[string]*apiservercel.DeclField, len(res.IDs))
		for _, id := range res.IDs {
			t := apiservercel.DynType
			if s, ok := res.Typed[id]; ok {
				dt := common.SchemaDeclType(s, true)
				if dt != nil {
					t = dt.MaybeAssignTypeName("operettaResource_" + id)
					declTypes = append(declTypes, t)
				}
			}
			fields[id] = apiservercel.NewDeclField(id, t, false, nil, nil)
		}
		rt := apiservercel.NewObjectType("operettaResourcesType", fields)
		declTypes = append(declTypes, rt)
		resourcesType = rt.CelType()
		e.resources = &typedResources{schemas: res.Typed}
	}
	opts := []cel.EnvOption{
		cel.Variable(VarInstance, instanceType),
		cel.Variable(VarResources, resourcesType),
		cel.Variable(VarFramework, frameworkType.CelType()),
		cel.Variable(VarPlan, planType.CelType()),
	}
	var err error
	e.cel, err = celEnv(opts, declTypes)
	return e, err
}

// celEnv is the API server's CEL environment, with cel-go's math, encoders
// and bindings, and the variables vars of types declTypes.
func celEnv(vars []cel.EnvOption, declTypes []*apiservercel.DeclType) (*cel.Env, error) {
	set, err := environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()).Extend(environment.VersionedOptions{
		IntroducedVersion: version.MajorMinor(1, 0),
		EnvOptions:        append(vars, ext.Math(), ext.Encoders(), ext.Bindings()),
		DeclTypes:         declTypes,
	})
	if err != nil {
		return nil, fmt.Errorf("building the CEL environment: %w", err)
	}
	return set.NewExpressionsEnv(), nil
}

// VarSelf is the variable of a conversion's expressions: the object (its
// spec) in the version converted from.
const VarSelf = "self"

// NewSelfEnv returns an environment whose expressions see one variable,
// self, typed by schema: the spec of a version a conversion maps from.
func NewSelfEnv(schema *apiextensionsv1.JSONSchemaProps) (*Env, error) {
	structural, err := structuralOf(schema)
	if err != nil {
		return nil, err
	}
	declType := model.SchemaDeclType(structural, false).MaybeAssignTypeName("operettaSelfType")
	e := &Env{self: newMemoSchema(structural)}
	e.cel, err = celEnv([]cel.EnvOption{cel.Variable(VarSelf, declType.CelType())}, []*apiservercel.DeclType{declType})
	return e, err
}

// Compile parses and checks one expression (without ${ }). The same source
// compiled again is the same Program: programs are safe to share.
func (e *Env) Compile(src string) (*Program, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p, ok := e.programs[src]; ok {
		return p, nil
	}
	ast, iss := e.cel.Compile(src)
	if iss.Err() != nil {
		return nil, iss.Err()
	}
	if err := e.checkCost(ast); err != nil {
		return nil, err
	}
	prg, err := planOf(src, ast)
	if err != nil {
		return nil, err
	}
	p := &Program{Source: src, prg: prg, output: ast.OutputType(), instance: e.instance, resources: e.resources, self: e.self, reads: map[string]bool{}}
	p.resourceIDs, p.anyResource = resourceRefs(ast)
	for _, ref := range ast.NativeRep().ReferenceMap() {
		if len(ref.OverloadIDs) == 0 { // a variable, not a function
			p.reads[ref.Name] = true
		}
	}
	if e.programs == nil {
		e.programs = map[string]*Program{}
	}
	e.programs[src] = p
	return p, nil
}

// checkCost refuses an expression that exceeds the cost limit whatever its
// input: better a Framework that says so than instances that all fail at
// runtime. The estimate's maximum cannot be the test: it does not know a
// parameter's bounds, so lists.range(instance.spec.replicas) would look
// unbounded. Input-dependent excess is caught by the limit at evaluation.
func (e *Env) checkCost(ast *cel.Ast) error {
	est, err := e.cel.EstimateCost(ast, &library.CostEstimator{SizeEstimator: &sizeEstimator{}})
	if err != nil {
		return fmt.Errorf("estimating its cost: %w", err)
	}
	// An estimate of MaxUint64 means "unknown" (a range over a parameter,
	// say), not "too much".
	if est.Min > CostLimit && est.Min != math.MaxUint64 {
		return fmt.Errorf("its cost is at least %d, above the limit of %d per evaluation: simplify it", est.Min, CostLimit)
	}
	return nil
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
	Source    string
	prg       *plan
	output    *cel.Type
	instance  common.Schema
	resources *typedResources
	self      common.Schema
	reads     map[string]bool // the variables it names
	// resourceIDs are the children it names (resources.<id>); anyResource
	// says it reads one known only when it runs.
	resourceIDs map[string]bool
	anyResource bool
}

// Reads says whether the expression names variable (VarResources, say).
func (p *Program) Reads(variable string) bool { return p != nil && p.reads[variable] }

// Eval evaluates the expression and returns its value as plain Go data:
// int64, float64, string, bool, nil, []any and map[string]any.
func (p *Program) Eval(vars Vars) (any, error) {
	return p.evalIn(&binding{vars: vars})
}

// binding is the variables of one render, converted once for all the
// expressions of a template rather than once per expression.
type binding struct {
	vars      Vars
	schema    common.Schema
	resources *typedResources
	bound     map[string]any
}

func (b *binding) activation(instance common.Schema, resources *typedResources) map[string]any {
	if b.bound == nil || b.schema != instance || b.resources != resources {
		b.bound, b.schema, b.resources = b.vars.activation(instance, resources), instance, resources
	}
	return b.bound
}

func (p *Program) evalIn(b *binding) (any, error) {
	out, _, err := p.prg.Eval(b.activation(p.instance, p.resources))
	if err != nil {
		return nil, fmt.Errorf("evaluating %q: %w", p.Source, err)
	}
	v, err := toNative(out)
	if err != nil {
		return nil, fmt.Errorf("evaluating %q: %w", p.Source, err)
	}
	return v, nil
}

// EvalSelf evaluates an expression of a conversion's environment
// (NewSelfEnv) with self, converted with its schema as the API server
// would, and returns plain Go data.
func (p *Program) EvalSelf(self map[string]any) (any, error) {
	var v any = self
	if p.self != nil {
		v = common.UnstructuredToVal(self, p.self)
	}
	out, _, err := p.prg.Eval(map[string]any{VarSelf: v})
	if err != nil {
		return nil, fmt.Errorf("evaluating %q: %w", p.Source, err)
	}
	return toNative(out)
}

// Output is the schema of the expression's values.
func (p *Program) Output() apiextensionsv1.JSONSchemaProps { return schemaOf(p.output) }

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
	// Framework has the string fields name and appVersion and the int64
	// field generation. A field it lacks is "" or 0; one it has beyond
	// these is not seen.
	Framework map[string]any
	// Plan has the string fields name, uid, phase and step of the run in
	// progress, if any. A field it lacks is "".
	Plan map[string]any
	// Extra binds the variables an extended environment declares (Extend):
	// a collection's element and index, as Elements returns them.
	Extra map[string]any
}

// activation binds the variables; a typed instance is converted with its
// schema, so that, say, a number field holding 1 is the double 1.0.
func (v Vars) activation(instance common.Schema, resources *typedResources) map[string]any {
	orEmpty := func(m map[string]any) map[string]any {
		if m == nil {
			return map[string]any{}
		}
		return m
	}
	var inst any = orEmpty(v.Instance)
	if instance != nil {
		inst = common.UnstructuredToVal(inst, instance)
	}
	res := orEmpty(v.Resources)
	if resources != nil {
		// A typed child is converted with its schema, as the instance is.
		converted := make(map[string]any, len(res))
		for id, val := range res {
			if s, ok := resources.schemas[id]; ok {
				if m, isMap := val.(map[string]any); isMap {
					val = common.UnstructuredToVal(m, s)
				}
			}
			converted[id] = val
		}
		res = converted
	}
	out := map[string]any{
		VarInstance:  inst,
		VarResources: res,
		VarFramework: withZeros(v.Framework, frameworkFields),
		VarPlan:      withZeros(v.Plan, planFields),
	}
	for name, val := range v.Extra {
		out[name] = val
	}
	return out
}

// withZeros is m with the declared fields only, each it lacks at its zero
// value, so that every field an expression may name can be read.
func withZeros(m, zero map[string]any) map[string]any {
	out := make(map[string]any, len(zero))
	for f, z := range zero {
		if v, ok := m[f]; ok && v != nil {
			out[f] = v
		} else {
			out[f] = z
		}
	}
	return out
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
