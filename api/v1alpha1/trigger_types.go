package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Trigger runs a plan on an instance when the data of an object it watches
// changes: a renewed TLS Secret, a shared ConfigMap edited.
type Trigger struct {
	// Name identifies the trigger in instances' status and events.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// Plan is the plan it runs.
	Plan string `json:"plan"`

	// Watch names the objects whose data it watches.
	Watch Watch `json:"watch"`
}

// Watch names objects in the instance's own namespace, of one namespaced
// kind: by name, or by a label selector. A change of their data (all but
// metadata and status: a Secret's data, a ConfigMap's data, a custom
// object's spec) is a change; a label, an annotation or a status is not.
type Watch struct {
	// APIVersion of the watched kind, "v1" for a Secret.
	// +kubebuilder:validation:MinLength=1
	APIVersion string `json:"apiVersion"`

	// Kind watched, a namespaced kind.
	// +kubebuilder:validation:MinLength=1
	Kind string `json:"kind"`

	// Name of the one object watched: a name, or an expression over the
	// instance, "${instance.spec.tlsSecret}". Exactly one of name and
	// selector is set.
	// +optional
	Name string `json:"name,omitempty"`

	// Selector picks the objects watched by their labels; any of them
	// changing, appearing or going away is a change.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
}

// TriggerStatus is where one trigger stands on an instance.
type TriggerStatus struct {
	// Name of the trigger.
	Name string `json:"name"`
	// Watching says what it watches on this instance: "Secret zk-tls", or
	// the kind and selector.
	// +optional
	Watching string `json:"watching,omitempty"`
	// Digest of the watched data as last seen: a short hash, salted with
	// each object's uid, that tells a change and is no copy of the data.
	// "" when nothing it watches exists.
	// +optional
	Digest string `json:"digest,omitempty"`
	// LastTriggerTime is when a change last triggered the plan.
	// +optional
	LastTriggerTime *metav1.Time `json:"lastTriggerTime,omitempty"`
	// LastRunUID is the plan run a change last started; a change queued
	// behind another plan has none until it starts (the plan's status then
	// names this trigger as its cause).
	// +optional
	LastRunUID types.UID `json:"lastRunUID,omitempty"`
	// LastOutcome of the last change: Started, Queued, or Invalid (the
	// name did not render).
	// +optional
	LastOutcome TriggerOutcome `json:"lastOutcome,omitempty"`
	// Message says why it was queued or invalid.
	// +optional
	Message string `json:"message,omitempty"`
}

// TriggerOutcome is what became of a change a trigger saw.
type TriggerOutcome string

// The outcomes of a change.
const (
	TriggerStarted TriggerOutcome = "Started"
	TriggerQueued  TriggerOutcome = "Queued"
	TriggerInvalid TriggerOutcome = "Invalid"
)
