package compile

import (
	"fmt"
	"regexp"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/convert"
	"operetta.dev/operetta/internal/crdgen"
)

// Version is a compiled other version of the kind: how its specs convert
// to and from the next version (the stored one after the last).
type Version struct {
	Name           string
	Served         bool
	ToNext, ToPrev *convert.Direction
}

// kubeVersion is how Kubernetes names API versions: v1, v2beta1, v1alpha3.
var kubeVersion = regexp.MustCompile(`^v[1-9][0-9]*((alpha|beta)[1-9][0-9]*)?$`)

// roundTripSeed makes the check at apply the same on every run: a
// Framework refused once is refused again, for the same sample.
const roundTripSeed = 1

// checkVersionNames refuses a version that is no Kubernetes API version
// or is there twice (the stored one included), before the CRD is made.
func checkVersionNames(fw *v1alpha1.Framework, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{crdgen.NamesOf(fw).Version: true}
	for i, v := range fw.Spec.Versions {
		vp := path.Index(i)
		switch {
		case !kubeVersion.MatchString(v.Name):
			errs = append(errs, field.Invalid(vp.Child("name"), v.Name, "must be a Kubernetes API version, such as v1, v2beta1 or v1alpha2"))
		case seen[v.Name]:
			errs = append(errs, field.Duplicate(vp.Child("name"), v.Name))
		}
		seen[v.Name] = true
	}
	return errs
}

// compileVersions compiles spec.versions into out: each version's
// mappings against its schema and the next one's (in crd, the generated
// CRD), and checks that converting there and back loses nothing.
func compileVersions(fw *v1alpha1.Framework, crd *apiextensionsv1.CustomResourceDefinition, out *Framework, path *field.Path) field.ErrorList {
	if len(fw.Spec.Versions) == 0 || crd == nil {
		return nil
	}
	var errs field.ErrorList
	specOf := map[string]*apiextensionsv1.JSONSchemaProps{}
	for i := range crd.Spec.Versions {
		v := &crd.Spec.Versions[i]
		s := v.Schema.OpenAPIV3Schema.Properties["spec"]
		specOf[v.Name] = &s
	}
	for i, v := range fw.Spec.Versions {
		vp := path.Index(i)
		next := crdgen.NamesOf(fw).Version
		if i+1 < len(fw.Spec.Versions) {
			next = fw.Spec.Versions[i+1].Name
		}
		to, terrs := convert.Compile(v.Name, next, specOf[v.Name], specOf[next], v.ToNext, vp.Child("toNext"))
		back, berrs := convert.Compile(next, v.Name, specOf[next], specOf[v.Name], v.FromNext, vp.Child("fromNext"))
		errs = append(errs, expressionErrors(terrs)...)
		errs = append(errs, expressionErrors(berrs)...)
		if len(terrs)+len(berrs) > 0 {
			continue
		}
		// This version's specs must come back from the next one as they
		// were. The next one may have fields this one cannot hold; keeping
		// those is the conversion's, not the mappings' (not checked here).
		if msg := convert.RoundTrip(to, back, roundTripSeed, convert.RoundTripSamples); msg != "" {
			errs = append(errs, field.Invalid(vp.Child("fromNext"), v.Name, "converting to "+next+" and back does not give what was converted: "+msg))
		}
		out.Versions = append(out.Versions, &Version{Name: v.Name, Served: v.Served == nil || *v.Served, ToNext: to, ToPrev: back})
	}
	return errs
}

// Serves says whether version is one the kind is served in.
func (f *Framework) Serves(version string) bool {
	if version == f.GVK.Version {
		return true
	}
	for _, v := range f.Versions {
		if v.Name == version {
			return v.Served
		}
	}
	return false
}

// ConvertSpec converts spec from version from to version to, through the
// versions between them.
func (f *Framework) ConvertSpec(spec map[string]any, from, to string) (map[string]any, error) {
	order := make([]string, 0, len(f.Versions)+1)
	for _, v := range f.Versions {
		order = append(order, v.Name)
	}
	order = append(order, f.GVK.Version)
	at := map[string]int{}
	for i, name := range order {
		at[name] = i
	}
	i, ok := at[from]
	j, ok2 := at[to]
	if !ok || !ok2 {
		return nil, fmt.Errorf("%s has no version %s or %s: it has %v", f.GVK.Kind, from, to, order)
	}
	var err error
	for ; i < j && err == nil; i++ {
		spec, err = f.Versions[i].ToNext.Convert(spec)
	}
	for ; i > j && err == nil; i-- {
		spec, err = f.Versions[i-1].ToPrev.Convert(spec)
	}
	return spec, err
}

// Unheld is what of spec, in version from, its conversion there (in
// version to) would not give back: the fields to has no place for. A
// conversion keeps them aside (an annotation) for the way back.
func (f *Framework) Unheld(spec, there map[string]any, from, to string) map[string]any {
	back, err := f.ConvertSpec(there, to, from)
	if err != nil {
		return nil
	}
	return absentFrom(spec, back)
}

// absentFrom is what of orig back lacks, field by field.
func absentFrom(orig, back map[string]any) map[string]any {
	var out map[string]any
	for k, v := range orig {
		b, has := back[k]
		var lost any
		switch {
		case !has:
			lost = v
		default:
			om, ok1 := v.(map[string]any)
			bm, ok2 := b.(map[string]any)
			if ok1 && ok2 {
				if sub := absentFrom(om, bm); len(sub) > 0 {
					lost = sub
				}
			}
		}
		if lost != nil {
			if out == nil {
				out = map[string]any{}
			}
			out[k] = lost
		}
	}
	return out
}
