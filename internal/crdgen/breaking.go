package crdgen

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

// BreakingChanges lists what the new CRD of a Framework would break for
// instances written against the old one: a version dropped, a field removed or
// retyped, a new required field without a default, an enum narrowed, a bound
// tightened or a pattern changed. Each entry names the field.
//
// Of a kind served in several versions, each version still served is
// compared with itself; one no longer served breaks its clients, and the
// stored one (or one objects may still be stored as, storedVersions)
// cannot go. The stored version may move to another served version: that
// is a migration, not a break.
func BreakingChanges(old, new *apiextensionsv1.CustomResourceDefinition) []string {
	var out []string
	if old.Spec.Names.Kind != new.Spec.Names.Kind {
		out = append(out, fmt.Sprintf("kind %s is renamed %s", old.Spec.Names.Kind, new.Spec.Names.Kind))
	}
	served := map[string]apiextensionsv1.CustomResourceDefinitionVersion{}
	for _, v := range new.Spec.Versions {
		served[v.Name] = v
	}
	stored := map[string]bool{}
	for _, name := range old.Status.StoredVersions {
		stored[name] = true
	}
	newStorage := new.Spec.Versions[0].Name
	for _, ov := range old.Spec.Versions {
		stored[ov.Name] = stored[ov.Name] || ov.Storage
		nv, ok := served[ov.Name]
		switch {
		case !ok && len(old.Spec.Versions) == 1 && len(new.Spec.Versions) == 1:
			out = append(out, fmt.Sprintf("version %s is replaced by %s: stored instances are %s", ov.Name, newStorage, ov.Name))
			continue
		case !ok && stored[ov.Name]:
			out = append(out, fmt.Sprintf("version %s is dropped, and instances may be stored as %s (status.storedVersions)", ov.Name, ov.Name))
			continue
		case !ok:
			out = append(out, fmt.Sprintf("version %s is dropped: its clients get 404", ov.Name))
			continue
		}
		path := "spec"
		if len(old.Spec.Versions) > 1 || len(new.Spec.Versions) > 1 {
			path = ov.Name + " spec"
		}
		if oldSpec, newSpec := specOf(ov), specOf(nv); oldSpec != nil && newSpec != nil {
			out = append(out, compareSchemas(path, oldSpec, newSpec)...)
		}
	}
	return out
}

func specOf(v apiextensionsv1.CustomResourceDefinitionVersion) *apiextensionsv1.JSONSchemaProps {
	if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
		return nil
	}
	s, ok := v.Schema.OpenAPIV3Schema.Properties["spec"]
	if !ok {
		return nil
	}
	return &s
}

func compareSchemas(path string, old, new *apiextensionsv1.JSONSchemaProps) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, path+": "+fmt.Sprintf(format, args...)) }
	if old.Type != new.Type {
		add("type changes from %s to %s", old.Type, new.Type)
		return out // nothing below compares across types
	}
	out = append(out, compareEnums(path, old.Enum, new.Enum)...)
	tighter := func(what string, o, n *float64, lower bool) {
		switch {
		case n == nil:
		case o == nil:
			add("%s %v is new", what, *n)
		case lower && *n > *o, !lower && *n < *o:
			add("%s tightens from %v to %v", what, *o, *n)
		}
	}
	tighter("minimum", old.Minimum, new.Minimum, true)
	tighter("maximum", old.Maximum, new.Maximum, false)
	tighter("minLength", intToFloat(old.MinLength), intToFloat(new.MinLength), true)
	tighter("maxLength", intToFloat(old.MaxLength), intToFloat(new.MaxLength), false)
	tighter("minItems", intToFloat(old.MinItems), intToFloat(new.MinItems), true)
	tighter("maxItems", intToFloat(old.MaxItems), intToFloat(new.MaxItems), false)
	if new.Pattern != "" && new.Pattern != old.Pattern {
		add("pattern changes from %q to %q", old.Pattern, new.Pattern)
	}
	oldRequired := map[string]bool{}
	for _, r := range old.Required {
		oldRequired[r] = true
	}
	for _, r := range new.Required {
		if p, ok := new.Properties[r]; !oldRequired[r] && (!ok || p.Default == nil) {
			add("%s is newly required and has no default", r)
		}
	}
	for _, name := range sortedKeys(old.Properties) {
		o := old.Properties[name]
		n, ok := new.Properties[name]
		if !ok {
			if new.XPreserveUnknownFields == nil || !*new.XPreserveUnknownFields {
				add("field %s is removed", name)
			}
			continue
		}
		out = append(out, compareSchemas(path+"."+name, &o, &n)...)
	}
	if old.Items != nil && old.Items.Schema != nil && new.Items != nil && new.Items.Schema != nil {
		out = append(out, compareSchemas(path+"[*]", old.Items.Schema, new.Items.Schema)...)
	}
	if old.AdditionalProperties != nil && old.AdditionalProperties.Schema != nil &&
		new.AdditionalProperties != nil && new.AdditionalProperties.Schema != nil {
		out = append(out, compareSchemas(path+"[*]", old.AdditionalProperties.Schema, new.AdditionalProperties.Schema)...)
	}
	return out
}

func compareEnums(path string, old, new []apiextensionsv1.JSON) []string {
	if len(new) == 0 {
		return nil
	}
	allowed := map[string]bool{}
	for _, v := range new {
		allowed[canonical(v)] = true
	}
	if len(old) == 0 {
		return []string{fmt.Sprintf("%s: an enum is new: only %s are allowed", path, joinJSON(new))}
	}
	var dropped []apiextensionsv1.JSON
	for _, v := range old {
		if !allowed[canonical(v)] {
			dropped = append(dropped, v)
		}
	}
	if len(dropped) == 0 {
		return nil
	}
	return []string{fmt.Sprintf("%s: the enum no longer allows %s", path, joinJSON(dropped))}
}

func canonical(v apiextensionsv1.JSON) string {
	var x any
	if err := json.Unmarshal(v.Raw, &x); err != nil {
		return string(v.Raw)
	}
	b, _ := json.Marshal(x)
	return string(b)
}

func joinJSON(vs []apiextensionsv1.JSON) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = canonical(v)
	}
	return strings.Join(parts, ", ")
}

func intToFloat(i *int64) *float64 {
	if i == nil {
		return nil
	}
	f := float64(*i)
	return &f
}

func sortedKeys(m map[string]apiextensionsv1.JSONSchemaProps) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
