package expr

import (
	"fmt"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

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
	return structuralOf(v1)
}

// structuralOf is the structural form of a schema, which CEL types and
// values are made from.
func structuralOf(v1 *apiextensionsv1.JSONSchemaProps) (*structuralschema.Structural, error) {
	internal := &apiextensions.JSONSchemaProps{}
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v1, internal, nil); err != nil {
		return nil, fmt.Errorf("converting the schema: %w", err)
	}
	s, err := structuralschema.NewStructural(internal)
	if err != nil {
		return nil, fmt.Errorf("the schema is not structural: %w", err)
	}
	return s, nil
}

// CompileValue compiles a template string whose value goes into a typed
// field, and returns the field's schema: the expression's type for a lone
// ${expr}, a string for text with expressions in it.
func (e *Env) CompileValue(s string, path *field.Path) (*Template, apiextensionsv1.JSONSchemaProps, field.ErrorList) {
	tpl, errs := e.CompileTemplate(s, path)
	if len(errs) > 0 {
		return nil, apiextensionsv1.JSONSchemaProps{}, errs
	}
	if n, ok := tpl.root.(typedExpr); ok {
		return tpl, schemaOf(n.prg.output), nil
	}
	return tpl, apiextensionsv1.JSONSchemaProps{Type: "string"}, nil
}

// schemaOf is the OpenAPI schema of values of a CEL type.
func schemaOf(t *cel.Type) apiextensionsv1.JSONSchemaProps {
	preserve := true
	switch {
	case t.IsExactType(cel.IntType), t.IsExactType(cel.UintType):
		return apiextensionsv1.JSONSchemaProps{Type: "integer", Format: "int64"}
	case t.IsExactType(cel.DoubleType):
		return apiextensionsv1.JSONSchemaProps{Type: "number"}
	case t.IsExactType(cel.StringType), t.IsExactType(cel.DurationType), t.IsExactType(cel.BytesType):
		return apiextensionsv1.JSONSchemaProps{Type: "string"}
	case t.IsExactType(cel.TimestampType):
		return apiextensionsv1.JSONSchemaProps{Type: "string", Format: "date-time"}
	case t.IsExactType(cel.BoolType):
		return apiextensionsv1.JSONSchemaProps{Type: "boolean"}
	case t.Kind() == types.ListKind:
		return apiextensionsv1.JSONSchemaProps{Type: "array", Items: &apiextensionsv1.JSONSchemaPropsOrArray{
			Schema: &apiextensionsv1.JSONSchemaProps{XPreserveUnknownFields: &preserve},
		}}
	case t.Kind() == types.MapKind, t.Kind() == types.StructKind:
		return apiextensionsv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: &preserve}
	default: // dyn, null, optional: any value
		return apiextensionsv1.JSONSchemaProps{XPreserveUnknownFields: &preserve}
	}
}
