package framework

import (
	"context"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/reconcile/instance"
)

// recordingQueue records what is added to the Framework controller's queue
// and when for.
type recordingQueue struct {
	workqueue.TypedRateLimitingInterface[reconcile.Request]
	after       map[string]time.Duration
	rateLimited []string
}

func (q *recordingQueue) AddAfter(req reconcile.Request, d time.Duration) { q.after[req.Name] = d }
func (q *recordingQueue) AddRateLimited(req reconcile.Request) {
	q.rateLimited = append(q.rateLimited, req.Name)
}

func queued(r *Reconciler) *recordingQueue {
	q := &recordingQueue{after: map[string]time.Duration{}}
	var iface workqueue.TypedRateLimitingInterface[reconcile.Request] = q
	r.queue.Store(&iface)
	return q
}

func TestASettledRolloutIsReportedAtOnceABusyOneEveryFewSeconds(t *testing.T) {
	r := &Reconciler{Compiled: &Compiled{}}
	r.rolloutChanged("before-setup", instance.Report{}) // no queue yet: nothing to do, no panic
	q := queued(r)
	r.rolloutChanged("busy", instance.Report{Rollout: v1alpha1.RolloutStatus{Total: 3, Updated: 1}})
	r.rolloutChanged("settled", instance.Report{Rollout: v1alpha1.RolloutStatus{Total: 3, Updated: 2, Failed: 1}})
	if q.after["busy"] != rolloutReportDelay || q.after["settled"] != rolloutSettledDelay {
		t.Fatalf("queued after %v; want busy after %s, settled after %s", q.after, rolloutReportDelay, rolloutSettledDelay)
	}
}

func TestAFailedLoopIsInstalledAgain(t *testing.T) {
	r := &Reconciler{Compiled: &Compiled{}}
	q := queued(r)
	r.installed = map[string]installation{"greeters": {generation: 1, crdGeneration: 1}}
	r.LoopFailed("greeters")
	if _, remembered := r.installed["greeters"]; remembered {
		t.Fatal("a Framework whose loop failed is still remembered as installed: the next reconcile would do nothing")
	}
	if !slices.Equal(q.rateLimited, []string{"greeters"}) {
		t.Fatalf("queued %v, want greeters, with backoff", q.rateLimited)
	}
}

func TestAGeneratedCRDsEventsReachItsFramework(t *testing.T) {
	crd := &metav1.PartialObjectMetadata{}
	if got := frameworkOfCRD(context.Background(), crd); len(got) > 0 {
		t.Fatalf("a CRD without operetta's label maps to %v", got)
	}
	crd.Labels = map[string]string{v1alpha1.LabelFramework: "greeters"}
	want := []reconcile.Request{{NamespacedName: types.NamespacedName{Name: "greeters"}}}
	if got := frameworkOfCRD(context.Background(), crd); !slices.Equal(got, want) {
		t.Fatalf("maps to %v, want %v", got, want)
	}
}
