//go:build e2e

// Package e2e runs operetta as a process against a whole local cluster (kwok
// with the binary runtime: a real scheduler, controller-manager and garbage
// collector, pods on simulated nodes), the way a user would, with the
// examples in examples/. Run it with `make e2e`.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"operetta.dev/operetta/internal/testutil"
)

var (
	root       string
	kubeconfig string
	k8s        client.Client
	// managerPID is the manager process's: tests read its memory.
	managerPID int
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// The test's clients log nothing worth reading; the manager logs to its
	// own file.
	ctrllog.SetLogger(logr.Discard())
	root, _ = filepath.Abs("../..")
	work, err := os.MkdirTemp("", "operetta-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(work)
	// CLUSTER_EXEC: the KUDO Kafka test reads its Pipe files by exec.
	env := append(os.Environ(), "CLUSTER_NAME=e2e", "OPERETTA_WORKDIR="+work, "CLUSTER_EXEC=1")
	up := exec.Command(filepath.Join(root, "hack/cluster.sh"), "up")
	up.Env, up.Stderr = env, os.Stderr
	out, err := up.Output()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the cluster:", err)
		return 1
	}
	defer func() {
		down := exec.Command(filepath.Join(root, "hack/cluster.sh"), "down")
		down.Env = env
		_ = down.Run()
	}()
	kubeconfig = strings.TrimSpace(string(out))
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if k8s, err = client.New(cfg, client.Options{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := kubectl("apply", "--server-side", "-f", filepath.Join(root, "charts/operetta/crds")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	log, err := os.Create(filepath.Join(work, "manager.log"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	webhookPort, err := testutil.FreePort()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// The conversion webhook as docs/versions.md runs it beside a local
	// cluster: reached by URL, with a certificate the manager makes.
	mgr := exec.Command(filepath.Join(root, "bin/manager"), "--kubeconfig", kubeconfig,
		"--leader-election-namespace=kube-system", "--log-format=console",
		"--metrics-bind-address=127.0.0.1:0", "--health-probe-bind-address=127.0.0.1:0",
		fmt.Sprintf("--webhook-port=%d", webhookPort), fmt.Sprintf("--conversion-url=https://localhost:%d", webhookPort),
		"--webhook-cert-secret=kube-system/operetta-webhook-cert")
	mgr.Stdout, mgr.Stderr = log, log
	// As the chart runs it: GOMEMLIMIT at 90 % of its 512Mi limit.
	mgr.Env = append(os.Environ(), "GOMEMLIMIT=460MiB")
	if err := mgr.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "starting bin/manager (make e2e builds it):", err)
		return 1
	}
	managerPID = mgr.Process.Pid
	defer func() { _ = mgr.Process.Kill(); _ = mgr.Wait() }()
	code := m.Run()
	if code != 0 {
		b, _ := os.ReadFile(log.Name())
		fmt.Fprintf(os.Stderr, "--- manager log (last 4000 bytes)\n%s\n", tail(b, 4000))
	}
	return code
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func kubectl(args ...string) error {
	cmd := exec.Command("kubectl", append([]string{"--kubeconfig", kubeconfig}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return nil
}

// kubectlOutput runs kubectl and returns what it printed.
func kubectlOutput(args ...string) (string, error) {
	out, err := exec.Command("kubectl", append([]string{"--kubeconfig", kubeconfig}, args...)...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func eventually(t *testing.T, timeout time.Duration, check func() error) {
	t.Helper()
	testutil.Eventually(t, timeout, 250*time.Millisecond, check)
}

var kafkaGVK = schema.GroupVersionKind{Group: "streaming.example.com", Version: "v1", Kind: "Kafka"}

func getKafka(t *testing.T) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(kafkaGVK)
	err := k8s.Get(context.Background(), types.NamespacedName{Namespace: "default", Name: "events"}, u)
	return u, err
}

func waitForPlan(t *testing.T, plan, want string) {
	t.Helper()
	eventually(t, 2*time.Minute, func() error {
		u, err := getKafka(t)
		if err != nil {
			return err
		}
		got, _, _ := unstructured.NestedString(u.Object, "status", "plans", plan, "status")
		msg, _, _ := unstructured.NestedString(u.Object, "status", "plans", plan, "message")
		if got != want {
			return fmt.Errorf("plan %s is %q (%s), want %s", plan, got, msg, want)
		}
		return nil
	})
}

func TestKafkaWithItsOwnZooKeeper(t *testing.T) {
	for _, f := range []string{"examples/zookeeper/framework.yaml", "examples/kafka/framework.yaml"} {
		if err := kubectl("apply", "-f", filepath.Join(root, f)); err != nil {
			t.Fatal(err)
		}
	}
	if err := kubectl("wait", "framework/zookeeper", "framework/kafka", "--for=condition=Ready", "--timeout=60s"); err != nil {
		t.Fatal(err)
	}
	if err := kubectl("apply", "-f", filepath.Join(root, "examples/kafka/instance.yaml")); err != nil {
		t.Fatal(err)
	}
	waitForPlan(t, "deploy", "COMPLETE")

	t.Run("pods run on the simulated nodes", func(t *testing.T) {
		pods := &corev1.PodList{}
		if err := k8s.List(context.Background(), pods, client.InNamespace("default")); err != nil {
			t.Fatal(err)
		}
		running := 0
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning && p.Spec.NodeName != "" {
				running++
			}
		}
		if running < 6 {
			t.Fatalf("%d pods running, want 3 brokers and 3 ZooKeeper servers", running)
		}
	})

	t.Run("a version change runs upgrade", func(t *testing.T) {
		if err := kubectl("patch", "kafkas.streaming.example.com", "events", "--type=merge", "-p", `{"spec":{"version":"3.8.0"}}`); err != nil {
			t.Fatal(err)
		}
		waitForPlan(t, "upgrade", "COMPLETE")
		sts := &appsv1.StatefulSet{}
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: "default", Name: "events-kafka"}, sts); err != nil {
			t.Fatal(err)
		}
		if img := sts.Spec.Template.Spec.Containers[0].Image; img != "apache/kafka:3.8.0" {
			t.Fatalf("image %s", img)
		}
	})

	t.Run("deletion runs cleanup and the garbage collector takes the rest", func(t *testing.T) {
		if err := kubectl("delete", "kafkas.streaming.example.com", "events", "--wait=false"); err != nil {
			t.Fatal(err)
		}
		eventually(t, 2*time.Minute, func() error {
			if _, err := getKafka(t); !apierrors.IsNotFound(err) {
				return fmt.Errorf("Kafka still there: %v", err)
			}
			zk := &unstructured.Unstructured{}
			zk.SetGroupVersionKind(schema.GroupVersionKind{Group: "apps.example.com", Version: "v1", Kind: "ZooKeeper"})
			if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: "default", Name: "events-zookeeper"}, zk); !apierrors.IsNotFound(err) {
				return fmt.Errorf("its ZooKeeper is still there: %v", err)
			}
			return nil
		})
	})
}

// TestAnEditorOfANamespaceCreatesInstancesThere: a user bound to the
// built-in edit role in one namespace may create instances of a generated
// kind there and nowhere else, through the Framework's ClusterRoles that the
// controller-manager aggregates into edit.
func TestAnEditorOfANamespaceCreatesInstancesThere(t *testing.T) {
	if err := kubectl("apply", "-f", filepath.Join(root, "examples/zookeeper/framework.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := kubectl("wait", "framework/zookeeper", "--for=condition=Ready", "--timeout=60s"); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"team-a", "team-b"} {
		if err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	if err := kubectl("create", "rolebinding", "alice-edit", "--clusterrole=edit", "--user=alice", "-n", "team-a"); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "alice"}
	alice, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	zk := func(ns string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{}}}
		u.SetGroupVersionKind(schema.GroupVersionKind{Group: "apps.example.com", Version: "v1", Kind: "ZooKeeper"})
		u.SetNamespace(ns)
		u.SetName("alices")
		return u
	}
	// The aggregation controller adds the Framework's rules to edit soon
	// after the Framework's roles appear.
	eventually(t, time.Minute, func() error {
		return alice.Create(context.Background(), zk("team-a"), client.DryRunAll)
	})
	if err := alice.Create(context.Background(), zk("team-b"), client.DryRunAll); !apierrors.IsForbidden(err) {
		t.Fatalf("an editor of team-a creating a ZooKeeper in team-b: %v, want forbidden", err)
	}
}

// TestTheChartInstalls: `helm install` of the chart on the local cluster,
// as a cluster admin would; its Deployment comes up (kwok runs its pods as
// simulated ones: the manager under test is the process this suite started)
// and what it grants exists.
func TestTheChartInstalls(t *testing.T) {
	helm := os.Getenv("HELM")
	if helm == "" {
		t.Fatal("HELM is not set: run make e2e, which builds helm")
	}
	const ns = "operetta-system"
	// Two shards: the manager without --shard and shard e2e, each a
	// Deployment of 2 replicas.
	install := exec.Command(helm, "install", "operetta", filepath.Join(root, "charts/operetta"), "--set", "shards={,e2e}",
		"--kubeconfig", kubeconfig, "-n", ns, "--create-namespace", "--wait", "--timeout", "3m")
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("helm install: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		_ = exec.Command(helm, "uninstall", "operetta", "--kubeconfig", kubeconfig, "-n", ns, "--wait").Run()
	})
	ctx := context.Background()
	for _, name := range []string{"operetta", "operetta-e2e"} {
		dep := &appsv1.Deployment{}
		if err := k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, dep); err != nil {
			t.Fatal(err)
		}
		if dep.Status.AvailableReplicas != 2 {
			t.Fatalf("Deployment %s: %d replicas available, want 2", name, dep.Status.AvailableReplicas)
		}
		if sa := dep.Spec.Template.Spec.ServiceAccountName; sa != "operetta" {
			t.Fatalf("the pods run as %q", sa)
		}
		// kwok runs no container, so the manager built here checks the
		// arguments the chart gives it: an undefined flag or a bad value
		// fails before -h would print the usage.
		args := append(append([]string{}, dep.Spec.Template.Spec.Containers[0].Args...), "-h")
		if out, err := exec.Command(filepath.Join(root, "bin/manager"), args...).CombinedOutput(); err != nil {
			t.Fatalf("the manager refuses the chart's arguments %v: %v\n%s", args, err, tail(out, 2000))
		}
		if sharded := strings.Contains(strings.Join(args, " "), "--shard=e2e"); sharded != (name == "operetta-e2e") {
			t.Fatalf("Deployment %s runs with %v", name, args)
		}
		// Each shard's Deployment owns its own pods only.
		pods := &corev1.PodList{}
		sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
		if err != nil {
			t.Fatal(err)
		}
		if err := k8s.List(ctx, pods, client.InNamespace(ns), client.MatchingLabelsSelector{Selector: sel}); err != nil || len(pods.Items) != 2 {
			t.Fatalf("Deployment %s selects %d pods (%v), want its 2", name, len(pods.Items), err)
		}
	}
	for _, o := range []struct {
		obj  client.Object
		ns   string
		name string
	}{
		{&corev1.ServiceAccount{}, ns, "operetta"},
		{&rbacv1.ClusterRole{}, "", "operetta"},
		{&rbacv1.ClusterRoleBinding{}, "", "operetta"},
		{&rbacv1.ClusterRole{}, "", "operetta-metrics-reader"},
		{&rbacv1.Role{}, ns, "operetta-leader-election"},
		{&corev1.Service{}, ns, "operetta-metrics"},
		{&policyv1.PodDisruptionBudget{}, ns, "operetta"},
		{&policyv1.PodDisruptionBudget{}, ns, "operetta-e2e"},
		{&corev1.Service{}, ns, "operetta-webhook"},
		{&corev1.Service{}, ns, "operetta-e2e-webhook"},
	} {
		if err := k8s.Get(ctx, types.NamespacedName{Namespace: o.ns, Name: o.name}, o.obj); err != nil {
			t.Errorf("%T %s: %v", o.obj, o.name, err)
		}
	}
	// The ServiceAccount may do what the manager does: checked by the API
	// server's own authorizer.
	for _, verb := range []string{"create customresourcedefinitions.apiextensions.k8s.io", "create tokenreviews.authentication.k8s.io", "update frameworks.operetta.dev/status",
		// the conversion webhook's certificate, in the release's namespace
		"update secrets -n " + ns} {
		parts := strings.Fields(verb)
		if err := kubectl(append([]string{"auth", "can-i"}, append(parts, "--as=system:serviceaccount:"+ns+":operetta")...)...); err != nil {
			t.Errorf("the chart's account may not %s: %v", verb, err)
		}
	}
}

// operetta runs the plugin as users do, `kubectl operetta ...`: kubectl
// finds bin/kubectl-operetta on the PATH (make e2e builds it).
func operetta(args ...string) (string, error) {
	cmd := exec.Command("kubectl", append([]string{"operetta"}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "PATH="+filepath.Join(root, "bin")+":"+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestThePluginTriggersAPlan(t *testing.T) {
	for _, f := range []string{"examples/zookeeper/framework.yaml", "examples/zookeeper/instance.yaml"} {
		if err := kubectl("apply", "-f", filepath.Join(root, f)); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = kubectl("delete", "zookeepers.apps.example.com", "zk", "--wait=false") })
	if err := kubectl("wait", "zookeepers.apps.example.com/zk", "--for=condition=Ready", "--timeout=3m"); err != nil {
		t.Fatal(err)
	}

	out, err := operetta("plan", "trigger", "restore", "zookeeper/zk")
	if err == nil || !strings.Contains(out, `Framework zookeeper has no plan "restore"; its plans are: deploy, backup`) {
		t.Fatalf("triggering a plan the Framework lacks: %v\n%s", err, out)
	}
	// The kind by its short name, as kubectl takes it.
	out, err = operetta("plan", "trigger", "deploy", "zk", "-k", "zk", "--wait", "--timeout=3m")
	if err != nil || !strings.Contains(out, "zookeeper/zk: plan deploy COMPLETE") {
		t.Fatalf("plan trigger --wait: %v\n%s", err, out)
	}
	t.Logf("kubectl operetta plan trigger deploy zk -k zk --wait:\n%s", out)
	out, err = operetta("plan", "status", "zookeeper/zk")
	if err != nil || !strings.Contains(out, "Plan deploy COMPLETE") || strings.Contains(out, "\x1b[") {
		t.Fatalf("plan status, piped: %v\n%s", err, out)
	}
	t.Logf("kubectl operetta plan status zookeeper/zk:\n%s", out)
	out, err = operetta("plan", "history", "zookeeper/zk")
	if err != nil || !strings.Contains(out, "deploy") {
		t.Fatalf("plan history: %v\n%s", err, out)
	}
	t.Logf("kubectl operetta plan history zookeeper/zk:\n%s", out)
}

// TestStatefulSetsWithVolumeClaimsRun: the local cluster binds claims (to
// volumes hack/cluster.sh makes in advance), so pods of a StatefulSet with
// volumeClaimTemplates, as KUDO's packages use, schedule and run.
func TestStatefulSetsWithVolumeClaimsRun(t *testing.T) {
	ctx := context.Background()
	replicas := int32(2)
	labels := map[string]string{"app": "disks"}
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "disks"},
		Spec: appsv1.StatefulSetSpec{
			Replicas: &replicas, ServiceName: "disks",
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: "busybox",
					VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
				}}},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("5Gi")}},
				},
			}},
		},
	}
	if err := k8s.Create(ctx, sts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(ctx, sts) })
	eventually(t, 2*time.Minute, func() error {
		for i := range int(replicas) {
			pvc := &corev1.PersistentVolumeClaim{}
			if err := k8s.Get(ctx, types.NamespacedName{Namespace: "default", Name: fmt.Sprintf("data-disks-%d", i)}, pvc); err != nil {
				return err
			}
			if pvc.Status.Phase != corev1.ClaimBound {
				return fmt.Errorf("claim %s is %s", pvc.Name, pvc.Status.Phase)
			}
			pod := &corev1.Pod{}
			if err := k8s.Get(ctx, types.NamespacedName{Namespace: "default", Name: fmt.Sprintf("disks-%d", i)}, pod); err != nil {
				return err
			}
			if pod.Status.Phase != corev1.PodRunning || pod.Spec.NodeName == "" {
				return fmt.Errorf("pod %s is %s on %q", pod.Name, pod.Status.Phase, pod.Spec.NodeName)
			}
		}
		return nil
	})
}

// TestTheScaffoldDeploysOnTheLocalCluster: what kubectl operetta new writes
// is applied as a user would, and its instance's deploy plan completes with
// its pods running.
func TestTheScaffoldDeploysOnTheLocalCluster(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hello")
	if out, err := operetta("new", "hello", "--dir", dir); err != nil {
		t.Fatalf("new: %v\n%s", err, out)
	}
	if out, err := operetta("verify", filepath.Join(dir, "framework.yaml")); err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	if err := kubectl("apply", "-f", filepath.Join(dir, "framework.yaml")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kubectl("delete", "framework", "hello", "--wait=false") })
	if err := kubectl("wait", "framework/hello", "--for=condition=Ready", "--timeout=60s"); err != nil {
		t.Fatal(err)
	}
	if err := kubectl("apply", "-n", "default", "-f", filepath.Join(dir, "instance.yaml")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kubectl("delete", "hello", "hello-example", "-n", "default", "--wait=false") })
	if err := kubectl("wait", "-n", "default", "hello/hello-example", "--for=condition=Ready", "--timeout=3m"); err != nil {
		t.Fatal(err)
	}
	out, err := operetta("plan", "status", "hello/hello-example", "-n", "default")
	if err != nil || !strings.Contains(out, "Plan deploy COMPLETE") {
		t.Fatalf("plan status: %v\n%s", err, out)
	}
}

// TestTheZooKeeperBackupRunsOnItsSchedule: the example's backup plan runs
// its Job to completion when triggered, and on the schedule an instance
// sets for itself (spec.backupSchedule), each run a Job of its own.
func TestTheZooKeeperBackupRunsOnItsSchedule(t *testing.T) {
	ctx := context.Background()
	if err := kubectl("apply", "-f", filepath.Join(root, "examples/zookeeper/framework.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := kubectl("wait", "framework/zookeeper", "--for=condition=Ready", "--timeout=60s"); err != nil {
		t.Fatal(err)
	}
	// No schedule of its own at first.
	gvk := schema.GroupVersionKind{Group: "apps.example.com", Version: "v1", Kind: "ZooKeeper"}
	zk := newInstance(gvk, "zk-backup")
	zk.SetNamespace("default")
	zk.Object["spec"] = map[string]any{"replicas": int64(1), "backupSchedule": ""}
	if err := k8s.Create(ctx, zk); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kubectl("delete", "zookeepers.apps.example.com", "zk-backup", "--wait=false") })
	if err := kubectl("wait", "zookeepers.apps.example.com/zk-backup", "--for=condition=Ready", "--timeout=3m"); err != nil {
		t.Fatal(err)
	}
	out, err := operetta("plan", "trigger", "backup", "zookeeper/zk-backup", "--wait", "--timeout=3m")
	if err != nil || !strings.Contains(out, "zookeeper/zk-backup: plan backup COMPLETE") {
		t.Fatalf("plan trigger backup --wait: %v\n%s", err, out)
	}
	// Every 5 s is more often than the Framework lets an instance ask for
	// (minInterval, 1m by default): refused, until the platform team
	// allows it.
	if err := kubectl("patch", "zookeepers.apps.example.com", "zk-backup", "--type=merge", "-p", `{"spec":{"backupSchedule":"@every 5s"}}`); err != nil {
		t.Fatal(err)
	}
	if err := kubectl("wait", "zookeepers.apps.example.com/zk-backup", "--for=jsonpath={.status.schedules[0].lastOutcome}=Invalid", "--timeout=60s"); err != nil {
		t.Fatal(err)
	}
	if err := kubectl("patch", "framework", "zookeeper", "--type=json", "-p", `[{"op":"add","path":"/spec/schedules/0/minInterval","value":"1s"}]`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = kubectl("patch", "framework", "zookeeper", "--type=json", "-p", `[{"op":"remove","path":"/spec/schedules/0/minInterval"}]`)
	})
	var first string
	eventually(t, 2*time.Minute, func() error {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		if err := k8s.Get(ctx, types.NamespacedName{Namespace: "default", Name: "zk-backup"}, u); err != nil {
			return err
		}
		schedules, _, _ := unstructured.NestedSlice(u.Object, "status", "schedules")
		for _, s := range schedules {
			m, _ := s.(map[string]any)
			if m["name"] != "nightly-backup" || m["lastOutcome"] != "Started" {
				continue
			}
			run, _ := m["lastRunUID"].(string)
			switch {
			case first == "":
				first = run
			case run != first:
				return nil // a second scheduled run
			}
		}
		return fmt.Errorf("no second scheduled backup yet (first: %q): %v", first, schedules)
	})
	out, err = operetta("plan", "status", "zookeeper/zk-backup")
	if err != nil || !strings.Contains(out, "Schedule nightly-backup (@every 5s): last ") || !strings.Contains(out, "(schedule nightly-backup)") {
		t.Fatalf("plan status after scheduled runs: %v\n%s", err, out)
	}
	t.Logf("kubectl operetta plan status zookeeper/zk-backup:\n%s", out)
}

// TestTheZooKeeperRotatesWhenItsCertificateIsRenewed: renewing the data of
// the TLS Secret an instance names runs the example's rotate plan, which
// rolls the servers (their pod template carries the rotation); a label on
// the Secret rolls nothing.
func TestTheZooKeeperRotatesWhenItsCertificateIsRenewed(t *testing.T) {
	if err := kubectl("apply", "-f", filepath.Join(root, "examples/zookeeper/framework.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := kubectl("wait", "framework/zookeeper", "--for=condition=Ready", "--timeout=60s"); err != nil {
		t.Fatal(err)
	}
	if err := kubectl("create", "secret", "generic", "zk-rotate-tls", "-n", "default", "--from-literal=tls.crt=first"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kubectl("delete", "secret", "zk-rotate-tls", "-n", "default", "--wait=false") })
	gvk := schema.GroupVersionKind{Group: "apps.example.com", Version: "v1", Kind: "ZooKeeper"}
	zk := newInstance(gvk, "zk-rotate")
	zk.SetNamespace("default")
	zk.Object["spec"] = map[string]any{"replicas": int64(3), "backupSchedule": "", "tlsSecret": "zk-rotate-tls"}
	if err := k8s.Create(context.Background(), zk); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kubectl("delete", "zookeepers.apps.example.com", "zk-rotate", "--wait=false") })
	if err := kubectl("wait", "zookeepers.apps.example.com/zk-rotate", "--for=condition=Ready", "--timeout=3m"); err != nil {
		t.Fatal(err)
	}
	if err := kubectl("wait", "zookeepers.apps.example.com/zk-rotate", "--for=jsonpath={.status.triggers[0].watching}=Secret zk-rotate-tls", "--timeout=60s"); err != nil {
		t.Fatal(err)
	}
	if err := kubectl("label", "secret", "zk-rotate-tls", "-n", "default", "renewed-by=hand"); err != nil {
		t.Fatal(err)
	}
	if err := kubectl("patch", "secret", "zk-rotate-tls", "-n", "default", "--type=merge", "-p", `{"stringData":{"tls.crt":"second"}}`); err != nil {
		t.Fatal(err)
	}
	if err := kubectl("wait", "zookeepers.apps.example.com/zk-rotate", "--for=jsonpath={.status.plans.rotate.status}=COMPLETE", "--timeout=3m"); err != nil {
		t.Fatal(err)
	}
	run, err := kubectlOutput("get", "zookeepers.apps.example.com", "zk-rotate", "-o", "jsonpath={.status.plans.rotate.uid} {.status.plans.rotate.cause} {.status.triggers[0].lastRunUID}")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(run)
	if len(f) != 4 || f[1]+" "+f[2] != "trigger tls" || f[3] != f[0] {
		t.Fatalf("rotate run, cause and the trigger's run: %q", run)
	}
	annotation, err := kubectlOutput("get", "statefulset", "zk-rotate", "-n", "default", "-o", `jsonpath={.spec.template.metadata.annotations.apps\.example\.com/tls-rotation}`)
	if err != nil || annotation != f[0] {
		t.Fatalf("the servers' pod template carries rotation %q (%v), want run %s", annotation, err, f[0])
	}
	runs, err := kubectlOutput("get", "events", "-n", "default", "--field-selector", "involvedObject.name=zk-rotate,reason=TriggeredRun", "-o", "name")
	if err != nil || len(strings.Fields(runs)) != 1 {
		t.Fatalf("TriggeredRun events (a label and one data change): %v\n%s", err, runs)
	}
	out, err := operetta("plan", "status", "zookeeper/zk-rotate")
	if err != nil || !strings.Contains(out, "Trigger tls (Secret zk-rotate-tls): last change ") || !strings.Contains(out, "(trigger tls)") {
		t.Fatalf("plan status after a rotation: %v\n%s", err, out)
	}
	t.Logf("kubectl operetta plan status zookeeper/zk-rotate:\n%s", out)
}

// TestTheCollectionsExampleRuns: the collections example, applied as its
// files are, gets one ConfigMap per topic carrying the retention of the
// external ConfigMap; a topic removed from the list loses its ConfigMap.
func TestTheCollectionsExampleRuns(t *testing.T) {
	dir := filepath.Join(root, "examples/collections")
	if err := kubectl("apply", "-f", filepath.Join(dir, "framework.yaml")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kubectl("delete", "framework", "topics", "--wait=false") })
	if err := kubectl("wait", "framework/topics", "--for=condition=Ready", "--timeout=60s"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"external.yaml", "instance.yaml"} {
		if err := kubectl("apply", "-f", filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		_ = kubectl("delete", "topicsets.messaging.example.com", "orders", "--wait=false")
		_ = kubectl("delete", "configmap", "messaging-defaults", "--wait=false")
	})
	if err := kubectl("wait", "topicsets.messaging.example.com/orders", "--for=jsonpath={.status.plans.deploy.status}=COMPLETE", "--timeout=2m"); err != nil {
		t.Fatal(err)
	}
	topics := func() string {
		out, err := kubectlOutput("get", "configmaps", "-n", "default", "-l", "operetta.dev/instance=orders", "-o", `jsonpath={range .items[*]}{.metadata.name}={.data.retention\.ms} {end}`)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out)
	}
	if got := topics(); got != "orders-created=604800000 orders-paid=604800000 orders-shipped=604800000" {
		t.Fatalf("topic ConfigMaps: %q", got)
	}
	if err := kubectl("patch", "topicsets.messaging.example.com", "orders", "--type=json", "-p", `[{"op":"remove","path":"/spec/topics/1"}]`); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Minute, func() error {
		if got := topics(); got != "orders-created=604800000 orders-shipped=604800000" {
			return fmt.Errorf("after removing paid: %q", got)
		}
		return nil
	})
}
