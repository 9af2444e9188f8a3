package framework

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/conditions"
	"operetta.dev/operetta/internal/kube"
	"operetta.dev/operetta/internal/testutil"
)

// deleting is greeters with its finalizer, its CRD (and the objects
// more) on the API server, marked for deletion with policy.
func deleting(t *testing.T, policy v1alpha1.DeletionPolicy, more ...client.Object) *apiServer {
	t.Helper()
	fw := greeters()
	fw.Finalizers = []string{v1alpha1.FinalizerFramework}
	fw.Spec.DeletionPolicy = policy
	compiled, errs := compile.Compile(fw)
	if len(errs) > 0 {
		t.Fatal(compile.Message(errs))
	}
	server := newAPIServer(t, append(more, fw, compiled.CRD)...)
	if err := server.Delete(context.Background(), fw); err != nil {
		t.Fatal(err)
	}
	server.sent()
	return server
}

func crdExists(t *testing.T, c client.Client) bool {
	t.Helper()
	err := c.Get(context.Background(), client.ObjectKey{Name: greetersCRD}, &apiextensionsv1.CustomResourceDefinition{})
	if err != nil && !kube.Gone(err) {
		t.Fatal(err)
	}
	return err == nil
}

func TestDeletionPolicyDeleteTakesTheCRDBeforeTheFinalizer(t *testing.T) {
	server := deleting(t, v1alpha1.DeletionDelete)
	rec := events.NewFakeRecorder(10)
	r := newReconciler(server, rec)

	if res := reconcileOnce(t, r, "greeters"); res.RequeueAfter != deletionPoll {
		t.Fatalf("waiting for the CRD to go: %+v, want a look again in %s", res, deletionPoll)
	}
	want := []string{"delete CustomResourceDefinition " + greetersCRD, "patch status of Framework greeters"}
	if sent := server.sent(); !slices.Equal(sent, want) {
		t.Fatalf("sent %q, want %q", sent, want)
	}
	fw := stored(t, server, "greeters")
	if got := readyReason(fw); got != conditions.Deleting || len(fw.Finalizers) == 0 {
		t.Fatalf("Ready reason %q, finalizers %v; want Deleting, the finalizer kept", got, fw.Finalizers)
	}
	// A CRD being deleted is a moment, no one's to act on.
	if evs := testutil.Drain(rec); len(evs) > 0 {
		t.Fatalf("the wait for the CRD was announced: %q", evs)
	}

	reconcileOnce(t, r, "greeters")
	if sent := server.sent(); !slices.Equal(sent, []string{"patch Framework greeters"}) {
		t.Fatalf("with the CRD gone: sent %q, want the finalizer taken off", sent)
	}
	if err := server.Get(context.Background(), client.ObjectKey{Name: "greeters"}, &v1alpha1.Framework{}); !kube.Gone(err) {
		t.Fatalf("the Framework after its deletion: %v, want it gone", err)
	}
}

func TestDeletionPolicyRetainLeavesTheCRDAndTheRolesGo(t *testing.T) {
	roles := func() []client.Object {
		out := []client.Object{}
		for _, name := range roleNames("greeters") {
			out = append(out, clusterRole(name))
		}
		return out
	}
	server := deleting(t, v1alpha1.DeletionRetain, roles()...)
	r := newReconciler(server, nil)
	r.UserRoles = true

	reconcileOnce(t, r, "greeters")
	want := []string{"delete ClusterRole operetta:greeters:view", "delete ClusterRole operetta:greeters:edit", "patch Framework greeters"}
	if sent := server.sent(); !slices.Equal(sent, want) {
		t.Fatalf("sent %q, want %q", sent, want)
	}
	if !crdExists(t, server) {
		t.Fatal("deletionPolicy Retain deleted the CRD")
	}
}

func TestAFrameworkDeletedBeforeItHadAFinalizerIsLetGo(t *testing.T) {
	fw := greeters()
	fw.Finalizers = []string{"someone.else/keeps-it"}
	server := newAPIServer(t, fw)
	if err := server.Delete(context.Background(), fw); err != nil {
		t.Fatal(err)
	}
	server.sent()
	reconcileOnce(t, newReconciler(server, nil), "greeters")
	if sent := server.sent(); len(sent) > 0 {
		t.Fatalf("sent %q for a Framework operetta never installed", sent)
	}
}

func TestDeletionListsOnlyTheInstancesOfItsOwnCRD(t *testing.T) {
	ctx := context.Background()
	var lists int
	counting := func(server *apiServer) client.Reader {
		return interceptor.NewClient(server.WithWatch, interceptor.Funcs{
			List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
				lists++
				return c.List(ctx, list, opts...)
			},
		})
	}
	compiled, errs := compile.Compile(greeters())
	if len(errs) > 0 {
		t.Fatal(compile.Message(errs))
	}
	foreign := compiled.CRD.DeepCopy()
	foreign.Labels = nil // made by someone else
	for _, tc := range []struct {
		name  string
		crd   *apiextensionsv1.CustomResourceDefinition
		want  int
		lists int
	}{
		{"its own CRD", compiled.CRD, 1, 1},
		{"a CRD operetta did not make", foreign, 0, 0},
	} {
		server := newAPIServer(t, tc.crd, greeter("a"))
		r := newReconciler(server, nil)
		r.APIReader, lists = counting(server), 0
		got, err := r.instances(ctx, greeters(), greeterGVK)
		if err != nil || len(got) != tc.want || lists != tc.lists {
			t.Errorf("%s: %d instances, error %v, %d lists; want %d instances, %d lists", tc.name, len(got), err, lists, tc.want, tc.lists)
		}
	}
}

func TestInstancesGoFirstAndNeedTheLoopForTheirCleanup(t *testing.T) {
	u := greeter("a")
	u.SetFinalizers([]string{v1alpha1.FinalizerCleanup})
	server := deleting(t, v1alpha1.DeletionDelete, u)
	r := newReconciler(server, nil)
	// The loop cannot start before the manager leads: nothing is deleted
	// that its cleanup needs.
	res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKey{Name: "greeters"}})
	if err != nil || res.RequeueAfter != deletionPoll {
		t.Fatalf("deleting with instances and no loop: %+v, %v; want a wait for the election, looking again after %s", res, err, deletionPoll)
	}
	if sent := server.sent(); len(sent) > 0 {
		t.Fatalf("sent %q before the loop that runs the cleanups was there", sent)
	}
	if !crdExists(t, server) {
		t.Fatal("the CRD went before the instances")
	}
}

func TestDescribeInstancesIsStableAndBounded(t *testing.T) {
	item := func(ns, name, plan string, status v1alpha1.ExecutionStatus) unstructured.Unstructured {
		u := unstructured.Unstructured{Object: map[string]any{}}
		u.SetNamespace(ns)
		u.SetName(name)
		if plan != "" {
			u.Object["status"] = map[string]any{"activePlan": plan, "activePlanStatus": string(status)}
		}
		return u
	}
	got := describeInstances([]unstructured.Unstructured{
		item("b", "y", "", ""), item("a", "x", v1alpha1.PlanCleanup, v1alpha1.InProgress),
	})
	if want := "a/x (plan cleanup IN_PROGRESS), b/y"; got != want {
		t.Fatalf("%q, want %q", got, want)
	}

	var many []unstructured.Unstructured
	for i := 12; i > 0; i-- {
		many = append(many, item("ns", fmt.Sprintf("i%02d", i), "", ""))
	}
	got = describeInstances(many)
	if !strings.HasPrefix(got, "ns/i01, ns/i02") || !strings.HasSuffix(got, "ns/i10, and 2 more") {
		t.Fatalf("twelve instances described as %q, want the first ten sorted and a count", got)
	}
}

func TestOnlyAWaitSomeoneMayActOnIsBlocked(t *testing.T) {
	for w, want := range map[deletionWait]bool{notWaiting: false, forCRD: false, forInstances: true, forCleanups: true} {
		if w.blocked() != want {
			t.Errorf("wait %d: blocked %v, want %v", w, w.blocked(), want)
		}
	}
}
