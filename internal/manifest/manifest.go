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

// MaxObjectBytes is the largest object the API server stores (etcd's
// default request limit): a rendered object larger than this is refused
// before it costs the manager an encoding, a hash or a request.
const MaxObjectBytes = 1536 << 10

// Within says whether obj, encoded as JSON, takes at most limit bytes. It
// counts as it walks and stops past the limit, so a value repeated many
// times over (a CEL list of one long string) is refused without being
// encoded: the encoding would be what exhausts the memory.
func Within(obj any, limit int) bool {
	n := 0
	var walk func(any) bool
	walk = func(v any) bool {
		switch v := v.(type) {
		case map[string]any:
			n += 2
			for k, e := range v {
				n += len(k) + 4
				if n > limit || !walk(e) {
					return false
				}
			}
		case []any:
			n += 2
			for _, e := range v {
				n++
				if n > limit || !walk(e) {
					return false
				}
			}
		case string:
			n += len(v) + 2
		default:
			n += 24 // a number, a bool or null: at most this many bytes
		}
		return n <= limit
	}
	return walk(obj)
}
