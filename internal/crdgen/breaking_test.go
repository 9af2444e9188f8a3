package crdgen_test

import (
	"reflect"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/crdgen"
)

func TestBreakingChanges(t *testing.T) {
	js := func(s string) *apiextensionsv1.JSON { return &apiextensionsv1.JSON{Raw: []byte(s)} }
	f := func(v float64) *float64 { return &v }
	tests := []struct {
		name   string
		change func(*v1alpha1.Framework)
		want   []string
	}{
		{"a new optional parameter is fine", func(fw *v1alpha1.Framework) {
			fw.Spec.Parameters = append(fw.Spec.Parameters, v1alpha1.Parameter{Name: "extra", Type: v1alpha1.TypeString})
		}, nil},
		{"a new required parameter with a default is fine", func(fw *v1alpha1.Framework) {
			fw.Spec.Parameters = append(fw.Spec.Parameters, v1alpha1.Parameter{Name: "extra", Type: v1alpha1.TypeString, Required: true, Default: js(`"x"`)})
		}, nil},
		{"loosened bounds and a wider enum are fine", func(fw *v1alpha1.Framework) {
			fw.Spec.Parameters[1].Maximum = f(9)
			fw.Spec.Parameters[4].Enum = append(fw.Spec.Parameters[4].Enum, *js(`"bronze"`))
		}, nil},
		{"a removed parameter", func(fw *v1alpha1.Framework) {
			fw.Spec.Parameters = fw.Spec.Parameters[1:]
			fw.Spec.Validations = nil
		}, []string{"spec: field title is removed"}},
		{"a retyped parameter", func(fw *v1alpha1.Framework) {
			fw.Spec.Parameters[3].Type = v1alpha1.TypeString
			fw.Spec.Parameters[3].Default = js(`"no"`)
		}, []string{"spec.enabled: type changes from boolean to string"}},
		{"a new required parameter without a default", func(fw *v1alpha1.Framework) {
			fw.Spec.Parameters = append(fw.Spec.Parameters, v1alpha1.Parameter{Name: "owner", Type: v1alpha1.TypeString, Required: true})
		}, []string{"spec: owner is newly required and has no default"}},
		{"a narrowed enum", func(fw *v1alpha1.Framework) {
			fw.Spec.Parameters[4].Enum = []apiextensionsv1.JSON{*js(`"gold"`)}
			fw.Spec.Parameters[4].Default = js(`"gold"`)
		}, []string{`spec.tier: the enum no longer allows "silver"`}},
		{"tightened bounds", func(fw *v1alpha1.Framework) {
			fw.Spec.Parameters[1].Minimum = f(2)
			fw.Spec.Parameters[1].Maximum = f(4)
			fw.Spec.Parameters[2].Maximum = f(10)
		}, []string{"spec.count: minimum tightens from 1 to 2", "spec.count: maximum tightens from 5 to 4", "spec.ratio: maximum 10 is new"}},
		{"a changed pattern", func(fw *v1alpha1.Framework) {
			fw.Spec.Parameters[0].Pattern = "^[a-z]{3}$"
		}, []string{`spec.title: pattern changes from "^[a-z]+$" to "^[a-z]{3}$"`}},
		{"a field removed inside an object parameter", func(fw *v1alpha1.Framework) {
			fw.Spec.Parameters[6].Schema = js(`{"properties":{"secret":{"type":"string"}},"required":["secret"]}`)
		}, []string{"spec.tls: field enabled is removed"}},
		{"a new version", func(fw *v1alpha1.Framework) {
			fw.Spec.Names.Version = "v2"
		}, []string{"version v1beta1 is replaced by v2: stored instances are v1beta1"}},
		{"the stored version moves to v2, v1beta1 still served: a migration, no break", func(fw *v1alpha1.Framework) {
			fw.Spec.Versions = []v1alpha1.Version{{Name: "v1beta1", Parameters: fw.Spec.Parameters}}
			fw.Spec.Names.Version = "v2"
		}, nil},
		{"the stored version moves to v2 and v1beta1 is dropped", func(fw *v1alpha1.Framework) {
			fw.Spec.Versions = []v1alpha1.Version{{Name: "v1alpha1", Parameters: fw.Spec.Parameters}}
			fw.Spec.Names.Version = "v2"
		}, []string{"version v1beta1 is dropped, and instances may be stored as v1beta1 (status.storedVersions)"}},
		{"a served version loses a field", func(fw *v1alpha1.Framework) {
			fw.Spec.Versions = []v1alpha1.Version{{Name: "v1beta1", Parameters: fw.Spec.Parameters[1:]}}
			fw.Spec.Names.Version = "v2"
		}, []string{"v1beta1 spec: field title is removed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := load(t, "testdata/all-types.framework.yaml")
			old, errs := crdgen.Generate(base)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			changed := base.DeepCopy()
			tt.change(changed)
			new, errs := crdgen.Generate(changed)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			if got := crdgen.BreakingChanges(old, new); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}
