package integration

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
)

// A manager started over Frameworks and instances that are all as they
// should be only reads: a LIST and a WATCH per kind, no GET of any one
// object and no write (issue 27's restart target, at a small size).
func TestARestartOverASettledFleetOnlyReads(t *testing.T) {
	first := startManager(t)
	ns := namespace(t, "settled-fleet")
	group := "restart.test.operetta.dev"
	fw := framework("restart", group, nil,
		[]v1alpha1.Resource{resource("config", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"${instance.metadata.name}-config"},"data":{"a":"b"}}`)},
		[]v1alpha1.Task{apply("config", "config")}, onePlan("config"))
	createFramework(t, fw)
	frameworkReady(t, "restart", metav1.ConditionTrue)
	gvk := schema.GroupVersionKind{Group: group, Version: "v1", Kind: "Thing"}
	names := []string{"r-0", "r-1", "r-2"}
	for _, name := range names {
		if err := k8s.Create(ctx(t), instance(gvk, ns, name, map[string]any{})); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range names {
		waitForPlan(t, gvk, ns, name, "deploy", "COMPLETE")
	}
	eventually(t, 30*time.Second, func() error {
		got := &v1alpha1.Framework{}
		if err := k8s.Get(ctx(t), client.ObjectKey{Name: "restart"}, got); err != nil {
			return err
		}
		if r := got.Status.Rollout; r == nil || r.Updated != 3 || r.Total != 3 {
			return fmt.Errorf("rollout %+v, want 3/3", got.Status.Rollout)
		}
		return nil
	})
	first.stop()
	statusOf := func() string {
		got := &v1alpha1.Framework{}
		if err := k8s.Get(ctx(t), client.ObjectKey{Name: "restart"}, got); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(got.Status)
		return string(b)
	}
	was := statusOf()

	controller := gvk.GroupKind().String()
	settled := func() float64 {
		return gathered(t, "controller_runtime_reconcile_total", map[string]string{"controller": controller, "result": "success"})
	}
	frameworks := func() float64 {
		return gathered(t, "controller_runtime_reconcile_total", map[string]string{"controller": "framework", "result": "success"})
	}
	before, fwBefore := settled(), frameworks()
	second := startManager(t)
	eventually(t, 30*time.Second, func() error {
		if got := settled() - before; got < float64(len(names)) {
			return fmt.Errorf("%v of %d instances reconciled", got, len(names))
		}
		if frameworks() <= fwBefore {
			return fmt.Errorf("the Framework not reconciled yet")
		}
		// The kind's queue is this test's alone (every manager of the
		// suite shares the "framework" queue's metric).
		if depth := gathered(t, "workqueue_depth", map[string]string{"name": controller}); depth != 0 {
			return fmt.Errorf("%v reconciles queued", depth)
		}
		return nil
	})
	// The loop, primed, tells the Framework's reconciler its report within
	// rolloutSettledDelay (100 ms): what that reconcile would write is
	// counted too.
	time.Sleep(time.Second)
	var wrote, got []string
	for _, sent := range second.requests.since(0) {
		method, path, _ := strings.Cut(sent, " ")
		if method != "GET" {
			wrote = append(wrote, sent)
			continue
		}
		// A GET of one object: its path ends with its name.
		for _, name := range append(append([]string{}, names...), "restart", "things."+group, "r-0-config", "r-1-config", "r-2-config") {
			if strings.HasSuffix(path, "/"+name) {
				got = append(got, sent)
			}
		}
	}
	if len(wrote) > 0 || len(got) > 0 {
		t.Fatalf("restarted over a settled fleet, the manager wrote %v and read one by one %v\nstatus before: %s\nstatus after:  %s", wrote, got, was, statusOf())
	}

	// A CRD not as this operetta would generate it (an older operetta's,
	// say) is applied again at the next start.
	second.stop()
	crdName := "things." + group
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := k8s.Get(ctx(t), client.ObjectKey{Name: crdName}, crd); err != nil {
		t.Fatal(err)
	}
	digest := crd.Annotations[v1alpha1.AnnotationCRDDigest]
	if digest == "" {
		t.Fatalf("CRD %s has no %s annotation", crdName, v1alpha1.AnnotationCRDDigest)
	}
	if err := k8s.Patch(ctx(t), crd, client.RawPatch(types.MergePatchType,
		[]byte(`{"metadata":{"annotations":{"`+v1alpha1.AnnotationCRDDigest+`":"an-older-generator"}}}`))); err != nil {
		t.Fatal(err)
	}
	third := startManager(t)
	eventually(t, 30*time.Second, func() error {
		if err := k8s.Get(ctx(t), client.ObjectKey{Name: crdName}, crd); err != nil {
			return err
		}
		if got := crd.Annotations[v1alpha1.AnnotationCRDDigest]; got != digest {
			return fmt.Errorf("the CRD's digest is %q, want %q applied again", got, digest)
		}
		return nil
	})
	if applied := third.requests.since(0, "PATCH", "/customresourcedefinitions/"+crdName); len(applied) != 1 {
		t.Fatalf("the CRD applied %d times: %v", len(applied), applied)
	}
}
