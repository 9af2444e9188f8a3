package compile

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/expr"
)

// WatchTrigger is a compiled trigger: the kind it watches and how each
// instance names what it watches of it.
type WatchTrigger struct {
	Name, Plan string
	GVK        schema.GroupVersionKind
	// Object is the one object's name when the same for every instance;
	// ObjectExpr renders each instance's otherwise. Both are empty for a
	// selector.
	Object     string
	ObjectExpr *expr.Template
	// Selector picks the objects watched (nil: a named object).
	Selector labels.Selector
}

// ObjectName is the name of the one object t watches on an instance with
// vars ("" for none, and for a selector), checked as a name: a value the
// instance's author gives is a name in its namespace, nothing else. On an
// error it returns what was rendered, for the status to show.
func (t *WatchTrigger) ObjectName(vars expr.Vars) (string, error) {
	if t.ObjectExpr == nil {
		return t.Object, nil // checked when the Framework was compiled
	}
	name, err := renderName(t.ObjectExpr, vars, "name")
	if err != nil {
		return name, fmt.Errorf("trigger %s: %w", t.Name, err)
	}
	return name, nil
}

// compileTriggers checks spec.triggers and compiles them into out.
func compileTriggers(triggers []v1alpha1.Trigger, env *expr.Env, out *Framework, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	kinds := map[schema.GroupVersionKind]bool{}
	for i, t := range triggers {
		tp := path.Index(i)
		errs = append(errs, uniqueName(seen, t.Name, tp.Child("name"), "trigger")...)
		for _, msg := range validation.IsDNS1123Label(t.Name) {
			errs = append(errs, field.Invalid(tp.Child("name"), t.Name, msg))
		}
		if _, ok := out.Plans[t.Plan]; !ok {
			errs = append(errs, field.NotFound(tp.Child("plan"), t.Plan))
		}
		c := &WatchTrigger{Name: t.Name, Plan: t.Plan}
		wp := tp.Child("watch")
		gv, err := schema.ParseGroupVersion(t.Watch.APIVersion)
		switch {
		case t.Watch.APIVersion == "":
			errs = append(errs, field.Required(wp.Child("apiVersion"), `the watched kind's apiVersion, "v1" for a Secret`))
		case err != nil:
			errs = append(errs, field.Invalid(wp.Child("apiVersion"), t.Watch.APIVersion, err.Error()))
		}
		if t.Watch.Kind == "" {
			errs = append(errs, field.Required(wp.Child("kind"), "the watched kind, Secret say"))
		}
		c.GVK = gv.WithKind(t.Watch.Kind)
		switch name := strings.TrimSpace(t.Watch.Name); {
		case (name == "") == (t.Watch.Selector == nil):
			errs = append(errs, field.Invalid(wp, fmt.Sprintf("name: %q, selector: %v", t.Watch.Name, t.Watch.Selector),
				"set exactly one of name (one object, maybe an expression over the instance) and selector"))
		case strings.Contains(name, "${"):
			tpl, s, terrs := env.CompileValue(name, wp.Child("name"))
			errs = append(errs, expressionErrors(terrs)...)
			switch {
			case len(terrs) > 0:
			case s.Type != "string":
				errs = append(errs, field.Invalid(wp.Child("name"), name, fmt.Sprintf("the expression's type is %s; it must give a name, a string", s.Type)))
			case tpl.Reads("resources"):
				errs = append(errs, field.Invalid(wp.Child("name"), name, "may read only the instance: what a trigger watches cannot wait for a child"))
			}
			c.ObjectExpr = tpl
		case name != "":
			for _, msg := range validation.IsDNS1123Subdomain(name) {
				errs = append(errs, field.Invalid(wp.Child("name"), name, msg))
			}
			c.Object = name
		default:
			sel, err := metav1.LabelSelectorAsSelector(t.Watch.Selector)
			if err != nil {
				errs = append(errs, field.Invalid(wp.Child("selector"), t.Watch.Selector.String(), err.Error()))
			}
			c.Selector = sel
		}
		if t.Watch.Kind != "" && err == nil && !kinds[c.GVK] {
			kinds[c.GVK] = true
			out.WatchedKinds = append(out.WatchedKinds, c.GVK)
		}
		out.WatchTriggers = append(out.WatchTriggers, c)
	}
	return errs
}
