package integration

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"operetta.dev/operetta/api/v1alpha1"
	operetta "operetta.dev/operetta/internal/manager"
)

// requests counts the requests a manager sends, by method and path, leaving
// out watches (long-lived, not work), and can fail some of them.
type requests struct {
	fail func(*http.Request) *http.Response

	mu   sync.Mutex
	sent []string // "METHOD path"
}

func (r *requests) wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		if req.URL.Query().Get("watch") != "true" {
			r.mu.Lock()
			r.sent = append(r.sent, req.Method+" "+req.URL.Path)
			r.mu.Unlock()
		}
		if r.fail != nil {
			if resp := r.fail(req); resp != nil {
				return resp, nil
			}
		}
		return next.RoundTrip(req)
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// mark returns a position to count from.
func (r *requests) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sent)
}

// since lists the requests sent since mark whose path contains every part.
func (r *requests) since(mark int, parts ...string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
next:
	for _, s := range r.sent[mark:] {
		for _, p := range parts {
			if !strings.Contains(s, p) {
				continue next
			}
		}
		out = append(out, s)
	}
	return out
}

// reconciles is how many reconciles the controller named name has finished,
// from controller-runtime's own metric.
func reconciles(t *testing.T, name string) float64 {
	t.Helper()
	return gathered(t, "controller_runtime_reconcile_total", map[string]string{"controller": name})
}

// childEventsSkipped is how many child events of framework's instances
// woke nothing, from operetta's own metric.
func childEventsSkipped(t *testing.T, framework string) float64 {
	t.Helper()
	return gathered(t, "operetta_child_events_skipped_total", map[string]string{"framework": framework})
}

// gathered sums the counters or gauges of metric family in the manager's
// registry whose labels include want.
func gathered(t *testing.T, family string, want map[string]string) float64 {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, f := range families {
		if f.GetName() != family {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for k, v := range want {
				if label(m, k) != v {
					continue next
				}
			}
			n += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return n
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// TestAWaitingStepSendsNothing: while a step waits for its Deployment, the
// Deployment's progress reports wake nothing and its step sends nothing;
// the report that it is ready completes the step; once everything is done,
// a change that wakes the instance sends nothing.
func TestAWaitingStepSendsNothing(t *testing.T) {
	m := startManager(t)
	ns := namespace(t, "waiting")
	group := "waiting.test.operetta.dev"
	gvk := thingGVK(group)
	fw := framework("waiting", group, nil,
		[]v1alpha1.Resource{configMap("config", ""), deployment("web")},
		[]v1alpha1.Task{apply("app", "config", "web")},
		onePlan("app"))
	createFramework(t, fw)
	frameworkReady(t, "waiting", metav1.ConditionTrue)
	if err := k8s.Create(ctx(t), instance(gvk, ns, "w", map[string]any{})); err != nil {
		t.Fatal(err)
	}
	u := waitForPlan(t, gvk, ns, "w", "deploy", "IN_PROGRESS")
	msg, _, _ := unstructuredString(u, "status", "plans", "deploy", "message")
	mustContain(t, msg, "waiting for Deployment w-web")

	// The Deployment's controller reports progress a few times. A report
	// that leaves it as far from ready as it was cannot change what the
	// step decides: each is judged and skipped, and wakes nothing.
	mark, skipped := m.requests.mark(), childEventsSkipped(t, "waiting")
	dep := &appsv1.Deployment{}
	for i := int32(1); i <= 3; i++ {
		if err := k8s.Get(ctx(t), client.ObjectKey{Namespace: ns, Name: "w-web"}, dep); err != nil {
			t.Fatal(err)
		}
		dep.Status = appsv1.DeploymentStatus{ObservedGeneration: dep.Generation, Replicas: 1, UpdatedReplicas: 1, UnavailableReplicas: 1, ReadyReplicas: 0, AvailableReplicas: 0}
		dep.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: fmt.Sprintf("Step%d", i)}}
		if err := k8s.Status().Update(ctx(t), dep); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, func() error {
		if got := childEventsSkipped(t, "waiting") - skipped; got != 3 {
			return fmt.Errorf("%v of the Deployment's 3 progress reports skipped; want 3", got)
		}
		return nil
	})
	// Its status may say how far the Deployment got; its children are
	// neither read nor written.
	for _, sent := range m.requests.since(mark, "/namespaces/"+ns+"/") {
		if !strings.HasPrefix(sent, "PATCH") || !strings.HasSuffix(sent, "/things/w/status") {
			t.Fatalf("a waiting step sent %s", sent)
		}
	}

	// Healthy: the step completes from the event alone.
	setDeploymentReady(t, ns, "w-web", true)
	waitForPlan(t, gvk, ns, "w", "deploy", "COMPLETE")
	for _, sent := range m.requests.since(mark, "/namespaces/"+ns+"/") {
		isEvent := strings.Contains(sent, "/events")
		if !isEvent && (!strings.HasPrefix(sent, "PATCH") || !strings.HasSuffix(sent, "/things/w/status")) {
			t.Fatalf("from waiting to COMPLETE the manager sent %s; want only the instance's status patches and events", sent)
		}
	}

	// Idle: the Framework and its instance are settled. A change that
	// wakes the instance without asking anything of it sends nothing.
	eventually(t, 10*time.Second, func() error {
		got := &v1alpha1.Framework{}
		if err := k8s.Get(ctx(t), client.ObjectKey{Name: "waiting"}, got); err != nil {
			return err
		}
		if r := got.Status.Rollout; r == nil || r.Updated != 1 || r.Total != 1 {
			return fmt.Errorf("rollout %+v, want 1/1", r)
		}
		return nil
	})
	// Idle is proven by what the loops decided, not by a wait: the
	// wake-up's reconcile ends without a request and without scheduling
	// another (no requeue, no error), and nothing is queued.
	controller := gvk.GroupKind().String()
	settled := func(result string) float64 {
		return gathered(t, "controller_runtime_reconcile_total", map[string]string{"controller": controller, "result": result})
	}
	mark, before := m.requests.mark(), settled("success")
	again := settled("requeue") + settled("requeue_after") + settled("error")
	patchInstance(t, gvk, ns, "w", `{"metadata":{"annotations":{"unrelated":"x"}}}`)
	eventually(t, 10*time.Second, func() error {
		if got := settled("success"); got <= before {
			return fmt.Errorf("the annotation did not wake the instance")
		}
		return nil
	})
	if sent := m.requests.since(mark); len(sent) > 0 {
		t.Fatalf("waking an idle instance sent %d requests: %v", len(sent), sent)
	}
	if got := settled("requeue") + settled("requeue_after") + settled("error"); got != again {
		t.Fatalf("waking an idle instance scheduled %v more reconciles", got-again)
	}
	if adds := gathered(t, "workqueue_adds_total", map[string]string{"name": controller}); adds == 0 {
		t.Fatalf("no workqueue metrics for %s: the depth below would prove nothing", controller)
	}
	if depth := gathered(t, "workqueue_depth", map[string]string{"name": controller}); depth != 0 {
		t.Fatalf("%v reconciles are queued for an idle kind", depth)
	}
}

// TestAFailingChildBacksOffToTheCap: a child the API server keeps refusing
// with a 500 is retried with exponential backoff up to the cap, then once per
// cap. The cap is 1 s here so the test is short; the default, 2 min, makes it
// one request per instance every two minutes.
func TestAFailingChildBacksOffToTheCap(t *testing.T) {
	broken := "/namespaces/backoff/configmaps/b-config"
	var (
		mu    sync.Mutex
		tries []time.Time // of the refused applies
	)
	startManagerWith(t, operetta.Options{WorkersPerKind: 2, MaxBackoff: time.Second}, func(req *http.Request) *http.Response {
		if req.Method != http.MethodPatch || !strings.HasSuffix(req.URL.Path, broken) {
			return nil
		}
		mu.Lock()
		tries = append(tries, time.Now())
		mu.Unlock()
		return &http.Response{
			StatusCode: http.StatusInternalServerError, Request: req,
			Header: http.Header{"Content-Type": []string{"application/json"}},
			Body:   io.NopCloser(strings.NewReader(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"etcd is having a bad day","reason":"InternalError","code":500}`)),
		}
	})
	ns := namespace(t, "backoff")
	group := "backoff.test.operetta.dev"
	gvk := thingGVK(group)
	createFramework(t, framework("backoff", group, nil, []v1alpha1.Resource{configMap("config", "")},
		[]v1alpha1.Task{apply("config", "config")}, onePlan("config")))
	frameworkReady(t, "backoff", metav1.ConditionTrue)
	if err := k8s.Create(ctx(t), instance(gvk, ns, "b", map[string]any{})); err != nil {
		t.Fatal(err)
	}
	u := waitForPlan(t, gvk, ns, "b", "deploy", "ERROR")
	msg, _, _ := unstructuredString(u, "status", "plans", "deploy", "message")
	mustContain(t, msg, "etcd is having a bad day")

	// The ramp (100 ms doubling to 1 s) takes 5 retries; the 3 after it
	// come once per cap. Judged by when the retries came, not by counting
	// them over a wait.
	const ramp, capped = 5, 3
	var gaps []time.Duration
	eventually(t, 20*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(tries) < ramp+capped+1 {
			return fmt.Errorf("%d tries so far", len(tries))
		}
		gaps = gaps[:0]
		for i := 1; i < len(tries); i++ {
			gaps = append(gaps, tries[i].Sub(tries[i-1]))
		}
		return nil
	})
	for i, gap := range gaps[len(gaps)-capped:] {
		if gap < 800*time.Millisecond || gap > 2*time.Second {
			t.Fatalf("retry %d after the ramp came %s after the one before, want about the 1 s cap (all gaps: %v)", i+1, gap, gaps)
		}
	}
	if gaps[0] > 800*time.Millisecond {
		t.Fatalf("the first retry came after %s: no ramp from 100 ms (all gaps: %v)", gaps[0], gaps)
	}
	if got := planStatus(mustGet(t, gvk, ns, "b"), "deploy"); got != "ERROR" {
		t.Fatalf("plan is %s while the child keeps failing, want ERROR (transient)", got)
	}
}

func mustGet(t *testing.T, gvk schema.GroupVersionKind, ns, name string) *unstructured.Unstructured {
	t.Helper()
	u, err := get(t, gvk, ns, name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
