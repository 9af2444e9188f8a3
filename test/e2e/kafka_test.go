//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const (
	kafkaNS    = "kudo-kafka"
	kafkaGroup = "kafka.kudo.operetta.dev"
)

// The names KUDO gave the Kafka instance's Pipe pod and Secrets:
// <instance>.<plan>.<phase>.<step>.<task>.<key>.
const (
	kafkaPipe    = "kafka.deploy.deploykafka.generatetlscertificates.generatetlscertificates."
	kafkaPipePod = kafkaPipe + "pipepod"
)

// TestKUDOKafkaRunsItsPipeTask imports KUDO's Kafka and ZooKeeper
// unmodified, brings up the ZooKeeper instance Kafka's defaults name, then
// a Kafka instance with its defaults. Its deploy plan's Pipe task runs its
// pod, reads the two TLS files out of it by exec, stores them in the
// Secrets KUDO named, and deletes the pod; a parameter change runs the plan
// KUDO would, which pipes nothing again.
//
// What the local cluster simulates: kwok runs no container. The pod's exec
// is served by kwok's Exec object as a command on this host, in a directory
// the test fills with the two files the init container would have written.
// Everything else is the real path: the pod, the API server's exec, the
// manager's reading of the stream, the Secrets.
func TestKUDOKafkaRunsItsPipeTask(t *testing.T) {
	ctx := context.Background()
	if err := kubectl("create", "namespace", kafkaNS); err != nil && !strings.Contains(err.Error(), "AlreadyExists") {
		t.Fatal(err)
	}
	// Named and grouped apart from the examples' kafka and zookeeper
	// Frameworks and the other KUDO test's, which other tests leave behind.
	for _, p := range []struct {
		name  string
		flags []string
	}{{"zookeeper", nil}, {"kafka", []string{"--allow-cluster-scoped"}}} {
		file := filepath.Join(t.TempDir(), p.name+".yaml")
		args := append([]string{"import", "kudo", filepath.Join(root, "internal/kudo/testdata/packages", p.name), "--check", "-o", file,
			"--name", "pipe-" + p.name, "--group", kafkaGroup}, p.flags...)
		if out, err := operetta(args...); err != nil {
			t.Fatalf("import %s: %v\n%s", p.name, err, out)
		}
		if err := kubectl("apply", "--server-side", "-f", file); err != nil {
			t.Fatal(err)
		}
		name := "pipe-" + p.name
		t.Cleanup(func() { _ = kubectl("delete", "framework", name, "--wait=false") })
		if err := kubectl("wait", "framework/"+name, "--for=condition=Ready", "--timeout=60s"); err != nil {
			t.Fatal(err)
		}
	}

	// Kafka's ZOOKEEPER_URI defaults to this instance's pods: KUDO's users
	// installed it first, as here (the package has no KudoOperator task).
	zkGVK := schema.GroupVersionKind{Group: kafkaGroup, Version: "v1", Kind: "Zookeeper"}
	zk := newInstance(zkGVK, "zookeeper-instance")
	if err := k8s.Create(ctx, zk); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(ctx, zk) })
	waitForKUDOPlan(t, zkGVK, client.ObjectKeyFromObject(zk), "deploy", "", 4*time.Minute)

	// The files the init container writes, as kwok's exec will find them.
	files := filepath.Join(t.TempDir(), "pipe")
	want := map[string][]byte{"tls.key": randomBytes(t, "private key"), "tls.crt": randomBytes(t, "certificate")}
	if err := os.MkdirAll(filepath.Join(files, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range want {
		if err := os.WriteFile(filepath.Join(files, "tmp", name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	execFile := filepath.Join(t.TempDir(), "exec.yaml")
	execYAML := fmt.Sprintf("apiVersion: kwok.x-k8s.io/v1alpha1\nkind: Exec\nmetadata: {name: %q, namespace: %s}\n"+
		"spec:\n  execs:\n  - containers: [waiter]\n    local: {workDir: %q}\n", kafkaPipePod, kafkaNS, files)
	if err := os.WriteFile(execFile, []byte(execYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := kubectl("apply", "-f", execFile); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	kafkaKUDO := schema.GroupVersionKind{Group: kafkaGroup, Version: "v1", Kind: "Kafka"}
	kafka := newInstance(kafkaKUDO, "kafka")
	if err := k8s.Create(ctx, kafka); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(ctx, kafka) })
	key := client.ObjectKeyFromObject(kafka)
	deployUID := waitForKUDOPlan(t, kafkaKUDO, key, "deploy", "", 4*time.Minute)
	t.Logf("kafka: deploy COMPLETE %.1fs after the instance was created", time.Since(start).Seconds())

	for suffix, file := range map[string]string{"privatekey": "tls.key", "certificate": "tls.crt"} {
		s := &corev1.Secret{}
		if err := k8s.Get(ctx, types.NamespacedName{Namespace: kafkaNS, Name: kafkaPipe + suffix}, s); err != nil {
			t.Fatalf("the piped Secret %s: %v", kafkaPipe+suffix, err)
		}
		if !bytes.Equal(s.Data[file], want[file]) {
			t.Errorf("Secret %s holds %q under %s, want the pod's file %q", s.Name, s.Data[file], file, want[file])
		}
		if s.Annotations["operetta.dev/pipe-run"] != deployUID {
			t.Errorf("Secret %s is of run %q, want deploy's %q", s.Name, s.Annotations["operetta.dev/pipe-run"], deployUID)
		}
	}
	eventually(t, time.Minute, func() error {
		err := k8s.Get(ctx, types.NamespacedName{Namespace: kafkaNS, Name: kafkaPipePod}, &corev1.Pod{})
		if err == nil {
			return fmt.Errorf("the Pipe pod %s is still there", kafkaPipePod)
		}
		return client.IgnoreNotFound(err)
	})
	expectPodsOf(t, kafkaNS, "kafka", "kafka", 3)

	// BROKER_MEM's trigger is update-instance, which has no Pipe task: the
	// Secrets stay deploy's.
	if err := k8s.Patch(ctx, kafka, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"BROKER_MEM":"1024Mi"}}`))); err != nil {
		t.Fatal(err)
	}
	waitForKUDOPlan(t, kafkaKUDO, key, "update-instance", "", 4*time.Minute)
	sts := &appsv1.StatefulSet{}
	if err := k8s.Get(ctx, types.NamespacedName{Namespace: kafkaNS, Name: "kafka-kafka"}, sts); err != nil {
		t.Fatal(err)
	}
	for _, c := range sts.Spec.Template.Spec.Containers {
		if c.Name == "k8skafka" && c.Resources.Requests.Memory().Cmp(resource.MustParse("1024Mi")) != 0 {
			t.Errorf("the broker's memory request after BROKER_MEM=1024Mi: %s", c.Resources.Requests.Memory())
		}
	}
	s := &corev1.Secret{}
	if err := k8s.Get(ctx, types.NamespacedName{Namespace: kafkaNS, Name: kafkaPipe + "certificate"}, s); err != nil || s.Annotations["operetta.dev/pipe-run"] != deployUID {
		t.Errorf("after update-instance the certificate Secret is of run %q (%v), want deploy's %q", s.Annotations["operetta.dev/pipe-run"], err, deployUID)
	}
}

func newInstance(gvk schema.GroupVersionKind, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{}}}
	u.SetGroupVersionKind(gvk)
	u.SetNamespace(kafkaNS)
	u.SetName(name)
	return u
}

func randomBytes(t *testing.T, what string) []byte {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return []byte("e2e " + what + " " + hex.EncodeToString(b) + "\n")
}

// expectPodsOf waits until want pods of KUDO operator's instance run.
func expectPodsOf(t *testing.T, ns, operator, instance string, want int) {
	t.Helper()
	eventually(t, 2*time.Minute, func() error {
		pods := &corev1.PodList{}
		if err := k8s.List(context.Background(), pods, client.InNamespace(ns),
			client.MatchingLabels{"kudo.dev/instance": instance, "kudo.dev/operator": operator}); err != nil {
			return err
		}
		running := 0
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil && !strings.HasSuffix(p.Name, ".pipepod") {
				running++
			}
		}
		if running != want {
			return fmt.Errorf("%s %s: %d pods Running, want %d", operator, instance, running, want)
		}
		return nil
	})
}
