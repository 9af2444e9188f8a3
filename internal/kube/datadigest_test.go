package kube

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8stypes "k8s.io/apimachinery/pkg/types"
)

func secret(uid, label, status string, data map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls", "data": data}}
	u.SetName("tls")
	u.SetNamespace("team-a")
	u.SetUID(k8stypes.UID(uid))
	u.SetLabels(map[string]string{"rotated": label})
	u.SetResourceVersion(label + status)
	if status != "" {
		u.Object["status"] = map[string]any{"seen": status}
	}
	return u
}

func TestDataDigestSeesDataNotMetadataOrStatus(t *testing.T) {
	base := DataDigest(secret("u1", "a", "", map[string]any{"tls.crt": "AAA", "tls.key": "BBB"}))
	for _, tc := range []struct {
		name string
		obj  *unstructured.Unstructured
		same bool
	}{
		{"a label", secret("u1", "b", "", map[string]any{"tls.crt": "AAA", "tls.key": "BBB"}), true},
		{"a status", secret("u1", "a", "x", map[string]any{"tls.crt": "AAA", "tls.key": "BBB"}), true},
		{"the keys in another order", secret("u1", "a", "", map[string]any{"tls.key": "BBB", "tls.crt": "AAA"}), true},
		{"a value", secret("u1", "a", "", map[string]any{"tls.crt": "AAC", "tls.key": "BBB"}), false},
		{"a key more", secret("u1", "a", "", map[string]any{"tls.crt": "AAA", "tls.key": "BBB", "ca.crt": "C"}), false},
		{"the same data in an object made again", secret("u2", "a", "", map[string]any{"tls.crt": "AAA", "tls.key": "BBB"}), false},
	} {
		if got := DataDigest(tc.obj) == base; got != tc.same {
			t.Errorf("%s: same digest %v, want %v", tc.name, got, tc.same)
		}
	}
	if len(base) != 16 {
		t.Errorf("digest %q is not 16 hex digits", base)
	}
}

func TestThinDataKeepsIdentityLabelsAndDigestOnly(t *testing.T) {
	in := secret("u1", "a", "x", map[string]any{"tls.key": "c2VjcmV0"})
	out, err := ThinData(in)
	if err != nil {
		t.Fatal(err)
	}
	thin := out.(*unstructured.Unstructured)
	if _, has := thin.Object["data"]; has {
		t.Fatal("the thin object kept the data")
	}
	if thin.GetName() != "tls" || thin.GetNamespace() != "team-a" || thin.GetUID() != "u1" || thin.GetLabels()["rotated"] != "a" ||
		thin.GetKind() != "Secret" || thin.GetResourceVersion() != "ax" {
		t.Fatalf("identity lost: %v", thin.Object)
	}
	if got := thin.GetAnnotations()[AnnotationDataDigest]; got != DataDigest(in) {
		t.Fatalf("digest %q, want %q", got, DataDigest(in))
	}
}

func TestCombinedDigestChangesWithAnyMember(t *testing.T) {
	two := CombinedDigest(map[string]string{"a": "1", "b": "2"})
	for name, other := range map[string]map[string]string{
		"one changed": {"a": "1", "b": "3"},
		"one gone":    {"a": "1"},
		"one more":    {"a": "1", "b": "2", "c": "3"},
		"renamed":     {"a": "1", "c": "2"},
	} {
		if CombinedDigest(other) == two {
			t.Errorf("%s: same digest", name)
		}
	}
	if CombinedDigest(map[string]string{"b": "2", "a": "1"}) != two {
		t.Error("the same members gave another digest")
	}
	if CombinedDigest(nil) != "" {
		t.Error("no members should be the empty digest")
	}
}

// An informer hands its stored objects to the transform again (a resync):
// the digest must stay the data's.
func TestThinDataIsIdempotent(t *testing.T) {
	in := secret("u1", "a", "", map[string]any{"tls.key": "c2VjcmV0"})
	once, _ := ThinData(in)
	twice, _ := ThinData(once)
	if got := twice.(*unstructured.Unstructured).GetAnnotations()[AnnotationDataDigest]; got != DataDigest(in) {
		t.Fatalf("thinned twice: digest %q, want %q", got, DataDigest(in))
	}
}

func TestDigestOfAThinOrAWholeObjectIsTheData(t *testing.T) {
	whole := secret("u1", "a", "", map[string]any{"tls.key": "c2VjcmV0"})
	thin, _ := ThinData(whole.DeepCopy())
	if DigestOf(whole) != DataDigest(whole) || DigestOf(thin.(*unstructured.Unstructured)) != DataDigest(whole) {
		t.Fatalf("whole %s, thin %s, want %s", DigestOf(whole), DigestOf(thin.(*unstructured.Unstructured)), DataDigest(whole))
	}
}
