package conversion

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
)

// things is stored as v2 ({replicas, resources.memory, tags}) and served
// as v1 too ({size, memory}): v1 has no place for tags.
func things(t testing.TB) *compile.Framework {
	t.Helper()
	raw := func(s string) *apiextensionsv1.JSON { return &apiextensionsv1.JSON{Raw: []byte(s)} }
	fw := &v1alpha1.Framework{
		ObjectMeta: metav1.ObjectMeta{Name: "things", Generation: 1},
		Spec: v1alpha1.FrameworkSpec{
			Names: v1alpha1.Names{Group: "things.example.com", Kind: "Thing", Version: "v2"},
			Parameters: []v1alpha1.Parameter{
				{Name: "replicas", Type: v1alpha1.TypeInteger},
				{Name: "resources", Type: v1alpha1.TypeObject, Schema: raw(`{"properties":{"memory":{"type":"string"}}}`)},
				{Name: "tags", Type: v1alpha1.TypeArray, Schema: raw(`{"items":{"type":"string"}}`)},
			},
			Tasks: []v1alpha1.Task{{Name: "noop", Kind: v1alpha1.TaskDummy, Done: true}},
			Plans: map[string]v1alpha1.Plan{"deploy": {Phases: []v1alpha1.Phase{{Name: "p", Steps: []v1alpha1.Step{{Name: "s", Tasks: []string{"noop"}}}}}}},
			Versions: []v1alpha1.Version{{Name: "v1",
				Parameters: []v1alpha1.Parameter{{Name: "size", Type: v1alpha1.TypeInteger}, {Name: "memory", Type: v1alpha1.TypeString}},
				ToNext:     map[string]string{"replicas": "${self.?size}", "resources.memory": "${self.?memory}"},
				FromNext:   map[string]string{"size": "${self.?replicas}", "memory": "${self.?resources.?memory}"},
			}},
		},
	}
	c, errs := compile.Compile(fw)
	if len(errs) > 0 {
		t.Fatal(compile.Message(errs))
	}
	return c
}

func handler(t testing.TB) *Handler {
	c := things(t)
	return &Handler{Lookup: func(gk schema.GroupKind) (*compile.Framework, bool) {
		return c, gk == schema.GroupKind{Group: "things.example.com", Kind: "Thing"}
	}}
}

func thing(version string, spec map[string]any, annotations map[string]string) runtime.RawExtension {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec, "status": map[string]any{"activePlan": "deploy"}}}
	u.SetAPIVersion("things.example.com/" + version)
	u.SetKind("Thing")
	u.SetNamespace("team-a")
	u.SetName("t")
	u.SetAnnotations(annotations)
	b, _ := u.MarshalJSON()
	return runtime.RawExtension{Raw: b}
}

func converted(t *testing.T, resp *apiextensionsv1.ConversionResponse) []*unstructured.Unstructured {
	t.Helper()
	if resp.Result.Status != metav1.StatusSuccess {
		t.Fatalf("review failed: %s", resp.Result.Message)
	}
	var out []*unstructured.Unstructured
	for _, raw := range resp.ConvertedObjects {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(raw.Raw); err != nil {
			t.Fatal(err)
		}
		out = append(out, u)
	}
	return out
}

func TestAnObjectReadInAnOlderVersionAndWrittenBackLosesNothing(t *testing.T) {
	h := handler(t)
	stored := thing("v2", map[string]any{"replicas": int64(3), "resources": map[string]any{"memory": "1Gi"}, "tags": []any{"a"}}, nil)
	down := converted(t, h.Review(&apiextensionsv1.ConversionRequest{UID: "1", DesiredAPIVersion: "things.example.com/v1", Objects: []runtime.RawExtension{stored}}))[0]
	if down.GetAPIVersion() != "things.example.com/v1" || show(down.Object["spec"]) != `{"memory":"1Gi","size":3}` ||
		down.GetAnnotations()[keptPrefix+"v2"] != `{"tags":["a"]}` || show(down.Object["status"]) != `{"activePlan":"deploy"}` {
		t.Fatalf("read as v1: %s, annotations %v", show(down.Object), down.GetAnnotations())
	}

	// A client of v1 changes the size and writes it back.
	_ = unstructured.SetNestedField(down.Object, int64(5), "spec", "size")
	b, _ := down.MarshalJSON()
	up := converted(t, h.Review(&apiextensionsv1.ConversionRequest{UID: "2", DesiredAPIVersion: "things.example.com/v2", Objects: []runtime.RawExtension{{Raw: b}}}))[0]
	if show(up.Object["spec"]) != `{"replicas":5,"resources":{"memory":"1Gi"},"tags":["a"]}` || len(up.GetAnnotations()) != 0 {
		t.Fatalf("written back as v2: %s, annotations %v", show(up.Object["spec"]), up.GetAnnotations())
	}

	// One written in v1 from the start has no tags to get back.
	fresh := converted(t, h.Review(&apiextensionsv1.ConversionRequest{UID: "3", DesiredAPIVersion: "things.example.com/v2",
		Objects: []runtime.RawExtension{thing("v1", map[string]any{"size": int64(1)}, nil)}}))[0]
	if show(fresh.Object["spec"]) != `{"replicas":1}` {
		t.Fatalf("a v1 object as v2: %s", show(fresh.Object["spec"]))
	}
}

func TestAReviewThatCannotConvertAnObjectFailsNamingIt(t *testing.T) {
	h := handler(t)
	other := thing("v1", map[string]any{}, nil)
	other.Raw = bytes.Replace(other.Raw, []byte(`"Thing"`), []byte(`"Gadget"`), 1)
	resp := h.Review(&apiextensionsv1.ConversionRequest{UID: "4", DesiredAPIVersion: "things.example.com/v2",
		Objects: []runtime.RawExtension{thing("v1", map[string]any{"size": int64(1)}, nil), other}})
	if resp.Result.Status != metav1.StatusFailure || !strings.Contains(resp.Result.Message, "Gadget team-a/t: no Framework serves Gadget.things.example.com") ||
		len(resp.ConvertedObjects) != 0 || resp.UID != "4" {
		t.Fatalf("response %+v", resp)
	}
}

func TestTheHandlerAnswersOverHTTP(t *testing.T) {
	srv := httptest.NewServer(handler(t))
	defer srv.Close()
	review := apiextensionsv1.ConversionReview{TypeMeta: metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/v1", Kind: "ConversionReview"},
		Request: &apiextensionsv1.ConversionRequest{UID: "5", DesiredAPIVersion: "things.example.com/v1",
			Objects: []runtime.RawExtension{thing("v2", map[string]any{"replicas": int64(2)}, nil)}}}
	b, _ := json.Marshal(review)
	res, err := http.Post(srv.URL, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var got apiextensionsv1.ConversionReview
	if err := json.NewDecoder(res.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.Response == nil || got.Response.UID != "5" || got.Request != nil || got.Kind != "ConversionReview" ||
		!strings.Contains(string(got.Response.ConvertedObjects[0].Raw), `"size":2`) {
		t.Fatalf("answer %+v", got)
	}
	bad, err := http.Post(srv.URL, "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	bad.Body.Close()
	if bad.StatusCode != http.StatusBadRequest {
		t.Fatalf("a review without a request: %d", bad.StatusCode)
	}
}

func show(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// BenchmarkReview is a review of one object and of a LIST's 500, from the
// stored version to the older one, as the API server sends them.
func BenchmarkReview(b *testing.B) {
	h := handler(b)
	for _, n := range []int{1, 500} {
		objects := make([]runtime.RawExtension, n)
		for i := range objects {
			objects[i] = thing("v2", map[string]any{"replicas": int64(i), "resources": map[string]any{"memory": "1Gi"}, "tags": []any{"a"}}, nil)
		}
		b.Run(fmt.Sprintf("objects=%d", n), func(b *testing.B) {
			for b.Loop() {
				if resp := h.Review(&apiextensionsv1.ConversionRequest{UID: "1", DesiredAPIVersion: "things.example.com/v1", Objects: objects}); resp.Result.Status != metav1.StatusSuccess {
					b.Fatal(resp.Result.Message)
				}
			}
		})
	}
}
