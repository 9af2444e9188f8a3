package crdgen

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"operetta.dev/operetta/api/v1alpha1"
)

// WithDigest is crd annotated with the digest of what operetta applies of it
// (its labels and spec): a manager that starts compares it with the CRD its
// cache holds instead of applying again, and a preview shows the same.
func WithDigest(crd *apiextensionsv1.CustomResourceDefinition) (*apiextensionsv1.CustomResourceDefinition, error) {
	b, err := json.Marshal(struct {
		Labels map[string]string
		Spec   apiextensionsv1.CustomResourceDefinitionSpec
	}{crd.Labels, crd.Spec})
	if err != nil {
		return nil, fmt.Errorf("digesting CRD %s: %w", crd.Name, err)
	}
	sum := sha256.Sum256(b)
	out := crd.DeepCopy()
	if out.Annotations == nil {
		out.Annotations = map[string]string{}
	}
	out.Annotations[v1alpha1.AnnotationCRDDigest] = hex.EncodeToString(sum[:8])
	return out, nil
}
