package v1alpha1

import (
	"fmt"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FrameworkRevision is one accepted generation of a Framework, kept as it
// was: what an instance that has not been moved on yet renders, across
// restarts of the manager, and what a rollback goes back to. operetta
// writes one when it installs a generation and deletes it past the
// Framework's spec.revisionHistoryLimit, never while an instance runs it.
// It is of operetta's own type rather than an apps/v1 ControllerRevision
// because a Framework is cluster-scoped and a ControllerRevision is not: it
// would need a namespace of operetta's choosing, and its data would have no
// schema.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=fwrev,categories=operetta
// +kubebuilder:printcolumn:name="Framework",type=string,JSONPath=`.framework`
// +kubebuilder:printcolumn:name="Revision",type=integer,JSONPath=`.revision`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.framework == oldSelf.framework && self.revision == oldSelf.revision && self.spec == oldSelf.spec",message="a revision does not change"
type FrameworkRevision struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Framework is the name of the Framework this is a revision of.
	// +kubebuilder:validation:MinLength=1
	Framework string `json:"framework"`

	// Revision is the Framework generation it was.
	// +kubebuilder:validation:Minimum=1
	Revision int64 `json:"revision"`

	// Spec is the Framework's spec at that generation.
	Spec FrameworkSpec `json:"spec"`
}

// +kubebuilder:object:root=true

// FrameworkRevisionList is a list of FrameworkRevisions.
type FrameworkRevisionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []FrameworkRevision `json:"items"`
}

// RevisionName is the name of Framework framework's revision of
// generation: <framework>-<generation>.
func RevisionName(framework string, generation int64) string {
	return fmt.Sprintf("%s-%d", framework, generation)
}

// RevisionOf reads the generation from the name of one of Framework
// framework's revisions.
func RevisionOf(framework, name string) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimPrefix(name, framework+"-"), 10, 64)
	return n, err == nil && strings.HasPrefix(name, framework+"-") && n > 0
}

func init() {
	SchemeBuilder.Register(&FrameworkRevision{}, &FrameworkRevisionList{})
}
