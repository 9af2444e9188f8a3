package crdgen

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"operetta.dev/operetta/api/v1alpha1"
)

// statusSchema is the schema of v1alpha1.InstanceStatus, the status every
// generated kind shares. A test round-trips a filled InstanceStatus through it
// so the two cannot drift apart.
func statusSchema() apiextensionsv1.JSONSchemaProps {
	str := apiextensionsv1.JSONSchemaProps{Type: "string"}
	execution := apiextensionsv1.JSONSchemaProps{
		Type: "string",
		Enum: jsonStrings("NEVER_RUN", "PENDING", "IN_PROGRESS", "COMPLETE", "ERROR", "FATAL_ERROR"),
	}
	timestamp := apiextensionsv1.JSONSchemaProps{Type: "string", Format: "date-time"}
	step := apiextensionsv1.JSONSchemaProps{
		Type:     "object",
		Required: []string{"name", "status"},
		Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"name": str, "status": execution, "message": str, "startedAt": timestamp,
		},
	}
	phase := apiextensionsv1.JSONSchemaProps{
		Type:     "object",
		Required: []string{"name", "status"},
		Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"name": str, "status": execution, "message": str,
			"steps": {Type: "array", Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &step}},
		},
	}
	plan := apiextensionsv1.JSONSchemaProps{
		Type:     "object",
		Required: []string{"status"},
		Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"status": execution, "message": str, "uid": str,
			"startedAt": timestamp, "finishedAt": timestamp,
			"phases": {Type: "array", Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &phase}},
		},
	}
	return apiextensionsv1.JSONSchemaProps{
		Type: "object",
		Description: "Written by operetta only. Its default makes an instance operetta has not reconciled yet " +
			"read as in progress to kstatus (observedGeneration 0 is behind every generation), not as current.",
		// Defaults apply when an object is read, so an instance created a
		// moment ago has it too.
		Default: &apiextensionsv1.JSON{Raw: []byte(`{"observedGeneration":0}`)},
		Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"observedGeneration": {Type: "integer", Format: "int64"},
			"conditions": {
				Type:         "array",
				XListType:    ptrString("map"),
				XListMapKeys: []string{"type"},
				Items:        &apiextensionsv1.JSONSchemaPropsOrArray{Schema: ptrSchema(conditionSchema())},
			},
			"activePlan":          str,
			"activePlanStatus":    execution,
			"planQueue":           {Type: "array", Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &str}},
			"parameterDigests":    {Type: "object", AdditionalProperties: &apiextensionsv1.JSONSchemaPropsOrBool{Allows: true, Schema: &str}},
			"frameworkGeneration": {Type: "integer", Format: "int64"},
			"lastRunPlan":         str,
			"runPlanError":        str,
			"inventory": {Type: "array", Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &apiextensionsv1.JSONSchemaProps{
				Type:     "object",
				Required: []string{"id", "apiVersion", "kind", "name"},
				Properties: map[string]apiextensionsv1.JSONSchemaProps{
					"id": str, "apiVersion": str, "kind": str, "name": str, "observed": str, "hash": str,
					"namespace": str, "cluster": {Type: "boolean"},
				},
			}}},
			"plans": {
				Type:                 "object",
				AdditionalProperties: &apiextensionsv1.JSONSchemaPropsOrBool{Allows: true, Schema: &plan},
			},
		},
	}
}

// conditionSchema is metav1.Condition's schema, as controller-gen writes it.
func conditionSchema() apiextensionsv1.JSONSchemaProps {
	return apiextensionsv1.JSONSchemaProps{
		Type:     "object",
		Required: []string{"lastTransitionTime", "message", "reason", "status", "type"},
		Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"type":               {Type: "string", MaxLength: ptrInt(316)},
			"status":             {Type: "string", Enum: jsonStrings("True", "False", "Unknown")},
			"observedGeneration": {Type: "integer", Format: "int64", Minimum: ptrFloat(0)},
			"lastTransitionTime": {Type: "string", Format: "date-time"},
			"reason":             {Type: "string", MaxLength: ptrInt(1024), MinLength: ptrInt(1)},
			"message":            {Type: "string", MaxLength: ptrInt(32768)},
		},
	}
}

func jsonStrings(values ...string) []apiextensionsv1.JSON {
	out := make([]apiextensionsv1.JSON, len(values))
	for i, v := range values {
		out[i] = apiextensionsv1.JSON{Raw: []byte(`"` + v + `"`)}
	}
	return out
}

func ptrSchema(s apiextensionsv1.JSONSchemaProps) *apiextensionsv1.JSONSchemaProps { return &s }
func ptrString(s string) *string                                                   { return &s }
func ptrInt(i int64) *int64                                                        { return &i }
func ptrFloat(f float64) *float64                                                  { return &f }

// IsReservedStatusField says whether name is a status field operetta writes
// itself, which a projection may not take. It reads the status schema, so the
// two cannot disagree.
func IsReservedStatusField(name string) bool {
	_, ok := statusSchema().Properties[name]
	return ok
}

// WithStatusFields adds projected fields to crd's status schema and checks the
// result with the API server's validation again.
func WithStatusFields(crd *apiextensionsv1.CustomResourceDefinition, fw *v1alpha1.Framework, fields map[string]apiextensionsv1.JSONSchemaProps) (*apiextensionsv1.CustomResourceDefinition, field.ErrorList) {
	out := crd.DeepCopy()
	status := out.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["status"]
	for name, schema := range fields {
		status.Properties[name] = schema
	}
	out.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["status"] = status
	if errs := validate(out, fw); len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}
