package compile

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/crdgen"
	"operetta.dev/operetta/internal/expr"
	"operetta.dev/operetta/internal/plans"
)

// Framework is a checked Framework, ready to run. It is immutable once built
// and shared by every reconcile of its kind.
type Framework struct {
	Name       string
	Generation int64
	AppVersion string
	GVK        schema.GroupVersionKind
	CRD        *apiextensionsv1.CustomResourceDefinition
	Resources  map[string]*Resource
	Tasks      map[string]v1alpha1.Task
	Plans      map[string]v1alpha1.Plan
	// Parameters are the names of the parameters, in order.
	Parameters []string
	// Triggers say which plan each parameter's change runs.
	Triggers plans.Triggers
}

// Resource is a compiled resource template.
type Resource struct {
	ID        string
	Template  *expr.Template
	ReadyWhen *expr.Program // nil: health comes from kstatus
}

// identifier is what CEL can address as a field: instance.spec.<name>,
// resources.<id>.
var identifier = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// Compile checks fw and compiles it. It returns every problem it finds, each
// with the path of the Framework field to fix.
func Compile(fw *v1alpha1.Framework, env *expr.Env) (*Framework, field.ErrorList) {
	spec := field.NewPath("spec")
	out := &Framework{
		Name:       fw.Name,
		Generation: fw.Generation,
		AppVersion: fw.Spec.AppVersion,
		Resources:  map[string]*Resource{},
		Tasks:      map[string]v1alpha1.Task{},
		Plans:      fw.Spec.DeepCopy().Plans,
	}
	var errs field.ErrorList
	errs = append(errs, checkNames(fw.Spec.Names, spec.Child("names"))...)
	errs = append(errs, checkParameters(fw.Spec.Parameters, fw.Spec.Plans, spec.Child("parameters"))...)
	errs = append(errs, compileResources(fw.Spec.Resources, env, out, spec.Child("resources"))...)
	errs = append(errs, checkTasks(fw.Spec.Tasks, out, spec.Child("tasks"))...)
	errs = append(errs, checkPlans(fw.Spec.Plans, out, spec.Child("plans"))...)
	if len(errs) > 0 {
		return nil, errs
	}
	out.Triggers = plans.Triggers{Plans: out.Plans, ByParameter: map[string]string{}}
	for _, p := range fw.Spec.Parameters {
		out.Parameters = append(out.Parameters, p.Name)
		out.Triggers.ByParameter[p.Name] = p.Trigger
		if p.Trigger == "" {
			out.Triggers.ByParameter[p.Name] = plans.DefaultTrigger(out.Plans)
		}
	}
	crd, cerrs := crdgen.Generate(fw)
	if len(cerrs) > 0 {
		return nil, cerrs
	}
	names := crdgen.NamesOf(fw)
	out.CRD = crd
	out.GVK = schema.GroupVersionKind{Group: names.Group, Version: names.Version, Kind: names.Kind}
	return out, nil
}

func checkNames(n v1alpha1.Names, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if n.Group == "" {
		errs = append(errs, field.Required(path.Child("group"), "the API group of the generated kind, for example databases.example.com"))
	} else if !strings.Contains(n.Group, ".") {
		errs = append(errs, field.Invalid(path.Child("group"), n.Group, "must be a DNS subdomain with at least one dot, for example databases.example.com"))
	}
	if n.Kind == "" {
		errs = append(errs, field.Required(path.Child("kind"), "the kind in CamelCase, for example Redis"))
	}
	return errs
}

var parameterTypes = []v1alpha1.ParameterType{
	v1alpha1.TypeString, v1alpha1.TypeInteger, v1alpha1.TypeNumber,
	v1alpha1.TypeBoolean, v1alpha1.TypeObject, v1alpha1.TypeArray,
}

func checkParameters(params []v1alpha1.Parameter, plans map[string]v1alpha1.Plan, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, p := range params {
		pp := path.Index(i)
		switch {
		case p.Name == "":
			errs = append(errs, field.Required(pp.Child("name"), "every parameter needs a name"))
		case !identifier.MatchString(p.Name):
			errs = append(errs, field.Invalid(pp.Child("name"), p.Name, "must be a CEL identifier: letters, digits and _, not starting with a digit"))
		case seen[p.Name]:
			errs = append(errs, field.Duplicate(pp.Child("name"), p.Name))
		}
		seen[p.Name] = true
		if !oneOf(p.Type, parameterTypes) {
			errs = append(errs, field.NotSupported(pp.Child("type"), p.Type, typeNames()))
			continue
		}
		numeric := p.Type == v1alpha1.TypeInteger || p.Type == v1alpha1.TypeNumber
		if (p.Minimum != nil || p.Maximum != nil) && !numeric {
			errs = append(errs, field.Invalid(pp, p.Name, fmt.Sprintf("minimum and maximum apply to integer and number parameters, not %s", p.Type)))
		}
		if p.Minimum != nil && p.Maximum != nil && *p.Minimum > *p.Maximum {
			errs = append(errs, field.Invalid(pp.Child("minimum"), *p.Minimum, fmt.Sprintf("is greater than maximum %v", *p.Maximum)))
		}
		if p.Pattern != "" && p.Type != v1alpha1.TypeString {
			errs = append(errs, field.Invalid(pp.Child("pattern"), p.Pattern, "applies to string parameters only"))
		}
		if p.Schema != nil && p.Type != v1alpha1.TypeObject && p.Type != v1alpha1.TypeArray {
			errs = append(errs, field.Invalid(pp.Child("schema"), "", "applies to object and array parameters only"))
		}
		if p.Trigger != "" {
			if _, ok := plans[p.Trigger]; !ok {
				errs = append(errs, field.NotFound(pp.Child("trigger"), p.Trigger))
			}
		}
	}
	return errs
}

func compileResources(resources []v1alpha1.Resource, env *expr.Env, out *Framework, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, r := range resources {
		rp := path.Index(i)
		switch {
		case r.ID == "":
			errs = append(errs, field.Required(rp.Child("id"), "every resource needs an id"))
			continue
		case !identifier.MatchString(r.ID):
			errs = append(errs, field.Invalid(rp.Child("id"), r.ID, "must be a CEL identifier: letters, digits and _, not starting with a digit"))
			continue
		case out.Resources[r.ID] != nil:
			errs = append(errs, field.Duplicate(rp.Child("id"), r.ID))
			continue
		}
		res, rerrs := compileResource(r, env, rp)
		errs = append(errs, rerrs...)
		out.Resources[r.ID] = res
	}
	return errs
}

func compileResource(r v1alpha1.Resource, env *expr.Env, path *field.Path) (*Resource, field.ErrorList) {
	res := &Resource{ID: r.ID}
	tp := path.Child("template")
	var obj map[string]any
	if err := utiljson.Unmarshal(r.Template.Raw, &obj); err != nil || obj == nil {
		return res, field.ErrorList{field.Invalid(tp, "", "must be an object with apiVersion, kind and metadata.name")}
	}
	var errs field.ErrorList
	for _, f := range []string{"apiVersion", "kind"} {
		if s, _ := obj[f].(string); s == "" {
			errs = append(errs, field.Required(tp.Child(f), "every template needs one"))
		}
	}
	if md, _ := obj["metadata"].(map[string]any); md == nil || md["name"] == nil {
		errs = append(errs, field.Required(tp.Child("metadata", "name"), `for example "${instance.metadata.name}-config"`))
	}
	tpl, terrs := env.CompileTemplate(obj, tp)
	errs = append(errs, terrs...)
	res.Template = tpl
	if r.ReadyWhen != "" {
		prg, err := env.CompileCondition(r.ReadyWhen)
		if err != nil {
			errs = append(errs, field.Invalid(path.Child("readyWhen"), r.ReadyWhen, err.Error()))
		}
		res.ReadyWhen = prg
	}
	return res, errs
}

func checkTasks(tasks []v1alpha1.Task, out *Framework, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, t := range tasks {
		tp := path.Index(i)
		switch {
		case t.Name == "":
			errs = append(errs, field.Required(tp.Child("name"), "every task needs a name"))
		case out.Tasks[t.Name].Name != "":
			errs = append(errs, field.Duplicate(tp.Child("name"), t.Name))
		}
		if t.Kind != v1alpha1.TaskApply {
			errs = append(errs, field.NotSupported(tp.Child("kind"), t.Kind, []string{string(v1alpha1.TaskApply)}))
		}
		if len(t.Resources) == 0 {
			errs = append(errs, field.Required(tp.Child("resources"), "the ids of the resources to apply"))
		}
		for j, id := range t.Resources {
			if _, ok := out.Resources[id]; !ok {
				errs = append(errs, field.NotFound(tp.Child("resources").Index(j), id))
			}
		}
		out.Tasks[t.Name] = t
	}
	return errs
}

func checkPlans(plans map[string]v1alpha1.Plan, out *Framework, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if _, ok := plans[v1alpha1.PlanDeploy]; !ok {
		errs = append(errs, field.Required(path.Key(v1alpha1.PlanDeploy), "every Framework needs a deploy plan: it runs when an instance is created"))
	}
	names := make([]string, 0, len(plans))
	for name := range plans {
		names = append(names, name)
	}
	sort.Strings(names) // deterministic messages
	for _, name := range names {
		errs = append(errs, checkPlan(plans[name], out, path.Key(name))...)
	}
	return errs
}

func checkPlan(p v1alpha1.Plan, out *Framework, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, checkStrategy(p.Strategy, path.Child("strategy"))...)
	if len(p.Phases) == 0 {
		errs = append(errs, field.Required(path.Child("phases"), "a plan needs at least one phase"))
	}
	phases := map[string]bool{}
	for i, ph := range p.Phases {
		pp := path.Child("phases").Index(i)
		if ph.Name == "" {
			errs = append(errs, field.Required(pp.Child("name"), "every phase needs a name"))
		} else if phases[ph.Name] {
			errs = append(errs, field.Duplicate(pp.Child("name"), ph.Name))
		}
		phases[ph.Name] = true
		errs = append(errs, checkStrategy(ph.Strategy, pp.Child("strategy"))...)
		if len(ph.Steps) == 0 {
			errs = append(errs, field.Required(pp.Child("steps"), "a phase needs at least one step"))
		}
		steps := map[string]bool{}
		for j, st := range ph.Steps {
			sp := pp.Child("steps").Index(j)
			if st.Name == "" {
				errs = append(errs, field.Required(sp.Child("name"), "every step needs a name"))
			} else if steps[st.Name] {
				errs = append(errs, field.Duplicate(sp.Child("name"), st.Name))
			}
			steps[st.Name] = true
			if len(st.Tasks) == 0 {
				errs = append(errs, field.Required(sp.Child("tasks"), "a step needs at least one task"))
			}
			if st.Timeout != nil && st.Timeout.Duration <= 0 {
				errs = append(errs, field.Invalid(sp.Child("timeout"), st.Timeout.Duration.String(), "must be positive, for example 10m"))
			}
			for k, task := range st.Tasks {
				if _, ok := out.Tasks[task]; !ok {
					errs = append(errs, field.NotFound(sp.Child("tasks").Index(k), task))
				}
			}
		}
	}
	return errs
}

func checkStrategy(s v1alpha1.Strategy, path *field.Path) field.ErrorList {
	if s == "" || s == v1alpha1.Serial || s == v1alpha1.Parallel {
		return nil
	}
	return field.ErrorList{field.NotSupported(path, s, []string{string(v1alpha1.Serial), string(v1alpha1.Parallel)})}
}

func oneOf[T comparable](v T, set []T) bool {
	for _, s := range set {
		if v == s {
			return true
		}
	}
	return false
}

func typeNames() []string {
	out := make([]string, len(parameterTypes))
	for i, t := range parameterTypes {
		out[i] = string(t)
	}
	return out
}

// Message joins errs into one deterministic line for a condition.
func Message(errs field.ErrorList) string {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	s := strings.Join(msgs, "; ")
	const limit = 32 * 1024 // metav1.Condition's message limit
	if len(s) > limit {
		s = s[:limit-3] + "..."
	}
	return s
}
