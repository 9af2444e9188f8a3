package kube

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
)

func TestClassify(t *testing.T) {
	gr := schema.GroupResource{Resource: "services"}
	tests := []struct {
		name string
		err  error
		want Class
	}{
		{"conflict", apierrors.NewConflict(gr, "s", errors.New("changed")), Transient},
		{"server timeout", apierrors.NewServerTimeout(gr, "create", 1), Transient},
		{"request timeout", apierrors.NewTimeoutError("slow", 1), Transient},
		{"too many requests", apierrors.NewTooManyRequests("slow down", 1), Transient},
		{"internal error", apierrors.NewInternalError(errors.New("boom")), Transient},
		{"unavailable", apierrors.NewServiceUnavailable("later"), Transient},
		{"a network error", errors.New("connection refused"), Transient},
		{"invalid", apierrors.NewInvalid(schema.GroupKind{Kind: "Service"}, "s", field.ErrorList{field.Invalid(field.NewPath("spec", "ports"), 0, "bad")}), Terminal},
		// RBAC granted later, or a namespace created later, fixes these
		// without a change to the instance.
		{"forbidden", apierrors.NewForbidden(gr, "s", errors.New("no")), Transient},
		// Another namespace being deleted may come back; the instance's
		// own is marked terminal where the child is applied.
		{"a namespace being deleted", fmt.Errorf("applying Service s: %w", namespaceTerminating(gr, "s")), Transient},
		{"namespace not found", apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, "later"), Transient},
		{"unauthorized", apierrors.NewUnauthorized("token expired"), Transient},
		{"unprocessable", apierrors.NewInvalid(schema.GroupKind{Kind: "ConfigMap"}, "c", field.ErrorList{field.TooLong(field.NewPath("data"), "", 10)}), Terminal},
		{"method not supported", apierrors.NewMethodNotSupported(gr, "patch"), Terminal},
		{"bad request", apierrors.NewBadRequest("no"), Terminal},
		// Not served yet: its CRD may come (Prometheus installed later).
		{"a kind not served", &meta.NoKindMatchError{GroupKind: schema.GroupKind{Kind: "Nope"}}, Waiting},
		{"a kind not served, wrapped", fmt.Errorf("resource x: %w", &meta.NoKindMatchError{GroupKind: schema.GroupKind{Kind: "Nope"}}), Waiting},
		{"a part of the manager not running yet", fmt.Errorf("starting the loop: %w", Wait("not leading")), Waiting},
		{"render error", Fail("rendering resource x: %w", errors.New("no such key")), Terminal},
		{"wrapped invalid", fmt.Errorf("applying Service s: %w", apierrors.NewInvalid(schema.GroupKind{Kind: "Service"}, "s", nil)), Terminal},
		{"wrapped conflict", fmt.Errorf("applying Service s: %w", apierrors.NewConflict(gr, "s", errors.New("x"))), Transient},
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
		if got := Quiet(tt.err); got != tt.want {
			t.Errorf("%s: Quiet = %v, want %v", tt.name, got, tt.want)
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

func TestImmutableField(t *testing.T) {
	uid := apierrors.NewInvalid(schema.GroupKind{Kind: "ConfigMap"}, "c", field.ErrorList{field.Invalid(field.NewPath("metadata", "uid"), "x", "field is immutable")})
	other := apierrors.NewInvalid(schema.GroupKind{Kind: "ConfigMap"}, "c", field.ErrorList{field.Invalid(field.NewPath("data"), "x", "bad")})
	if !ImmutableField(fmt.Errorf("applying: %w", uid), "metadata.uid") || ImmutableField(other, "metadata.uid") || ImmutableField(errors.New("x"), "metadata.uid") {
		t.Fatal("ImmutableField must find metadata.uid's cause, and only it")
	}
}
