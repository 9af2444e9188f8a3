// Package v1alpha1 holds operetta's own API: the cluster-scoped Framework that a
// platform team writes, and the status types every generated kind shares.
//
// +kubebuilder:object:generate=true
// +groupName=operetta.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of operetta's own API.
	GroupVersion = schema.GroupVersion{Group: "operetta.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the types of this package with a scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
