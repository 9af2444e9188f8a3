package kube

import (
	"context"
	"errors"
	"fmt"
	"io"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
)

// Execer runs a command in a container of a pod, as kubectl exec does.
type Execer interface {
	// Exec runs argv (no shell) in container of pod namespace/name and
	// copies its standard output to stdout and its standard error to
	// stderr. A command that ran and exited non-zero is an error ExitCode
	// reads.
	Exec(ctx context.Context, namespace, pod, container string, argv []string, stdout, stderr io.Writer) error
}

var podKind = schema.GroupVersionKind{Version: "v1", Kind: "Pod"}

// Exec implements Execer as the account the Writer writes as (the
// Framework's service account, impersonated, where it names one): the
// right it takes is create on pods/exec. It speaks WebSocket, falling back
// to SPDY for an API server or proxy that does not upgrade to it, as
// kubectl does.
func (w *Writer) Exec(ctx context.Context, namespace, pod, container string, argv []string, stdout, stderr io.Writer) error {
	kc, err := w.kindClient(podKind)
	if err != nil {
		return err
	}
	req := kc.Post().Namespace(namespace).Resource("pods").Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: container, Command: argv, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	spdy, err := remotecommand.NewSPDYExecutor(w.config, "POST", req.URL())
	if err != nil {
		return fmt.Errorf("exec into pod %s: %w", pod, err)
	}
	ws, err := remotecommand.NewWebSocketExecutor(w.config, "GET", req.URL().String())
	if err != nil {
		return fmt.Errorf("exec into pod %s: %w", pod, err)
	}
	exec, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return fmt.Errorf("exec into pod %s: %w", pod, err)
	}
	return exec.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: stdout, Stderr: stderr})
}

// ExitCode says whether err is a command's non-zero exit, and which.
func ExitCode(err error) (code int, ok bool) {
	var exit utilexec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitStatus(), true
	}
	return 0, false
}
