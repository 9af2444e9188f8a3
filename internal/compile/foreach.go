package compile

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/expr"
)

// reservedNames are what an iterator may not be called: the variables
// every expression has, and CEL's reserved words.
var reservedNames = map[string]bool{
	expr.VarInstance: true, expr.VarResources: true, expr.VarFramework: true, expr.VarPlan: true,
	"in": true, "as": true, "break": true, "const": true, "continue": true, "else": true, "for": true, "function": true,
	"if": true, "import": true, "let": true, "loop": true, "package": true, "namespace": true, "return": true,
	"var": true, "void": true, "while": true, "true": true, "false": true, "null": true,
}

// compileForEach compiles a resource's iterators into res and returns the
// environment its template is compiled in: env, with each iterator's
// element and index declared, typed. It returns nil when an iterator is
// wrong: the template cannot be checked against it.
func compileForEach(iterators []v1alpha1.Iterator, env *expr.Env, res *Resource, path *field.Path) (*expr.Env, field.ErrorList) {
	if len(iterators) == 0 {
		return env, nil
	}
	var errs field.ErrorList
	var vars []expr.Variable
	declared := map[string]bool{}
	for i, it := range iterators {
		ip := path.Index(i)
		index := it.Name + "Index"
		switch {
		case !identifier.MatchString(it.Name):
			errs = append(errs, field.Invalid(ip.Child("name"), it.Name, "must be a CEL identifier: letters, digits and _, not starting with a digit"))
			continue
		case reservedNames[it.Name]:
			errs = append(errs, field.Invalid(ip.Child("name"), it.Name, "is a variable every expression has, or a word CEL reserves"))
			continue
		case declared[it.Name] || declared[index]:
			errs = append(errs, field.Duplicate(ip.Child("name"), it.Name))
			continue
		}
		declared[it.Name], declared[index] = true, true
		c, err := env.CompileCollection(it.In)
		if err != nil {
			errs = append(errs, expressionError(ip.Child("in"), it.In, err))
			continue
		}
		res.ForEach = append(res.ForEach, &Iterator{Name: it.Name, In: c})
		res.ReadsResources = res.ReadsResources || c.Reads(expr.VarResources)
		vars = append(vars, expr.Variable{Name: it.Name, Type: c.Element}, expr.Variable{Name: index, Type: c.Index})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	each, err := env.Extend(vars...)
	if err != nil {
		return nil, field.ErrorList{field.InternalError(path, fmt.Errorf("declaring the iterators: %w", err))}
	}
	return each, nil
}
