package kube

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// AnnotationDataDigest carries, on an object a trigger cache holds, the
// DataDigest of the object it stands for.
const AnnotationDataDigest = "operetta.dev/data-digest"

// DataDigest is a short digest of obj's data: everything but its kind,
// metadata and status (a Secret's data, a ConfigMap's data, a custom
// object's spec), salted with its uid. A label, an annotation or a status
// change does not change it; a change of the data, or the object made
// again, does. It tells a change and is no copy of the data: a guess of a
// Secret's whole contents can be checked against it only with the
// Secret's uid, by someone who reads the instance's status in the Secret's
// own namespace.
func DataDigest(obj *unstructured.Unstructured) string {
	data := make(map[string]any, len(obj.Object))
	for k, v := range obj.Object {
		switch k {
		case "apiVersion", "kind", "metadata", "status":
		default:
			data[k] = v
		}
	}
	b, err := json.Marshal(data) // map keys sorted: the same data, the same bytes
	if err != nil {
		b = []byte(err.Error())
	}
	h := sha256.New()
	h.Write([]byte(obj.GetUID()))
	h.Write([]byte{0})
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// ThinData is a cache transform that keeps of an object its identity,
// labels and DataDigest only: what a trigger compares, a fraction of a
// Secret or ConfigMap.
func ThinData(in any) (any, error) {
	obj, ok := in.(*unstructured.Unstructured)
	if !ok || thinned(obj) {
		return in, nil
	}
	thin := &unstructured.Unstructured{}
	thin.SetAPIVersion(obj.GetAPIVersion())
	thin.SetKind(obj.GetKind())
	thin.SetNamespace(obj.GetNamespace())
	thin.SetName(obj.GetName())
	thin.SetUID(obj.GetUID())
	thin.SetResourceVersion(obj.GetResourceVersion())
	thin.SetLabels(obj.GetLabels())
	thin.SetAnnotations(map[string]string{AnnotationDataDigest: DataDigest(obj)})
	return thin, nil
}

// DigestOf is the DataDigest of obj, whether a cache holds it thinned
// (ThinData: the digest it carries) or whole.
func DigestOf(obj *unstructured.Unstructured) string {
	if thinned(obj) {
		return obj.GetAnnotations()[AnnotationDataDigest]
	}
	return DataDigest(obj)
}

// thinned says whether obj is ThinData's already: an informer may hand a
// stored object to the transform again, and the digest of a digest is not
// the data's.
func thinned(obj *unstructured.Unstructured) bool {
	if _, ok := obj.GetAnnotations()[AnnotationDataDigest]; !ok {
		return false
	}
	for k := range obj.Object {
		if k != "apiVersion" && k != "kind" && k != "metadata" {
			return false
		}
	}
	return true
}

// CombinedDigest is one digest of several objects' digests (by name): any
// of them changing, appearing or going away changes it; "" for none.
func CombinedDigest(byName map[string]string) string {
	if len(byName) == 0 {
		return ""
	}
	var b strings.Builder
	for _, n := range slices.Sorted(maps.Keys(byName)) {
		b.WriteString(n)
		b.WriteByte('=')
		b.WriteString(byName[n])
		b.WriteByte('\n')
	}
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:])[:16]
}
