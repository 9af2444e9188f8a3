package compile

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/kudo"
)

// compileGoResource parses a Go-template resource and checks what can be
// checked before an instance exists: its syntax, the functions it calls,
// the parameters it reads and the kinds it declares. What depends on the
// values (a missing map key, YAML the render makes invalid) shows when an
// instance is rendered, on that instance.
func compileGoResource(r v1alpha1.Resource, params []v1alpha1.Parameter, path *field.Path) (*Resource, field.ErrorList) {
	gp := path.Child("goTemplate")
	g := r.GoTemplate
	res := &Resource{ID: r.ID}
	var errs field.ErrorList
	if r.ReadyWhen != "" {
		errs = append(errs, field.Invalid(path.Child("readyWhen"), r.ReadyWhen, "applies to a template, not a goTemplate: a goTemplate's objects are ready by their kstatus health"))
	}
	name := g.File
	if name == "" {
		name = r.ID
	}
	if strings.TrimSpace(g.Text) == "" {
		errs = append(errs, field.Required(gp.Child("text"), "the Go template's text"))
	} else if t, err := kudo.Parse(name, g.Text); err != nil {
		// text/template names the file and line: "template: pdb.yaml:3: ...".
		errs = append(errs, field.Invalid(gp.Child("text"), name, err.Error()).WithOrigin(originExpression))
	} else {
		res.Go = t
		declared := map[string]bool{}
		for _, p := range params {
			declared[p.Name] = true
		}
		for _, u := range t.ParamsUsed() {
			if !declared[u.Name] {
				errs = append(errs, field.Invalid(gp.Child("text"), name,
					fmt.Sprintf("%s: reads .Params.%s, which is not a parameter of the Framework", u.At, u.Name)).WithOrigin(originExpression))
			}
		}
	}
	if len(g.Kinds) == 0 {
		errs = append(errs, field.Required(gp.Child("kinds"), "the kinds the template may render, for example {apiVersion: apps/v1, kind: StatefulSet}"))
	}
	for i, k := range g.Kinds {
		kp := gp.Child("kinds").Index(i)
		if k.APIVersion == "" {
			errs = append(errs, field.Required(kp.Child("apiVersion"), "for example apps/v1"))
		}
		if k.Kind == "" {
			errs = append(errs, field.Required(kp.Child("kind"), "for example StatefulSet"))
		}
		if _, err := schema.ParseGroupVersion(k.APIVersion); err != nil {
			errs = append(errs, field.Invalid(kp.Child("apiVersion"), k.APIVersion, err.Error()))
		}
		res.Kinds = append(res.Kinds, schema.FromAPIVersionAndKind(k.APIVersion, k.Kind))
	}
	return res, errs
}
