package framework

import (
	"context"
	"strings"
	"sync"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/engine"
	"operetta.dev/operetta/internal/reconcile/instance"
)

// greeterGVK is the kind greeters generates.
var greeterGVK = schema.GroupVersionKind{Group: "greet.test.operetta.dev", Version: "v1", Kind: "Greeter"}

// greeters is a Framework whose instances each get a ConfigMap.
func greeters() *v1alpha1.Framework {
	return &v1alpha1.Framework{
		ObjectMeta: metav1.ObjectMeta{Name: "greeters", UID: "fw-uid", Generation: 1},
		Spec: v1alpha1.FrameworkSpec{
			Names: v1alpha1.Names{Group: greeterGVK.Group, Kind: greeterGVK.Kind},
			Parameters: []v1alpha1.Parameter{{Name: "greeting", Type: v1alpha1.TypeString,
				Default: &apiextensionsv1.JSON{Raw: []byte(`"hello"`)}}},
			Resources: []v1alpha1.Resource{{ID: "config", Template: &runtime.RawExtension{Raw: []byte(
				`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"${instance.metadata.name}"},"data":{"greeting":"${instance.spec.greeting}"}}`)}}},
			Tasks: []v1alpha1.Task{{Name: "config", Kind: v1alpha1.TaskApply, Resources: []string{"config"}}},
			Plans: map[string]v1alpha1.Plan{v1alpha1.PlanDeploy: {Phases: []v1alpha1.Phase{{
				Name: "main", Steps: []v1alpha1.Step{{Name: "config", Tasks: []string{"config"}}},
			}}}},
		},
	}
}

// greeter is an instance of Greeter.
func greeter(name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{}}}
	u.SetGroupVersionKind(greeterGVK)
	u.SetNamespace("ns")
	u.SetName(name)
	return u
}

// apiServer is a fake API server that logs every write sent through it.
type apiServer struct {
	client.WithWatch
	mu     sync.Mutex
	writes []string
}

func newAPIServer(t *testing.T, objs ...client.Object) *apiServer {
	t.Helper()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, v1alpha1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	mapper := meta.NewDefaultRESTMapper(nil)
	for _, gvk := range []schema.GroupVersionKind{
		v1alpha1.GroupVersion.WithKind("Framework"),
		apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"),
		{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"},
	} {
		mapper.Add(gvk, meta.RESTScopeRoot)
	}
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, meta.RESTScopeNamespace)
	mapper.Add(greeterGVK, meta.RESTScopeNamespace)
	s := &apiServer{}
	log := func(verb string, obj client.Object) {
		s.mu.Lock()
		defer s.mu.Unlock()
		kind := obj.GetObjectKind().GroupVersionKind().Kind
		if kind == "" {
			if gvks, _, err := scheme.ObjectKinds(obj); err == nil {
				kind = gvks[0].Kind
			}
		}
		s.writes = append(s.writes, strings.TrimSpace(verb+" "+kind+" "+obj.GetName()))
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithRESTMapper(mapper).
		WithObjects(objs...).WithStatusSubresource(&v1alpha1.Framework{}).Build()
	s.WithWatch = interceptor.NewClient(c, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			log("create", obj)
			return c.Create(ctx, obj, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			log("delete", obj)
			return c.Delete(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			log("patch", obj)
			return c.Patch(ctx, obj, patch, opts...)
		},
		Apply: func(ctx context.Context, c client.WithWatch, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
			s.mu.Lock()
			s.writes = append(s.writes, "apply")
			s.mu.Unlock()
			return c.Apply(ctx, obj, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			log("patch "+sub+" of", obj)
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
	})
	return s
}

// sent returns the writes since the last call.
func (s *apiServer) sent() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.writes
	s.writes = nil
	return out
}

// notLeading is an engine whose manager was not elected: it runs no loop
// and starts none.
func notLeading() *engine.Engine[*instance.Reconciler] { return &engine.Engine[*instance.Reconciler]{} }

// newReconciler is the Framework controller over server, as
// SetupWithManager leaves it, without a manager.
func newReconciler(server *apiServer, rec *events.FakeRecorder) *Reconciler {
	r := &Reconciler{Client: server, APIReader: server, Engine: notLeading(), Compiled: &Compiled{}}
	if rec != nil {
		r.Recorder = rec
	}
	r.installed = map[string]installation{}
	r.writers = map[types.NamespacedName]client.Client{}
	r.readySeen = map[string]int64{}
	return r
}
