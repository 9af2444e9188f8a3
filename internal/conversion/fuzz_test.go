package conversion

import (
	"math/rand/v2"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/convert"
)

// specSchema is the spec's schema of version of c's CRD.
func specSchema(t testing.TB, c *compile.Framework, version string) *apiextensionsv1.JSONSchemaProps {
	for _, v := range c.CRD.Spec.Versions {
		if v.Name == version {
			s := v.Schema.OpenAPIV3Schema.Properties["spec"]
			return &s
		}
	}
	t.Fatalf("no version %s", version)
	return nil
}

// FuzzTheHandlerLosesNothing sends the handler, as the API server would,
// objects generated from each version's schema, converted to the other
// version and back: they come back as they were, kept annotation included.
// Any bytes as an object get an answer, never a panic.
func FuzzTheHandlerLosesNothing(f *testing.F) {
	for _, seed := range []uint64{0, 1, 42, 1 << 40} {
		f.Add(seed, []byte(`{"apiVersion":"things.example.com/v1","kind":"Thing","metadata":{"name":"t"},"spec":{"size":"x"}}`))
	}
	f.Add(uint64(7), []byte(`{"apiVersion":"things.example.com/v9","kind":"Thing"}`))
	f.Add(uint64(8), []byte(`[]`))
	h := handler(f)
	c := things(f)
	f.Fuzz(func(t *testing.T, seed uint64, raw []byte) {
		// Whatever it is sent, it answers.
		resp := h.Review(&apiextensionsv1.ConversionRequest{UID: "x", DesiredAPIVersion: "things.example.com/v2", Objects: []runtime.RawExtension{{Raw: raw}}})
		if resp == nil || resp.UID != "x" || (resp.Result.Status == metav1.StatusSuccess) != (len(resp.ConvertedObjects) == 1) {
			t.Fatalf("an answer to %q: %+v", raw, resp)
		}

		rng := rand.New(rand.NewPCG(seed, seed>>7))
		for _, pair := range [][2]string{{"v2", "v1"}, {"v1", "v2"}} {
			from, to := pair[0], pair[1]
			spec, _ := convert.Sample(specSchema(t, c, from), rng, 0).(map[string]any)
			in := thing(from, spec, map[string]string{"team": "a"})
			there := converted(t, h.Review(&apiextensionsv1.ConversionRequest{UID: "1", DesiredAPIVersion: "things.example.com/" + to, Objects: []runtime.RawExtension{in}}))[0]
			b, err := there.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			back := converted(t, h.Review(&apiextensionsv1.ConversionRequest{UID: "2", DesiredAPIVersion: "things.example.com/" + from, Objects: []runtime.RawExtension{{Raw: b}}}))[0]
			want := &unstructured.Unstructured{}
			if err := want.UnmarshalJSON(in.Raw); err != nil {
				t.Fatal(err)
			}
			if show(back.Object) != show(want.Object) {
				t.Fatalf("%s → %s → %s:\n got %s\nwant %s\n(as %s: %s)", from, to, from, show(back.Object), show(want.Object), to, show(there.Object))
			}
		}
	})
}
