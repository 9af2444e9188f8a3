package framework

import (
	"context"
	"slices"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/conditions"
	"operetta.dev/operetta/internal/testutil"
)

const greetersCRD = "greeters.greet.test.operetta.dev"

// reconcileOnce runs one reconcile of Framework name.
func reconcileOnce(t *testing.T, r *Reconciler, name string) ctrl.Result {
	t.Helper()
	res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKey{Name: name}})
	if err != nil {
		t.Fatalf("reconciling Framework %s: %v", name, err)
	}
	return res
}

// stored reads Framework name as the API server holds it.
func stored(t *testing.T, c client.Client, name string) *v1alpha1.Framework {
	t.Helper()
	fw := &v1alpha1.Framework{}
	if err := c.Get(context.Background(), client.ObjectKey{Name: name}, fw); err != nil {
		t.Fatal(err)
	}
	return fw
}

// readyReason is the reason of fw's Ready condition, if it is False.
func readyReason(fw *v1alpha1.Framework) conditions.Reason {
	c := meta.FindStatusCondition(fw.Status.Conditions, v1alpha1.ConditionReady)
	if c == nil || c.Status != metav1.ConditionFalse || c.ObservedGeneration != fw.Generation {
		return ""
	}
	return conditions.Reason(c.Reason)
}

// establish writes the CRD's status as the API server does once it serves it.
func establish(t *testing.T, c client.Client, name string) {
	t.Helper()
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := c.Get(context.Background(), client.ObjectKey{Name: name}, crd); err != nil {
		t.Fatal(err)
	}
	crd.Status.Conditions = []apiextensionsv1.CustomResourceDefinitionCondition{
		{Type: apiextensionsv1.NamesAccepted, Status: apiextensionsv1.ConditionTrue},
		{Type: apiextensionsv1.Established, Status: apiextensionsv1.ConditionTrue},
	}
	if err := c.Status().Update(context.Background(), crd); err != nil {
		t.Fatal(err)
	}
}

func TestANewFrameworkGetsItsFinalizerThenItsCRDThenWaitsForIt(t *testing.T) {
	server := newAPIServer(t, greeters())
	rec := events.NewFakeRecorder(10)
	r := newReconciler(server, rec)

	if res := reconcileOnce(t, r, "greeters"); res != (ctrl.Result{}) {
		t.Fatalf("waiting for the CRD: %+v, want no requeue (the CRD's event comes)", res)
	}
	want := []string{"patch Framework greeters", "apply", "patch status of Framework greeters"}
	if sent := server.sent(); !slices.Equal(sent, want) {
		t.Fatalf("sent %q, want %q: the finalizer before anything exists", sent, want)
	}
	fw := stored(t, server, "greeters")
	if !controllerutil.ContainsFinalizer(fw, v1alpha1.FinalizerFramework) {
		t.Fatalf("finalizers %v", fw.Finalizers)
	}
	if got := readyReason(fw); got != conditions.WaitingForCRD || fw.Status.CRDName != greetersCRD {
		t.Fatalf("status: Ready reason %q, crdName %q; want WaitingForCRD, %s", got, fw.Status.CRDName, greetersCRD)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := server.Get(context.Background(), client.ObjectKey{Name: greetersCRD}, crd); err != nil {
		t.Fatal(err)
	}
	if crd.Labels[v1alpha1.LabelManagedBy] != v1alpha1.ManagedByValue || crd.Labels[v1alpha1.LabelFramework] != "greeters" {
		t.Fatalf("the CRD's labels %v do not say whose it is", crd.Labels)
	}
	if evs := testutil.Drain(rec); len(evs) > 0 {
		t.Fatalf("a wait was announced: %q", evs)
	}

	// Established, the loop is next: this manager is not elected yet.
	establish(t, server, greetersCRD)
	if res := reconcileOnce(t, r, "greeters"); res.RequeueAfter != deletionPoll {
		t.Fatalf("not leading: %+v, want a look again in %s", res, deletionPoll)
	}
	// The CRD is as this manager applied it: read, not applied again.
	if sent := server.sent(); slices.Contains(sent, "apply") {
		t.Errorf("sent %q after the CRD was established as applied; want no apply", sent)
	}
	if got := readyReason(stored(t, server, "greeters")); got != conditions.NotLeading {
		t.Fatalf("Ready reason %q, want %s", got, conditions.NotLeading)
	}
}

// twoVersionGreeters are greeters served as v1 too, its spec the same.
func twoVersionGreeters() *v1alpha1.Framework {
	fw := greeters()
	fw.Spec.Versions = []v1alpha1.Version{{Name: "v1alpha1", Parameters: fw.Spec.Parameters}}
	return fw
}

func TestAFrameworkThatCannotBeInstalledIsRefusedAndNothingIsApplied(t *testing.T) {
	foreign := &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: greetersCRD}}
	invalid := greeters()
	invalid.Spec.Plans = map[string]v1alpha1.Plan{"other": invalid.Spec.Plans[v1alpha1.PlanDeploy]} // no deploy
	for _, tc := range []struct {
		name       string
		fw         *v1alpha1.Framework
		objs       []client.Object
		requireSA  bool
		wantReason conditions.Reason
	}{
		{"invalid", invalid, nil, false, conditions.InvalidFramework},
		{"its CRD is someone else's", greeters(), []client.Object{foreign}, false, conditions.CRDConflict},
		{"it names no service account", greeters(), nil, true, conditions.ServiceAccountRequired},
		{"it serves two versions, and this manager converts none", twoVersionGreeters(), nil, false, conditions.ConversionNotServed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			server := newAPIServer(t, append(tc.objs, tc.fw)...)
			rec := events.NewFakeRecorder(10)
			r := newReconciler(server, rec)
			r.RequireServiceAccount = tc.requireSA
			if res := reconcileOnce(t, r, tc.fw.Name); res != (ctrl.Result{}) {
				t.Fatalf("refused: %+v, want no requeue: only a change of the Framework helps", res)
			}
			if sent := server.sent(); !slices.Equal(sent, []string{"patch Framework greeters", "patch status of Framework greeters"}) {
				t.Fatalf("sent %q, want the finalizer and the status only", sent)
			}
			fw := stored(t, server, tc.fw.Name)
			if got := readyReason(fw); got != tc.wantReason || !meta.IsStatusConditionTrue(fw.Status.Conditions, v1alpha1.ConditionStalled) {
				t.Fatalf("conditions %+v, want Ready False and Stalled, %s", fw.Status.Conditions, tc.wantReason)
			}
			if got := testutil.Reasons(testutil.Drain(rec)); !slices.Equal(got, []string{"Warning " + string(tc.wantReason)}) {
				t.Fatalf("events %q, want one Warning %s", got, tc.wantReason)
			}
			// Reconciled again alike: nothing sent, nothing told again.
			reconcileOnce(t, r, tc.fw.Name)
			if sent, evs := server.sent(), testutil.Drain(rec); len(sent) > 0 || len(evs) > 0 {
				t.Fatalf("the same refusal again sent %q, told %q", sent, evs)
			}
		})
	}
}

func TestTheCRDsConditionsSayWhetherItIsServed(t *testing.T) {
	crd := func(conds ...map[string]any) *unstructured.Unstructured {
		list := make([]any, len(conds))
		for i, c := range conds {
			list[i] = c
		}
		return &unstructured.Unstructured{Object: map[string]any{"status": map[string]any{"conditions": list}}}
	}
	cond := func(t, s, msg string) map[string]any { return map[string]any{"type": t, "status": s, "message": msg} }
	for _, tc := range []struct {
		name                string
		crd                 *unstructured.Unstructured
		established, refuse bool
	}{
		{"no status yet", crd(), false, false},
		{"names accepted, not established", crd(cond("NamesAccepted", "True", "")), false, false},
		{"established", crd(cond("NamesAccepted", "True", ""), cond("Established", "True", "")), true, false},
		{"names refused", crd(cond("NamesAccepted", "False", `"grt" is already in use`)), false, true},
	} {
		msg, refused := namesRefused(tc.crd)
		if established(tc.crd) != tc.established || refused != tc.refuse {
			t.Errorf("%s: established %v, names refused %v; want %v, %v", tc.name, established(tc.crd), refused, tc.established, tc.refuse)
		}
		if refused && !strings.Contains(msg, "already in use") {
			t.Errorf("%s: the refusal says %q, not the API server's reason", tc.name, msg)
		}
	}
}
