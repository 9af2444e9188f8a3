package crdgen

import (
	"fmt"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/conditions"
)

// Owner returns the Framework that generated crd, "" for a CRD operetta did
// not create, and ifNone when there is no CRD.
func Owner(crd *apiextensionsv1.CustomResourceDefinition, ifNone string) string {
	switch {
	case crd == nil:
		return ifNone
	case crd.Labels[v1alpha1.LabelManagedBy] != v1alpha1.ManagedByValue:
		return ""
	default:
		return crd.Labels[v1alpha1.LabelFramework]
	}
}

// Against checks generated, the CRD of Framework fw, against existing, the
// one the cluster has (nil: none), as the Framework controller does before
// applying it, and as `kubectl operetta verify --existing` and `kubectl
// operetta diff` do: a CRD another owner holds is a conflict, and changes
// that would break existing instances are refused unless fw's
// operetta.dev/allow-breaking-changes annotation allows them. It returns the
// condition's reason and message, or "" when generated may be applied.
func Against(existing, generated *apiextensionsv1.CustomResourceDefinition, fw *v1alpha1.Framework) (reason conditions.Reason, message string) {
	framework, allowBreaking := fw.Name, fw.Annotations[v1alpha1.AnnotationAllowBreakingChanges] == "true"
	if owner := Owner(existing, framework); owner != framework {
		if owner == "" {
			return conditions.CRDConflict, fmt.Sprintf("CRD %s exists and was not created by operetta; operetta never adopts or changes it: rename the kind or group", generated.Name)
		}
		return conditions.CRDConflict, fmt.Sprintf("CRD %s belongs to Framework %q; two Frameworks cannot generate the same kind", generated.Name, owner)
	}
	if existing == nil || allowBreaking {
		return "", ""
	}
	if changes := BreakingChanges(existing, generated); len(changes) > 0 {
		return conditions.BreakingChange, fmt.Sprintf(
			"this generation would break existing instances, so the previous one keeps running: %s; to apply it anyway, annotate the Framework %s=\"true\"",
			strings.Join(changes, "; "), v1alpha1.AnnotationAllowBreakingChanges)
	}
	return "", ""
}
