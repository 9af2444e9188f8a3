package integration

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	"operetta.dev/operetta/api/v1alpha1"
	operetta "operetta.dev/operetta/internal/manager"
	"operetta.dev/operetta/internal/testutil"
)

// The suite runs against a real etcd and kube-apiserver (envtest), built by
// hack/control-plane.sh; `make test` builds them and sets KUBEBUILDER_ASSETS.
var (
	restConfig *rest.Config
	k8s        client.Client
	scheme     *runtime.Scheme
)

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		assets, _ := filepath.Abs("../../bin/k8s")
		os.Setenv("KUBEBUILDER_ASSETS", assets)
	}
	if _, err := os.Stat(filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kube-apiserver")); err != nil {
		fmt.Fprintf(os.Stderr, "no kube-apiserver in %s: run `make test`, which builds the control plane (hack/control-plane.sh)\n", os.Getenv("KUBEBUILDER_ASSETS"))
		return 1
	}
	if os.Getenv("TEST_LOG") != "" {
		ctrl.SetLogger(zap.New(zap.UseDevMode(true)))
	} else {
		ctrl.SetLogger(logr.Discard())
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{"../../charts/operetta/crds"},
		ErrorIfCRDPathMissing: true,
	}
	var err error
	if restConfig, err = env.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "starting envtest:", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	if scheme, err = operetta.NewScheme(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if k8s, err = client.New(restConfig, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// manager is a running operetta manager for one test.
type manager struct {
	ctrl.Manager
	registry *operetta.Engine
	stop     func()
	// requests counts what the manager sent to the API server.
	requests *requests
}

// startManager starts operetta as cmd/manager does, minus leader election and
// listeners, and stops it when the test ends (or earlier, through stop).
func startManager(t *testing.T) *manager {
	t.Helper()
	return startManagerWith(t, operetta.Options{WorkersPerKind: 2}, nil)
}

// startManagerWith starts a manager with opts whose requests go through
// fail: a request fail answers with a response is not sent (nil: all are).
func startManagerWith(t *testing.T, opts operetta.Options, fail func(*http.Request) *http.Response) *manager {
	t.Helper()
	return startManagerElecting(t, opts, fail, nil)
}

// startManagerElecting starts a manager as startManagerWith does, with the
// leader election elect sets up (nil: none).
func startManagerElecting(t *testing.T, opts operetta.Options, fail func(*http.Request) *http.Response, elect func(*ctrl.Options)) *manager {
	t.Helper()
	return startManagerAdding(t, opts, fail, elect, nil)
}

// startManagerAdding is startManagerElecting with add called on the
// manager after operetta's Setup, before it starts.
func startManagerAdding(t *testing.T, opts operetta.Options, fail func(*http.Request) *http.Response, elect func(*ctrl.Options), add func(ctrl.Manager) error) *manager {
	t.Helper()
	counted := &requests{fail: fail}
	cfg := rest.CopyConfig(restConfig)
	cfg.Wrap(counted.wrap)
	options := ctrl.Options{
		Scheme:                 scheme,
		Cache:                  operetta.CacheOptions(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		// Each test has its own manager in one process.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	}
	if elect != nil {
		elect(&options)
	}
	mgr, err := ctrl.NewManager(cfg, options)
	if err != nil {
		t.Fatal(err)
	}
	registry, err := operetta.Setup(mgr, opts)
	if err != nil {
		t.Fatal(err)
	}
	if add != nil {
		if err := add(mgr); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager stopped with %v", err)
		}
	}
	t.Cleanup(stop)
	return &manager{Manager: mgr, registry: registry, stop: stop, requests: counted}
}

// loopGeneration is the Framework generation the loop of name runs, and
// whether it runs.
func loopGeneration(m *manager, name string) (int64, bool) {
	rec, ok := m.registry.Reconciler(name)
	if !ok {
		return 0, false
	}
	return rec.Generation(), true
}

func eventually(t *testing.T, timeout time.Duration, check func() error) {
	t.Helper()
	testutil.Eventually(t, timeout, 100*time.Millisecond, check)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// namespace creates a namespace for one test.
func namespace(t *testing.T, name string) string {
	t.Helper()
	if err := k8s.Create(ctx(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	return name
}

// loadExample reads a Framework from examples/ and gives it its own name and
// group, so tests never share a kind.
func loadExample(t *testing.T, path, name, group string) *v1alpha1.Framework {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../examples", path))
	if err != nil {
		t.Fatal(err)
	}
	fw := &v1alpha1.Framework{}
	if err := yaml.UnmarshalStrict(b, fw); err != nil {
		t.Fatal(err)
	}
	fw.Name, fw.Spec.Names.Group = name, group
	return fw
}

// configMapFramework is the smallest useful Framework: a kind whose instances
// each get one ConfigMap holding their greeting.
func configMapFramework(name, group, kind string) *v1alpha1.Framework {
	return &v1alpha1.Framework{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.FrameworkSpec{
			Names: v1alpha1.Names{Group: group, Kind: kind},
			Parameters: []v1alpha1.Parameter{
				{Name: "greeting", Type: v1alpha1.TypeString, Default: &apiextensionsv1.JSON{Raw: []byte(`"hello"`)}},
			},
			Resources: []v1alpha1.Resource{{
				ID: "config",
				Template: &runtime.RawExtension{Raw: []byte(`{"apiVersion":"v1","kind":"ConfigMap",
					"metadata":{"name":"${instance.metadata.name}-greeting"},
					"data":{"greeting":"${instance.spec.greeting}"}}`)},
			}},
			Tasks: []v1alpha1.Task{{Name: "config", Kind: v1alpha1.TaskApply, Resources: []string{"config"}}},
			Plans: map[string]v1alpha1.Plan{"deploy": {Phases: []v1alpha1.Phase{{
				Name: "main", Steps: []v1alpha1.Step{{Name: "config", Tasks: []string{"config"}}},
			}}}},
		},
	}
}

// createFramework creates fw and deletes it when the test ends.
func createFramework(t *testing.T, fw *v1alpha1.Framework) {
	t.Helper()
	if err := k8s.Create(ctx(t), fw); err != nil {
		t.Fatalf("creating Framework %s: %v", fw.Name, err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), fw) })
}

// editFramework reads Framework name into fw, applies edit and updates it,
// reading it again if the manager wrote its status in between, as kubectl
// edit would.
func editFramework(t *testing.T, name string, fw *v1alpha1.Framework, edit func()) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8s.Get(ctx(t), client.ObjectKey{Name: name}, fw); err != nil {
			return err
		}
		edit()
		return k8s.Update(ctx(t), fw)
	})
	if err != nil {
		t.Fatalf("editing Framework %s: %v", name, err)
	}
}

// frameworkReady waits until fw's Ready condition has status for its current
// generation, and returns the condition.
func frameworkReady(t *testing.T, name string, status metav1.ConditionStatus) metav1.Condition {
	t.Helper()
	var cond metav1.Condition
	eventually(t, 30*time.Second, func() error {
		fw := &v1alpha1.Framework{}
		if err := k8s.Get(ctx(t), client.ObjectKey{Name: name}, fw); err != nil {
			return err
		}
		c := meta.FindStatusCondition(fw.Status.Conditions, v1alpha1.ConditionReady)
		if c == nil || c.Status != status || c.ObservedGeneration != fw.Generation {
			return fmt.Errorf("Framework %s: Ready is %+v, want %s for generation %d", name, c, status, fw.Generation)
		}
		cond = *c
		return nil
	})
	return cond
}

// instance returns an unstructured instance of gvk.
func instance(gvk schema.GroupVersionKind, ns, name string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetGroupVersionKind(gvk)
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

// get reads an object of gvk.
func get(t *testing.T, gvk schema.GroupVersionKind, ns, name string) (*unstructured.Unstructured, error) {
	return getAs(t, k8s, gvk, ns, name)
}

// planStatus reads status.plans.<plan>.status of an instance.
func planStatus(u *unstructured.Unstructured, plan string) string {
	s, _, _ := unstructured.NestedString(u.Object, "status", "plans", plan, "status")
	return s
}

// waitForPlan waits until the instance's plan has the given status.
func waitForPlan(t *testing.T, gvk schema.GroupVersionKind, ns, name, plan, want string) *unstructured.Unstructured {
	t.Helper()
	return testutil.WaitForPlan(t, k8s, gvk, types.NamespacedName{Namespace: ns, Name: name}, plan, want, 30*time.Second)
}

// waitForInstance waits until check accepts the instance, and returns it.
func waitForInstance(t *testing.T, gvk schema.GroupVersionKind, ns, name string, check func(*unstructured.Unstructured) error) *unstructured.Unstructured {
	t.Helper()
	return testutil.WaitForInstance(t, k8s, gvk, types.NamespacedName{Namespace: ns, Name: name}, 30*time.Second, check)
}

func mustContain(t *testing.T, s string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(s, p) {
			t.Fatalf("%q does not contain %q", s, p)
		}
	}
}

func fromUnstructured(v any, into any) error {
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("not an object: %T", v)
	}
	return runtime.DefaultUnstructuredConverter.FromUnstructured(m, into)
}

func unstructuredString(u *unstructured.Unstructured, fields ...string) (string, bool, error) {
	return unstructured.NestedString(u.Object, fields...)
}

// eventReasons lists the reasons of the events about an object.
func eventReasons(t *testing.T, ns, name string) (map[string]bool, error) {
	list := &eventsv1.EventList{}
	if err := k8s.List(ctx(t), list, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, e := range list.Items {
		if e.Regarding.Name == name {
			out[e.Reason] = true
		}
	}
	return out, nil
}

// waitForEvents waits until there were events of every reason about the
// object ns/name.
func waitForEvents(t *testing.T, ns, name string, reasons ...string) {
	t.Helper()
	eventually(t, 30*time.Second, func() error {
		got, err := eventReasons(t, ns, name)
		if err != nil {
			return err
		}
		for _, r := range reasons {
			if !got[r] {
				return fmt.Errorf("no %s event about %s/%s, only %v", r, ns, name, got)
			}
		}
		return nil
	})
}

// frameworkEvents counts the events about Framework name by reason (an
// event repeated into a series counts as often as it happened), and keeps
// their notes.
func frameworkEvents(t *testing.T, name string) (counts map[string]int32, notes []string) {
	t.Helper()
	list := &eventsv1.EventList{}
	// Events about cluster-scoped objects are kept in "default".
	if err := k8s.List(ctx(t), list, client.InNamespace(metav1.NamespaceDefault)); err != nil {
		t.Fatal(err)
	}
	counts = map[string]int32{}
	for _, e := range list.Items {
		if e.Regarding.Kind != "Framework" || e.Regarding.Name != name {
			continue
		}
		n := int32(1)
		if e.Series != nil {
			n = e.Series.Count
		}
		counts[e.Reason] += n
		notes = append(notes, e.Reason+": "+e.Note)
	}
	return counts, notes
}

// expectFrameworkEvents waits until Framework name has had exactly the
// given number of events of each given reason.
func expectFrameworkEvents(t *testing.T, name string, want map[string]int32) {
	t.Helper()
	eventually(t, 30*time.Second, func() error {
		got, notes := frameworkEvents(t, name)
		for reason, n := range want {
			if got[reason] != n {
				return fmt.Errorf("Framework %s: %d %s events, want %d; events: %v", name, got[reason], reason, n, notes)
			}
		}
		return nil
	})
}

// frameworkFile writes fw as kubectl would read it from a file, and returns
// the file's path.
func frameworkFile(t *testing.T, fw *v1alpha1.Framework) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "framework.yaml")
	b, err := yaml.Marshal(unstructuredFramework(t, fw).Object)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}
