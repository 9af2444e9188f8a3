package compile

import (
	"fmt"
	"strings"

	"k8s.io/apiserver/pkg/cel/common"
	"k8s.io/apiserver/pkg/cel/openapi"
	"k8s.io/apiserver/pkg/cel/openapi/resolver"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/expr"
)

// External is a compiled externalRef: what an instance reads and never
// writes.
type External struct {
	GVK schema.GroupVersionKind
	// Name and Namespace render the object's name and namespace ("" for
	// the instance's); Selector picks objects instead of Name.
	Name, Namespace *expr.Template
	Selector        labels.Selector
}

// Target is where the reference points for an instance with vars: its
// namespace (the instance's when it says none) and name ("" for a
// selector). A name or namespace the instance gives is checked as a name:
// a tenant's value is a name, nothing else.
func (e *External) Target(vars expr.Vars, instanceNS string) (namespace, name string, err error) {
	namespace = instanceNS
	if e.Namespace != nil {
		if namespace, err = renderName(e.Namespace, vars, "namespace"); err != nil {
			return "", "", err
		}
		if namespace == "" {
			namespace = instanceNS
		}
	}
	if e.Name != nil {
		if name, err = renderName(e.Name, vars, "name"); err != nil {
			return "", "", err
		}
		if name == "" {
			return "", "", fmt.Errorf("the name rendered empty")
		}
	}
	return namespace, name, nil
}

// ReferenceTarget is where externalRef id points for an instance in
// namespace instanceNS with vars: Target, in a namespace f allows.
func (f *Framework) ReferenceTarget(id string, vars expr.Vars, instanceNS string) (namespace, name string, err error) {
	ext := f.Resources[id].External
	ns, name, err := ext.Target(vars, instanceNS)
	if err != nil {
		return "", "", fmt.Errorf("resource %s: %w", id, err)
	}
	if !f.AllowsNamespace(ns, instanceNS) {
		return "", "", fmt.Errorf("resource %s: namespace %q is not the instance's and not in the Framework's spec.allow.namespaces", id, ns)
	}
	return ns, name, nil
}

// Describe names what e reads at namespace/name (name "" for a
// selector), for messages.
func (e *External) Describe(namespace, name string) string {
	if e.Selector != nil {
		return fmt.Sprintf("%s in %s with %s", e.GVK.Kind, namespace, e.Selector)
	}
	return fmt.Sprintf("%s %s/%s", e.GVK.Kind, namespace, name)
}

// renderName renders a name (what: "name", "namespace") an instance may
// give, and checks it is one; "" is none. On an error it returns what was
// rendered, as text, for a status to show.
func renderName(t *expr.Template, vars expr.Vars, what string) (string, error) {
	v, err := t.Render(vars)
	if err != nil {
		return "", fmt.Errorf("rendering the %s: %w", what, err)
	}
	s, ok := v.(string)
	if !ok {
		return fmt.Sprint(v), fmt.Errorf("the %s rendered %v, not a string", what, v)
	}
	if s != "" {
		if msgs := validation.IsDNS1123Subdomain(s); len(msgs) > 0 {
			return s, fmt.Errorf("the %s %q is not a name: %s", what, s, strings.Join(msgs, "; "))
		}
	}
	return s, nil
}

// compileExternal compiles a resource's externalRef.
func compileExternal(r v1alpha1.Resource, env *expr.Env, path *field.Path) (*Resource, field.ErrorList) {
	ref := r.ExternalRef
	rp := path.Child("externalRef")
	res := &Resource{ID: r.ID, External: &External{}}
	var errs field.ErrorList
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	switch {
	case ref.APIVersion == "":
		errs = append(errs, field.Required(rp.Child("apiVersion"), `the kind's apiVersion, "v1" for a ConfigMap`))
	case err != nil:
		errs = append(errs, field.Invalid(rp.Child("apiVersion"), ref.APIVersion, err.Error()))
	}
	if ref.Kind == "" {
		errs = append(errs, field.Required(rp.Child("kind"), "the kind read, ConfigMap say"))
	}
	res.External.GVK = gv.WithKind(ref.Kind)
	name := func(field_, s string) *expr.Template {
		tpl, terrs := env.CompileTemplate(s, rp.Child(field_))
		errs = append(errs, expressionErrors(terrs)...)
		if len(terrs) == 0 && tpl.Reads(expr.VarResources) {
			errs = append(errs, field.Invalid(rp.Child(field_), s, "may read only the instance: which object is read cannot wait for a child"))
		}
		return tpl
	}
	switch {
	case (ref.Name == "") == (ref.Selector == nil):
		errs = append(errs, field.Invalid(rp, fmt.Sprintf("name: %q, selector: %v", ref.Name, ref.Selector),
			"set exactly one of name (one object, maybe an expression over the instance) and selector"))
	case ref.Name != "":
		res.External.Name = name("name", ref.Name)
	default:
		sel, err := metav1.LabelSelectorAsSelector(ref.Selector)
		if err != nil {
			errs = append(errs, field.Invalid(rp.Child("selector"), ref.Selector.String(), err.Error()))
		}
		res.External.Selector = sel
	}
	if ref.Namespace != "" {
		res.External.Namespace = name("namespace", ref.Namespace)
	}
	if r.ReadyWhen != "" {
		prg, err := env.CompileCondition(r.ReadyWhen)
		if err != nil {
			errs = append(errs, expressionError(path.Child("readyWhen"), r.ReadyWhen, err))
		}
		res.ReadyWhen = prg
	}
	if len(r.ForEach) > 0 {
		errs = append(errs, field.Invalid(path.Child("forEach"), r.ID, "is for a template: an externalRef with a selector reads a list"))
	}
	return res, errs
}

// resourceTypes types the resources variable when schemas knows the kind
// of an externalRef: every resource id and task name is a field of it, the
// references schemas resolves typed by their kind's schema. nil (a dynamic
// map) when none is typed.
func resourceTypes(fw *v1alpha1.Framework, schemas resolver.SchemaResolver) *expr.Resources {
	if schemas == nil {
		return nil
	}
	res := &expr.Resources{Typed: map[string]common.Schema{}}
	for _, r := range fw.Spec.Resources {
		res.IDs = append(res.IDs, r.ID)
		ref := r.ExternalRef
		if ref == nil || ref.Selector != nil || ref.Kind == "" {
			continue // a selector's list, or no kind: dynamic
		}
		gv, err := schema.ParseGroupVersion(ref.APIVersion)
		if err != nil {
			continue
		}
		s, err := schemas.ResolveSchema(gv.WithKind(ref.Kind))
		if err != nil || s == nil {
			continue
		}
		res.Typed[r.ID] = &openapi.Schema{Schema: s}
	}
	for _, t := range fw.Spec.Tasks {
		res.IDs = append(res.IDs, t.Name)
	}
	if len(res.Typed) == 0 {
		return nil
	}
	return res
}
