package reconcile

import (
	"errors"
	"fmt"
	"net/http"

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

// terminal marks err as one retrying cannot fix.
func terminal(format string, args ...any) error {
	return terminalError{err: fmt.Errorf(format, args...)}
}

// classify is the one place that decides whether a failure is transient
// (retried with backoff) or terminal (the plan stops with FATAL_ERROR).
// The API server refusing a request is terminal, except for the refusals that
// say "later": conflicts, timeouts and throttling.
func classify(err error) plans.Result {
	var te terminalError
	if errors.As(err, &te) || meta.IsNoMatchError(err) {
		return plans.Fatal
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		code := int(status.Status().Code)
		switch {
		case code == http.StatusConflict, code == http.StatusRequestTimeout, code == http.StatusTooManyRequests:
			return plans.Failed
		case code >= 400 && code < 500:
			return plans.Fatal
		}
	}
	return plans.Failed
}

// outcome turns a step failure into the plan engine's terms.
func outcome(err error) plans.Outcome {
	return plans.Outcome{Result: classify(err), Message: err.Error()}
}

// retryOrFail maps a reconciler's error to its result: conflicts and vanished
// objects are retried without an error log; anything else is returned.
func retryOrFail(err error) (ctrl.Result, error) {
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		return ctrl.Result{Requeue: true}, nil //nolint:staticcheck // a rate-limited retry, not an error to log
	}
	return ctrl.Result{}, err
}
