package tasks

import (
	"errors"
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	ctrl "sigs.k8s.io/controller-runtime"

	"operetta.dev/operetta/internal/plans"
)

// terminalError is a failure that retrying cannot fix: only a change of the
// instance, the Framework or a manual trigger can.
type terminalError struct{ err error }

func (e terminalError) Error() string { return e.err.Error() }
func (e terminalError) Unwrap() error { return e.err }

// Terminal marks a failure that retrying cannot fix.
func Terminal(format string, args ...any) error {
	return terminalError{err: fmt.Errorf(format, args...)}
}

// Classify is the one place that decides what a failure means:
//
//   - plans.Fatal (terminal): the request itself is wrong (400, 422, a render
//     error, a kind the API server does not serve): only a change of the
//     instance or the Framework helps.
//     So is new content refused because the instance's own namespace is
//     being deleted (applyChild marks it terminal): that namespace never
//     takes any again, and the instance goes with it; a cleanup plan that
//     must create something there stops, and its Stalled condition says how
//     to let the instance go.
//     So is a child whose object exists and belongs to another instance, or
//     to none (ownedNow): only its owner, or a change of the instance that
//     renders another name, frees the name.
//   - plans.Failed (transient): everything else, retried with backoff. That
//     includes other 403s, since a missing RBAC rule is fixed by granting it,
//     and a 404 such as a namespace that does not exist yet: both are fixed
//     without touching the instance.
//
// Waiting is not an error: tasks report it as an outcome.
func Classify(err error) plans.Result {
	var te terminalError
	if errors.As(err, &te) {
		return plans.Fatal
	}
	// A kind the API server does not serve yet (a ServiceMonitor before
	// Prometheus' CRDs are installed): the step waits for it; the CRD's
	// event wakes it (engine.watchCRDs).
	if meta.IsNoMatchError(err) {
		return plans.Waiting
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		switch code := int(status.Status().Code); code {
		case http.StatusForbidden, http.StatusNotFound, http.StatusConflict,
			http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusUnauthorized:
			return plans.Failed
		default:
			if code >= 400 && code < 500 {
				return plans.Fatal
			}
		}
	}
	return plans.Failed
}

// ResultOf maps a reconciler's error to its result: quiet failures (IsQuiet)
// are retried with backoff and without an error log; anything else is
// returned, and logged by the controller.
func ResultOf(err error) (ctrl.Result, error) {
	if IsQuiet(err) {
		return ctrl.Result{Requeue: true}, nil //nolint:staticcheck // a rate-limited retry, not an error to log
	}
	return ctrl.Result{}, err
}

// IsQuiet says whether a failure is expected in normal operation and retried
// without an error log: a conflict with a newer write, an object that
// vanished meanwhile, or a child its namespace's deletion took, which the
// API server will not let back in (the instance goes with the namespace,
// or, if it lives elsewhere, retries until the namespace is gone).
func IsQuiet(err error) bool {
	return apierrors.IsConflict(err) || apierrors.IsNotFound(err) ||
		apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause)
}

// outcome turns a step failure into the plan engine's terms.
func outcome(err error) plans.Outcome {
	return plans.Outcome{Result: Classify(err), Message: err.Error()}
}
