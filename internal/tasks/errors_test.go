package tasks

import (
	"errors"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"operetta.dev/operetta/internal/plans"
)

func TestClassify(t *testing.T) {
	gr := schema.GroupResource{Resource: "services"}
	tests := []struct {
		name string
		err  error
		want plans.Result
	}{
		{"conflict", apierrors.NewConflict(gr, "s", errors.New("changed")), plans.Failed},
		{"server timeout", apierrors.NewServerTimeout(gr, "create", 1), plans.Failed},
		{"request timeout", apierrors.NewTimeoutError("slow", 1), plans.Failed},
		{"too many requests", apierrors.NewTooManyRequests("slow down", 1), plans.Failed},
		{"internal error", apierrors.NewInternalError(errors.New("boom")), plans.Failed},
		{"unavailable", apierrors.NewServiceUnavailable("later"), plans.Failed},
		{"a network error", errors.New("connection refused"), plans.Failed},
		{"invalid", apierrors.NewInvalid(schema.GroupKind{Kind: "Service"}, "s", field.ErrorList{field.Invalid(field.NewPath("spec", "ports"), 0, "bad")}), plans.Fatal},
		// RBAC granted later, or a namespace created later, fixes these
		// without a change to the instance.
		{"forbidden", apierrors.NewForbidden(gr, "s", errors.New("no")), plans.Failed},
		// Another namespace being deleted may come back; the instance's
		// own is marked terminal where the child is applied.
		{"a namespace being deleted", fmt.Errorf("applying Service s: %w", namespaceTerminating(gr, "s")), plans.Failed},
		{"namespace not found", apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, "later"), plans.Failed},
		{"unauthorized", apierrors.NewUnauthorized("token expired"), plans.Failed},
		{"unprocessable", apierrors.NewInvalid(schema.GroupKind{Kind: "ConfigMap"}, "c", field.ErrorList{field.TooLong(field.NewPath("data"), "", 10)}), plans.Fatal},
		{"method not supported", apierrors.NewMethodNotSupported(gr, "patch"), plans.Fatal},
		{"bad request", apierrors.NewBadRequest("no"), plans.Fatal},
		// Not served yet: its CRD may come (Prometheus installed later).
		{"a kind not served", &meta.NoKindMatchError{GroupKind: schema.GroupKind{Kind: "Nope"}}, plans.Waiting},
		{"a kind not served, wrapped", fmt.Errorf("resource x: %w", &meta.NoKindMatchError{GroupKind: schema.GroupKind{Kind: "Nope"}}), plans.Waiting},
		{"render error", Terminal("rendering resource x: %w", errors.New("no such key")), plans.Fatal},
		{"wrapped invalid", fmt.Errorf("applying Service s: %w", apierrors.NewInvalid(schema.GroupKind{Kind: "Service"}, "s", nil)), plans.Fatal},
		{"wrapped conflict", fmt.Errorf("applying Service s: %w", apierrors.NewConflict(gr, "s", errors.New("x"))), plans.Failed},
	}
	for _, tt := range tests {
		if got := Classify(tt.err); got != tt.want {
			t.Errorf("%s: Classify = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestQuietFailuresAreThoseOfNormalOperation(t *testing.T) {
	gr := schema.GroupResource{Resource: "configmaps"}
	terminating := namespaceTerminating(gr, "page")
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"conflict", apierrors.NewConflict(gr, "page", errors.New("changed")), true},
		{"gone", apierrors.NewNotFound(gr, "page"), true},
		{"its namespace being deleted", fmt.Errorf("applying ConfigMap page: %w", terminating), true},
		{"forbidden by RBAC", apierrors.NewForbidden(gr, "page", errors.New("no")), false},
		{"invalid", apierrors.NewInvalid(schema.GroupKind{Kind: "ConfigMap"}, "page", nil), false},
		{"internal error", apierrors.NewInternalError(errors.New("boom")), false},
	}
	for _, tt := range tests {
		if got := IsQuiet(tt.err); got != tt.want {
			t.Errorf("%s: IsQuiet = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// namespaceTerminating is the API server's refusal of new content in a
// namespace being deleted.
func namespaceTerminating(gr schema.GroupResource, name string) error {
	err := apierrors.NewForbidden(gr, name, errors.New("unable to create new content in namespace apps because it is being terminated"))
	err.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: corev1.NamespaceTerminatingCause, Message: "namespace apps is being terminated", Field: "metadata.namespace"}}
	return err
}
