//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/testutil"
)

// chartMemoryLimit is charts/operetta's resources.limits.memory: a manager
// whose peak RSS stays below it is not killed under the chart.
const chartMemoryLimit = 512 << 20

var (
	greeterGVK = schema.GroupVersionKind{Group: "tenant.example.com", Version: "v1", Kind: "Greeter"}
	sharedGVK  = schema.GroupVersionKind{Group: "tenant.example.com", Version: "v1", Kind: "Shared"}
)

// TestATenantReachesNothingPastItsInstance tries, as a tenant who may create
// instances in one namespace would, to make the manager create objects
// elsewhere, to exhaust its memory, and to take another tenant's object.
func TestATenantReachesNothingPastItsInstance(t *testing.T) {
	for _, ns := range []string{"tenant-a", "tenant-b", "tenant-other"} {
		if err := kubectl("create", "namespace", ns); err != nil && !strings.Contains(err.Error(), "AlreadyExists") {
			t.Fatal(err)
		}
	}
	if err := kubectl("apply", "-f", filepath.Join(root, "test/e2e/testdata/tenant.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := kubectl("wait", "framework/greeter", "framework/shared", "--for=condition=Ready", "--timeout=60s"); err != nil {
		t.Fatal(err)
	}
	t.Run("injected YAML creates nothing", testInjection)
	t.Run("a render over budget fails alone", testRenderBudget)
	t.Run("another tenant's object is never taken", testCollision)
}

func testInjection(t *testing.T) {
	payloads := map[string]string{
		"documents": "hi\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: e2e-mallory}\n" +
			"subjects: [{kind: User, name: mallory, apiGroup: rbac.authorization.k8s.io}]\n" +
			"roleRef: {kind: ClusterRole, name: cluster-admin, apiGroup: rbac.authorization.k8s.io}\n" +
			"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: e2e-injected, namespace: tenant-other}",
		"keys":        "hi\nhostNetwork: true",
		"flow":        "hi, injected: true}",
		"quote break": "hi\"\ninjected: \"x",
	}
	i := 0
	for what, payload := range payloads {
		i++
		name := "evil-" + strconv.Itoa(i)
		createInstance(t, greeterGVK, "tenant-a", name, map[string]any{"greeting": payload})
		msg := waitForPlanFailure(t, greeterGVK, types.NamespacedName{Namespace: "tenant-a", Name: name}, "deploy")
		if !strings.Contains(msg, "spec.greeting") || strings.Contains(msg, "mallory") {
			t.Errorf("%s: the plan's message must name spec.greeting and quote nothing of the value: %s", what, msg)
		}
	}
	// Every plan above has failed: the manager is done with their renders.
	if err := k8s.Get(context.Background(), types.NamespacedName{Name: "e2e-mallory"}, &rbacv1.ClusterRoleBinding{}); !apierrors.IsNotFound(err) {
		t.Errorf("ClusterRoleBinding e2e-mallory: %v, want NotFound", err)
	}
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: "tenant-other", Name: "e2e-injected"}, &corev1.ConfigMap{}); !apierrors.IsNotFound(err) {
		t.Errorf("ConfigMap tenant-other/e2e-injected: %v, want NotFound", err)
	}
	list := &corev1.ConfigMapList{}
	if err := k8s.List(context.Background(), list); err != nil {
		t.Fatal(err)
	}
	for _, cm := range list.Items {
		if cm.Labels[v1alpha1.LabelFramework] == "greeter" {
			t.Errorf("ConfigMap %s/%s of a refused render exists", cm.Namespace, cm.Name)
		}
	}
}

func testRenderBudget(t *testing.T) {
	createInstance(t, greeterGVK, "tenant-a", "big", map[string]any{"count": "3000000"})
	createInstance(t, greeterGVK, "tenant-b", "fine", map[string]any{"greeting": "hello"})
	msg := waitForPlanFailure(t, greeterGVK, types.NamespacedName{Namespace: "tenant-a", Name: "big"}, "deploy")
	if !strings.Contains(msg, "over the render budget") {
		t.Errorf("the plan's message must say which budget: %s", msg)
	}
	waitForKUDOPlan(t, greeterGVK, types.NamespacedName{Namespace: "tenant-b", Name: "fine"}, "deploy", "", time.Minute)
	peak, err := peakRSS(managerPID)
	if err != nil {
		t.Fatalf("the manager (pid %d) is gone: %v", managerPID, err)
	}
	t.Logf("manager peak RSS: %.1f MiB of the chart's %d MiB", float64(peak)/(1<<20), chartMemoryLimit>>20)
	if peak >= chartMemoryLimit {
		t.Errorf("the manager's peak RSS %d bytes passed the chart's limit: it would have been killed", peak)
	}
}

func testCollision(t *testing.T) {
	createInstance(t, sharedGVK, "tenant-a", "db", nil)
	waitForKUDOPlan(t, sharedGVK, types.NamespacedName{Namespace: "tenant-a", Name: "db"}, "deploy", "", time.Minute)
	first := &rbacv1.ClusterRole{}
	if err := k8s.Get(context.Background(), types.NamespacedName{Name: "e2e-shared-reader"}, first); err != nil {
		t.Fatal(err)
	}
	createInstance(t, sharedGVK, "tenant-b", "db", nil)
	msg := waitForPlanFailure(t, sharedGVK, types.NamespacedName{Namespace: "tenant-b", Name: "db"}, "deploy")
	if !strings.Contains(msg, "e2e-shared-reader") || !strings.Contains(msg, "tenant-a/db") {
		t.Errorf("the second instance's message must name the object and its owner tenant-a/db: %s", msg)
	}
	if err := kubectl("delete", "shared", "db", "-n", "tenant-b", "--timeout=60s"); err != nil {
		t.Fatal(err)
	}
	after := &rbacv1.ClusterRole{}
	if err := k8s.Get(context.Background(), types.NamespacedName{Name: "e2e-shared-reader"}, after); err != nil {
		t.Fatalf("deleting tenant-b's instance deleted tenant-a's ClusterRole: %v", err)
	}
	if after.UID != first.UID || after.Labels[v1alpha1.LabelInstanceNS] != "tenant-a" {
		t.Errorf("tenant-a's ClusterRole was replaced or taken over: uid %s→%s, labels %v", first.UID, after.UID, after.Labels)
	}
}

func createInstance(t *testing.T, gvk schema.GroupVersionKind, ns, name string, spec map[string]any) {
	t.Helper()
	u := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{}}}
	if spec != nil {
		u.Object["spec"] = spec
	}
	u.SetGroupVersionKind(gvk)
	u.SetNamespace(ns)
	u.SetName(name)
	if err := k8s.Create(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), u) })
}

// waitForPlanFailure waits until plan has failed for good and returns its
// message.
func waitForPlanFailure(t *testing.T, gvk schema.GroupVersionKind, key types.NamespacedName, plan string) string {
	t.Helper()
	_, msg, _ := testutil.Plan(testutil.WaitForPlan(t, k8s, gvk, key, plan, string(v1alpha1.FatalError), time.Minute), plan)
	return msg
}

// peakRSS is the process's peak resident memory (VmHWM), in bytes.
func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmHWM:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}
