package instance

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
	"operetta.dev/operetta/internal/compile"
)

var testGVK = schema.GroupVersionKind{Group: "test.operetta.dev", Version: "v1alpha1", Kind: "Thing"}

// thingFramework is a Framework of kind Thing whose deploy plan waits for
// good (a Dummy that is never done), as edits change it. Its tasks "wait"
// and "done" are Dummies that block and finish at once.
func thingFramework(t *testing.T, generation int64, edits ...func(*v1alpha1.FrameworkSpec)) *compile.Framework {
	t.Helper()
	fw := &v1alpha1.Framework{
		ObjectMeta: metav1.ObjectMeta{Name: "things", Generation: generation},
		Spec: v1alpha1.FrameworkSpec{
			Names: v1alpha1.Names{Group: testGVK.Group, Kind: testGVK.Kind},
			Parameters: []v1alpha1.Parameter{{Name: "size", Type: v1alpha1.TypeString,
				Default: &apiextensionsv1.JSON{Raw: []byte(`"small"`)}}},
			Tasks: []v1alpha1.Task{
				{Name: "wait", Kind: v1alpha1.TaskDummy},
				{Name: "done", Kind: v1alpha1.TaskDummy, Done: true},
			},
			Plans: map[string]v1alpha1.Plan{v1alpha1.PlanDeploy: onePlan("wait")},
		},
	}
	for _, edit := range edits {
		edit(&fw.Spec)
	}
	compiled, errs := compile.Compile(fw)
	if len(errs) > 0 {
		t.Fatalf("compiling: %s", compile.Message(errs))
	}
	return compiled
}

// onePlan is a plan of one step running tasks.
func onePlan(tasks ...string) v1alpha1.Plan {
	return v1alpha1.Plan{Phases: []v1alpha1.Phase{{Name: "main", Steps: []v1alpha1.Step{{Name: tasks[0], Tasks: tasks}}}}}
}

// withPlan adds (or replaces) a plan.
func withPlan(name string, p v1alpha1.Plan) func(*v1alpha1.FrameworkSpec) {
	return func(s *v1alpha1.FrameworkSpec) { s.Plans[name] = p }
}

// withTask adds a task.
func withTask(task v1alpha1.Task) func(*v1alpha1.FrameworkSpec) {
	return func(s *v1alpha1.FrameworkSpec) { s.Tasks = append(s.Tasks, task) }
}

// thing is an instance of Thing in namespace ns.
func thing(name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"size": "small"}}}
	u.SetGroupVersionKind(testGVK)
	u.SetNamespace("ns")
	u.SetName(name)
	u.SetGeneration(1)
	return u
}

// apiServer is a fake API server holding objs, serving Thing with a status
// subresource. Every write through it is logged in writes.
type apiServer struct {
	client.WithWatch
	mu     sync.Mutex
	writes []string
}

func newAPIServer(t *testing.T, objs ...client.Object) *apiServer {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(testGVK, meta.RESTScopeNamespace)
	s := &apiServer{}
	log := func(what string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.writes = append(s.writes, what)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithRESTMapper(mapper).
		WithObjects(objs...).WithStatusSubresource(thing("")).Build()
	s.WithWatch = interceptor.NewClient(c, interceptor.Funcs{
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			log("patch " + obj.GetName())
			return c.Patch(ctx, obj, patch, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			log("patch " + obj.GetName() + "/" + sub)
			if err := versionLock(ctx, c, obj, patch); err != nil {
				return err
			}
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
	})
	return s
}

// versionLock refuses, as the API server does, a patch naming a
// resourceVersion the object no longer has: the fake client lets a status
// patch of an unstructured kind through.
func versionLock(ctx context.Context, c client.Client, obj client.Object, patch client.Patch) error {
	data, err := patch.Data(obj)
	if err != nil {
		return err
	}
	var p struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(data, &p); err != nil || p.Metadata.ResourceVersion == "" {
		return err
	}
	stored := &unstructured.Unstructured{}
	stored.SetGroupVersionKind(testGVK)
	if err := c.Get(ctx, client.ObjectKeyFromObject(obj), stored); err != nil {
		return err
	}
	if stored.GetResourceVersion() != p.Metadata.ResourceVersion {
		return apierrors.NewConflict(schema.GroupResource{Group: testGVK.Group, Resource: "things"}, obj.GetName(), errors.New("the object has been modified"))
	}
	return nil
}

// sent returns the writes since the last call.
func (s *apiServer) sent() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.writes
	s.writes = nil
	return out
}

// get reads an instance as the API server holds it.
func (s *apiServer) get(t *testing.T, name string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(testGVK)
	if err := s.Get(context.Background(), key(name), u); err != nil {
		t.Fatal(err)
	}
	return u
}

// newRecorder records events as "Type Reason note".
func newRecorder() *events.FakeRecorder { return events.NewFakeRecorder(100) }

// enqueued records what a Reconciler asks its loop to reconcile.
type enqueued struct {
	mu   sync.Mutex
	keys []types.NamespacedName
}

func (e *enqueued) add(k types.NamespacedName) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.keys = append(e.keys, k)
}

func (e *enqueued) take() []types.NamespacedName {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.keys
	e.keys = nil
	return out
}
