package crdgen

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	apiextensions "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"operetta.dev/operetta/api/v1alpha1"
)

// Generate returns the CRD for fw's generated kind, or the list of fields that
// keep it from being one. It never returns both.
func Generate(fw *v1alpha1.Framework) (*apiextensionsv1.CustomResourceDefinition, field.ErrorList) {
	names := NamesOf(fw)
	specPath := field.NewPath("spec")

	spec, errs := specSchema(fw, specPath)
	if len(errs) > 0 {
		return nil, errs
	}

	crd := &apiextensionsv1.CustomResourceDefinition{
		TypeMeta: metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition"},
		ObjectMeta: metav1.ObjectMeta{
			Name: names.Plural + "." + names.Group,
			Labels: map[string]string{
				v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue,
				v1alpha1.LabelFramework: fw.Name,
			},
		},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: names.Group,
			Names: apiextensionsv1.CustomResourceDefinitionNames{
				Plural:     names.Plural,
				Singular:   strings.ToLower(names.Kind),
				Kind:       names.Kind,
				ListKind:   names.Kind + "List",
				ShortNames: names.ShortNames,
				Categories: []string{v1alpha1.CategoryAllKinds},
			},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{
				version(names.Version, fw, spec, fw.Spec.PrinterColumns),
			},
			Conversion: &apiextensionsv1.CustomResourceConversion{Strategy: apiextensionsv1.NoneConverter},
		},
	}
	// The other versions come after the stored one, in their order: the
	// translation of the API server's errors counts on versions[0].
	for i, v := range fw.Spec.Versions {
		vpath := specPath.Child("versions").Index(i)
		vspec, verrs := parametersSchema(fw, v.Parameters, nil, vpath)
		errs = append(errs, verrs...)
		cv := version(v.Name, fw, vspec, v.PrinterColumns)
		cv.Storage, cv.Served = false, v.Served == nil || *v.Served
		cv.Deprecated = v.Deprecated
		if v.DeprecationWarning != "" {
			cv.DeprecationWarning = &v.DeprecationWarning
		}
		crd.Spec.Versions = append(crd.Spec.Versions, cv)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if errs := validate(crd, fw); len(errs) > 0 {
		return nil, errs
	}
	return crd, nil
}

// version is one version of the CRD, stored and served, whose spec is spec.
func version(name string, fw *v1alpha1.Framework, spec apiextensionsv1.JSONSchemaProps, columns []v1alpha1.PrinterColumn) apiextensionsv1.CustomResourceDefinitionVersion {
	return apiextensionsv1.CustomResourceDefinitionVersion{
		Name:    name,
		Served:  true,
		Storage: true,
		Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
			Type:        "object",
			Description: description(fw),
			// Required rather than defaulted to {}: the API server checks
			// a default against the rules without applying the defaults
			// inside it, so {} would fail every rule over a parameter.
			Required: []string{"spec"},
			Properties: map[string]apiextensionsv1.JSONSchemaProps{
				"apiVersion": {Type: "string"},
				"kind":       {Type: "string"},
				"metadata":   {Type: "object"},
				"spec":       spec,
				"status":     statusSchema(),
			},
		}},
		Subresources:             &apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}},
		AdditionalPrinterColumns: printerColumns(columns),
	}
}

func description(fw *v1alpha1.Framework) string {
	d := fmt.Sprintf("%s is run by operetta from the Framework %q.", fw.Spec.Names.Kind, fw.Name)
	if fw.Spec.AppVersion != "" {
		d += fmt.Sprintf(" App version %s.", fw.Spec.AppVersion)
	}
	return d
}

// specSchema builds the stored version's .spec from the parameters.
func specSchema(fw *v1alpha1.Framework, specPath *field.Path) (apiextensionsv1.JSONSchemaProps, field.ErrorList) {
	spec, errs := parametersSchema(fw, fw.Spec.Parameters, scheduleParameters(fw), specPath)
	for _, v := range fw.Spec.Validations {
		spec.XValidations = append(spec.XValidations, apiextensionsv1.ValidationRule{Rule: v.Rule, Message: v.Message})
	}
	return spec, errs
}

// parametersSchema builds a version's .spec from its parameters, path
// being where they are (spec, or spec.versions[i]); schedules are those a
// schedule reads whole.
func parametersSchema(fw *v1alpha1.Framework, params []v1alpha1.Parameter, schedules map[string]bool, specPath *field.Path) (apiextensionsv1.JSONSchemaProps, field.ErrorList) {
	var errs field.ErrorList
	spec := apiextensionsv1.JSONSchemaProps{
		Type:        "object",
		Description: "Parameters of the " + fw.Spec.Names.Kind + ".",
		Properties:  map[string]apiextensionsv1.JSONSchemaProps{},
	}
	for i, p := range params {
		path := specPath.Child("parameters").Index(i)
		prop, perrs := parameterSchema(p, path)
		errs = append(errs, perrs...)
		if schedules[p.Name] && p.Type == v1alpha1.TypeString && prop.Pattern == "" {
			// The API server refuses what is not a schedule at all; the
			// rest (a field out of range) the instance's status names.
			prop.Pattern = cronPattern
		}
		spec.Properties[p.Name] = prop
		if p.Required {
			spec.Required = append(spec.Required, p.Name)
		}
	}
	return spec, errs
}

// cronPattern accepts "" (no schedule) and what has a schedule's shape: an
// optional CRON_TZ= or TZ= zone, then a descriptor (@daily, @every 6h) or
// five fields of cron's characters.
const cronPattern = `^$|^((CRON_TZ|TZ)=\S+\s+)?(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|@every\s+\S+|[0-9A-Za-z*/,?-]+(\s+[0-9A-Za-z*/,?-]+){4})$`

// scheduleParameters are the parameters a schedule of fw reads whole as
// its schedule ("${instance.spec.backupSchedule}").
func scheduleParameters(fw *v1alpha1.Framework) map[string]bool {
	out := map[string]bool{}
	for _, s := range fw.Spec.Schedules {
		if m := wholeParameter.FindStringSubmatch(strings.TrimSpace(s.Schedule)); m != nil {
			out[m[1]] = true
		}
	}
	return out
}

var wholeParameter = regexp.MustCompile(`^\$\{\s*instance\.spec\.([A-Za-z_][A-Za-z0-9_]*)\s*\}$`)

// parameterSchema builds one spec field. The parameter's own fields win over
// anything its escape-hatch schema says.
func parameterSchema(p v1alpha1.Parameter, path *field.Path) (apiextensionsv1.JSONSchemaProps, field.ErrorList) {
	var prop apiextensionsv1.JSONSchemaProps
	if p.Schema != nil {
		if err := json.Unmarshal(p.Schema.Raw, &prop); err != nil {
			return prop, field.ErrorList{field.Invalid(path.Child("schema"), string(p.Schema.Raw), "not an OpenAPI v3 schema: "+err.Error())}
		}
	}
	prop.Type = string(p.Type)
	if p.Description != "" {
		prop.Description = p.Description
	}
	if p.Default != nil {
		prop.Default = p.Default.DeepCopy()
	}
	if len(p.Enum) > 0 {
		prop.Enum = append([]apiextensionsv1.JSON(nil), p.Enum...)
	}
	prop.Minimum, prop.Maximum = p.Minimum, p.Maximum
	if p.Pattern != "" {
		prop.Pattern = p.Pattern
	}
	switch p.Type {
	case v1alpha1.TypeObject:
		if len(prop.Properties) == 0 && prop.AdditionalProperties == nil {
			prop.XPreserveUnknownFields = ptrTrue()
		}
	case v1alpha1.TypeArray:
		if prop.Items == nil {
			prop.Items = &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &apiextensionsv1.JSONSchemaProps{XPreserveUnknownFields: ptrTrue()}}
		}
	}
	if p.Immutable {
		prop.XValidations = append(prop.XValidations, apiextensionsv1.ValidationRule{
			Rule:    "self == oldSelf",
			Message: p.Name + " is immutable: create a new instance to change it",
		})
	}
	return prop, nil
}

func printerColumns(own []v1alpha1.PrinterColumn) []apiextensionsv1.CustomResourceColumnDefinition {
	cols := []apiextensionsv1.CustomResourceColumnDefinition{
		{Name: "Ready", Type: "string", JSONPath: `.status.conditions[?(@.type=="Ready")].status`},
		{Name: "Plan", Type: "string", JSONPath: ".status.activePlan"},
		{Name: "Status", Type: "string", JSONPath: ".status.activePlanStatus"},
	}
	for _, c := range own {
		t := c.Type
		if t == "" {
			t = "string"
		}
		cols = append(cols, apiextensionsv1.CustomResourceColumnDefinition{Name: c.Name, Type: t, JSONPath: c.JSONPath, Description: c.Description})
	}
	return append(cols,
		apiextensionsv1.CustomResourceColumnDefinition{Name: "Age", Type: "date", JSONPath: ".metadata.creationTimestamp"},
		// -o wide: the revision it runs, and why it is (not) ready, in a
		// word and in full.
		apiextensionsv1.CustomResourceColumnDefinition{Name: "Revision", Type: "string", Priority: 1, JSONPath: ".status.frameworkRevision"},
		apiextensionsv1.CustomResourceColumnDefinition{Name: "Reason", Type: "string", Priority: 1,
			JSONPath: `.status.conditions[?(@.type=="Ready")].reason`},
		apiextensionsv1.CustomResourceColumnDefinition{Name: "Message", Type: "string", Priority: 1,
			JSONPath: `.status.conditions[?(@.type=="Ready")].message`})
}

// validate runs the API server's own CRD validation, so that what it would
// refuse is refused here, before anything is installed.
func validate(crd *apiextensionsv1.CustomResourceDefinition, fw *v1alpha1.Framework) field.ErrorList {
	internal := &apiextensions.CustomResourceDefinition{}
	if err := apiextensionsv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(crd, internal, nil); err != nil {
		return field.ErrorList{field.InternalError(field.NewPath("spec"), err)}
	}
	// Validation also checks status; a new CRD stores its stored version.
	internal.Status.StoredVersions = []string{crd.Spec.Versions[0].Name}
	errs := validation.ValidateCustomResourceDefinition(context.Background(), internal)
	return translate(errs, fw)
}

func ptrTrue() *bool { t := true; return &t }
