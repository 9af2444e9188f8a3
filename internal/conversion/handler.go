package conversion

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"operetta.dev/operetta/internal/compile"
)

// keptPrefix names the annotation that keeps, per version, the fields of
// an object's spec in that version which the version it was converted to
// cannot hold: operetta.dev/kept-v2 = {"tags":["a"]}.
const keptPrefix = "operetta.dev/kept-"

// maxReview bounds a request's body: the API server sends at most a LIST's
// page of objects, each under its 1.5 MiB limit.
const maxReview = 64 << 20

// Handler serves ConversionReviews.
type Handler struct {
	// Lookup is the compiled Framework that serves a kind, if any.
	Lookup func(schema.GroupKind) (*compile.Framework, bool)
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxReview))
	if err != nil {
		http.Error(w, "reading the ConversionReview: "+err.Error(), http.StatusBadRequest)
		return
	}
	review := &apiextensionsv1.ConversionReview{}
	if err := json.Unmarshal(body, review); err != nil || review.Request == nil {
		http.Error(w, fmt.Sprintf("not a ConversionReview with a request: %v", err), http.StatusBadRequest)
		return
	}
	review.Response = h.Review(review.Request)
	review.Request = nil
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(review)
}

// Review converts every object of req to req.DesiredAPIVersion. One that
// cannot be converted fails the whole review, naming it and why: the API
// server then refuses the request, and nothing is lost.
func (h *Handler) Review(req *apiextensionsv1.ConversionRequest) *apiextensionsv1.ConversionResponse {
	resp := &apiextensionsv1.ConversionResponse{UID: req.UID}
	to, err := schema.ParseGroupVersion(req.DesiredAPIVersion)
	if err != nil {
		resp.Result = failure(fmt.Sprintf("desiredAPIVersion %q: %v", req.DesiredAPIVersion, err))
		return resp
	}
	// Looked up once per review: a LIST's review holds hundreds of objects
	// of one kind.
	lookup := memo(h.Lookup)
	for _, raw := range req.Objects {
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(raw.Raw); err != nil {
			resp.Result = failure(fmt.Sprintf("an object that is no object: %v", err))
			resp.ConvertedObjects = nil
			return resp
		}
		if err := convertObject(lookup, obj, to); err != nil {
			resp.Result = failure(fmt.Sprintf("%s %s/%s: %v", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err))
			resp.ConvertedObjects = nil
			return resp
		}
		b, err := obj.MarshalJSON()
		if err != nil {
			resp.Result = failure(err.Error())
			resp.ConvertedObjects = nil
			return resp
		}
		resp.ConvertedObjects = append(resp.ConvertedObjects, runtime.RawExtension{Raw: b})
	}
	resp.Result = metav1.Status{Status: metav1.StatusSuccess}
	return resp
}

func failure(msg string) metav1.Status {
	return metav1.Status{Status: metav1.StatusFailure, Message: msg}
}

// memo is lookup remembering its answers.
func memo(lookup func(schema.GroupKind) (*compile.Framework, bool)) func(schema.GroupKind) (*compile.Framework, bool) {
	type answer struct {
		fw *compile.Framework
		ok bool
	}
	seen := map[schema.GroupKind]answer{}
	return func(gk schema.GroupKind) (*compile.Framework, bool) {
		a, done := seen[gk]
		if !done {
			a.fw, a.ok = lookup(gk)
			seen[gk] = a
		}
		return a.fw, a.ok
	}
}

// convertObject converts obj in place to version to of its group, with the
// Framework lookup finds.
func convertObject(lookup func(schema.GroupKind) (*compile.Framework, bool), obj *unstructured.Unstructured, to schema.GroupVersion) error {
	gvk := obj.GroupVersionKind()
	if gvk.Group != to.Group {
		return fmt.Errorf("is of group %s, not %s", gvk.Group, to.Group)
	}
	if gvk.Version == to.Version {
		return nil
	}
	fw, ok := lookup(gvk.GroupKind())
	if !ok {
		return fmt.Errorf("no Framework serves %s", gvk.GroupKind())
	}
	spec, _, err := unstructured.NestedMap(obj.Object, "spec")
	if err != nil {
		return fmt.Errorf("spec: %w", err)
	}
	if spec == nil {
		spec = map[string]any{}
	}
	converted, err := fw.ConvertSpec(spec, gvk.Version, to.Version)
	if err != nil {
		return err
	}
	// What version to cannot hold of spec, judged before kept fields fill
	// converted, is kept aside for the way back.
	lost := fw.Unheld(spec, converted, gvk.Version, to.Version)
	annotations := obj.GetAnnotations()
	if annotations == nil {
		annotations = map[string]string{}
	}
	// Back in a version it was converted from: the fields kept aside
	// return where the way back could not give them.
	if kept, ok := annotations[keptPrefix+to.Version]; ok {
		var fields map[string]any
		if err := json.Unmarshal([]byte(kept), &fields); err != nil {
			return fmt.Errorf("annotation %s%s: %w", keptPrefix, to.Version, err)
		}
		fillAbsent(converted, fields)
		delete(annotations, keptPrefix+to.Version)
	}
	if len(lost) > 0 {
		b, err := json.Marshal(lost)
		if err != nil {
			return err
		}
		annotations[keptPrefix+gvk.Version] = string(b)
	}
	if len(annotations) == 0 {
		annotations = nil
	}
	obj.SetAnnotations(annotations)
	obj.Object["spec"] = converted
	obj.SetAPIVersion(to.String())
	return nil
}

// fillAbsent puts into m every field of kept that m lacks.
func fillAbsent(m, kept map[string]any) {
	for k, v := range kept {
		sub, isMap := v.(map[string]any)
		existing, has := m[k]
		switch {
		case !has:
			m[k] = v
		case isMap:
			if em, ok := existing.(map[string]any); ok {
				fillAbsent(em, sub)
			}
		}
	}
}
