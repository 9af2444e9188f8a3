package tasks_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	utilexec "k8s.io/client-go/util/exec"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/plans"
	"operetta.dev/operetta/internal/tasks"
)

const (
	pipePod    = "demo1.certs.tls.generate.gencert.pipepod"
	pipeSecret = "demo1.certs.tls.generate.gencert.certificate"
	pipeConfig = "demo1.certs.tls.generate.gencert.ca"
)

// fakePod stands in for the files a Pipe task's pod wrote: what cat prints
// for each path, and every command it was asked to run.
type fakePod struct {
	files map[string][]byte
	ran   []string
}

// execWriter is the Executor's client, able to exec as the manager's is.
type execWriter struct {
	client.Client
	pod *fakePod
}

func (w execWriter) Exec(_ context.Context, namespace, pod, container string, argv []string, stdout, stderr io.Writer) error {
	w.pod.ran = append(w.pod.ran, namespace+"/"+pod+"/"+container+": "+strings.Join(argv, " "))
	if len(argv) != 3 || argv[0] != "cat" || argv[1] != "--" {
		return errors.New("unexpected command")
	}
	data, ok := w.pod.files[argv[2]]
	if !ok {
		_, _ = io.WriteString(stderr, "cat: can't open '"+argv[2]+"': No such file or directory\n")
		return utilexec.CodeExitError{Err: errors.New("command terminated with exit code 1"), Code: 1}
	}
	// In pieces, as a stream arrives.
	for chunk := range slices.Chunk(data, 32<<10) {
		if _, err := stdout.Write(chunk); err != nil {
			return err
		}
	}
	return nil
}

// setPodStatus writes the pipe pod's status as its kubelet would.
func (h *harness) setPodStatus(init corev1.ContainerState, restarts int32, last *corev1.ContainerStateTerminated, waiter *corev1.ContainerState) {
	h.t.Helper()
	pod := &corev1.Pod{}
	if err := h.server.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: pipePod}, pod); err != nil {
		h.t.Fatal(err)
	}
	pod.Status.Phase = corev1.PodPending
	pod.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "init", State: init, RestartCount: restarts}}
	if last != nil {
		pod.Status.InitContainerStatuses[0].LastTerminationState.Terminated = last
	}
	pod.Status.ContainerStatuses = nil
	if waiter != nil {
		pod.Status.Phase = corev1.PodRunning
		pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "waiter", State: *waiter}}
	}
	if err := h.server.Status().Update(context.Background(), pod); err != nil {
		h.t.Fatal(err)
	}
}

func pipeStep(h *harness) plans.Outcome {
	h.t.Helper()
	exec := h.run()
	exec.SetPlan("certs")
	phase := h.fw.Plans["certs"].Phases[0]
	return exec.Step(context.Background(), phase, phase.Steps[0])
}

var (
	running   = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	completed = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}
)

// TestPipeTaskCopiesTheFilesItsPodWrote: the pod is created as KUDO made
// it; while its init container works or fails the step waits, saying how;
// once it is done, each file lands in the object KUDO named, and the pod is
// deleted. A later reconcile of the same run does nothing; a new run runs
// the pod again.
func TestPipeTaskCopiesTheFilesItsPodWrote(t *testing.T) {
	h := newHarness(t)
	cert, ca := []byte("-----BEGIN CERTIFICATE-----\nMIIB\n"), bytes.Repeat([]byte{0, 1, 2, 255}, 40<<10)
	h.pod = &fakePod{files: map[string][]byte{"tmp/tls.crt": cert, "tmp/ca.pem": ca}}

	out := pipeStep(h)
	expectResult(t, "the first reconcile", out, plans.Waiting)
	mustContain(t, out.Message, "waiting for pod "+pipePod+" to write its files")
	pod := &corev1.Pod{}
	if err := h.server.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: pipePod}, pod); err != nil {
		t.Fatalf("the pod was not created: %v", err)
	}
	if len(pod.Spec.Containers) != 1 || pod.Spec.Containers[0].Name != "waiter" || pod.Spec.Containers[0].Image != tasks.DefaultPipeImage ||
		pod.Spec.Containers[0].VolumeMounts[0].MountPath != "/tmp" || pod.Spec.RestartPolicy != corev1.RestartPolicyOnFailure {
		t.Errorf("pod spec: %+v", pod.Spec)
	}
	if pod.Annotations[tasks.AnnotationPipeRun] != "certs-run-1" || pod.Labels[v1alpha1.LabelInstance] != "demo-1" ||
		len(pod.OwnerReferences) != 1 || pod.OwnerReferences[0].UID != "instance-uid" {
		t.Errorf("the pod is not marked as this run's child of the instance: %v %v %v", pod.Annotations, pod.Labels, pod.OwnerReferences)
	}

	h.setPodStatus(running, 0, nil, nil)
	out = pipeStep(h)
	expectResult(t, "while the init container runs", out, plans.Waiting)
	mustContain(t, out.Message, "init container init is running")

	h.setPodStatus(corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}, 2,
		&corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}, nil)
	out = pipeStep(h)
	expectResult(t, "while the init container fails", out, plans.Waiting)
	mustContain(t, out.Message, "init container init is waiting: CrashLoopBackOff; it failed 2 times, last with exit 1: Error")
	if len(h.pod.ran) != 0 {
		t.Fatalf("read files before the init container was done: %q", h.pod.ran)
	}

	h.setPodStatus(completed, 2, nil, &running)
	h.requests = nil
	out = pipeStep(h)
	expectResult(t, "once the files are written", out, plans.Done)
	if want := []string{"team/" + pipePod + "/waiter: cat -- tmp/tls.crt", "team/" + pipePod + "/waiter: cat -- tmp/ca.pem"}; !slices.Equal(h.pod.ran, want) {
		t.Errorf("ran %q, want %q", h.pod.ran, want)
	}
	secret := &corev1.Secret{}
	if err := h.server.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: pipeSecret}, secret); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(secret.Data["tls.crt"], cert) || secret.Annotations[tasks.AnnotationPipeRun] != "certs-run-1" || secret.OwnerReferences[0].UID != "instance-uid" {
		t.Errorf("Secret %s: data %q, annotations %v, owners %v", pipeSecret, secret.Data, secret.Annotations, secret.OwnerReferences)
	}
	cm := &corev1.ConfigMap{}
	if err := h.server.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: pipeConfig}, cm); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cm.BinaryData["ca.pem"], ca) {
		t.Errorf("ConfigMap %s holds %d bytes of ca.pem, want %d", pipeConfig, len(cm.BinaryData["ca.pem"]), len(ca))
	}
	if err := h.server.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: pipePod}, &corev1.Pod{}); err == nil {
		t.Error("the pod is still there")
	}
	for _, item := range h.status.Inventory {
		if item.Kind == "Pod" {
			t.Errorf("the deleted pod is still in the inventory: %+v", item)
		}
	}

	h.pod.ran, h.requests = nil, nil
	expectResult(t, "again in the same run", pipeStep(h), plans.Done)
	if len(h.pod.ran) != 0 || len(h.requests) != 0 {
		t.Errorf("the same run piped again: ran %q, sent %q", h.pod.ran, h.requests)
	}

	h.status.Plans["certs"] = v1alpha1.PlanStatus{Status: v1alpha1.InProgress, UID: "certs-run-2"}
	out = pipeStep(h)
	expectResult(t, "a new run", out, plans.Waiting)
	if err := h.server.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: pipePod}, pod); err != nil || pod.Annotations[tasks.AnnotationPipeRun] != "certs-run-2" {
		t.Fatalf("a new run made no pod of its own: %v %v", err, pod.Annotations)
	}
}

// TestPipeTaskFailures: what retrying cannot fix fails the step for good,
// naming the file or the pod's rule it broke.
func TestPipeTaskFailures(t *testing.T) {
	tests := []struct {
		name  string
		setup func(h *harness)
		want  string
	}{
		{"a file over the cap", func(h *harness) {
			h.pod.files["tmp/tls.crt"] = bytes.Repeat([]byte("x"), tasks.MaxPipeFileBytes+1)
		}, "file /tmp/tls.crt is larger than 1048576 bytes"},
		{"a file the pod did not write", func(h *harness) {
			delete(h.pod.files, "tmp/ca.pem")
		}, "reading /tmp/ca.pem out of pod " + pipePod + ": cat exited 1: cat: can't open 'tmp/ca.pem'"},
		{"a pod that failed", func(h *harness) {
			pod := &corev1.Pod{}
			_ = h.server.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: pipePod}, pod)
			pod.Status.Phase = corev1.PodFailed
			pod.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "init", State: corev1.ContainerState{
				Terminated: &corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error"}}}}
			if err := h.server.Status().Update(context.Background(), pod); err != nil {
				h.t.Fatal(err)
			}
		}, "pod " + pipePod + " failed: container init exited 2: Error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.pod = &fakePod{files: map[string][]byte{"tmp/tls.crt": []byte("crt"), "tmp/ca.pem": []byte("ca")}}
			expectResult(t, "the first reconcile", pipeStep(h), plans.Waiting)
			h.setPodStatus(completed, 0, nil, &running)
			tt.setup(h)
			out := pipeStep(h)
			expectResult(t, tt.name, out, plans.Fatal)
			mustContain(t, out.Message, tt.want)
		})
	}
}

// TestPipeTaskRefusesAPodKUDOWouldNot: the rendered pod is checked as KUDO
// checked it before anything is created.
func TestPipeTaskRefusesAPodKUDOWouldNot(t *testing.T) {
	tests := []struct{ name, text, want string }{
		{"a container of its own", "apiVersion: v1\nkind: Pod\nspec:\n  volumes: [{name: out, emptyDir: {}}]\n  containers: [{name: app, image: x}]\n" +
			"  initContainers: [{name: init, image: x, volumeMounts: [{name: out, mountPath: /tmp}]}]\n", "a Pipe task's pod has no containers"},
		{"no emptyDir", "apiVersion: v1\nkind: Pod\nspec:\n  initContainers: [{name: init, image: x}]\n", "has one emptyDir volume for the files, this one has 0"},
		{"files outside the volume", "apiVersion: v1\nkind: Pod\nspec:\n  volumes: [{name: out, emptyDir: {}}]\n" +
			"  initContainers: [{name: init, image: x, volumeMounts: [{name: out, mountPath: /out}]}]\n", "file /tmp/tls.crt is not under /out"},
		{"restarting always", "apiVersion: v1\nkind: Pod\nspec:\n  restartPolicy: Always\n  volumes: [{name: out, emptyDir: {}}]\n" +
			"  initContainers: [{name: init, image: x, volumeMounts: [{name: out, mountPath: /tmp}]}]\n", "restarts OnFailure, this one says Always"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarnessWith(t, func(fw *v1alpha1.Framework) {
				for i := range fw.Spec.Resources {
					if fw.Spec.Resources[i].ID == "gen" {
						fw.Spec.Resources[i].GoTemplate.Text = tt.text
					}
				}
			})
			h.pod = &fakePod{files: map[string][]byte{}}
			out := pipeStep(h)
			expectResult(t, tt.name, out, plans.Fatal)
			mustContain(t, out.Message, tt.want)
			if err := h.server.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: pipePod}, &corev1.Pod{}); err == nil {
				t.Error("a pod was created")
			}
		})
	}
}

func mustContain(t *testing.T, s string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("%q lacks %q", s, w)
		}
	}
}
