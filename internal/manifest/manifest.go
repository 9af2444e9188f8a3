// Package manifest decodes the objects of a YAML (or JSON) text of one or
// more documents as the API server decodes them: integers stay int64, not
// float64. Templates and checks that compare with objects the API server
// returns need that. Empty documents are skipped.
package manifest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	utiljson "k8s.io/apimachinery/pkg/util/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Decode returns the objects of text; name says where it comes from in
// errors, which also give the document's number.
func Decode(text []byte, name string) ([]map[string]any, error) {
	var out []map[string]any
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(text)))
	for i := 1; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", name, i, err)
		}
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d is not YAML: %w", name, i, err)
		}
		js = bytes.TrimSpace(js)
		obj := map[string]any{}
		if len(js) > 0 && string(js) != "null" {
			if err := utiljson.Unmarshal(js, &obj); err != nil {
				return nil, fmt.Errorf("%s: document %d is not an object: %w", name, i, err)
			}
		}
		if len(obj) > 0 {
			out = append(out, obj)
		}
	}
}
