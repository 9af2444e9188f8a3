package expr

import (
	"fmt"

	apiextensions "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
)

// instanceSchema is the schema expressions see for `instance`: the generated
// spec, the metadata fields worth reading, and a status of any shape (it is
// operetta's own, and projections may add to it).
func instanceSchema(spec *apiextensionsv1.JSONSchemaProps) (*structuralschema.Structural, error) {
	str := apiextensionsv1.JSONSchemaProps{Type: "string"}
	stringMap := apiextensionsv1.JSONSchemaProps{Type: "object", AdditionalProperties: &apiextensionsv1.JSONSchemaPropsOrBool{Allows: true, Schema: &str}}
	preserve := true
	v1 := &apiextensionsv1.JSONSchemaProps{
		Type: "object",
		Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"apiVersion": str,
			"kind":       str,
			"metadata": {Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
				"name": str, "namespace": str, "uid": str, "generateName": str,
				"generation":  {Type: "integer", Format: "int64"},
				"labels":      stringMap,
				"annotations": stringMap,
			}},
			"spec":   *spec,
			"status": {Type: "object", XPreserveUnknownFields: &preserve},
		},
	}
	internal := &apiextensions.JSONSchemaProps{}
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v1, internal, nil); err != nil {
		return nil, fmt.Errorf("converting the instance schema: %w", err)
	}
	s, err := structuralschema.NewStructural(internal)
	if err != nil {
		return nil, fmt.Errorf("the instance schema is not structural: %w", err)
	}
	return s, nil
}
