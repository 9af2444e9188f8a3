package tasks

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/kube"
	"operetta.dev/operetta/internal/kudo"
	"operetta.dev/operetta/internal/plans"
)

const (
	// MaxPipeFileBytes caps a piped file: a Secret's or ConfigMap's data
	// may hold no more, and KUDO capped it so.
	MaxPipeFileBytes = 1 << 20
	// AnnotationPipeRun names the plan run a Pipe task's pod and objects
	// belong to: a later run of the plan runs the pod again.
	AnnotationPipeRun = "operetta.dev/pipe-run"
	// DefaultPipeImage is the image of the container a Pipe task's pod
	// keeps running after its init container wrote the files, so that they
	// can be read out of it (KUDO ran busybox too).
	DefaultPipeImage = "busybox:1.37.0"
	// pipeContainer is that container's name.
	pipeContainer = "waiter"
	// pipeReadTimeout bounds one file's read.
	pipeReadTimeout = 30 * time.Second
)

var podKind = schema.GroupVersionKind{Version: "v1", Kind: "Pod"}

// piper runs Pipe tasks as KUDO did: it creates the task's pod, whose init
// container writes files into an emptyDir volume; once that is done, it
// reads each file out of the pod's second container, which mounts the same
// volume, by exec; each file becomes a Secret or ConfigMap named as KUDO
// named it; then the pod is deleted. Every step of that is read back from
// the children cache, so a reconcile resumes where the last one stopped.
type piper struct{ *scope }

// pipe runs Pipe task t once per plan run.
func (r *piper) pipe(ctx context.Context, t *compile.Task) plans.Outcome {
	plan, phase, step := r.renderer.where()
	name := func(suffix string) string {
		return pipeName(r.instance.GetName(), plan, phase, step, t.Name, suffix)
	}
	waiting := plans.Outcome{Result: plans.Waiting}
	if t.Timeout != nil {
		waiting.Timeout = t.Timeout.Duration
	}
	podKey := client.ObjectKey{Namespace: r.instance.GetNamespace(), Name: name("pipepod")}
	piped, err := r.piped(ctx, t, name)
	if err != nil {
		return outcome(err)
	}
	live, found, err := r.c.Children.Get(ctx, podKind, podKey)
	if err != nil {
		return outcome(fmt.Errorf("reading pod %s: %w", podKey.Name, err))
	}
	pod, _ := live.(*corev1.Pod)
	switch {
	case piped && !found:
		return plans.Outcome{Result: plans.Done}
	case found && pod == nil:
		return outcome(fmt.Errorf("pod %s: the children cache holds it as %T", podKey.Name, live))
	case piped || found && pod.Annotations[AnnotationPipeRun] != r.planUID:
		// Done, or left by an earlier run: it goes before anything else.
		if err := r.removePod(ctx, t, pod); err != nil {
			return outcome(err)
		}
		if piped {
			return plans.Outcome{Result: plans.Done}
		}
		waiting.Message = fmt.Sprintf("task %s: removing pod %s of an earlier run", t.Name, podKey.Name)
		return waiting
	case !found:
		if err := r.startPod(ctx, t, podKey.Name); err != nil {
			return outcome(err)
		}
		waiting.Message = fmt.Sprintf("task %s: waiting for pod %s to write its files", t.Name, podKey.Name)
		return waiting
	}
	ready, msg, err := pipeReady(pod)
	switch {
	case err != nil:
		return outcome(kube.Fail("task %s: %w", t.Name, err))
	case !ready:
		waiting.Message = fmt.Sprintf("task %s: %s", t.Name, msg)
		return waiting
	}
	for _, f := range t.Pipe {
		data, err := r.read(ctx, pod, f.File)
		if err != nil {
			return outcome(fmt.Errorf("task %s: %w", t.Name, err))
		}
		if err := r.store(ctx, t, f, name(f.Key), data); err != nil {
			return outcome(err)
		}
	}
	if err := r.removePod(ctx, t, pod); err != nil {
		return outcome(err)
	}
	return plans.Outcome{Result: plans.Done}
}

// piped says whether every object of t holds this plan run's files.
func (r *piper) piped(ctx context.Context, t *compile.Task, name func(string) string) (bool, error) {
	for _, f := range t.Pipe {
		key := client.ObjectKey{Namespace: r.instance.GetNamespace(), Name: name(f.Key)}
		obj, found, err := r.c.Children.Get(ctx, schema.GroupVersionKind{Version: "v1", Kind: f.Kind}, key)
		if err != nil {
			return false, fmt.Errorf("reading %s %s: %w", f.Kind, key.Name, err)
		}
		if !found || obj.GetAnnotations()[AnnotationPipeRun] != r.planUID {
			return false, nil
		}
	}
	return true, nil
}

// startPod renders t's pod, checks it is one KUDO would run, and creates it
// with the container the files are read from.
func (r *piper) startPod(ctx context.Context, t *compile.Task, name string) error {
	objs, err := r.renderer.renderAll(t.Pod)
	if err != nil {
		return err
	}
	if len(objs) != 1 || objs[0].GroupVersionKind() != podKind {
		return kube.Fail("task %s: resource %s must render one v1 Pod, it rendered %d objects", t.Name, t.Pod, len(objs))
	}
	pod := &corev1.Pod{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(objs[0].Object, pod); err != nil {
		return kube.Fail("task %s: resource %s: %w", t.Name, t.Pod, err)
	}
	mount, err := pipeMount(pod, t.Pipe)
	if err != nil {
		return kube.Fail("task %s: resource %s: %w", t.Name, t.Pod, err)
	}
	pod.Name = name
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[AnnotationPipeRun] = r.planUID
	pod.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	pod.Spec.TerminationGracePeriodSeconds = ptr.To[int64](1)
	image := r.c.PipeImage
	if image == "" {
		image = DefaultPipeImage
	}
	pod.Spec.Containers = []corev1.Container{{
		Name: pipeContainer, Image: image, WorkingDir: "/",
		Command:      []string{"/bin/sh", "-c", "trap 'exit 0' TERM; sleep infinity & wait"},
		VolumeMounts: []corev1.VolumeMount{mount},
	}}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(pod)
	if err != nil {
		return fmt.Errorf("task %s: encoding pod %s: %w", t.Name, name, err)
	}
	obj := &unstructured.Unstructured{Object: m}
	obj.SetGroupVersionKind(podKind)
	unstructured.RemoveNestedField(obj.Object, "status")
	unstructured.RemoveNestedField(obj.Object, "metadata", "creationTimestamp")
	if err := r.renderer.place(t.Name, obj); err != nil {
		return err
	}
	_, err = r.applier.applyChild(ctx, t.Name, obj, r.inventory.hash(obj))
	return err
}

// pipeMount checks pod as KUDO did: one init container and no other, one
// emptyDir volume, mounted by the init container, and every file under its
// mount path. It returns that mount.
func pipeMount(pod *corev1.Pod, files []v1alpha1.PipeFile) (corev1.VolumeMount, error) {
	var none corev1.VolumeMount
	switch {
	case len(pod.Spec.Containers) > 0:
		return none, errors.New("a Pipe task's pod has no containers: its init container writes the files")
	case len(pod.Spec.InitContainers) != 1:
		return none, fmt.Errorf("a Pipe task's pod has one init container, this one has %d", len(pod.Spec.InitContainers))
	case pod.Spec.RestartPolicy != "" && pod.Spec.RestartPolicy != corev1.RestartPolicyOnFailure:
		return none, fmt.Errorf("a Pipe task's pod restarts OnFailure, this one says %s", pod.Spec.RestartPolicy)
	}
	var shared []string
	for _, v := range pod.Spec.Volumes {
		if v.EmptyDir != nil {
			shared = append(shared, v.Name)
		}
	}
	if len(shared) != 1 {
		return none, fmt.Errorf("a Pipe task's pod has one emptyDir volume for the files, this one has %d", len(shared))
	}
	var mount *corev1.VolumeMount
	for i, m := range pod.Spec.InitContainers[0].VolumeMounts {
		if m.Name == shared[0] {
			mount = &pod.Spec.InitContainers[0].VolumeMounts[i]
		}
	}
	if mount == nil {
		return none, fmt.Errorf("the init container does not mount the emptyDir volume %s", shared[0])
	}
	for _, f := range files {
		if rel, ok := strings.CutPrefix(f.File, strings.TrimSuffix(mount.MountPath, "/")+"/"); !ok || rel == "" {
			return none, fmt.Errorf("file %s is not under %s, where the emptyDir volume is mounted", f.File, mount.MountPath)
		}
	}
	return corev1.VolumeMount{Name: mount.Name, MountPath: mount.MountPath, SubPath: mount.SubPath}, nil
}

// pipeReady says whether the files can be read out of pod: its init
// container exited 0 and the waiter runs. A pod that failed for good is an
// error; one whose init container fails, or cannot start, is told in the
// message, and retried (OnFailure) until the step's timeout.
func pipeReady(pod *corev1.Pod) (bool, string, error) {
	if pod.DeletionTimestamp != nil {
		return false, fmt.Sprintf("pod %s is being deleted", pod.Name), nil
	}
	switch pod.Status.Phase {
	case corev1.PodFailed:
		return false, "", fmt.Errorf("pod %s failed: %s", pod.Name, podReason(pod))
	case corev1.PodSucceeded:
		return false, "", fmt.Errorf("pod %s finished before its files were read: %s", pod.Name, podReason(pod))
	}
	initDone := false
	for _, s := range pod.Status.InitContainerStatuses {
		if term := s.State.Terminated; term != nil && term.ExitCode == 0 {
			initDone = true
			continue
		}
		return false, fmt.Sprintf("pod %s: init container %s %s", pod.Name, s.Name, containerState(s)), nil
	}
	if !initDone {
		return false, fmt.Sprintf("waiting for pod %s to start", pod.Name), nil
	}
	for _, s := range pod.Status.ContainerStatuses {
		if s.Name == pipeContainer && s.State.Running != nil {
			return true, "", nil
		}
		if s.Name == pipeContainer {
			return false, fmt.Sprintf("pod %s: container %s %s", pod.Name, s.Name, containerState(s)), nil
		}
	}
	return false, fmt.Sprintf("pod %s: waiting for container %s to run", pod.Name, pipeContainer), nil
}

// containerState tells where a container stands, and how it last failed.
func containerState(s corev1.ContainerStatus) string {
	var out string
	switch {
	case s.State.Waiting != nil:
		out = "is waiting: " + s.State.Waiting.Reason
		if s.State.Waiting.Message != "" {
			out += " (" + s.State.Waiting.Message + ")"
		}
	case s.State.Terminated != nil:
		out = fmt.Sprintf("exited %d: %s", s.State.Terminated.ExitCode, s.State.Terminated.Reason)
	case s.State.Running != nil:
		out = "is running"
	default:
		out = "has not started"
	}
	if last := s.LastTerminationState.Terminated; last != nil && s.RestartCount > 0 {
		out += fmt.Sprintf("; it failed %d times, last with exit %d: %s", s.RestartCount, last.ExitCode, last.Reason)
	}
	return out
}

// podReason is why a pod stopped, from its own reason or its containers'.
func podReason(pod *corev1.Pod) string {
	if pod.Status.Reason != "" {
		return pod.Status.Reason + ": " + pod.Status.Message
	}
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, s := range list {
			if s.State.Terminated != nil && s.State.Terminated.ExitCode != 0 {
				return fmt.Sprintf("container %s %s", s.Name, containerState(s))
			}
		}
	}
	return string(pod.Status.Phase)
}

// read copies file out of pod's waiter container, with cat and no shell:
// the path is the Framework's, checked to lie under the shared volume, and
// nothing of the instance reaches the command. It refuses a file over
// MaxPipeFileBytes without reading the rest.
func (r *piper) read(ctx context.Context, pod *corev1.Pod, file string) ([]byte, error) {
	execer, ok := r.c.Writer.(kube.Execer)
	if !ok {
		return nil, kube.Fail("reading %s: this manager's client cannot exec into pods", file)
	}
	ctx, cancel := context.WithTimeout(ctx, pipeReadTimeout)
	defer cancel()
	stdout := &cappedBuffer{max: MaxPipeFileBytes}
	stderr := &cappedBuffer{max: 4 << 10}
	// Relative to the waiter's working directory, /: the same file in a
	// container; where a local cluster stands in for one (kwok's exec),
	// under the directory it runs the command in.
	err := execer.Exec(ctx, pod.Namespace, pod.Name, pipeContainer, []string{"cat", "--", strings.TrimPrefix(file, "/")}, stdout, stderr)
	if stdout.over {
		return nil, kube.Fail("file %s is larger than %d bytes, all a Secret or ConfigMap holds", file, MaxPipeFileBytes)
	}
	if code, exited := kube.ExitCode(err); exited {
		return nil, kube.Fail("reading %s out of pod %s: cat exited %d: %s", file, pod.Name, code, strings.TrimSpace(stderr.String()))
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s out of pod %s: %w", file, pod.Name, err)
	}
	return stdout.Bytes(), nil
}

// cappedBuffer keeps what is written up to max bytes, and fails the write
// that would pass it.
type cappedBuffer struct {
	bytes.Buffer
	max  int
	over bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		b.over = true
		return 0, errors.New("too large")
	}
	return b.Buffer.Write(p)
}

// store writes file's data into the Secret or ConfigMap of f, marked with
// the plan run, as the instance's child recorded under the task's name.
func (r *piper) store(ctx context.Context, t *compile.Task, f v1alpha1.PipeFile, name string, data []byte) error {
	key, encoded := path.Base(f.File), base64.StdEncoding.EncodeToString(data)
	obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": f.Kind}}
	if f.Kind == "Secret" {
		obj.Object["type"] = string(corev1.SecretTypeOpaque)
		obj.Object["data"] = map[string]any{key: encoded}
	} else {
		obj.Object["binaryData"] = map[string]any{key: encoded}
	}
	obj.SetName(name)
	obj.SetAnnotations(map[string]string{AnnotationPipeRun: r.planUID})
	if k := r.fw.KUDO; k != nil {
		plan, phase, step := r.renderer.where()
		kudo.Mark(obj.Object, kudo.Marks{Operator: k.OperatorName, OperatorVersion: k.OperatorVersion, Instance: r.instance.GetName(),
			Plan: plan, Phase: phase, Step: step, PlanUID: r.planUID})
	}
	if err := r.renderer.place(t.Name, obj); err != nil {
		return err
	}
	_, err := r.applier.applyChild(ctx, t.Name, obj, r.inventory.hash(obj))
	return err
}

// removePod deletes the pod, if it is this instance's, and forgets it once
// its delete is accepted: the step does not wait for it to be gone, and its
// owner reference covers it if this manager stops meanwhile.
func (r *piper) removePod(ctx context.Context, t *compile.Task, pod *corev1.Pod) error {
	if pod == nil {
		return nil
	}
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(podKind)
	obj.SetNamespace(pod.Namespace)
	obj.SetName(pod.Name)
	_, leaving, err := r.pruner.deleteObject(ctx, obj)
	switch {
	case err != nil:
		return fmt.Errorf("task %s: deleting pod %s: %w", t.Name, pod.Name, err)
	case leaving != "":
		return kube.Fail("task %s: %s", t.Name, leaving)
	}
	if item, ok := r.inventory.find(obj); ok {
		r.inventory.forget(item)
	}
	return nil
}
