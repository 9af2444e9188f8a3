package integration

import (
	"net/http"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/kube"
)

// answers records the content type of every PATCH answer.
type answers struct {
	mu    sync.Mutex
	types []string
	next  http.RoundTripper
}

func (a *answers) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := a.next.RoundTrip(req)
	if err == nil && req.Method == http.MethodPatch {
		a.mu.Lock()
		a.types = append(a.types, resp.Header.Get("Content-Type"))
		a.mu.Unlock()
	}
	return resp, err
}

// TestAWriterAnswersBuiltInAppliesWithTheirGoTypes: a child of a built-in kind
// is applied as operetta, taking over a field another manager set, and comes
// back in protobuf as its Go type, with its kind; a kind without a Go type is
// left to the unstructured apply.
func TestAWriterAnswersBuiltInAppliesWithTheirGoTypes(t *testing.T) {
	ns := namespace(t, "writer")
	deployment := func(replicas int64) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apps/v1", "kind": "Deployment",
			"metadata": map[string]any{"name": "web", "namespace": ns},
			"spec": map[string]any{"replicas": replicas,
				"selector": map[string]any{"matchLabels": map[string]any{"app": "web"}},
				"template": map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": "web"}},
					"spec": map[string]any{"containers": []any{map[string]any{"name": "web", "image": "nginx:1.27"}}}}},
		}}
	}
	if err := k8s.Apply(ctx(t), client.ApplyConfigurationFromUnstructured(deployment(3)), client.FieldOwner("someone-else")); err != nil {
		t.Fatal(err)
	}

	seen := &answers{}
	cfg := rest.CopyConfig(restConfig)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { seen.next = rt; return seen })
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w := kube.NewWriter(k8s, cfg, hc)

	applied, ok, err := w.ApplyTyped(ctx(t), deployment(1))
	if err != nil || !ok {
		t.Fatalf("ApplyTyped: ok %v, %v; want it applied", ok, err)
	}
	dep, isDeployment := applied.(*appsv1.Deployment)
	if !isDeployment {
		t.Fatalf("answered with %T; want *appsv1.Deployment", applied)
	}
	if gvk := dep.GroupVersionKind(); gvk != appsv1.SchemeGroupVersion.WithKind("Deployment") {
		t.Errorf("answered with kind %v; want apps/v1 Deployment, as the cache holds it", gvk)
	}
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 1 {
		t.Errorf("replicas %v; want 1, taken over from someone-else", dep.Spec.Replicas)
	}
	owners := map[string]bool{}
	for _, mf := range dep.ManagedFields {
		owners[mf.Manager] = true
	}
	if !owners[v1alpha1.FieldManager] {
		t.Errorf("managers %v; want %s among them", owners, v1alpha1.FieldManager)
	}
	stored := &appsv1.Deployment{}
	if err := k8s.Get(ctx(t), client.ObjectKeyFromObject(dep), stored); err != nil {
		t.Fatal(err)
	}
	if stored.UID != dep.UID || stored.ResourceVersion != dep.ResourceVersion {
		t.Errorf("answered uid %s version %s; the API server holds %s %s", dep.UID, dep.ResourceVersion, stored.UID, stored.ResourceVersion)
	}
	seen.mu.Lock()
	if len(seen.types) != 1 || seen.types[0] != runtime.ContentTypeProtobuf {
		t.Errorf("PATCH answers in %q; want one, in %s", seen.types, runtime.ContentTypeProtobuf)
	}
	seen.mu.Unlock()

	widget := &unstructured.Unstructured{}
	widget.SetAPIVersion("example.com/v1")
	widget.SetKind("Widget")
	widget.SetName("w")
	widget.SetNamespace(ns)
	if _, ok, err := w.ApplyTyped(ctx(t), widget); ok || err != nil {
		t.Errorf("a kind without a Go type: ok %v, %v; want it left to the unstructured apply", ok, err)
	}
	seen.mu.Lock()
	defer seen.mu.Unlock()
	if len(seen.types) != 1 {
		t.Errorf("%d PATCHes in all; want the Widget's left unsent", len(seen.types))
	}
}

// TestAChildRefusedByItsNamespacesDeletionIsQuiet: the API server's refusal of
// an apply into a namespace being deleted (envtest runs no namespace
// controller, so it stays Terminating) is retried without an error log,
// answered as protobuf or as JSON.
func TestAChildRefusedByItsNamespacesDeletionIsQuiet(t *testing.T) {
	ns := namespace(t, "leaving")
	if err := k8s.Delete(ctx(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	page := func() *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": "page", "namespace": ns}, "data": map[string]any{"greeting": "hello"}}}
	}
	hc, err := rest.HTTPClientFor(restConfig)
	if err != nil {
		t.Fatal(err)
	}
	_, _, typedErr := kube.NewWriter(k8s, restConfig, hc).ApplyTyped(ctx(t), page())
	jsonErr := k8s.Apply(ctx(t), client.ApplyConfigurationFromUnstructured(page()), client.FieldOwner(v1alpha1.FieldManager))
	for answer, err := range map[string]error{"protobuf": typedErr, "JSON": jsonErr} {
		if err == nil || !kube.Quiet(err) {
			t.Errorf("answered in %s: %v; want a quiet refusal", answer, err)
		}
	}
}

// askedMapper counts the scope questions put to a REST mapper.
type askedMapper struct {
	meta.RESTMapper
	mu    sync.Mutex
	asked int
}

func (m *askedMapper) RESTMapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	m.mu.Lock()
	m.asked++
	m.mu.Unlock()
	return m.RESTMapper.RESTMapping(gk, versions...)
}

// TestAWriterLearnsAKindsScopeOnce: whether a kind is namespaced is asked of
// the REST mapper once per kind; a kind the API server does not serve is
// an error each time it is asked, never remembered.
func TestAWriterLearnsAKindsScopeOnce(t *testing.T) {
	mapper := &askedMapper{RESTMapper: k8s.RESTMapper()}
	c, err := client.New(restConfig, client.Options{Scheme: k8s.Scheme(), Mapper: mapper})
	if err != nil {
		t.Fatal(err)
	}
	hc, err := rest.HTTPClientFor(restConfig)
	if err != nil {
		t.Fatal(err)
	}
	w := kube.NewWriter(c, restConfig, hc)
	of := func(apiVersion, kind string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion(apiVersion)
		u.SetKind(kind)
		return u
	}
	for range 3 {
		for _, tt := range []struct {
			obj  *unstructured.Unstructured
			want bool
		}{{of("v1", "ConfigMap"), true}, {of("v1", "Namespace"), false}, {of("apps/v1", "Deployment"), true}} {
			if got, err := w.IsObjectNamespaced(tt.obj); err != nil || got != tt.want {
				t.Errorf("%s namespaced: %v, %v; want %v", tt.obj.GetKind(), got, err, tt.want)
			}
		}
	}
	mapper.mu.Lock()
	if mapper.asked != 3 {
		t.Errorf("the mapper was asked %d times for 3 kinds, 3 times each; want once per kind", mapper.asked)
	}
	mapper.mu.Unlock()
	for range 2 {
		if _, err := w.IsObjectNamespaced(of("example.com/v1", "Widget")); !meta.IsNoMatchError(err) {
			t.Errorf("a kind not served: %v; want a no-match error", err)
		}
	}
}
