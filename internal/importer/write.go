package importer

import (
	"bytes"
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"
)

// YAML is the imported Framework as a file to apply: a header that says
// where it came from and what the importer rewrote, then the Framework.
func (r *Result) YAML(source string) ([]byte, error) {
	body, err := yaml.Marshal(r.Framework)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Imported from the KUDO package %s by kubectl operetta import kudo.\n", source)
	b.WriteString("# Apply it with kubectl apply --server-side: it is too large for the\n")
	b.WriteString("# annotation client-side apply keeps.\n")
	if len(r.Notes) > 0 {
		b.WriteString("#\n# Notes:\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "# - %s\n", strings.ReplaceAll(n, "\n", " "))
		}
	}
	b.Write(body)
	return b.Bytes(), nil
}
