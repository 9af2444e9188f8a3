//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/testutil"
)

// kudoPackage is a real KUDO package (internal/kudo/testdata/packages,
// from kudobuilder/operators) and what an instance with its defaults runs.
type kudoPackage struct {
	name, kind string
	pods       int // Running pods of the instance once deploy is COMPLETE
	// change is a parameter change and the plan KUDO would run for it.
	change     map[string]any
	changePlan string
	// immutable is a parameter whose trigger plan only blocks.
	immutable string
}

// TestKUDOPackagesRunUnmodified imports each package with the plugin,
// applies the Framework server-side, and takes an instance through deploy
// to COMPLETE with its pods Running, a parameter change through the plan
// its trigger names, and deletion, which leaves none of its children.
func TestKUDOPackagesRunUnmodified(t *testing.T) {
	if err := kubectl("create", "namespace", "kudo"); err != nil && !strings.Contains(err.Error(), "AlreadyExists") {
		t.Fatal(err)
	}
	for _, p := range []kudoPackage{
		{name: "first-operator", kind: "FirstOperator", pods: 2, change: map[string]any{"replicas": "3"}, changePlan: "deploy"},
		{name: "redis", kind: "Redis", pods: 6, change: map[string]any{"gossip_port": "16380"}, changePlan: "deploy"},
		{name: "zookeeper", kind: "Zookeeper", pods: 3, change: map[string]any{"MEMORY": "512Mi"}, changePlan: "deploy", immutable: "DISK_SIZE"},
	} {
		t.Run(p.name, func(t *testing.T) { runKUDOPackage(t, p) })
	}
}

func runKUDOPackage(t *testing.T, p kudoPackage) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), p.name+".yaml")
	start := time.Now()
	// Named apart from the examples' Frameworks of the same packages,
	// which other tests leave behind: the apply would merge into them.
	name := "kudo-" + p.name
	out, err := operetta("import", "kudo", filepath.Join(root, "internal/kudo/testdata/packages", p.name), "--check", "-o", file, "--name", name)
	if err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	t.Logf("kubectl operetta import kudo %s --check:\n%s", p.name, out)
	if err := kubectl("apply", "--server-side", "-f", file); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kubectl("delete", "framework", name, "--wait=false") })
	if err := kubectl("wait", "framework/"+name, "--for=condition=Ready", "--timeout=60s"); err != nil {
		t.Fatal(err)
	}

	gvk := schema.GroupVersionKind{Group: "kudo.operetta.dev", Version: "v1", Kind: p.kind}
	inst := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{}}}
	inst.SetGroupVersionKind(gvk)
	inst.SetNamespace("kudo")
	inst.SetName("e2e")
	if err := k8s.Create(ctx, inst); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(ctx, inst) })
	key := types.NamespacedName{Namespace: "kudo", Name: "e2e"}
	deployUID := waitForKUDOPlan(t, gvk, key, "deploy", "", 4*time.Minute)
	t.Logf("%s: deploy COMPLETE %.1fs after import", p.name, time.Since(start).Seconds())
	expectRunningPods(t, p.name, p.pods)

	// KUDO's labels are on what the package rendered; some selectors use them.
	sel := client.MatchingLabels{"kudo.dev/instance": "e2e", "kudo.dev/operator": p.name, "heritage": "kudo"}
	pods := &corev1.PodList{}
	if err := k8s.List(ctx, pods, client.InNamespace("kudo"), sel); err != nil || len(pods.Items) < p.pods {
		t.Fatalf("pods with KUDO's labels: %d, %v; want %d", len(pods.Items), err, p.pods)
	}

	if p.immutable != "" {
		patch := fmt.Sprintf(`{"spec":{%q:"50Gi"}}`, p.immutable)
		err := k8s.Patch(ctx, inst, client.RawPatch(types.MergePatchType, []byte(patch)))
		if err == nil || !strings.Contains(err.Error(), p.immutable) || !strings.Contains(err.Error(), "immutable") {
			t.Fatalf("changing %s: %v, want refused as immutable", p.immutable, err)
		}
	}

	b, err := json.Marshal(map[string]any{"spec": p.change})
	if err != nil {
		t.Fatal(err)
	}
	if err := k8s.Patch(ctx, inst, client.RawPatch(types.MergePatchType, b)); err != nil {
		t.Fatal(err)
	}
	again := waitForKUDOPlan(t, gvk, key, p.changePlan, deployUID, 4*time.Minute)
	if again == deployUID {
		t.Fatalf("the change did not run %s again", p.changePlan)
	}
	expectChange(t, p)
	expectRunningPods(t, p.name, p.pods+extraPods(p))
	t.Logf("%s: %v changed, %s COMPLETE again %.1fs after import", p.name, p.change, p.changePlan, time.Since(start).Seconds())

	if err := k8s.Delete(ctx, inst); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Minute, func() error {
		for _, list := range []client.ObjectList{&corev1.PodList{}, &appsv1.StatefulSetList{}, &appsv1.DeploymentList{}, &corev1.ServiceList{}, &corev1.ConfigMapList{}} {
			if err := k8s.List(ctx, list, client.InNamespace("kudo"), client.MatchingLabels{"kudo.dev/instance": "e2e", "kudo.dev/operator": p.name}); err != nil {
				return err
			}
			items, err := apimeta.ExtractList(list)
			if err != nil {
				return err
			}
			if len(items) > 0 {
				return fmt.Errorf("%d %T left", len(items), list)
			}
		}
		return nil
	})
	t.Logf("%s: deleted, no child left %.1fs after import", p.name, time.Since(start).Seconds())
}

// extraPods: first-operator's change scales it by one.
func extraPods(p kudoPackage) int {
	if p.name == "first-operator" {
		return 1
	}
	return 0
}

// expectChange checks that the changed parameter reached the children.
func expectChange(t *testing.T, p kudoPackage) {
	t.Helper()
	ctx := context.Background()
	switch p.name {
	case "first-operator":
		d := &appsv1.Deployment{}
		if err := k8s.Get(ctx, types.NamespacedName{Namespace: "kudo", Name: "nginx-deployment"}, d); err != nil || *d.Spec.Replicas != 3 {
			t.Fatalf("Deployment after replicas=3: %v %v", err, d.Spec.Replicas)
		}
	case "redis":
		svc := &corev1.Service{}
		if err := k8s.Get(ctx, types.NamespacedName{Namespace: "kudo", Name: "e2e-redis-svc"}, svc); err != nil || len(svc.Spec.Ports) < 2 || svc.Spec.Ports[1].Port != 16380 {
			t.Fatalf("Service after gossip_port=16380: %v %+v", err, svc.Spec.Ports)
		}
	case "zookeeper":
		sts := &appsv1.StatefulSet{}
		if err := k8s.Get(ctx, types.NamespacedName{Namespace: "kudo", Name: "e2e-zookeeper"}, sts); err != nil {
			t.Fatal(err)
		}
		if m := sts.Spec.Template.Spec.Containers[0].Resources.Requests.Memory().String(); m != "512Mi" {
			t.Fatalf("StatefulSet memory request after MEMORY=512Mi: %s", m)
		}
	}
}

// waitForKUDOPlan waits until plan is COMPLETE in a run other than
// notUID, and returns the run's UID.
func waitForKUDOPlan(t *testing.T, gvk schema.GroupVersionKind, key types.NamespacedName, plan, notUID string, timeout time.Duration) string {
	t.Helper()
	u := testutil.WaitForInstance(t, k8s, gvk, key, timeout, func(u *unstructured.Unstructured) error {
		st, msg, uid := testutil.Plan(u, plan)
		if st == string(v1alpha1.FatalError) {
			t.Fatalf("plan %s failed: %s", plan, msg)
		}
		if st != string(v1alpha1.Complete) || uid == notUID {
			return fmt.Errorf("plan %s run %s is %q: %s", plan, uid, st, msg)
		}
		return nil
	})
	_, _, uid := testutil.Plan(u, plan)
	return uid
}

func expectRunningPods(t *testing.T, name string, want int) {
	t.Helper()
	eventually(t, 2*time.Minute, func() error {
		pods := &corev1.PodList{}
		if err := k8s.List(context.Background(), pods, client.InNamespace("kudo"), client.MatchingLabels{"kudo.dev/instance": "e2e", "kudo.dev/operator": name}); err != nil {
			return err
		}
		running := 0
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
				running++
			}
		}
		if running != want {
			return fmt.Errorf("%s: %d pods Running, want %d", name, running, want)
		}
		return nil
	})
}
