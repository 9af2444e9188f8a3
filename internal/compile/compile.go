package compile

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"k8s.io/apiserver/pkg/cel/openapi/resolver"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/conditions"
	"operetta.dev/operetta/internal/crdgen"
	"operetta.dev/operetta/internal/expr"
	"operetta.dev/operetta/internal/kudo"
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
	Tasks      map[string]*Task
	Plans      map[string]v1alpha1.Plan
	// ChildKinds are the kinds the resources have, sorted: the kinds whose
	// objects a loop watches for drift.
	ChildKinds []schema.GroupVersionKind
	// Parameters are the names of the parameters, in order.
	Parameters []string
	// Triggers say which plan each parameter's change runs.
	Triggers plans.Triggers
	// Projections are the status fields the Framework projects, by name.
	Projections []Projection
	// Allow is where templates may create objects beyond the instance's
	// namespace.
	Allow v1alpha1.Allow
	// ServiceAccount children are applied as; empty for the manager's own.
	ServiceAccount types.NamespacedName
	// MaxConcurrent instances may run the plan a Framework change triggers.
	MaxConcurrent int
	// RolloutPaused admits no instance to this revision.
	RolloutPaused bool
	// RolloutSelector admits only the instances it matches (nil: all).
	RolloutSelector labels.Selector
	// MaxFailures halts the rollout after that many failed instances (0:
	// never).
	MaxFailures int
	// ProgressDeadline halts the rollout when an admitted instance has not
	// reached the revision that long after it started (0: never).
	ProgressDeadline time.Duration
	// ReturnsTo is the older revision whose spec this one has again (0:
	// none): instances on a newer one go back, by the rollback plan.
	ReturnsTo int64
	// KUDO, if set, marks what Go templates render with KUDO's labels.
	KUDO *v1alpha1.KUDO
	// Schedules run plans at cron times, in the Framework's order.
	Schedules []*Schedule
	// WatchTriggers run plans when watched data changes, in the
	// Framework's order.
	WatchTriggers []*WatchTrigger
	// WatchedKinds are the kinds the triggers watch, in their order.
	WatchedKinds []schema.GroupVersionKind
	// ReferencedKinds are the kinds externalRefs read, sorted.
	ReferencedKinds []schema.GroupVersionKind
	// Versions are the kind's other versions, in the Framework's order:
	// each converts to the next, the last to GVK.Version, the stored one.
	Versions []*Version
}

// Emits says whether resource r may render an object of kind gvk.
func (r *Resource) Emits(gvk schema.GroupVersionKind) bool {
	for _, k := range r.Kinds {
		if k == gvk {
			return true
		}
	}
	return false
}

// Resource is a compiled resource template: a CEL template of one object,
// or a Go template of any number.
type Resource struct {
	ID string
	// Kinds its objects may have: the CEL template's one kind, or the kinds
	// a Go template declares.
	Kinds     []schema.GroupVersionKind
	Template  *expr.Template // nil for a Go template
	Go        *kudo.Template // nil for a CEL template
	ReadyWhen *expr.Program  // nil: health comes from kstatus
	// ReadsResources says whether the template may read other children
	// (resources.<id>): its render then depends on more than the instance,
	// the Framework and the plan run.
	ReadsResources bool
	// ForEach makes a CEL template a collection: one object per element of
	// the product of its iterators.
	ForEach []*Iterator
	// External, if set, makes the resource an object read, never written:
	// it has no template.
	External *External
	// DependsOn are the other resources its template (or forEach) reads:
	// in a step it is rendered after them, once they are ready.
	DependsOn []string
}

// Iterator binds each element of a collection to a variable, Name, and
// its index to Name+"Index".
type Iterator struct {
	Name string
	In   *expr.Collection
}

// Collection says whether the resource renders any number of objects
// rather than exactly one: a Go template, or a CEL template with forEach.
func (r *Resource) Collection() bool { return r.Go != nil || len(r.ForEach) > 0 }

// AllowsNamespace says whether templates may create objects in ns, given the
// instance's namespace.
func (f *Framework) AllowsNamespace(ns, instanceNS string) bool {
	if ns == instanceNS {
		return true
	}
	for _, n := range f.Allow.Namespaces {
		if n == ns {
			return true
		}
	}
	return false
}

// AllowsClusterScoped says whether templates may create cluster-scoped
// objects of gk.
func (f *Framework) AllowsClusterScoped(gk schema.GroupKind) bool {
	for _, a := range f.Allow.ClusterScoped {
		if a.Group == gk.Group && a.Kind == gk.Kind {
			return true
		}
	}
	return false
}

// ReachesOutside says whether its instances may have children that owner
// references cannot clean up: in other namespaces, or cluster-scoped.
func (f *Framework) ReachesOutside() bool {
	return len(f.Allow.Namespaces) > 0 || len(f.Allow.ClusterScoped) > 0
}

// Projection is a compiled status projection.
type Projection struct {
	Name     string
	Template *expr.Template
	// UsesResources says whether it reads children, which then have to be
	// read to compute it.
	UsesResources bool
}

// Task is a compiled task.
type Task struct {
	v1alpha1.Task
	WhenExpr      *expr.Program  // Toggle
	ConditionExpr *expr.Program  // Wait
	InstanceName  *expr.Template // Instance
	InstanceSpec  *expr.Template // Instance; nil renders an empty spec
}

// defaultMaxConcurrent is how many instances upgrade at once when the
// Framework does not say (the API server defaults it too).
const defaultMaxConcurrent = 5

// identifier is what CEL can address as a field: instance.spec.<name>,
// resources.<id>.
var identifier = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// IsIdentifier says whether name can be a parameter's name, a resource's id
// or a status field's: something CEL can address as a field.
func IsIdentifier(name string) bool { return identifier.MatchString(name) }

// Compile checks fw and compiles it. It returns every problem it finds, each
// with the path of the Framework field to fix. Expressions are type-checked
// against the generated kind's schema; if the CRD cannot be generated they are
// still checked, untyped, so every mistake shows at once.
func Compile(fw *v1alpha1.Framework) (*Framework, field.ErrorList) {
	return CompileWith(fw, Options{})
}

// Options are what a compilation may know beyond the Framework.
type Options struct {
	// Schemas resolves the schema of a kind an externalRef reads, so its
	// fields are typed in expressions (the API server's OpenAPI, say:
	// resolver.ClientDiscoveryResolver). nil, or a kind it cannot
	// resolve, leaves that reference dynamic.
	Schemas resolver.SchemaResolver
}

// CompileWith is Compile knowing what opts gives.
func CompileWith(fw *v1alpha1.Framework, opts Options) (*Framework, field.ErrorList) {
	spec := field.NewPath("spec")
	out := &Framework{
		Name:       fw.Name,
		Generation: fw.Generation,
		AppVersion: fw.Spec.AppVersion,
		Resources:  map[string]*Resource{},
		Tasks:      map[string]*Task{},
		Plans:      fw.Spec.DeepCopy().Plans,
	}
	var errs field.ErrorList
	// The name labels the CRD and every child (operetta.dev/framework), so
	// it must be a label value too, not only an object name.
	for _, msg := range validation.IsValidLabelValue(fw.Name) {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), fw.Name, msg))
	}
	errs = append(errs, checkNames(fw.Spec.Names, spec.Child("names"))...)
	errs = append(errs, checkVersionNames(fw, spec.Child("versions"))...)
	errs = append(errs, checkParameters(fw.Spec.Parameters, fw.Spec.Plans, spec.Child("parameters"))...)
	if (fw.Spec.ServiceAccountName == "") != (fw.Spec.ServiceAccountNamespace == "") {
		errs = append(errs, field.Required(spec.Child("serviceAccountNamespace"), "serviceAccountName and serviceAccountNamespace go together"))
	}
	var crd *apiextensionsv1.CustomResourceDefinition
	var specSchema *apiextensionsv1.JSONSchemaProps
	if len(errs) == 0 {
		var cerrs field.ErrorList
		crd, cerrs = crdgen.Generate(fw)
		errs = append(errs, cerrs...)
		if crd != nil {
			s := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
			specSchema = &s
		}
	}
	env, err := expr.NewEnvWith(specSchema, resourceTypes(fw, opts.Schemas))
	if err != nil {
		return nil, append(errs, field.InternalError(spec, err))
	}
	errs = append(errs, compileResources(fw.Spec.Resources, fw.Spec.Parameters, env, out, spec.Child("resources"))...)
	errs = append(errs, compileTasks(fw.Spec.Tasks, env, out, spec.Child("tasks"))...)
	errs = append(errs, checkDependencies(fw.Spec.Resources, out, spec.Child("resources"))...)
	errs = append(errs, compileVersions(fw, crd, out, spec.Child("versions"))...)
	errs = append(errs, checkPlans(fw.Spec.Plans, out, spec.Child("plans"))...)
	errs = append(errs, compileSchedules(fw.Spec.Schedules, env, out, spec.Child("schedules"))...)
	errs = append(errs, compileTriggers(fw.Spec.Triggers, env, out, spec.Child("triggers"))...)
	fields, perrs := compileProjections(fw.Spec.Status, env, out, spec.Child("status"))
	errs = append(errs, perrs...)
	if len(errs) == 0 && len(fields) > 0 {
		var serrs field.ErrorList
		crd, serrs = crdgen.WithStatusFields(crd, fw, fields)
		errs = append(errs, serrs...)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	names := crdgen.NamesOf(fw)
	out.CRD = crd
	out.GVK = schema.GroupVersionKind{Group: names.Group, Version: names.Version, Kind: names.Kind}
	kinds := map[schema.GroupVersionKind]bool{}
	referenced := map[schema.GroupVersionKind]bool{}
	for _, r := range out.Resources {
		for _, k := range r.Kinds {
			kinds[k] = true
		}
		if r.External != nil && !referenced[r.External.GVK] {
			referenced[r.External.GVK] = true
			out.ReferencedKinds = append(out.ReferencedKinds, r.External.GVK)
		}
	}
	sort.Slice(out.ReferencedKinds, func(i, j int) bool { return out.ReferencedKinds[i].String() < out.ReferencedKinds[j].String() })
	for _, t := range out.Tasks {
		for _, f := range t.Pipe {
			kinds[schema.GroupVersionKind{Version: "v1", Kind: f.Kind}] = true
		}
	}
	for k := range kinds {
		out.ChildKinds = append(out.ChildKinds, k)
	}
	sort.Slice(out.ChildKinds, func(i, j int) bool { return out.ChildKinds[i].String() < out.ChildKinds[j].String() })
	out.Allow = *fw.Spec.Allow.DeepCopy()
	out.ServiceAccount = types.NamespacedName{Namespace: fw.Spec.ServiceAccountNamespace, Name: fw.Spec.ServiceAccountName}
	out.KUDO = fw.Spec.KUDO.DeepCopy()
	out.RolloutPaused = fw.Spec.Rollout.Paused
	if s := fw.Spec.Rollout.Selector; s != nil {
		sel, err := metav1.LabelSelectorAsSelector(s)
		if err != nil {
			return nil, field.ErrorList{field.Invalid(spec.Child("rollout", "selector"), s.String(), err.Error())}
		}
		out.RolloutSelector = sel
	}
	if m := fw.Spec.Rollout.MaxFailures; m != nil {
		out.MaxFailures = int(*m)
	}
	if d := fw.Spec.Rollout.ProgressDeadline; d != nil {
		if d.Duration <= 0 {
			return nil, field.ErrorList{field.Invalid(spec.Child("rollout", "progressDeadline"), d.Duration.String(), "must be positive, for example 30m")}
		}
		out.ProgressDeadline = d.Duration
	}
	out.MaxConcurrent = int(fw.Spec.Rollout.MaxConcurrent)
	if out.MaxConcurrent < 1 {
		out.MaxConcurrent = defaultMaxConcurrent
	}
	out.Triggers = plans.Triggers{Plans: out.Plans, ByParameter: map[string]string{}}
	for _, p := range fw.Spec.Parameters {
		out.Parameters = append(out.Parameters, p.Name)
		out.Triggers.ByParameter[p.Name] = p.Trigger
		if p.Trigger == "" {
			out.Triggers.ByParameter[p.Name] = plans.DefaultTrigger(out.Plans)
		}
	}
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

func compileResources(resources []v1alpha1.Resource, params []v1alpha1.Parameter, env *expr.Env, out *Framework, path *field.Path) field.ErrorList {
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
		var res *Resource
		var rerrs field.ErrorList
		kinds := 0
		for _, set := range []bool{r.Template != nil, r.GoTemplate != nil, r.ExternalRef != nil} {
			if set {
				kinds++
			}
		}
		switch {
		case kinds != 1:
			errs = append(errs, field.Invalid(rp, r.ID, "a resource has exactly one of template, goTemplate and externalRef"))
			continue
		case r.ExternalRef != nil:
			res, rerrs = compileExternal(r, env, rp)
		case r.GoTemplate != nil && len(r.ForEach) > 0:
			errs = append(errs, field.Invalid(rp.Child("forEach"), r.ID, "is for a template: a goTemplate ranges over what it likes itself"))
			continue
		case r.GoTemplate != nil:
			res, rerrs = compileGoResource(r, params, rp)
		default:
			res, rerrs = compileResource(r, env, rp)
		}
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
		s, _ := obj[f].(string)
		switch {
		case s == "":
			errs = append(errs, field.Required(tp.Child(f), "every template needs one"))
		case strings.Contains(s, "${"):
			errs = append(errs, field.Invalid(tp.Child(f), s, "must be literal: operetta watches children by kind"))
		}
	}
	if len(errs) == 0 {
		apiVersion, kind := obj["apiVersion"].(string), obj["kind"].(string)
		res.Kinds = []schema.GroupVersionKind{schema.FromAPIVersionAndKind(apiVersion, kind)}
	}
	if md, _ := obj["metadata"].(map[string]any); md == nil || md["name"] == nil {
		errs = append(errs, field.Required(tp.Child("metadata", "name"), `for example "${instance.metadata.name}-config"`))
	}
	each, ferrs := compileForEach(r.ForEach, env, res, path.Child("forEach"))
	errs = append(errs, ferrs...)
	if each == nil {
		return res, errs
	}
	tpl, terrs := each.CompileTemplate(obj, tp)
	errs = append(errs, expressionErrors(terrs)...)
	res.Template, res.ReadsResources = tpl, res.ReadsResources || tpl.Reads(expr.VarResources)
	if r.ReadyWhen != "" {
		prg, err := env.CompileCondition(r.ReadyWhen)
		if err != nil {
			errs = append(errs, expressionError(path.Child("readyWhen"), r.ReadyWhen, err))
		}
		res.ReadyWhen = prg
	}
	return res, errs
}

func compileProjections(status map[string]string, env *expr.Env, out *Framework, path *field.Path) (map[string]apiextensionsv1.JSONSchemaProps, field.ErrorList) {
	names := make([]string, 0, len(status))
	for name := range status {
		names = append(names, name)
	}
	sort.Strings(names)
	var errs field.ErrorList
	fields := map[string]apiextensionsv1.JSONSchemaProps{}
	for _, name := range names {
		p := path.Key(name)
		switch {
		case !identifier.MatchString(name):
			errs = append(errs, field.Invalid(p, name, "must be a CEL identifier: letters, digits and _, not starting with a digit"))
			continue
		case crdgen.IsReservedStatusField(name):
			errs = append(errs, field.Invalid(p, name, "is a status field operetta writes itself; choose another name"))
			continue
		}
		tpl, schema, perrs := env.CompileValue(status[name], p)
		if len(perrs) > 0 {
			errs = append(errs, expressionErrors(perrs)...)
			continue
		}
		fields[name] = schema
		out.Projections = append(out.Projections, Projection{Name: name, Template: tpl, UsesResources: tpl.Reads(expr.VarResources)})
	}
	return fields, errs
}

var taskKinds = []string{
	string(v1alpha1.TaskApply), string(v1alpha1.TaskDelete), string(v1alpha1.TaskWait),
	string(v1alpha1.TaskToggle), string(v1alpha1.TaskInstance), string(v1alpha1.TaskDummy),
	string(v1alpha1.TaskPipe),
}

func compileTasks(tasks []v1alpha1.Task, env *expr.Env, out *Framework, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen, pipeKeys := map[string]bool{}, map[string]bool{}
	for i, t := range tasks {
		tp := path.Index(i)
		errs = append(errs, uniqueName(seen, t.Name, tp.Child("name"), "task")...)
		task, terrs := compileTask(t, env, out, tp)
		errs = append(errs, terrs...)
		for j, f := range t.Pipe {
			if pipeKeys[f.Key] {
				errs = append(errs, field.Duplicate(tp.Child("pipe").Index(j).Child("key"), f.Key))
			}
			pipeKeys[f.Key] = true
		}
		out.Tasks[t.Name] = task
	}
	return errs
}

func compileTask(t v1alpha1.Task, env *expr.Env, out *Framework, path *field.Path) (*Task, field.ErrorList) {
	task := &Task{Task: t}
	var errs field.ErrorList
	needs := func(name string, ok bool, detail string) {
		if !ok {
			errs = append(errs, field.Required(path.Child(name), fmt.Sprintf("a %s task needs %s", t.Kind, detail)))
		}
	}
	condition := func(name, src string) *expr.Program {
		prg, err := env.CompileCondition(src)
		if err != nil {
			errs = append(errs, expressionError(path.Child(name), src, err))
		}
		return prg
	}
	switch t.Kind {
	case v1alpha1.TaskApply, v1alpha1.TaskDelete:
		needs("resources", len(t.Resources) > 0, "the ids of its resources")
	case v1alpha1.TaskToggle:
		needs("resources", len(t.Resources) > 0, "the ids of its resources")
		needs("when", t.When != "", `a condition, for example "${instance.spec.monitoring}"`)
		if t.When != "" {
			task.WhenExpr = condition("when", t.When)
		}
	case v1alpha1.TaskWait:
		needs("condition", t.Condition != "", `a condition, for example "${resources.job.status.succeeded > 0}"`)
		if t.Condition != "" {
			task.ConditionExpr = condition("condition", t.Condition)
		}
	case v1alpha1.TaskInstance:
		needs("framework", t.Framework != "", "the name of the Framework whose kind it creates")
		name := t.InstanceName
		if name == "" {
			name = "${instance.metadata.name}-" + t.Name
		}
		tpl, terrs := env.CompileTemplate(name, path.Child("instanceName"))
		errs = append(errs, expressionErrors(terrs)...)
		task.InstanceName = tpl
		if t.Spec != nil {
			var spec map[string]any
			if err := utiljson.Unmarshal(t.Spec.Raw, &spec); err != nil {
				errs = append(errs, field.Invalid(path.Child("spec"), "", "must be an object: "+err.Error()))
			} else {
				tpl, terrs := env.CompileTemplate(spec, path.Child("spec"))
				errs = append(errs, expressionErrors(terrs)...)
				task.InstanceSpec = tpl
			}
		}
	case v1alpha1.TaskDummy:
	case v1alpha1.TaskPipe:
		needs("pod", t.Pod != "", "the id of the resource its pod is rendered from")
		needs("pipe", len(t.Pipe) > 0, "the files it copies out of its pod")
		errs = append(errs, checkPipe(t, out, path)...)
	default:
		errs = append(errs, field.NotSupported(path.Child("kind"), t.Kind, taskKinds))
	}
	if t.Done && t.Kind != v1alpha1.TaskDummy {
		errs = append(errs, field.Invalid(path.Child("done"), t.Done, "only a Dummy task has done"))
	}
	if t.Kind != v1alpha1.TaskPipe && (t.Pod != "" || len(t.Pipe) > 0) {
		errs = append(errs, field.Invalid(path.Child("pod"), t.Pod, "only a Pipe task has pod and pipe"))
	}
	if t.Kind != v1alpha1.TaskApply && t.Kind != v1alpha1.TaskDelete && t.Kind != v1alpha1.TaskToggle && len(t.Resources) > 0 {
		errs = append(errs, field.Invalid(path.Child("resources"), t.Resources, fmt.Sprintf("a %s task has no resources", t.Kind)))
	}
	if t.Timeout != nil && t.Timeout.Duration <= 0 {
		errs = append(errs, field.Invalid(path.Child("timeout"), t.Timeout.Duration.String(), "must be positive, for example 5m"))
	}
	for j, id := range t.Resources {
		res, ok := out.Resources[id]
		switch {
		case !ok:
			errs = append(errs, field.NotFound(path.Child("resources").Index(j), id))
		case res != nil && res.External != nil && t.Kind != v1alpha1.TaskApply:
			errs = append(errs, field.Invalid(path.Child("resources").Index(j), id,
				fmt.Sprintf("is an externalRef, which operetta reads and never deletes: a %s task cannot have it", t.Kind)))
		}
	}
	return task, errs
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
		errs = append(errs, uniqueName(phases, ph.Name, pp.Child("name"), "phase")...)
		errs = append(errs, checkStrategy(ph.Strategy, pp.Child("strategy"))...)
		if len(ph.Steps) == 0 {
			errs = append(errs, field.Required(pp.Child("steps"), "a phase needs at least one step"))
		}
		steps := map[string]bool{}
		for j, st := range ph.Steps {
			sp := pp.Child("steps").Index(j)
			errs = append(errs, uniqueName(steps, st.Name, sp.Child("name"), "step")...)
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

// uniqueName reports a missing or repeated name among its siblings, and
// remembers it.
func uniqueName(seen map[string]bool, name string, path *field.Path, what string) field.ErrorList {
	defer func() { seen[name] = true }()
	switch {
	case name == "":
		return field.ErrorList{field.Required(path, "every "+what+" needs a name")}
	case seen[name]:
		return field.ErrorList{field.Duplicate(path, name)}
	}
	return nil
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

// originExpression marks the errors of expressions, so the condition can say
// InvalidExpression rather than InvalidFramework.
const originExpression = "expression"

func expressionError(path *field.Path, src string, err error) *field.Error {
	return field.Invalid(path, src, err.Error()).WithOrigin(originExpression)
}

func expressionErrors(errs field.ErrorList) field.ErrorList {
	for _, e := range errs {
		e.WithOrigin(originExpression)
	}
	return errs
}

// Reason is the condition reason for errs: InvalidExpression when only
// expressions are wrong, InvalidFramework otherwise.
func Reason(errs field.ErrorList) conditions.Reason {
	for _, e := range errs {
		if e.Origin != originExpression {
			return conditions.InvalidFramework
		}
	}
	return conditions.InvalidExpression
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

// LooksInsideChildren says whether anything of f but kstatus reads what its
// children hold: a readyWhen, or an expression that names resources (a
// template, a projection, a task's condition or child instance). When
// nothing does, a child's update that leaves its kstatus verdict, its
// generation and its labels as they were cannot change what a reconcile
// decides.
func (f *Framework) LooksInsideChildren() bool {
	for _, r := range f.Resources {
		if r.ReadyWhen != nil || r.ReadsResources {
			return true
		}
	}
	for _, p := range f.Projections {
		if p.UsesResources {
			return true
		}
	}
	for _, t := range f.Tasks {
		if t.WhenExpr.Reads(expr.VarResources) || t.ConditionExpr.Reads(expr.VarResources) ||
			t.InstanceName.Reads(expr.VarResources) || t.InstanceSpec.Reads(expr.VarResources) {
			return true
		}
	}
	return false
}
