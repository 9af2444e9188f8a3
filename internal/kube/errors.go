package kube

import (
	"errors"
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	ctrl "sigs.k8s.io/controller-runtime"
)

// Class is what a failure means for whoever met it.
type Class int

const (
	// Transient: retried with backoff; time, or someone else, fixes it.
	Transient Class = iota
	// Terminal: retrying cannot fix it; only a change of the instance, the
	// Framework or a manual trigger can.
	Terminal
	// Waiting: something not there yet that arrives by itself, with an
	// event that wakes the waiter: a kind the API server does not serve yet
	// (its CRD's event), or a part of the manager that is not running yet
	// (marked with Wait where it is met, as the engine's ErrNotLeading).
	Waiting
)

// terminalError is a failure marked terminal where it was met.
type terminalError struct{ err error }

func (e terminalError) Error() string { return e.err.Error() }
func (e terminalError) Unwrap() error { return e.err }

// waitError is a failure marked as waiting where it was met.
type waitError struct{ err error }

func (e waitError) Error() string { return e.err.Error() }
func (e waitError) Unwrap() error { return e.err }

// Wait marks a failure that is a wait for something arriving by itself.
func Wait(msg string) error { return waitError{err: errors.New(msg)} }

// Fail marks a failure that retrying cannot fix.
func Fail(format string, args ...any) error {
	return terminalError{err: fmt.Errorf(format, args...)}
}

// Classify is the one place that decides what a failure means:
//
//   - Terminal: marked so where it was met (Fail: a render error, new
//     content refused by the instance's own namespace being deleted, a
//     child whose object belongs to another), or a request the API server
//     refuses as wrong (400, 422, other 4xx below).
//   - Waiting: a kind the API server does not serve (a ServiceMonitor
//     before Prometheus' CRDs are installed), or marked so where it was
//     met (Wait).
//   - Transient: everything else, including 403 (a missing RBAC rule is
//     fixed by granting it), 404 (a namespace created later), 401, 409, 408
//     and 429, 5xx and network errors: all fixed without touching the
//     instance.
func Classify(err error) Class {
	var te terminalError
	if errors.As(err, &te) {
		return Terminal
	}
	var we waitError
	if NotServed(err) || errors.As(err, &we) {
		return Waiting
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		switch code := int(status.Status().Code); code {
		case http.StatusForbidden, http.StatusNotFound, http.StatusConflict,
			http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusUnauthorized:
			return Transient
		default:
			if code >= 400 && code < 500 {
				return Terminal
			}
		}
	}
	return Transient
}

// Quiet says whether a failure is expected in normal operation and retried
// without an error log: a conflict with a newer write, an object that
// vanished meanwhile, or a child its namespace's deletion took, which the
// API server will not let back in (the instance goes with the namespace,
// or, if it lives elsewhere, retries until the namespace is gone).
func Quiet(err error) bool {
	return Conflict(err) || Gone(err) || NamespaceTerminating(err)
}

// ResultOf maps a reconciler's error to its result: quiet failures are
// retried with backoff and without an error log; anything else is returned,
// and logged by the controller.
func ResultOf(err error) (ctrl.Result, error) {
	if Quiet(err) {
		return Retry(), nil
	}
	return ctrl.Result{}, err
}

// Retry is a reconciler's result for "again, with the queue's backoff",
// when the failure is already told elsewhere (in status) or not worth a log.
func Retry() ctrl.Result {
	return ctrl.Result{Requeue: true} //nolint:staticcheck // a rate-limited retry; controller-runtime offers no other without an error log
}

// Exists says whether err is the API server's "already exists": a create
// that lost a race with another.
func Exists(err error) bool { return apierrors.IsAlreadyExists(err) }

// Gone says whether err is the API server's "not found".
func Gone(err error) bool { return apierrors.IsNotFound(err) }

// NotServed says whether err says the API server serves no such kind.
func NotServed(err error) bool { return meta.IsNoMatchError(err) }

// Conflict says whether err is a 409: a newer version, or a precondition
// (resourceVersion, UID) that did not hold.
func Conflict(err error) bool { return apierrors.IsConflict(err) }

// NamespaceTerminating says whether the API server refused new content
// because the namespace is being deleted.
func NamespaceTerminating(err error) bool {
	return apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause)
}

// ImmutableField says whether err is a 422 for changing field (say
// "metadata.uid") of an existing object.
func ImmutableField(err error, field string) bool {
	if !apierrors.IsInvalid(err) {
		return false
	}
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Details == nil {
		return false
	}
	for _, c := range status.Status().Details.Causes {
		if c.Field == field {
			return true
		}
	}
	return false
}
