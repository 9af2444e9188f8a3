package tasks_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/uuid"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/plans"
	"operetta.dev/operetta/internal/tasks"
)

const (
	namespace  = "team"
	configMap  = "demo-1-greeting"
	deployment = "demo-1-web"
)

// demoFramework gives each instance a ConfigMap and a Deployment, healthy by
// kstatus, applied by one step of deploy; teardown deletes the ConfigMap.
func demoFramework() *v1alpha1.Framework {
	str := func(s string) *apiextensionsv1.JSON { return &apiextensionsv1.JSON{Raw: []byte(`"` + s + `"`)} }
	raw := func(s string) *runtime.RawExtension { return &runtime.RawExtension{Raw: []byte(s)} }
	return &v1alpha1.Framework{
		ObjectMeta: metav1.ObjectMeta{Name: "demo", Generation: 1},
		Spec: v1alpha1.FrameworkSpec{
			Names: v1alpha1.Names{Group: "demo.operetta.dev", Kind: "Demo"},
			Parameters: []v1alpha1.Parameter{
				{Name: "greeting", Type: v1alpha1.TypeString, Default: str("hello")},
				{Name: "image", Type: v1alpha1.TypeString, Default: str("nginx:1.27")},
				{Name: "NODES", Type: v1alpha1.TypeString, Default: str("2")},
			},
			KUDO: &v1alpha1.KUDO{OperatorName: "demo-operator", OperatorVersion: "0.1.0"},
			Resources: []v1alpha1.Resource{
				{ID: "config", Template: raw(`{"apiVersion":"v1","kind":"ConfigMap",
					"metadata":{"name":"${instance.metadata.name}-greeting"},
					"data":{"greeting":"${instance.spec.greeting}"}}`)},
				{ID: "web", Template: raw(`{"apiVersion":"apps/v1","kind":"Deployment",
					"metadata":{"name":"${instance.metadata.name}-web"},
					"spec":{"replicas":1,
						"selector":{"matchLabels":{"app":"${instance.metadata.name}"}},
						"template":{"metadata":{"labels":{"app":"${instance.metadata.name}"}},
							"spec":{"containers":[{"name":"web","image":"${instance.spec.image}"}]}}}}`)},
				// As a KUDO package writes it: one Service per node.
				{ID: "nodes", GoTemplate: &v1alpha1.GoTemplate{File: "nodes.yaml", Kinds: []v1alpha1.ChildKind{{APIVersion: "v1", Kind: "Service"}},
					Text: "{{ range $i := until (int .Params.NODES) }}---\napiVersion: v1\nkind: Service\n" +
						"metadata:\n  name: {{ $.Name }}-node-{{ $i }}\n  namespace: default\n  labels: {plan: {{ $.PlanName }}}\nspec:\n  ports: [{port: 80}]\n{{ end }}"}},
				{ID: "stray", GoTemplate: &v1alpha1.GoTemplate{Kinds: []v1alpha1.ChildKind{{APIVersion: "v1", Kind: "Service"}},
					Text: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: stray}"}},
				// A Pipe task's pod, as KUDO's Kafka writes it.
				{ID: "gen", GoTemplate: &v1alpha1.GoTemplate{File: "gen.yaml", Kinds: []v1alpha1.ChildKind{{APIVersion: "v1", Kind: "Pod"}},
					Text: "apiVersion: v1\nkind: Pod\nspec:\n  volumes: [{name: out, emptyDir: {}}]\n" +
						"  initContainers:\n  - {name: init, image: openssl, command: [gen], volumeMounts: [{name: out, mountPath: /tmp}]}\n"}},
				// A kind the (fake) API server does not serve.
				{ID: "gadget", Template: raw(`{"apiVersion":"later.example.com/v1","kind":"Gadget","metadata":{"name":"${instance.metadata.name}"}}`)},
			},
			Tasks: []v1alpha1.Task{
				{Name: "apply", Kind: v1alpha1.TaskApply, Resources: []string{"config", "web"}},
				{Name: "remove-config", Kind: v1alpha1.TaskDelete, Resources: []string{"config"}},
				{Name: "apply-gadget", Kind: v1alpha1.TaskApply, Resources: []string{"gadget"}},
				{Name: "remove-gadget", Kind: v1alpha1.TaskDelete, Resources: []string{"gadget"}},
				{Name: "apply-nodes", Kind: v1alpha1.TaskApply, Resources: []string{"nodes"}},
				{Name: "apply-stray", Kind: v1alpha1.TaskApply, Resources: []string{"stray"}},
				{Name: "never", Kind: v1alpha1.TaskDummy},
				{Name: "noop", Kind: v1alpha1.TaskDummy, Done: true},
				{Name: "gen-cert", Kind: v1alpha1.TaskPipe, Pod: "gen", Pipe: []v1alpha1.PipeFile{
					{File: "/tmp/tls.crt", Kind: "Secret", Key: "certificate"}, {File: "/tmp/ca.pem", Kind: "ConfigMap", Key: "ca"}}},
			},
			Plans: map[string]v1alpha1.Plan{
				v1alpha1.PlanDeploy: {Phases: []v1alpha1.Phase{{
					Name: "main", Steps: []v1alpha1.Step{{Name: "apply", Tasks: []string{"apply"}}},
				}}},
				"teardown": {Phases: []v1alpha1.Phase{{
					Name: "main", Steps: []v1alpha1.Step{{Name: "remove", Tasks: []string{"remove-config"}}},
				}}},
				"gadget":      {Phases: []v1alpha1.Phase{{Name: "main", Steps: []v1alpha1.Step{{Name: "only", Tasks: []string{"apply-gadget"}}}}}},
				"no-gadget":   {Phases: []v1alpha1.Phase{{Name: "main", Steps: []v1alpha1.Step{{Name: "only", Tasks: []string{"remove-gadget"}}}}}},
				"not-allowed": {Phases: []v1alpha1.Phase{{Name: "main", Steps: []v1alpha1.Step{{Name: "only", Tasks: []string{"never"}}}}}},
				"nodes":       {Phases: []v1alpha1.Phase{{Name: "main", Steps: []v1alpha1.Step{{Name: "only", Tasks: []string{"apply-nodes"}}}}}},
				"stray":       {Phases: []v1alpha1.Phase{{Name: "main", Steps: []v1alpha1.Step{{Name: "only", Tasks: []string{"apply-stray"}}}}}},
				"nothing":     {Phases: []v1alpha1.Phase{{Name: "main", Steps: []v1alpha1.Step{{Name: "only", Tasks: []string{"noop"}}}}}},
				"certs":       {Phases: []v1alpha1.Phase{{Name: "tls", Steps: []v1alpha1.Step{{Name: "generate", Tasks: []string{"gen-cert"}}}}}},
			},
		},
	}
}

// harness is one instance of the demo Framework, reconciled against a fake
// API server. Each reconcile makes a new Run, as the controller does, so the
// status is all that carries over.
type harness struct {
	t        *testing.T
	fw       *compile.Framework
	server   client.WithWatch // the API server, as everyone but the Run sees it
	writer   client.Client    // the Run's client: every request is logged
	children tasks.ChildCache
	instance *unstructured.Unstructured
	status   v1alpha1.InstanceStatus
	requests []string       // what the Run sent to the API server since sent()
	renders  *tasks.Renders // nil: every step renders
	pod      *fakePod       // answers a Pipe task's exec, if set
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessWith(t, nil)
}

// newHarnessWith is newHarness of the demo Framework as change leaves it.
func newHarnessWith(t *testing.T, change func(*v1alpha1.Framework)) *harness {
	t.Helper()
	demo := demoFramework()
	if change != nil {
		change(demo)
	}
	fw, errs := compile.Compile(demo)
	if len(errs) > 0 {
		t.Fatalf("compiling: %s", compile.Message(errs))
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	mapper := meta.NewDefaultRESTMapper(nil)
	for _, gvk := range []schema.GroupVersionKind{
		corev1.SchemeGroupVersion.WithKind("ConfigMap"), corev1.SchemeGroupVersion.WithKind("Service"), appsv1.SchemeGroupVersion.WithKind("Deployment"), fw.GVK,
		corev1.SchemeGroupVersion.WithKind("Pod"), corev1.SchemeGroupVersion.WithKind("Secret"),
		childGVK,
	} {
		mapper.Add(gvk, meta.RESTScopeNamespace)
	}
	h := &harness{t: t, fw: fw}
	h.server = fake.NewClientBuilder().WithScheme(scheme).WithRESTMapper(mapper).WithGlobalResourceVersionCounter().
		WithInterceptorFuncs(asTheAPIServer()).Build()
	h.writer = interceptor.NewClient(h.server, h.logRequests())
	h.children = &informer{c: h.server}
	h.instance = &unstructured.Unstructured{Object: map[string]any{
		"spec": map[string]any{"greeting": "hello", "image": "nginx:1.27", "NODES": "2"},
	}}
	h.instance.SetGroupVersionKind(fw.GVK)
	h.instance.SetNamespace(namespace)
	h.instance.SetName("demo-1")
	h.instance.SetUID("instance-uid")
	h.status.Plans = map[string]v1alpha1.PlanStatus{
		v1alpha1.PlanDeploy: {Status: v1alpha1.InProgress, UID: "deploy-run-1"},
		"teardown":          {Status: v1alpha1.InProgress, UID: "teardown-run-1"},
		"nodes":             {Status: v1alpha1.InProgress, UID: "nodes-run-1"},
		"certs":             {Status: v1alpha1.InProgress, UID: "certs-run-1"},
	}
	return h
}

func (h *harness) run() *tasks.Executor {
	var writer client.Client = h.writer
	if h.pod != nil {
		writer = execWriter{Client: h.writer, pod: h.pod}
	}
	c := tasks.Clients{Writer: writer, Children: h.children, Frameworks: h.server, Renders: h.renders, Verdicts: tasks.NewVerdicts()}
	return tasks.NewExecutor(c, h.fw, h.instance, &h.status)
}

// step reconciles: runs the first step of plan.
func (h *harness) step(plan string) plans.Outcome {
	h.t.Helper()
	run := h.run()
	run.SetPlan(plan)
	phase := h.fw.Plans[plan].Phases[0]
	out := run.Step(context.Background(), phase, phase.Steps[0])
	if out.Result == plans.Failed || out.Result == plans.Fatal {
		h.t.Fatalf("step of %s: %v: %s", plan, out.Result, out.Message)
	}
	return out
}

// keep reconciles an instance whose plans are done.
func (h *harness) keep() tasks.Kept {
	h.t.Helper()
	run := h.run()
	run.SetPlan(v1alpha1.PlanDeploy)
	kept, err := run.Keep(context.Background())
	if err != nil {
		h.t.Fatalf("keep: %v", err)
	}
	return kept
}

// expectSent checks that the Run sent exactly the requests want since the
// last check.
func (h *harness) expectSent(when string, want ...string) {
	h.t.Helper()
	got := h.requests
	h.requests = nil
	if !slices.Equal(got, want) {
		h.t.Errorf("%s: sent %q, want %q", when, got, want)
	}
}

func expectResult(t *testing.T, when string, out plans.Outcome, want plans.Result) {
	t.Helper()
	if out.Result != want {
		t.Fatalf("%s: result %v (%s), want %v", when, out.Result, out.Message, want)
	}
}

// logRequests records every request the Run makes, by verb, kind and name.
func (h *harness) logRequests() interceptor.Funcs {
	log := func(c client.WithWatch, verb string, obj runtime.Object) {
		kind := obj.GetObjectKind().GroupVersionKind().Kind
		if gvk, err := apiutil.GVKForObject(obj, c.Scheme()); err == nil {
			kind = gvk.Kind
		}
		name := ""
		if o, ok := obj.(client.Object); ok {
			name = o.GetName()
		}
		h.requests = append(h.requests, strings.TrimSpace(fmt.Sprintf("%s %s %s", verb, kind, name)))
	}
	return interceptor.Funcs{
		Apply: func(ctx context.Context, c client.WithWatch, ac runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
			u, err := toUnstructured(ac)
			if err != nil {
				return err
			}
			log(c, "apply", u)
			return c.Apply(ctx, ac, opts...)
		},
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			log(c, "create", obj)
			return c.Create(ctx, obj, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			log(c, "update", obj)
			return c.Update(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
			log(c, "patch", obj)
			return c.Patch(ctx, obj, p, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			log(c, "delete", obj)
			return c.Delete(ctx, obj, opts...)
		},
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			log(c, "get", obj)
			return c.Get(ctx, key, obj, opts...)
		},
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			log(c, "list", list)
			return c.List(ctx, list, opts...)
		},
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			h.requests = append(h.requests, "update "+sub+" "+obj.GetName())
			return c.SubResource(sub).Update(ctx, obj, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			h.requests = append(h.requests, "patch "+sub+" "+obj.GetName())
			return c.SubResource(sub).Patch(ctx, obj, p, opts...)
		},
	}
}

// asTheAPIServer makes the fake client keep metadata.generation as the API
// server does for kinds with a spec, which the fake does not: 1 when the
// object is created, one more whenever its spec changes. Status writes keep
// it. And it gives every object a UID when it is created, as the API server
// does and the fake does not: an apply names the UID of the child it means.
func asTheAPIServer() interceptor.Funcs {
	return interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			obj.SetUID(uuid.NewUUID())
			return c.Create(ctx, obj, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			old, err := stored(ctx, c, obj)
			if err != nil {
				return err
			}
			now, err := toUnstructured(obj)
			if err != nil {
				return err
			}
			if g, ok := generation(old, now); ok {
				obj.SetGeneration(g)
			}
			return c.Update(ctx, obj, opts...)
		},
		Apply: func(ctx context.Context, c client.WithWatch, ac runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
			u, err := toUnstructured(ac)
			if err != nil {
				return err
			}
			old, err := stored(ctx, c, u)
			if err != nil {
				return err
			}
			if err := c.Apply(ctx, ac, opts...); err != nil {
				return err
			}
			now, err := toUnstructured(ac)
			if err != nil {
				return err
			}
			meta := map[string]any{}
			if old == nil {
				meta["uid"] = uuid.NewUUID()
			}
			if g, ok := generation(old, now); ok && g != now.GetGeneration() {
				meta["generation"] = g
			}
			if len(meta) == 0 {
				return nil
			}
			patch, err := json.Marshal(map[string]any{"metadata": meta})
			if err != nil {
				return err
			}
			if err := c.Patch(ctx, now, client.RawPatch(types.MergePatchType, patch)); err != nil {
				return err
			}
			b, err := json.Marshal(now) // the applied object, as the API server returns it
			if err != nil {
				return err
			}
			return json.Unmarshal(b, ac)
		},
	}
}

// generation is the generation now should have after old (nil: absent), and
// false for kinds without a spec, which have none.
func generation(old, now *unstructured.Unstructured) (int64, bool) {
	spec, hasSpec := now.Object["spec"]
	switch {
	case !hasSpec:
		return 0, false
	case old == nil:
		return 1, true
	case equality.Semantic.DeepEqual(old.Object["spec"], spec):
		return old.GetGeneration(), true
	}
	return old.GetGeneration() + 1, true
}

// stored reads obj's stored version, or nil if there is none.
func stored(ctx context.Context, c client.WithWatch, obj client.Object) (*unstructured.Unstructured, error) {
	gvk, err := apiutil.GVKForObject(obj, c.Scheme())
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	switch err := c.Get(ctx, client.ObjectKeyFromObject(obj), u); {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return u, nil
}

// toUnstructured converts through JSON, as the API server sees an object.
func toUnstructured(obj any) (*unstructured.Unstructured, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := utiljson.Unmarshal(b, &m); err != nil { // integers stay int64
		return nil, err
	}
	return &unstructured.Unstructured{Object: m}, nil
}

// informer is the children cache: it reads what the API server has now, as an
// informer that has caught up would, and sends no request the Run counts.
// Like the manager's, it holds only what operetta labelled.
type informer struct{ c client.Client }

// Get returns children as the manager's children cache does: the Go type
// of a kind the scheme knows, with its kind set, else unstructured.
func (i *informer) Get(ctx context.Context, gvk schema.GroupVersionKind, key client.ObjectKey) (client.Object, bool, error) {
	var obj client.Object = &unstructured.Unstructured{}
	if typed, err := i.c.Scheme().New(gvk); err == nil {
		obj = typed.(client.Object)
	}
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	switch err := i.c.Get(ctx, key, obj); {
	case apierrors.IsNotFound(err):
		return nil, false, nil
	case err != nil:
		return nil, false, err
	}
	if obj.GetLabels()[v1alpha1.LabelManagedBy] != v1alpha1.ManagedByValue {
		return nil, false, nil
	}
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	return obj, true, nil
}

func (i *informer) Ensure(context.Context, string, schema.GroupVersionKind) error { return nil }

// deploymentOf reads the Deployment from the API server.
func (h *harness) deploymentOf() *appsv1.Deployment {
	h.t.Helper()
	d := &appsv1.Deployment{}
	if err := h.server.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: deployment}, d); err != nil {
		h.t.Fatalf("reading the Deployment: %v", err)
	}
	return d
}

// rollOut writes the status the Deployment controller writes once the
// Deployment's current generation is available, as kstatus requires.
func (h *harness) rollOut() {
	h.t.Helper()
	d := h.deploymentOf()
	replicas := int32(1)
	if d.Spec.Replicas != nil {
		replicas = *d.Spec.Replicas
	}
	d.Status = appsv1.DeploymentStatus{
		ObservedGeneration: d.Generation,
		Replicas:           replicas, UpdatedReplicas: replicas, ReadyReplicas: replicas, AvailableReplicas: replicas,
		Conditions: []appsv1.DeploymentCondition{
			{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable"},
			{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable"},
		},
	}
	if err := h.server.Status().Update(context.Background(), d); err != nil {
		h.t.Fatalf("writing the Deployment's status: %v", err)
	}
}

// deployed brings the instance to a finished deploy: applied and healthy.
func (h *harness) deployed() {
	h.t.Helper()
	h.step(v1alpha1.PlanDeploy)
	h.rollOut()
	expectResult(h.t, "deployed", h.step(v1alpha1.PlanDeploy), plans.Done)
	h.requests = nil
}

// childLabels are the labels operetta puts on the instance's children.
func (h *harness) childLabels() map[string]string {
	u := &unstructured.Unstructured{}
	tasks.Label(u, h.fw.Name, h.instance.GetName(), h.instance.GetNamespace())
	return u.GetLabels()
}

func (h *harness) inventoryHas(kind, name string) bool {
	return slices.ContainsFunc(h.status.Inventory, func(it v1alpha1.InventoryItem) bool {
		return it.Kind == kind && it.Name == name
	})
}

func TestStepAppliesEachChildOnce(t *testing.T) {
	h := newHarness(t)

	out := h.step(v1alpha1.PlanDeploy)
	h.expectSent("first step", "apply ConfigMap "+configMap, "apply Deployment "+deployment)
	expectResult(t, "first step", out, plans.Waiting)
	if g := h.deploymentOf().Generation; g != 1 {
		t.Fatalf("the fake API server gave the Deployment generation %d, want 1", g)
	}
	if len(h.status.Inventory) != 2 || h.status.Inventory[0].Hash == "" || h.status.Inventory[1].Observed != "g1" {
		t.Fatalf("inventory %+v, want both children with a hash, the Deployment observed at generation 1", h.status.Inventory)
	}

	for _, when := range []string{"second step", "third step"} {
		out := h.step(v1alpha1.PlanDeploy)
		h.expectSent(when) // nothing: no apply, no get
		expectResult(t, when, out, plans.Waiting)
		if !strings.Contains(out.Message, "Deployment "+deployment) || strings.Contains(out.Message, "ConfigMap") {
			t.Errorf("%s: message %q, want it to name the Deployment alone", when, out.Message)
		}
	}
}

func TestStepIsDoneWhenTheCacheShowsTheChildHealthy(t *testing.T) {
	h := newHarness(t)
	h.step(v1alpha1.PlanDeploy)
	h.expectSent("first step", "apply ConfigMap "+configMap, "apply Deployment "+deployment)

	h.rollOut() // a status write: a new resourceVersion, the same generation
	out := h.step(v1alpha1.PlanDeploy)
	h.expectSent("step after the rollout")
	expectResult(t, "step after the rollout", out, plans.Done)
}

func TestDriftIsCorrectedOnce(t *testing.T) {
	// someone scales the Deployment: its spec, so its generation, changes
	scale := func(h *harness) {
		d := h.deploymentOf()
		d.Spec.Replicas = new(int32(3))
		if err := h.server.Update(context.Background(), d); err != nil {
			h.t.Fatal(err)
		}
		if d.Generation != 2 {
			h.t.Fatalf("the Deployment's generation is %d after a spec change, want 2", d.Generation)
		}
	}
	replicas := func(h *harness) int32 { return *h.deploymentOf().Spec.Replicas }

	t.Run("a changed child, by the step", func(t *testing.T) {
		h := newHarness(t)
		h.deployed()
		scale(h)
		out := h.step(v1alpha1.PlanDeploy)
		h.expectSent("step after the change", "apply Deployment "+deployment)
		if replicas(h) != 1 {
			t.Errorf("replicas %d after the correction, want 1 as rendered", replicas(h))
		}
		// A new generation of the Deployment is not rolled out yet.
		expectResult(t, "step after the change", out, plans.Waiting)
		h.step(v1alpha1.PlanDeploy)
		h.expectSent("step after the correction")
	})

	t.Run("a changed child, by Keep", func(t *testing.T) {
		h := newHarness(t)
		h.deployed()
		scale(h)
		kept := h.keep()
		h.expectSent("keep after the change", "apply Deployment "+deployment)
		if !slices.Equal(kept.Corrected, []string{"Deployment/" + deployment}) || len(kept.Pruned) > 0 {
			t.Errorf("kept %+v, want the Deployment corrected", kept)
		}
		if replicas(h) != 1 {
			t.Errorf("replicas %d after the correction, want 1 as rendered", replicas(h))
		}
		if kept := h.keep(); len(kept.Corrected) > 0 {
			t.Errorf("second keep corrected %v", kept.Corrected)
		}
		h.expectSent("keep after the correction")
	})

	t.Run("a deleted child, by the step", func(t *testing.T) {
		h := newHarness(t)
		h.deployed()
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: configMap}}
		if err := h.server.Delete(context.Background(), cm); err != nil {
			t.Fatal(err)
		}
		expectResult(t, "step after the deletion", h.step(v1alpha1.PlanDeploy), plans.Done)
		h.expectSent("step after the deletion", "apply ConfigMap "+configMap)
		if err := h.server.Get(context.Background(), client.ObjectKeyFromObject(cm), cm); err != nil {
			t.Errorf("the ConfigMap is not back: %v", err)
		}
		h.step(v1alpha1.PlanDeploy)
		h.expectSent("step after the re-creation")
	})

	t.Run("a deleted child, by Keep", func(t *testing.T) {
		h := newHarness(t)
		h.deployed()
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: configMap}}
		if err := h.server.Delete(context.Background(), cm); err != nil {
			t.Fatal(err)
		}
		kept := h.keep()
		h.expectSent("keep after the deletion", "apply ConfigMap "+configMap)
		if !slices.Equal(kept.Corrected, []string{"ConfigMap/" + configMap}) {
			t.Errorf("kept %+v, want the ConfigMap corrected", kept)
		}
		h.keep()
		h.expectSent("keep after the re-creation")
	})
}

func TestNewContentIsAppliedOnce(t *testing.T) {
	t.Run("a changed render", func(t *testing.T) {
		h := newHarness(t)
		h.deployed()
		if err := unstructured.SetNestedField(h.instance.Object, "bonjour", "spec", "greeting"); err != nil {
			t.Fatal(err)
		}
		expectResult(t, "step after the change", h.step(v1alpha1.PlanDeploy), plans.Done)
		h.expectSent("step after the change", "apply ConfigMap "+configMap)
		cm := &corev1.ConfigMap{}
		if err := h.server.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: configMap}, cm); err != nil || cm.Data["greeting"] != "bonjour" {
			t.Errorf("the ConfigMap holds %v (%v), want the new greeting", cm.Data, err)
		}
		h.step(v1alpha1.PlanDeploy)
		h.expectSent("second step after the change")
	})

	t.Run("a changed render of a Deployment waits for its rollout", func(t *testing.T) {
		h := newHarness(t)
		h.deployed()
		if err := unstructured.SetNestedField(h.instance.Object, "nginx:1.28", "spec", "image"); err != nil {
			t.Fatal(err)
		}
		out := h.step(v1alpha1.PlanDeploy)
		h.expectSent("step after the change", "apply Deployment "+deployment)
		expectResult(t, "step after the change", out, plans.Waiting)
		h.rollOut()
		expectResult(t, "step after the rollout", h.step(v1alpha1.PlanDeploy), plans.Done)
		h.expectSent("step after the rollout")
	})

	t.Run("a new run of the plan", func(t *testing.T) {
		h := newHarness(t)
		h.deployed()
		h.status.Plans[v1alpha1.PlanDeploy] = v1alpha1.PlanStatus{Status: v1alpha1.InProgress, UID: "deploy-run-2"}
		expectResult(t, "first step of the new run", h.step(v1alpha1.PlanDeploy), plans.Done)
		h.expectSent("first step of the new run", "apply ConfigMap "+configMap, "apply Deployment "+deployment)
		h.step(v1alpha1.PlanDeploy)
		h.expectSent("second step of the new run")
	})
}

func TestKeep(t *testing.T) {
	t.Run("sends nothing when everything is current", func(t *testing.T) {
		h := newHarness(t)
		h.deployed()
		if kept := h.keep(); len(kept.Corrected)+len(kept.Pruned) > 0 {
			t.Errorf("kept %+v, want nothing done", kept)
		}
		h.expectSent("keep")
	})

	t.Run("prunes a child the Framework no longer renders", func(t *testing.T) {
		h := newHarness(t)
		h.deployed()
		legacy := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "demo-1-legacy", Labels: h.childLabels()}}
		if err := h.server.Create(context.Background(), legacy); err != nil {
			t.Fatal(err)
		}
		h.status.Inventory = append(h.status.Inventory, v1alpha1.InventoryItem{
			ID: "legacy", APIVersion: "v1", Kind: "ConfigMap", Name: "demo-1-legacy", Observed: "rv1", Hash: "0123456789abcdef",
		})

		// The delete is sent; the child is gone from the inventory once the
		// cache no longer has it.
		h.keep()
		h.expectSent("first keep", "delete ConfigMap demo-1-legacy")
		if err := h.server.Get(context.Background(), client.ObjectKeyFromObject(legacy), legacy); !apierrors.IsNotFound(err) {
			t.Fatalf("the pruned ConfigMap is still there: %v", err)
		}
		kept := h.keep()
		h.expectSent("second keep")
		if !slices.Equal(kept.Pruned, []string{"ConfigMap/demo-1-legacy"}) || len(kept.Corrected) > 0 {
			t.Errorf("kept %+v, want the legacy ConfigMap pruned", kept)
		}
		if h.inventoryHas("ConfigMap", "demo-1-legacy") || len(h.status.Inventory) != 2 {
			t.Errorf("inventory %+v, want the two rendered children only", h.status.Inventory)
		}
		h.keep()
		h.expectSent("third keep")
	})

	t.Run("prunes the child of a removed resource whose id an apply task has as its name", func(t *testing.T) {
		h := newHarness(t)
		h.deployed()
		// A resource once called apply-stray: the task of that name applies
		// another resource, and keeps nothing of the old one's.
		gone := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "demo-1-gone", Labels: h.childLabels()}}
		if err := h.server.Create(context.Background(), gone); err != nil {
			t.Fatal(err)
		}
		h.status.Inventory = append(h.status.Inventory, v1alpha1.InventoryItem{
			ID: "apply-stray", APIVersion: "v1", Kind: "ConfigMap", Name: gone.Name, Observed: "rv1", Hash: "0123456789abcdef",
		})
		h.keep()
		h.expectSent("keep", "delete ConfigMap demo-1-gone")
	})

	t.Run("prunes the old child of a resource now rendered under another name", func(t *testing.T) {
		h := newHarness(t)
		old := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "demo-1-old-greeting", Labels: h.childLabels()}}
		if err := h.server.Create(context.Background(), old); err != nil {
			t.Fatal(err)
		}
		// The config resource was applied under its old name before.
		h.status.Inventory = []v1alpha1.InventoryItem{{ID: "config", APIVersion: "v1", Kind: "ConfigMap", Name: old.Name, Observed: "rv1", Hash: "0123456789abcdef"}}
		h.deployed()
		h.keep()
		h.expectSent("first keep", "delete ConfigMap demo-1-old-greeting")
		h.keep()
		if h.inventoryHas("ConfigMap", old.Name) || !h.inventoryHas("ConfigMap", configMap) {
			t.Errorf("inventory %+v, want the new ConfigMap only", h.status.Inventory)
		}
	})
}

func TestDelete(t *testing.T) {
	t.Run("a child the cache does not have is gone", func(t *testing.T) {
		h := newHarness(t)
		expectResult(t, "step", h.step("teardown"), plans.Done)
		h.expectSent("step")
	})

	t.Run("a child is deleted once and gone when the cache says so", func(t *testing.T) {
		h := newHarness(t)
		h.deployed()
		out := h.step("teardown")
		h.expectSent("first step", "delete ConfigMap "+configMap)
		// The fake deletes at once; the cache of a real manager shows it
		// after the request returns.
		expectResult(t, "first step", out, plans.Waiting)
		expectResult(t, "second step", h.step("teardown"), plans.Done)
		h.expectSent("second step")
		if h.inventoryHas("ConfigMap", configMap) || !h.inventoryHas("Deployment", deployment) {
			t.Errorf("inventory %+v, want the Deployment only", h.status.Inventory)
		}
	})

	t.Run("a child being deleted is waited for without a request", func(t *testing.T) {
		h := newHarness(t)
		h.deployed()
		cm := &corev1.ConfigMap{}
		key := client.ObjectKey{Namespace: namespace, Name: configMap}
		if err := h.server.Get(context.Background(), key, cm); err != nil {
			t.Fatal(err)
		}
		cm.Finalizers = []string{"example.com/hold"}
		if err := h.server.Update(context.Background(), cm); err != nil {
			t.Fatal(err)
		}
		if err := h.server.Delete(context.Background(), cm); err != nil {
			t.Fatal(err)
		}
		for _, when := range []string{"first step", "second step"} {
			out := h.step("teardown")
			h.expectSent(when)
			expectResult(t, when, out, plans.Waiting)
			if !strings.Contains(out.Message, "ConfigMap "+configMap+": being deleted") {
				t.Errorf("%s: message %q, want the ConfigMap being deleted", when, out.Message)
			}
		}
	})
}

// TestAWaitingStepRendersOnlyWhenItsInputsChange: with a memory of renders,
// a step renders a template again only when the instance (its
// resourceVersion), the Framework generation or the plan run changed. The
// test changes the spec without a new resourceVersion, which the API server
// never does, to see that nothing was rendered.
func TestAWaitingStepRendersOnlyWhenItsInputsChange(t *testing.T) {
	h := newHarness(t)
	h.renders = tasks.NewRenders()
	h.instance.SetResourceVersion("1")
	expectResult(t, "first step", h.step(v1alpha1.PlanDeploy), plans.Waiting)
	h.expectSent("first step", "apply ConfigMap "+configMap, "apply Deployment "+deployment)

	if err := unstructured.SetNestedField(h.instance.Object, "bonjour", "spec", "greeting"); err != nil {
		t.Fatal(err)
	}
	expectResult(t, "step with the same resourceVersion", h.step(v1alpha1.PlanDeploy), plans.Waiting)
	h.expectSent("step with the same resourceVersion")

	h.instance.SetResourceVersion("2")
	expectResult(t, "step with a new resourceVersion", h.step(v1alpha1.PlanDeploy), plans.Waiting)
	h.expectSent("step with a new resourceVersion", "apply ConfigMap "+configMap)

	h.renders.Forget(client.ObjectKeyFromObject(h.instance))
	if err := unstructured.SetNestedField(h.instance.Object, "salut", "spec", "greeting"); err != nil {
		t.Fatal(err)
	}
	expectResult(t, "step after forgetting", h.step(v1alpha1.PlanDeploy), plans.Waiting)
	h.expectSent("step after forgetting", "apply ConfigMap "+configMap)
}

func TestDummyTasks(t *testing.T) {
	h := newHarness(t)
	expectResult(t, "done: true", h.step("nothing"), plans.Done)
	out := h.step("not-allowed")
	expectResult(t, "done: false", out, plans.Waiting)
	if !strings.Contains(out.Message, "task never is a Dummy that is never done") {
		t.Errorf("message %q", out.Message)
	}
	h.expectSent("Dummy tasks")
}

func TestAKindWaiting(t *testing.T) {
	h := newHarness(t)
	out := h.step("gadget")
	expectResult(t, "applying it", out, plans.Waiting)
	if !strings.Contains(out.Message, "later.example.com/v1, Kind=Gadget is not served by the API server (is its CRD installed?)") {
		t.Errorf("message %q", out.Message)
	}
	expectResult(t, "deleting it", h.step("no-gadget"), plans.Done)
	h.expectSent("a kind not served")
}

// TestAGoTemplateRendersAsKUDODid follows a KUDO-style resource, one Service
// per node, through a plan: each object applied once, in the instance's
// namespace whatever the template says, marked as KUDO marked it; fewer nodes supersede the extra Service, which Keep prunes; a deleted
// one is applied again as the step that applied it rendered it.
func TestAGoTemplateRendersAsKUDODid(t *testing.T) {
	h := newHarness(t)
	h.renders = tasks.NewRenders()
	h.step("nodes")
	h.expectSent("first step", "apply Service demo-1-node-0", "apply Service demo-1-node-1")
	expectResult(t, "second step", h.step("nodes"), plans.Done)
	h.expectSent("second step")

	svc := &corev1.Service{}
	if err := h.server.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: "demo-1-node-1"}, svc); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"heritage": "kudo", "kudo.dev/operator": "demo-operator", "kudo.dev/instance": "demo-1", "plan": "nodes", v1alpha1.LabelInstance: "demo-1"} {
		if svc.Labels[k] != v {
			t.Errorf("label %s = %q, want %q (labels %v)", k, svc.Labels[k], v, svc.Labels)
		}
	}
	if svc.Annotations["kudo.dev/step"] != "only" || svc.Annotations["kudo.dev/last-plan-execution-uid"] != "nodes-run-1" {
		t.Errorf("annotations %v", svc.Annotations)
	}
	if len(svc.OwnerReferences) != 1 || svc.OwnerReferences[0].UID != "instance-uid" {
		t.Errorf("owner references %v", svc.OwnerReferences)
	}

	// One node fewer: node-1 is superseded, nothing is sent until the plan
	// is done, then Keep prunes it.
	h.instance.Object["spec"].(map[string]any)["NODES"] = "1"
	h.instance.SetResourceVersion("2")
	expectResult(t, "after scaling down", h.step("nodes"), plans.Done)
	h.expectSent("after scaling down")
	var superseded []string
	for _, it := range h.status.Inventory {
		if it.Superseded {
			superseded = append(superseded, it.Name)
		}
		if it.ID == "nodes" && it.Step != "nodes/main/only" {
			t.Errorf("inventory entry %s records step %q", it.Name, it.Step)
		}
	}
	if !slices.Equal(superseded, []string{"demo-1-node-1"}) {
		t.Fatalf("superseded %v, want demo-1-node-1", superseded)
	}
	h.keep()
	h.expectSent("keep", "delete Service demo-1-node-1")
	if kept := h.keep(); !slices.Equal(kept.Pruned, []string{"Service/demo-1-node-1"}) {
		t.Errorf("kept %+v, want node-1 pruned", kept)
	}

	// Deleted by someone: Keep runs under deploy, yet node-0 is rendered as
	// the nodes plan's step rendered it.
	if err := h.server.Delete(context.Background(), &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "demo-1-node-0"}}); err != nil {
		t.Fatal(err)
	}
	if kept := h.keep(); !slices.Equal(kept.Corrected, []string{"Service/demo-1-node-0"}) {
		t.Errorf("kept %+v, want node-0 corrected", kept)
	}
	h.expectSent("drift", "apply Service demo-1-node-0")
	if err := h.server.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: "demo-1-node-0"}, svc); err != nil {
		t.Fatal(err)
	}
	if svc.Labels["plan"] != "nodes" || svc.Annotations["kudo.dev/plan"] != "nodes" {
		t.Errorf("re-applied with labels %v annotations %v, want the nodes plan's render", svc.Labels, svc.Annotations)
	}
	for _, it := range h.status.Inventory {
		if it.Name == "demo-1-node-0" && it.Step != "nodes/main/only" {
			t.Errorf("the corrected child is recorded as applied in %q, want nodes/main/only", it.Step)
		}
	}
}

func TestAGoTemplateMayRenderOnlyItsKinds(t *testing.T) {
	h := newHarness(t)
	run := h.run()
	run.SetPlan("stray")
	phase := h.fw.Plans["stray"].Phases[0]
	out := run.Step(context.Background(), phase, phase.Steps[0])
	expectResult(t, "a ConfigMap from a Service template", out, plans.Fatal)
	if !strings.Contains(out.Message, "resource stray rendered v1 ConfigMap stray, a kind its goTemplate.kinds does not list") {
		t.Errorf("message %q", out.Message)
	}
	h.expectSent("a stray kind")
}

// childGVK is the kind of Framework "child", whose instances an Instance
// task of the demo creates in TestAnInstanceTaskWaitsForTheCacheToShowItsChild.
var childGVK = schema.GroupVersionKind{Group: "child.operetta.dev", Version: "v1", Kind: "Child"}

// behindCache is a children cache that has not caught up with what was
// applied of kind: it does not show it yet.
type behindCache struct {
	tasks.ChildCache
	kind   schema.GroupVersionKind
	behind bool
}

func (c *behindCache) Get(ctx context.Context, gvk schema.GroupVersionKind, key client.ObjectKey) (client.Object, bool, error) {
	if c.behind && gvk == c.kind {
		return nil, false, nil
	}
	return c.ChildCache.Get(ctx, gvk, key)
}

func TestAnInstanceTaskWaitsForTheCacheToShowItsChild(t *testing.T) {
	h := newHarness(t)
	spec := demoFramework()
	spec.Spec.Tasks = append(spec.Spec.Tasks, v1alpha1.Task{Name: "dep", Kind: v1alpha1.TaskInstance, Framework: "child"})
	spec.Spec.Plans["dep"] = v1alpha1.Plan{Phases: []v1alpha1.Phase{{Name: "main", Steps: []v1alpha1.Step{{Name: "only", Tasks: []string{"dep"}}}}}}
	fw, errs := compile.Compile(spec)
	if len(errs) > 0 {
		t.Fatalf("compiling: %s", compile.Message(errs))
	}
	child := &v1alpha1.Framework{
		ObjectMeta: metav1.ObjectMeta{Name: "child", Generation: 1},
		Spec:       v1alpha1.FrameworkSpec{Names: v1alpha1.Names{Group: childGVK.Group, Kind: childGVK.Kind}},
		Status: v1alpha1.FrameworkStatus{Conditions: []metav1.Condition{
			{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, ObservedGeneration: 1}}},
	}
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	frameworks := fake.NewClientBuilder().WithScheme(scheme).WithObjects(child).Build()
	cache := &behindCache{ChildCache: h.children, kind: childGVK, behind: true}
	renders, verdicts := tasks.NewRenders(), tasks.NewVerdicts()
	h.status.Plans["dep"] = v1alpha1.PlanStatus{Status: v1alpha1.InProgress, UID: "dep-run-1"}
	step := func() plans.Outcome {
		run := tasks.NewExecutor(tasks.Clients{Writer: h.writer, Children: cache, Frameworks: frameworks, Renders: renders, Verdicts: verdicts}, fw, h.instance, &h.status)
		run.SetPlan("dep")
		phase := fw.Plans["dep"].Phases[0]
		return run.Step(context.Background(), phase, phase.Steps[0])
	}

	out := step()
	expectResult(t, "the child instance applied", out, plans.Waiting)
	h.expectSent("the child instance applied", "apply Child demo-1-dep")
	// The next reconcile comes before the cache shows the child: it waits
	// for the child's event, and neither applies again nor fails.
	out = step()
	expectResult(t, "the cache behind", out, plans.Waiting)
	if !strings.Contains(out.Message, "applied, not seen yet") {
		t.Errorf("the cache behind: message %q; want it to say the child was applied and is not seen yet", out.Message)
	}
	h.expectSent("the cache behind")
	cache.behind = false
	out = step()
	expectResult(t, "the cache caught up", out, plans.Waiting)
	if !strings.Contains(out.Message, "to be reconciled") {
		t.Errorf("the cache caught up: message %q; want it to wait for the child to be reconciled", out.Message)
	}
}

// staleCache is a children cache that still shows, for the one object it
// holds back, the version it had when held: an informer whose event of
// the latest apply has not come yet.
type staleCache struct {
	tasks.ChildCache
	held client.Object
}

func (c *staleCache) Get(ctx context.Context, gvk schema.GroupVersionKind, key client.ObjectKey) (client.Object, bool, error) {
	if c.held != nil && key == client.ObjectKeyFromObject(c.held) {
		return c.held.DeepCopyObject().(client.Object), true, nil
	}
	return c.ChildCache.Get(ctx, gvk, key)
}

// TestKeepTakesAnOlderCachedVersionOfItsOwnApplyForTheCacheBehind: a plan
// applies new content, and Keep runs before the cache shows it (the
// scheduled backup of one reconcile): the older version the cache shows is
// not drift, so nothing is applied again; once the cache catches up,
// nothing either. Real drift after that is still corrected.
func TestKeepTakesAnOlderCachedVersionOfItsOwnApplyForTheCacheBehind(t *testing.T) {
	h := newHarness(t)
	h.renders = tasks.NewRenders()
	h.deployed()
	old, found, err := h.children.Get(context.Background(), corev1.SchemeGroupVersion.WithKind("ConfigMap"), client.ObjectKey{Namespace: namespace, Name: configMap})
	if err != nil || !found {
		t.Fatalf("the deployed ConfigMap: %v", err)
	}
	stale := &staleCache{ChildCache: h.children, held: old}
	h.children = stale
	if err := unstructured.SetNestedField(h.instance.Object, "bonjour", "spec", "greeting"); err != nil {
		t.Fatal(err)
	}
	h.instance.SetResourceVersion("edited") // what the render memory keys on
	h.step(v1alpha1.PlanDeploy)
	h.expectSent("the new content", "apply ConfigMap "+configMap)
	h.keep()
	h.expectSent("keep, with the cache behind the apply")
	stale.held = nil
	h.keep()
	h.expectSent("keep, with the cache caught up")

	cm := &corev1.ConfigMap{}
	if err := h.server.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: configMap}, cm); err != nil {
		t.Fatal(err)
	}
	cm.Data["greeting"] = "hacked"
	if err := h.server.Update(context.Background(), cm); err != nil {
		t.Fatal(err)
	}
	if kept := h.keep(); !slices.Contains(kept.Corrected, "ConfigMap/"+configMap) {
		t.Fatalf("drift after the cache caught up: kept %+v", kept)
	}
	h.expectSent("keep, after someone changed it", "apply ConfigMap "+configMap)
}
