package expr

import (
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel/model"
	"k8s.io/apiserver/pkg/cel/common"
)

// memoSchema is apiextensions' schema adaptor with its children built once.
// The adaptor builds a new map of every property on each field access, which
// was a tenth of a reconcile's CPU; an instance's schema does not change
// while its Framework generation runs.
type memoSchema struct {
	*model.Structural
	items      common.Schema
	properties map[string]common.Schema
	additional common.SchemaOrBool
}

func newMemoSchema(s *structuralschema.Structural) *memoSchema {
	m := &memoSchema{Structural: &model.Structural{Structural: s}}
	if s.Items != nil {
		m.items = newMemoSchema(s.Items)
	}
	if s.Properties != nil {
		m.properties = make(map[string]common.Schema, len(s.Properties))
		for name := range s.Properties {
			prop := s.Properties[name]
			m.properties[name] = newMemoSchema(&prop)
		}
	}
	if ap := s.AdditionalProperties; ap != nil {
		or := &memoSchemaOrBool{allows: ap.Bool}
		if ap.Structural != nil {
			or.schema = newMemoSchema(ap.Structural)
		}
		m.additional = or
	}
	return m
}

func (m *memoSchema) Items() common.Schema                      { return m.items }
func (m *memoSchema) Properties() map[string]common.Schema      { return m.properties }
func (m *memoSchema) AdditionalProperties() common.SchemaOrBool { return m.additional }

type memoSchemaOrBool struct {
	schema common.Schema
	allows bool
}

func (o *memoSchemaOrBool) Schema() common.Schema { return o.schema }
func (o *memoSchemaOrBool) Allows() bool          { return o.allows }
