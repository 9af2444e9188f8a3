package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"operetta.dev/operetta/internal/kube"
	"operetta.dev/operetta/internal/metrics"
	"operetta.dev/operetta/internal/testutil"
)

// Labels the test's children carry: whose they are.
const (
	labelTest     = "engine.test.operetta.dev/child"
	labelLoop     = "engine.test.operetta.dev/loop"
	labelInstance = "engine.test.operetta.dev/instance"
)

// counter is a loop's reconciler: it counts the reconciles of each
// instance.
type counter struct {
	mu   sync.Mutex
	seen map[types.NamespacedName]int
}

func (c *counter) Reconcile(_ context.Context, req ctrl.Request) (ctrl.Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen[req.NamespacedName]++
	return ctrl.Result{}, nil
}

func (c *counter) reconciles(key types.NamespacedName) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen[key]
}

// factory makes counters and counts how many it made.
type factory struct {
	mu   sync.Mutex
	made int
}

func (f *factory) new() *counter {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.made++
	return &counter{seen: map[types.NamespacedName]int{}}
}

func (f *factory) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.made
}

// ownerOf reads the test's labels, as v1alpha1.OwnerOfChild reads
// operetta's.
func ownerOf(o metav1.Object) (string, types.NamespacedName, bool) {
	l := o.GetLabels()
	if l[labelLoop] == "" {
		return "", types.NamespacedName{}, false
	}
	return l[labelLoop], types.NamespacedName{Namespace: o.GetNamespace(), Name: l[labelInstance]}, true
}

// harness is a manager with an engine of counters, and a client.
type harness struct {
	t       *testing.T
	mgr     ctrl.Manager
	engine  *Engine[*counter]
	client  client.Client
	start   func() // starts the manager, once
	factory factory
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	cfg := controlPlane(t)
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: scheme,
		// As operetta's: no informer starts because something was read.
		Cache:                  cache.Options{ReaderFailOnMissingInformer: true},
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	e, err := New[*counter](mgr, Options{
		Children: labels.SelectorFromSet(labels.Set{labelTest: "true"}),
		OwnerOf:  ownerOf,
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, mgr: mgr, engine: e, client: c}
	var once sync.Once
	h.start = func() {
		once.Do(func() {
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- mgr.Start(ctx) }()
			t.Cleanup(func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("the manager stopped with %v", err)
				}
			})
		})
	}
	return h
}

// startLoop starts loop name for gvk once the engine runs, which it does
// once the manager was elected.
func (h *harness) startLoop(name string, gvk schema.GroupVersionKind, children ...schema.GroupVersionKind) *counter {
	h.t.Helper()
	h.start()
	<-h.mgr.Elected()
	var rec *counter
	testutil.Eventually(h.t, 10*time.Second, 10*time.Millisecond, func() error {
		var err error
		rec, err = h.engine.Start(name, gvk, children, h.factory.new)
		return err
	})
	return rec
}

func (h *harness) create(obj client.Object) {
	h.t.Helper()
	if err := h.client.Create(context.Background(), obj); err != nil {
		h.t.Fatal(err)
	}
}

// waitReconciled waits until rec has reconciled key more than before.
func (h *harness) waitReconciled(rec *counter, key types.NamespacedName, before int) {
	h.t.Helper()
	testutil.Eventually(h.t, 10*time.Second, 20*time.Millisecond, func() error {
		if n := rec.reconciles(key); n <= before {
			return fmt.Errorf("%s reconciled %d times, want more than %d", key, n, before)
		}
		return nil
	})
}

// newNamespace creates a namespace of its own for a test, so that it may
// run again against the same control plane (-count).
func newNamespace(h *harness, prefix string) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	h.create(ns)
	return ns.Name
}

func object(gvk schema.GroupVersionKind, ns, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{}}}
	u.SetGroupVersionKind(gvk)
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

// cached says whether the loops' cache holds an informer for gvk: reading
// through it fails otherwise, never asking the API server.
func cached(t *testing.T, e *Engine[*counter], gvk schema.GroupVersionKind, key types.NamespacedName) bool {
	t.Helper()
	err := e.Cache().Get(context.Background(), key, object(gvk, key.Namespace, key.Name))
	var notCached *cache.ErrResourceNotCached
	switch {
	case errors.As(err, &notCached):
		return false
	case err != nil && !kube.Gone(err):
		t.Fatalf("reading %s %s from the cache: %v", gvk.Kind, key, err)
	}
	return true
}

func runningLoops(t *testing.T) float64 {
	t.Helper()
	var m dto.Metric
	if err := metrics.RunningLoops.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

func TestStartBeforeTheElectionIsAWait(t *testing.T) {
	h := newHarness(t) // its manager never starts: never elected
	_, err := h.engine.Start("widgets", widgetGVK, nil, h.factory.new)
	if !errors.Is(err, ErrNotLeading) || kube.Classify(err) != kube.Waiting {
		t.Fatalf("Start before the election: %v, want ErrNotLeading, a wait", err)
	}
	if h.factory.count() != 0 || h.engine.IsRunning("widgets") {
		t.Fatalf("a loop started before the election: %d reconcilers made, running %v", h.factory.count(), h.engine.IsRunning("widgets"))
	}
}

func TestALoopRunsRestartsForANewKindAndStopsWithItsInformers(t *testing.T) {
	h := newHarness(t)
	ns := newNamespace(h, "engine-loop")
	configMaps := corev1.SchemeGroupVersion.WithKind("ConfigMap")
	w1 := types.NamespacedName{Namespace: ns, Name: "w1"}

	first := h.startLoop("things", widgetGVK, configMaps)
	h.create(object(widgetGVK, ns, "w1"))
	h.waitReconciled(first, w1, 0)
	if got := runningLoops(t); got != 1 {
		t.Errorf("%v loops counted running, want 1", got)
	}

	// Started again for the same kind, as every Framework reconcile does.
	again, err := h.engine.Start("things", widgetGVK, []schema.GroupVersionKind{configMaps}, h.factory.new)
	if err != nil || again != first || h.factory.count() != 1 {
		t.Fatalf("Start again: err %v, same reconciler %v, %d made; want the running loop's, made once", err, again == first, h.factory.count())
	}
	if !slices.Equal(h.engine.Running(), []string{"things"}) {
		t.Fatalf("running %v", h.engine.Running())
	}

	// A child's event wakes its instance in its loop; so does WakeAll.
	if got := h.engine.Children().Watched(); !slices.Equal(got, []string{configMaps.String()}) {
		t.Fatalf("child kinds watched %v, want ConfigMaps", got)
	}
	before := first.reconciles(w1)
	h.create(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "w1-child",
		Labels: map[string]string{labelTest: "true", labelLoop: "things", labelInstance: "w1"}}})
	h.waitReconciled(first, w1, before)
	before = first.reconciles(w1)
	h.engine.WakeAll("things")
	h.waitReconciled(first, w1, before)

	// The loop's kind changed: a new loop, and the old kind's informer and
	// the child kinds it no longer has go.
	second, err := h.engine.Start("things", gadgetGVK, nil, h.factory.new)
	if err != nil || second == first || h.factory.count() != 2 {
		t.Fatalf("Start for another kind: err %v, new reconciler %v, %d made; want a new loop", err, second != first, h.factory.count())
	}
	if cached(t, h.engine, widgetGVK, w1) {
		t.Fatal("the cache still holds Widgets after the loop moved to Gadgets")
	}
	if got := h.engine.Children().Watched(); len(got) > 0 {
		t.Fatalf("child kinds still watched: %v", got)
	}
	g1 := types.NamespacedName{Namespace: ns, Name: "g1"}
	h.create(object(gadgetGVK, ns, "g1"))
	h.waitReconciled(second, g1, 0)
	if !cached(t, h.engine, gadgetGVK, g1) {
		t.Fatal("the cache holds no Gadgets while their loop runs")
	}

	h.engine.Stop("things")
	if h.engine.IsRunning("things") || len(h.engine.Running()) > 0 {
		t.Fatalf("after Stop: running %v", h.engine.Running())
	}
	if _, ok := h.engine.Reconciler("things"); ok {
		t.Fatal("a stopped loop's reconciler is still handed out")
	}
	if cached(t, h.engine, gadgetGVK, g1) {
		t.Fatal("the cache still holds Gadgets after their loop stopped")
	}
	if got := runningLoops(t); got != 0 {
		t.Errorf("%v loops counted running after Stop, want 0", got)
	}
	h.engine.Stop("things") // stopping what does not run does nothing
}
