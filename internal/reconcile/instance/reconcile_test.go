package instance

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/kube"
	"operetta.dev/operetta/internal/reconcile/stale"
	"operetta.dev/operetta/internal/testutil"
)

// loop is one Reconciler over a fake API server, as the engine runs it.
type loop struct {
	t        *testing.T
	server   *apiServer
	r        *Reconciler
	recorder *events.FakeRecorder

	mu      sync.Mutex
	reports []Report // handed to the Framework controller
}

func newLoop(t *testing.T, fw *compile.Framework, objs ...client.Object) *loop {
	t.Helper()
	l := &loop{t: t, server: newAPIServer(t, objs...), recorder: newRecorder()}
	l.r = New(fw, l.server, Config{
		GVK: testGVK, Instances: l.server, Client: l.server, Frameworks: l.server, Recorder: l.recorder,
		Enqueue: func(types.NamespacedName) {},
		RolloutChanged: func(r Report) {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.reports = append(l.reports, r)
		},
		Resync: 10 * time.Minute,
		Now:    func() time.Time { return time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) },
	})
	return l
}

// reconcile runs one reconcile of instance name.
func (l *loop) reconcile(name string) ctrl.Result {
	l.t.Helper()
	res, err := l.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: key(name)})
	if err != nil {
		l.t.Fatalf("reconciling %s: %v", name, err)
	}
	return res
}

// reported returns the reports handed on since the last call.
func (l *loop) reported() []Report {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.reports
	l.reports = nil
	return out
}

func withCleanup(tasks ...string) func(*v1alpha1.FrameworkSpec) {
	return withPlan(v1alpha1.PlanCleanup, onePlan(tasks...))
}

func TestANewInstanceGetsItsFinalizerFirstThenItsDeployPlan(t *testing.T) {
	l := newLoop(t, thingFramework(t, 1, withCleanup("done")), thing("a"))
	res := l.reconcile("a")

	if sent := l.server.sent(); !slices.Equal(sent, []string{"patch a", "patch a/status"}) {
		t.Fatalf("sent %v, want the finalizer, then one status patch", sent)
	}
	u := l.server.get(t, "a")
	if !controllerutil.ContainsFinalizer(u, v1alpha1.FinalizerCleanup) {
		t.Fatalf("finalizers %v, want %s", u.GetFinalizers(), v1alpha1.FinalizerCleanup)
	}
	st := ReadStatus(u)
	deploy := st.Plans[v1alpha1.PlanDeploy]
	if st.ActivePlan != v1alpha1.PlanDeploy || st.ActivePlanStatus != v1alpha1.InProgress || deploy.UID == "" || deploy.StartedAt == nil {
		t.Fatalf("status %+v; want deploy started and in progress", st)
	}
	if st.FrameworkGeneration != 1 || st.ObservedGeneration != 1 {
		t.Fatalf("frameworkGeneration %d, observedGeneration %d; want 1, 1", st.FrameworkGeneration, st.ObservedGeneration)
	}
	if c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionReconciling); c == nil || c.Status != "True" {
		t.Fatalf("conditions %+v; want Reconciling while deploy runs", st.Conditions)
	}
	if res.RequeueAfter < 9*time.Minute {
		t.Fatalf("a plan waiting for its Dummy looks again after %s, want the resync", res.RequeueAfter)
	}
	if evs := testutil.Drain(l.recorder); len(evs) > 0 {
		t.Fatalf("a plan's start was announced: %q", evs)
	}
	reports := l.reported()
	if len(reports) != 1 || reports[0].Rollout.Total != 1 || reports[0].Settled() {
		t.Fatalf("reports %+v; want one, counting the instance, not settled", reports)
	}

	// Nothing changed: nothing is sent, told or reported.
	l.reconcile("a")
	if sent := l.server.sent(); len(sent) > 0 {
		t.Fatalf("a reconcile with nothing new sent %v", sent)
	}
	if evs, reports := testutil.Drain(l.recorder), l.reported(); len(evs) > 0 || len(reports) > 0 {
		t.Fatalf("a reconcile with nothing new told %q, reported %+v", evs, reports)
	}
}

// staleReader answers reads of instances with the instance as it was.
type staleReader struct {
	client.Reader
	was *unstructured.Unstructured
}

func (s staleReader) Get(_ context.Context, _ client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	s.was.DeepCopyInto(obj.(*unstructured.Unstructured))
	return nil
}

func TestAReconcileFromACacheBehindItsOwnWriteWaitsForIt(t *testing.T) {
	l := newLoop(t, thingFramework(t, 1), thing("a"))
	before := l.server.get(t, "a")
	l.reconcile("a")
	if sent := l.server.sent(); !slices.Equal(sent, []string{"patch a/status"}) {
		t.Fatalf("first reconcile sent %v, want one status patch (no cleanup plan, no finalizer)", sent)
	}

	l.r.cfg.Instances = staleReader{Reader: l.server, was: before}
	if res := l.reconcile("a"); res.RequeueAfter != stale.Retry {
		t.Fatalf("a reconcile of the version read before the last write: %+v, want a look again in %s", res, stale.Retry)
	}
	if sent := l.server.sent(); len(sent) > 0 {
		t.Fatalf("a reconcile from a stale cache sent %v: it would start deploy again", sent)
	}
}

func TestADeletedInstanceRunsItsCleanupThenLetsGo(t *testing.T) {
	ctx := context.Background()
	l := newLoop(t, thingFramework(t, 1, withCleanup("done")), thing("a"))
	l.reconcile("a")
	l.server.sent()
	l.reported()
	if err := l.server.Delete(ctx, thing("a")); err != nil {
		t.Fatal(err)
	}

	l.reconcile("a")
	if sent := l.server.sent(); !slices.Equal(sent, []string{"patch a/status", "patch a"}) {
		t.Fatalf("sent %v, want the cleanup's status, then the finalizer off", sent)
	}
	if evs := testutil.Drain(l.recorder); len(evs) != 1 || !strings.HasPrefix(evs[0], "Normal PlanComplete plan cleanup is complete") {
		t.Fatalf("events %q, want cleanup's completion", evs)
	}
	if err := l.server.Get(ctx, key("a"), thing("a")); !kube.Gone(err) {
		t.Fatalf("the instance after its cleanup: %v, want it gone", err)
	}

	// Its informer's delete event: the rollout no longer counts it.
	l.reconcile("a")
	reports := l.reported()
	if len(reports) != 1 || reports[0].Rollout.Total != 0 {
		t.Fatalf("reports after the instance went: %+v, want one counting no instance", reports)
	}
	if sent := l.server.sent(); len(sent) > 0 {
		t.Fatalf("a gone instance's reconcile sent %v", sent)
	}
}

func TestACleanupThatWaitsHoldsTheInstanceUntilSkipped(t *testing.T) {
	ctx := context.Background()
	l := newLoop(t, thingFramework(t, 1, withCleanup("wait")), thing("a"))
	l.reconcile("a")
	if err := l.server.Delete(ctx, thing("a")); err != nil {
		t.Fatal(err)
	}
	l.server.sent()

	if res := l.reconcile("a"); res.RequeueAfter == 0 {
		t.Fatalf("a waiting cleanup: %+v, want a look again at the resync", res)
	}
	if sent := l.server.sent(); !slices.Equal(sent, []string{"patch a/status"}) {
		t.Fatalf("sent %v, want the cleanup's start written and the finalizer kept", sent)
	}
	u := l.server.get(t, "a")
	if st := ReadStatus(u); st.ActivePlan != v1alpha1.PlanCleanup || st.ActivePlanStatus != v1alpha1.InProgress {
		t.Fatalf("status %+v, want cleanup in progress", st)
	}

	u.SetAnnotations(map[string]string{v1alpha1.AnnotationSkipCleanup: "true"})
	if err := l.server.Update(ctx, u); err != nil {
		t.Fatal(err)
	}
	l.server.sent()
	l.reconcile("a")
	if sent := l.server.sent(); !slices.Equal(sent, []string{"patch a"}) {
		t.Fatalf("sent %v, want only the finalizer taken off", sent)
	}
	if err := l.server.Get(ctx, key("a"), thing("a")); !kube.Gone(err) {
		t.Fatalf("the instance after skipping its cleanup: %v, want it gone", err)
	}
}

func TestAFrameworkWithoutCleanupTakesItsFinalizerOff(t *testing.T) {
	// Put on by a generation that had a cleanup plan.
	u := thing("a")
	u.SetFinalizers([]string{v1alpha1.FinalizerCleanup})
	l := newLoop(t, thingFramework(t, 2), u)
	l.reconcile("a")
	if got := l.server.get(t, "a").GetFinalizers(); len(got) > 0 {
		t.Fatalf("finalizers %v, want none: nothing would take it off on deletion", got)
	}
}
