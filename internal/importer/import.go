package importer

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/crdgen"
	"operetta.dev/operetta/internal/kudo"
)

// Options name the generated kind.
type Options struct {
	// Name of the Framework; default the operator's name, lower case. A
	// Framework of that name already there (another version of the
	// package, or another package) would be overwritten by the apply.
	Name string
	// Group of the generated kind; default kudo.operetta.dev.
	Group string
	// Kind of the generated kind; default the operator's name in
	// CamelCase (first-operator → FirstOperator).
	Kind string
	// AllowClusterScoped lists the cluster-scoped kinds the package's
	// templates render in spec.allow.clusterScoped, instead of refusing the
	// package: objects outside the instance's namespace (a ClusterRole, a
	// ClusterRoleBinding, a webhook configuration) reach every namespace,
	// so the importer never allows them unless asked to.
	AllowClusterScoped bool
}

// DefaultGroup is the generated kind's group unless Options says another.
const DefaultGroup = "kudo.operetta.dev"

// Result is an imported package.
type Result struct {
	Framework *v1alpha1.Framework
	// Notes say what the importer rewrote or left out, one line each, with
	// the file it concerns.
	Notes []string
}

// KUDO imports the KUDO package in the directory dir. It refuses what it
// cannot run faithfully (a Pipe task, a parameter name no field can have)
// and a file that is not a regular one inside dir, naming the file and the
// field.
func KUDO(dir string, opts Options) (*Result, error) {
	p, err := read(dir)
	if err != nil {
		return nil, err
	}
	im := &importer{pkg: p, res: &Result{}, opts: opts, ids: map[string]string{}}
	fw := &v1alpha1.Framework{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "Framework"},
		ObjectMeta: metav1.ObjectMeta{Name: strings.ToLower(p.operator.Name)},
		Spec: v1alpha1.FrameworkSpec{
			Names:      v1alpha1.Names{Group: opts.Group, Kind: opts.Kind},
			AppVersion: p.operator.AppVersion,
			KUDO:       &v1alpha1.KUDO{OperatorName: p.operator.Name, OperatorVersion: p.operator.OperatorVersion},
			Plans:      map[string]v1alpha1.Plan{},
		},
	}
	if opts.Name != "" {
		fw.Name = opts.Name
	} else if fw.Name != p.operator.Name {
		im.note("operator.yaml: name %s: the Framework is named %s, as object names are lower case; templates still see .OperatorName %s", p.operator.Name, fw.Name, p.operator.Name)
	}
	if fw.Spec.Names.Group == "" {
		fw.Spec.Names.Group = DefaultGroup
	}
	if fw.Spec.Names.Kind == "" {
		fw.Spec.Names.Kind = crdgen.KindOf(p.operator.Name)
	}
	if fw.Spec.Parameters, err = im.parameters(); err != nil {
		return nil, err
	}
	if fw.Spec.Tasks, err = im.tasks(); err != nil {
		return nil, err
	}
	im.boundCounts(fw.Spec.Parameters)
	if fw.Spec.Resources, fw.Spec.Allow, err = im.resources(); err != nil {
		return nil, err
	}
	sort.Strings(im.res.Notes)
	for name, plan := range p.operator.Plans {
		fw.Spec.Plans[name] = convertPlan(plan)
	}
	im.res.Framework = fw
	return im.res, nil
}

type importer struct {
	pkg  *pkg
	res  *Result
	opts Options
	// ids maps a template file to its resource id, in the order tasks
	// name them.
	ids   map[string]string
	files []string
}

func (im *importer) note(format string, args ...any) {
	im.res.Notes = append(im.res.Notes, fmt.Sprintf(format, args...))
}

func (im *importer) parameters() ([]v1alpha1.Parameter, error) {
	var out []v1alpha1.Parameter
	for i, kp := range im.pkg.params {
		at := fmt.Sprintf("params.yaml: parameters[%d]", i)
		if !compile.IsIdentifier(kp.Name) {
			return nil, fmt.Errorf("%s: name %q: operetta makes every parameter a field of the generated kind, so it must be letters, digits and _, not starting with a digit", at, kp.Name)
		}
		p := v1alpha1.Parameter{Name: kp.Name, Description: strings.TrimSpace(kp.Description), Trigger: kp.Trigger}
		if p.Description == "" {
			p.Description = kp.DisplayName
		}
		switch kp.Type {
		case "", "string":
			p.Type = v1alpha1.TypeString
		case "integer", "number", "boolean", "array":
			p.Type = v1alpha1.ParameterType(kp.Type)
		case "map":
			p.Type = v1alpha1.TypeObject
		default:
			return nil, fmt.Errorf("%s (%s): type %q: KUDO's types are string, integer, number, boolean, array and map", at, kp.Name, kp.Type)
		}
		if kp.Default != nil {
			d, err := defaultOf(p.Type, kp.Default)
			if err != nil {
				return nil, fmt.Errorf("%s (%s): default: %w", at, kp.Name, err)
			}
			p.Default = d
		} else if p.Type == v1alpha1.TypeArray || p.Type == v1alpha1.TypeObject {
			// KUDO stored an array or map without a default as the YAML
			// null, a default its install check takes as given
			// (validateParameters: required and no default), and its
			// templates as an empty list or map: never required.
			empty := `[]`
			if p.Type == v1alpha1.TypeObject {
				empty = `{}`
			}
			p.Default = &apiextensionsv1.JSON{Raw: []byte(empty)}
			im.note("params.yaml: %s: an %s without a default, which KUDO installed as null (an empty one to its templates) whether or not it was required: not required, default %s", kp.Name, kp.Type, empty)
		} else {
			// KUDO: without a default a parameter is required unless it
			// says required: false (its package reader's default).
			p.Required = kp.Required == nil || *kp.Required
		}
		if kp.Immutable != nil && *kp.Immutable {
			p.Immutable = true
		}
		if _, exists := im.pkg.operator.Plans[kp.Trigger]; kp.Trigger != "" && !exists {
			p.Immutable, p.Trigger = true, ""
			im.note("params.yaml: %s: its trigger plan %q does not exist, so KUDO could not run a change of it; it is an immutable field instead, which the API server enforces", kp.Name, kp.Trigger)
		} else if kp.Trigger != "" && im.forbids(kp.Trigger) {
			p.Immutable, p.Trigger = true, ""
			im.note("params.yaml: %s: its trigger plan %q only blocks (a Dummy that is never done), KUDO's way to forbid a change; it is an immutable field instead, which the API server enforces", kp.Name, kp.Trigger)
		}
		for _, e := range kp.Enum {
			v, err := defaultOf(p.Type, e)
			if err != nil {
				return nil, fmt.Errorf("%s (%s): enum: %w", at, kp.Name, err)
			}
			p.Enum = append(p.Enum, *v)
		}
		out = append(out, p)
	}
	return out, nil
}

// forbids says whether plan exists only to block: every task of every step
// a Dummy that is not done.
func (im *importer) forbids(plan string) bool {
	p, ok := im.pkg.operator.Plans[plan]
	if !ok || len(p.Phases) == 0 {
		return false
	}
	for _, ph := range p.Phases {
		for _, st := range ph.Steps {
			for _, name := range st.Tasks {
				t := im.task(name)
				if t == nil || t.Kind != "Dummy" || t.Spec.Done {
					return false
				}
			}
		}
	}
	return true
}

func (im *importer) task(name string) *kudoTask {
	for i := range im.pkg.operator.Tasks {
		if im.pkg.operator.Tasks[i].Name == name {
			return &im.pkg.operator.Tasks[i]
		}
	}
	return nil
}

// defaultOf is a KUDO value as the generated schema's type has it: KUDO
// kept scalars as strings, so a string parameter's default is a string
// however params.yaml wrote it.
func defaultOf(t v1alpha1.ParameterType, v any) (*apiextensionsv1.JSON, error) {
	switch t {
	case v1alpha1.TypeString:
		switch v.(type) {
		case map[string]any, []any:
			return nil, fmt.Errorf("%v is not a string", v)
		}
		v = fmt.Sprint(v)
	case v1alpha1.TypeInteger, v1alpha1.TypeNumber, v1alpha1.TypeBoolean:
		if s, ok := v.(string); ok {
			var parsed any
			if err := json.Unmarshal([]byte(s), &parsed); err != nil {
				return nil, fmt.Errorf("%q is not a %s", s, t)
			}
			v = parsed
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return &apiextensionsv1.JSON{Raw: b}, nil
}

// boolStrings are what Go's strconv.ParseBool takes as true: a KUDO Toggle
// task's parameter is on when it parses as one.
var boolStrings = []string{"1", "t", "T", "TRUE", "true", "True"}

func (im *importer) tasks() ([]v1alpha1.Task, error) {
	var out []v1alpha1.Task
	for i, kt := range im.pkg.operator.Tasks {
		at := fmt.Sprintf("operator.yaml: tasks[%d] (%s)", i, kt.Name)
		t := v1alpha1.Task{Name: kt.Name, Kind: v1alpha1.TaskKind(kt.Kind)}
		switch kt.Kind {
		case "Apply", "Delete":
			t.Resources = im.resourceIDs(kt.Spec.Resources)
			if len(t.Resources) == 0 {
				t.Kind, t.Done = v1alpha1.TaskDummy, true
				im.note("operator.yaml: task %s: an %s task of no resources, which does nothing: a Dummy task that is done", kt.Name, kt.Kind)
			}
		case "Toggle":
			t.Resources = im.resourceIDs(kt.Spec.Resources)
			kp := im.param(kt.Spec.Parameter)
			if kp == nil {
				return nil, fmt.Errorf("%s: spec.parameter %q is not a parameter in params.yaml", at, kt.Spec.Parameter)
			}
			field := "instance.spec." + kp.Name
			if kp.Type == "boolean" {
				t.When = fmt.Sprintf("${has(%s) && %s}", field, field)
			} else {
				t.When = fmt.Sprintf("${has(%s) && %s in ['%s']}", field, field, strings.Join(boolStrings, "', '"))
			}
		case "Dummy":
			t.Done = kt.Spec.Done
		case "KudoOperator":
			t.Kind = v1alpha1.TaskInstance
			t.Framework = kt.Spec.Package
			if kt.Spec.InstanceName != "" {
				t.InstanceName = kt.Spec.InstanceName
			}
			im.note("operator.yaml: task %s: the dependency %s becomes an instance of the Framework named %s; import that package too", kt.Name, kt.Spec.Package, kt.Spec.Package)
			if kt.Spec.OperatorVersion != "" {
				im.note("operator.yaml: task %s: operatorVersion %s is not checked: the instance is of whatever version the %s Framework is", kt.Name, kt.Spec.OperatorVersion, kt.Spec.Package)
			}
			if kt.Spec.ParameterFile != "" {
				return nil, fmt.Errorf("%s: spec.parameterFile %s: a dependency's parameters from a template file are not supported yet; remove it to give the dependency its defaults", at, kt.Spec.ParameterFile)
			}
		case "Pipe":
			t.Pod = im.resourceIDs([]string{kt.Spec.Pod})[0]
			for j, f := range kt.Spec.Pipe {
				if f.EnvFile != "" {
					return nil, fmt.Errorf("%s: spec.pipe[%d].envFile: a file of environment variables is not supported yet; only file is", at, j)
				}
				t.Pipe = append(t.Pipe, v1alpha1.PipeFile{File: f.File, Kind: f.Kind, Key: f.Key})
			}
		default:
			return nil, fmt.Errorf("%s: kind %q: KUDO's task kinds are Apply, Delete, Toggle, Dummy, Pipe and KudoOperator", at, kt.Kind)
		}
		out = append(out, t)
	}
	return out, nil
}

func (im *importer) param(name string) *kudoParam {
	for i := range im.pkg.params {
		if im.pkg.params[i].Name == name {
			return &im.pkg.params[i]
		}
	}
	return nil
}

// resourceIDs are the ids of template files, made in the order tasks name
// them: the file name without .yaml, other characters than letters and
// digits as _ (bootstrap.sh.yaml → bootstrap_sh).
func (im *importer) resourceIDs(files []string) []string {
	ids := make([]string, 0, len(files))
	for _, f := range files {
		if id, ok := im.ids[f]; ok {
			ids = append(ids, id)
			continue
		}
		id := im.newID(strings.TrimSuffix(strings.TrimSuffix(f, ".yaml"), ".yml"))
		im.ids[f] = id
		im.files = append(im.files, f)
		ids = append(ids, id)
	}
	return ids
}

// newID makes a resource id of name that no resource has yet: letters and
// digits kept, anything else _, a numbered suffix if it is taken.
func (im *importer) newID(name string) string {
	base := strings.Map(func(r rune) rune {
		if r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return r
		}
		return '_'
	}, name)
	if !compile.IsIdentifier(base) {
		base = "t_" + base
	}
	id := base
	for n := 2; im.taken(id); n++ {
		id = base + "_" + strconv.Itoa(n)
	}
	return id
}

func (im *importer) taken(id string) bool {
	for _, other := range im.ids {
		if other == id {
			return true
		}
	}
	return false
}

// resources makes a goTemplate resource of each template a task names. The
// cluster-scoped kinds they render are refused, each named with its file,
// unless Options.AllowClusterScoped lists them in the Allow it returns.
func (im *importer) resources() ([]v1alpha1.Resource, v1alpha1.Allow, error) {
	var out []v1alpha1.Resource
	var allow v1alpha1.Allow
	cluster := map[schema.GroupKind]bool{}
	var outside []string // "file: Kind.group", in the order tasks name the files
	for _, f := range im.files {
		text, ok := im.pkg.templates[f]
		if !ok {
			return nil, allow, fmt.Errorf("operator.yaml: a task names resource %s, which is not in templates/", f)
		}
		file := "templates/" + f
		text, err := im.rewrite(file, text)
		if err != nil {
			return nil, allow, err
		}
		kinds, err := im.kinds(file, text)
		if err != nil {
			return nil, allow, err
		}
		res := v1alpha1.Resource{ID: im.ids[f], GoTemplate: &v1alpha1.GoTemplate{File: file, Text: text}}
		for _, k := range kinds {
			res.GoTemplate.Kinds = append(res.GoTemplate.Kinds, v1alpha1.ChildKind{APIVersion: k.GroupVersion().String(), Kind: k.Kind})
			if !clusterScoped[k.GroupKind()] {
				continue
			}
			outside = append(outside, file+": "+k.GroupKind().String())
			if im.opts.AllowClusterScoped {
				im.note("%s: renders a cluster-scoped %s, which spec.allow.clusterScoped now lets it create (--allow-cluster-scoped)", file, k.Kind)
			}
			if !cluster[k.GroupKind()] {
				cluster[k.GroupKind()] = true
				allow.ClusterScoped = append(allow.ClusterScoped, metav1.GroupKind{Group: k.Group, Kind: k.Kind})
			}
		}
		out = append(out, res)
	}
	if len(outside) > 0 && !im.opts.AllowClusterScoped {
		return nil, allow, fmt.Errorf("the package renders cluster-scoped objects, outside any instance's namespace:\n  %s\n"+
			"the importer does not add them to spec.allow.clusterScoped by itself: whoever may create an instance would have the Framework create them; "+
			"read those templates, and import with --allow-cluster-scoped to allow these kinds", strings.Join(outside, "\n  "))
	}
	for f := range im.pkg.templates {
		if _, used := im.ids[f]; !used {
			im.note("templates/%s: no task names it, so it is not imported (KUDO did not render it either)", f)
		}
	}
	return out, allow, nil
}

// clusterScoped are the built-in cluster-scoped kinds packages render. A
// cluster-scoped kind of a CRD is not known here; the controller refuses to
// create it, as it is not in spec.allow.clusterScoped.
var clusterScoped = map[schema.GroupKind]bool{
	{Kind: "Namespace"}:        true,
	{Kind: "PersistentVolume"}: true,
	{Kind: "Node"}:             true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}:                         true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}:                  true,
	{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}:                 true,
	{Group: "storage.k8s.io", Kind: "StorageClass"}:                                   true,
	{Group: "scheduling.k8s.io", Kind: "PriorityClass"}:                               true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingWebhookConfiguration"}:   true,
	{Group: "admissionregistration.k8s.io", Kind: "MutatingWebhookConfiguration"}:     true,
	{Group: "policy", Kind: "PodSecurityPolicy"}:                                      true,
	{Group: "apiregistration.k8s.io", Kind: "APIService"}:                             true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicy"}:        true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicyBinding"}: true,
	{Group: "admissionregistration.k8s.io", Kind: "MutatingAdmissionPolicy"}:          true,
	{Group: "admissionregistration.k8s.io", Kind: "MutatingAdmissionPolicyBinding"}:   true,
	{Group: "certificates.k8s.io", Kind: "CertificateSigningRequest"}:                 true,
	{Group: "networking.k8s.io", Kind: "IngressClass"}:                                true,
	{Group: "node.k8s.io", Kind: "RuntimeClass"}:                                      true,
	{Group: "storage.k8s.io", Kind: "CSIDriver"}:                                      true,
	{Group: "storage.k8s.io", Kind: "VolumeAttachment"}:                               true,
	{Group: "flowcontrol.apiserver.k8s.io", Kind: "FlowSchema"}:                       true,
	{Group: "flowcontrol.apiserver.k8s.io", Kind: "PriorityLevelConfiguration"}:       true,
}

// kinds are the kinds a template may render: those its documents name
// literally, and those it renders with the package's defaults (a kind
// chosen by a template expression shows only there).
func (im *importer) kinds(file, text string) ([]schema.GroupVersionKind, error) {
	seen := map[schema.GroupVersionKind]bool{}
	for _, d := range documents(text) {
		if d.apiVersion != "" && d.kind != "" {
			seen[schema.FromAPIVersionAndKind(d.apiVersion, d.kind)] = true
		}
	}
	if objs, err := im.renderDefaults(file, text); err == nil {
		for _, o := range objs {
			av, _ := o["apiVersion"].(string)
			k, _ := o["kind"].(string)
			if av != "" && k != "" {
				seen[schema.FromAPIVersionAndKind(av, k)] = true
			}
		}
	}
	if len(seen) == 0 {
		return nil, fmt.Errorf("%s: cannot tell which kinds it renders: no document names a literal apiVersion and kind, and it does not render with the default parameters", file)
	}
	out := make([]schema.GroupVersionKind, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out, nil
}

// renderDefaults renders a template as KUDO would for a new instance with
// the default parameters.
func (im *importer) renderDefaults(file, text string) ([]map[string]any, error) {
	t, err := kudo.Parse(file, text)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(im.pkg.params))
	values := map[string]any{}
	for _, p := range im.pkg.params {
		names = append(names, p.Name)
		values[p.Name] = p.Default
	}
	params, err := kudo.Params(names, values)
	if err != nil {
		return nil, err
	}
	return t.Render(kudo.Vars{
		Name: "instance", Namespace: "default", OperatorName: im.pkg.operator.Name,
		OperatorVersion: im.pkg.operator.OperatorVersion, AppVersion: im.pkg.operator.AppVersion,
		PlanName: "deploy", Params: params, Pipes: map[string]string{},
	})
}

func convertPlan(p kudoPlan) v1alpha1.Plan {
	out := v1alpha1.Plan{Strategy: v1alpha1.Strategy(p.Strategy)}
	for _, ph := range p.Phases {
		phase := v1alpha1.Phase{Name: ph.Name, Strategy: v1alpha1.Strategy(ph.Strategy)}
		for _, st := range ph.Steps {
			phase.Steps = append(phase.Steps, v1alpha1.Step{Name: st.Name, Tasks: st.Tasks})
		}
		out.Phases = append(out.Phases, phase)
	}
	return out
}
