package v1alpha1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Framework is a declarative operator package. operetta turns it into a
// package-specific kind (its own CRD), runs a reconcile loop for that kind and
// drives every instance through the Framework's plans.
//
// The schema checks only the shape; the meaning (references between tasks,
// plans and resources, CEL expressions, parameter types) is checked by the
// controller, which reports every problem with its field path in the Ready
// condition and installs nothing until the Framework is valid.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=fw,categories=operetta
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Kind",type=string,JSONPath=`.spec.names.kind`
// +kubebuilder:printcolumn:name="Group",type=string,JSONPath=`.spec.names.group`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Instances",type=integer,JSONPath=`.status.instances.total`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Instances Ready",type=integer,JSONPath=`.status.instances.ready`,priority=1
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
type Framework struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec FrameworkSpec `json:"spec"`
	// Status is written by operetta. Its default makes a Framework that
	// operetta has not reconciled yet read as in progress to kstatus
	// (observedGeneration 0 is behind every generation), not as current.
	// +kubebuilder:default={observedGeneration: 0}
	Status FrameworkStatus `json:"status,omitempty"`
}

// FrameworkSpec describes the generated kind and how its instances are run.
type FrameworkSpec struct {
	// Names of the generated kind.
	Names Names `json:"names"`

	// AppVersion is the version of the packaged software, exposed to
	// expressions as framework.appVersion.
	// +optional
	AppVersion string `json:"appVersion,omitempty"`

	// Parameters become the generated kind's spec: one field each, with its
	// type, default and validation.
	// +optional
	Parameters []Parameter `json:"parameters,omitempty"`

	// Validations are CEL rules over the generated kind's spec, enforced by the
	// API server when an instance is written.
	// +optional
	Validations []Validation `json:"validations,omitempty"`

	// Resources are templates of the objects an instance owns, addressed by id.
	// +optional
	Resources []Resource `json:"resources,omitempty"`

	// Tasks are the units plans are made of.
	// +optional
	Tasks []Task `json:"tasks,omitempty"`

	// Plans by name. "deploy" runs when an instance is created and is required;
	// "update" runs when a parameter changes (deploy if there is no update).
	Plans map[string]Plan `json:"plans"`

	// ServiceAccountName, if set, is the account every child of every
	// instance is applied, read and deleted as (impersonation): the Framework
	// can do no more than that account may.
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// ServiceAccountNamespace is the namespace of ServiceAccountName.
	// +optional
	ServiceAccountNamespace string `json:"serviceAccountNamespace,omitempty"`

	// Allow widens where templates may create objects. By default they may
	// create only namespaced objects, in the instance's own namespace.
	// +optional
	Allow Allow `json:"allow,omitempty"`

	// Schedules run plans at the times of cron schedules.
	// +listType=map
	// +listMapKey=name
	// +optional
	Schedules []Schedule `json:"schedules,omitempty"`

	// Triggers run plans when the data of objects an instance names
	// changes.
	// +listType=map
	// +listMapKey=name
	// +optional
	Triggers []Trigger `json:"triggers,omitempty"`

	// Rollout bounds how a Framework change reaches existing instances.
	// +optional
	Rollout Rollout `json:"rollout,omitempty"`

	// RevisionHistoryLimit is how many of the Framework's revisions are
	// kept (FrameworkRevision objects), the newest first, besides those
	// instances still run: what a rollback can go back to.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:default=10
	// +optional
	RevisionHistoryLimit *int32 `json:"revisionHistoryLimit,omitempty"`

	// DeletionPolicy says what deleting the Framework does to its kind:
	// Retain (default) stops the loop and leaves the CRD and the instances,
	// for a Framework of the same kind to take over; Delete deletes every
	// instance (running its cleanup plan), then the CRD.
	// +kubebuilder:validation:Enum=Retain;Delete
	// +kubebuilder:default=Retain
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// Status projects values onto every instance's status: field name →
	// "${expr}" over instance and resources.<id>. The field's type in the
	// generated schema is the expression's type; it is recomputed on every
	// reconcile.
	// +optional
	Status map[string]string `json:"status,omitempty"`

	// KUDO, when set, marks what goTemplate resources render with KUDO's
	// labels (heritage, kudo.dev/operator, kudo.dev/instance) and
	// annotations, and names the operator their templates see. Without it
	// .OperatorName is the Framework's name.
	// +optional
	KUDO *KUDO `json:"kudo,omitempty"`

	// PrinterColumns are added to the generated kind's `kubectl get` output,
	// after operetta's own Ready, Plan and Status columns.
	// +optional
	PrinterColumns []PrinterColumn `json:"printerColumns,omitempty"`

	// Versions are the kind's other versions, served beside
	// names.version, which is the one stored and the one templates and
	// plans are written against. Each converts to and from the next in
	// this list, and the last to and from names.version, by CEL mappings
	// a conversion webhook of the manager runs.
	// +listType=map
	// +listMapKey=name
	// +optional
	Versions []Version `json:"versions,omitempty"`
}

// Version is one more version of the generated kind: its own parameters
// (its spec's schema) and printer columns, and how it converts.
type Version struct {
	// Name of the version, v1beta1 say.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`

	// Served says whether the API server serves it; true if unset.
	// +optional
	Served *bool `json:"served,omitempty"`

	// Deprecated makes the API server warn every client that uses it,
	// with DeprecationWarning if given.
	// +optional
	Deprecated bool `json:"deprecated,omitempty"`
	// +optional
	DeprecationWarning string `json:"deprecationWarning,omitempty"`

	// Parameters are this version's spec, as spec.parameters are the
	// stored version's.
	// +optional
	Parameters []Parameter `json:"parameters,omitempty"`

	// PrinterColumns of this version, after operetta's own.
	// +optional
	PrinterColumns []PrinterColumn `json:"printerColumns,omitempty"`

	// ToNext maps this version's spec to the next version's: each key is
	// a field path of the next version's spec ("replicas",
	// "resources.memory"), each value one ${...} over self, this version's
	// spec. A field of the next version that no key names is carried
	// across when this version has it with the same type.
	// +optional
	ToNext map[string]string `json:"toNext,omitempty"`

	// FromNext maps the next version's spec back to this one's, the same
	// way.
	// +optional
	FromNext map[string]string `json:"fromNext,omitempty"`
}

// Allow lists what templates may create beyond namespaced objects in the
// instance's namespace.
type Allow struct {
	// Namespaces, besides the instance's, that templates may name in
	// metadata.namespace.
	// +optional
	Namespaces []string `json:"namespaces,omitempty"`

	// ClusterScoped kinds templates may create.
	// +optional
	ClusterScoped []metav1.GroupKind `json:"clusterScoped,omitempty"`
}

// Rollout bounds how many instances run the plan a Framework change
// triggers at the same time.
type Rollout struct {
	// MaxConcurrent instances upgrade at once; the others wait their turn.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:default=5
	// +optional
	MaxConcurrent int32 `json:"maxConcurrent,omitempty"`

	// Paused admits no instance to a newer revision while true; those
	// admitted before go on. kubectl operetta rollout pause|resume.
	// +optional
	Paused bool `json:"paused,omitempty"`

	// Selector admits only the instances whose labels match it to a newer
	// revision: a canary. Remove it to let the others follow.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`

	// MaxFailures halts the rollout once that many instances failed for
	// good (FATAL_ERROR) on the newer revision: no further instance is
	// admitted, and the Framework is Stalled (RolloutHalted), naming them,
	// until a change of it (a fix, or kubectl operetta rollout undo).
	// +kubebuilder:validation:Minimum=1
	// +optional
	MaxFailures *int32 `json:"maxFailures,omitempty"`

	// ProgressDeadline halts the rollout, as maxFailures does, when an
	// instance admitted to the newer revision has not reached it (its plan
	// done) that long after the manager started rolling it out, for
	// example 30m.
	// +optional
	ProgressDeadline *metav1.Duration `json:"progressDeadline,omitempty"`
}

// RolloutStatus is how far the current generation has reached the instances.
type RolloutStatus struct {
	// Generation of the Framework being rolled out.
	Generation int64 `json:"generation"`
	// Updated instances run this generation and its plan is done.
	Updated int32 `json:"updated"`
	// Failed instances run this generation and its plan failed fatally:
	// they are settled, but not updated.
	// +optional
	Failed int32 `json:"failed,omitempty"`
	// Total instances of the kind.
	Total int32 `json:"total"`
}

// InstanceCounts counts the instances of a generated kind by their Ready
// condition, as the Framework's loop last reconciled them.
type InstanceCounts struct {
	// Total instances of the kind.
	Total int32 `json:"total"`
	// Ready instances: Ready=True.
	Ready int32 `json:"ready"`
	// NotReady instances: a plan runs or retries, or a child is not healthy.
	NotReady int32 `json:"notReady"`
	// Failed instances: Stalled, a plan or a child failed for good.
	Failed int32 `json:"failed"`
}

// DeletionPolicy is what deleting a Framework does to its kind.
type DeletionPolicy string

// The deletion policies.
const (
	DeletionRetain DeletionPolicy = "Retain"
	DeletionDelete DeletionPolicy = "Delete"
)

// Names of the generated kind, as in a CustomResourceDefinition.
type Names struct {
	// Group of the generated kind, for example streaming.example.com.
	Group string `json:"group"`

	// Kind of the generated kind, in CamelCase, for example Kafka.
	Kind string `json:"kind"`

	// Plural resource name; defaults to the lowercased kind with an "s".
	// +optional
	Plural string `json:"plural,omitempty"`

	// Version of the generated kind.
	// +kubebuilder:default=v1
	// +optional
	Version string `json:"version,omitempty"`

	// ShortNames for kubectl.
	// +optional
	ShortNames []string `json:"shortNames,omitempty"`
}

// ParameterType is the type of a parameter: string, integer, number, boolean,
// object or array.
type ParameterType string

// The parameter types a Framework may use.
const (
	TypeString  ParameterType = "string"
	TypeInteger ParameterType = "integer"
	TypeNumber  ParameterType = "number"
	TypeBoolean ParameterType = "boolean"
	TypeObject  ParameterType = "object"
	TypeArray   ParameterType = "array"
)

// Parameter is one field of the generated kind's spec.
type Parameter struct {
	// Name of the field in the generated kind's spec.
	Name string `json:"name"`

	// Type is one of string, integer, number, boolean, object, array.
	Type ParameterType `json:"type"`

	// Description shows in `kubectl explain`.
	// +optional
	Description string `json:"description,omitempty"`

	// Default is applied by the API server when the field is omitted.
	// +optional
	Default *apiextensionsv1.JSON `json:"default,omitempty"`

	// Enum lists the allowed values.
	// +optional
	Enum []apiextensionsv1.JSON `json:"enum,omitempty"`

	// Minimum value of an integer or number.
	// +optional
	Minimum *float64 `json:"minimum,omitempty"`

	// Maximum value of an integer or number.
	// +optional
	Maximum *float64 `json:"maximum,omitempty"`

	// Pattern is a regular expression a string must match.
	// +optional
	Pattern string `json:"pattern,omitempty"`

	// Required parameters must be set by every instance.
	// +optional
	Required bool `json:"required,omitempty"`

	// Immutable parameters cannot change once an instance is created.
	// +optional
	Immutable bool `json:"immutable,omitempty"`

	// Trigger names the plan a change of this parameter runs; by default
	// "update" if the Framework has one, else "deploy".
	// +optional
	Trigger string `json:"trigger,omitempty"`

	// Schema is an OpenAPI v3 schema for an object or array parameter: the
	// object's properties or the array's items. Without it, an object keeps
	// any fields and an array any items.
	// +optional
	Schema *apiextensionsv1.JSON `json:"schema,omitempty"`
}

// Validation is a CEL rule over the generated kind's spec (`self`).
type Validation struct {
	// Rule is a CEL expression that must be true, for example
	// "self.replicas % 2 == 1".
	Rule string `json:"rule"`

	// Message is shown when the rule is false.
	// +optional
	Message string `json:"message,omitempty"`
}

// Resource is a template of an object an instance owns.
type Resource struct {
	// ID names the resource in tasks and expressions (resources.<id>).
	ID string `json:"id"`

	// Template is the object, with ${...} CEL expressions. A value that is
	// exactly one expression keeps the expression's type. A resource has a
	// template or a goTemplate.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	// +optional
	Template *runtime.RawExtension `json:"template,omitempty"`

	// GoTemplate is the resource written as a Go template, as KUDO packages
	// write theirs: it renders to zero or more objects.
	// +optional
	GoTemplate *GoTemplate `json:"goTemplate,omitempty"`

	// ReadyWhen is a CEL expression, written as ${...}, that decides when the
	// object is ready instead of its kstatus health, for example
	// "${resources.zk.status.readyReplicas == instance.spec.replicas}".
	// Only for a template: a goTemplate's objects are ready by kstatus. For
	// a collection (forEach) it decides for the whole collection, which
	// resources.<id> is then: the list of its objects.
	// +optional
	ReadyWhen string `json:"readyWhen,omitempty"`

	// ForEach makes the template a collection: one object per element of
	// a list (or map), or per combination of elements when there are
	// several iterators (their product, the first varying slowest). Each
	// element is bound to the iterator's name in the template, typed as
	// the list's elements are, and its position (a map's key) to the name
	// followed by "Index": "${topic.name}", "${topicIndex}".
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=4
	// +optional
	ForEach []Iterator `json:"forEach,omitempty"`

	// ExternalRef makes the resource an object operetta reads and never
	// writes or deletes: a shared ConfigMap of settings, a Secret the
	// platform team provides. An Apply task of it waits until it exists;
	// after that resources.<id> is the object (a list, with a selector).
	// A resource has a template, a goTemplate or an externalRef.
	// +optional
	ExternalRef *ExternalRef `json:"externalRef,omitempty"`
}

// ExternalRef names an object, or objects, a Framework reads.
type ExternalRef struct {
	// APIVersion of the kind, "v1" for a ConfigMap.
	// +kubebuilder:validation:MinLength=1
	APIVersion string `json:"apiVersion"`
	// Kind of the object.
	// +kubebuilder:validation:MinLength=1
	Kind string `json:"kind"`
	// Name of the object: a name, or an expression over the instance.
	// Exactly one of name and selector is set.
	// +optional
	Name string `json:"name,omitempty"`
	// Namespace of the object: the instance's if unset; another only if
	// spec.allow.namespaces lists it. It may be an expression.
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// Selector picks objects by their labels, in the namespace: then
	// resources.<id> is the list of them, by name, and none is no wait.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
}

// Iterator binds each element of a collection to a name.
type Iterator struct {
	// Name of the element's variable: a CEL identifier.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// In is the list or map iterated over: "${instance.spec.topics}".
	// +kubebuilder:validation:MinLength=1
	In string `json:"in"`
}

// GoTemplate is a resource rendered the way KUDO rendered its packages: Go
// text/template with sprig's functions (minus those that read the
// environment, the file system, the clock or randomness) and toYaml,
// missing keys an error, every scalar parameter a string. The variables are
// .Name and .Namespace (the instance's), .OperatorName, .OperatorVersion,
// .AppVersion, .PlanName, .PhaseName, .StepName, .Params and .Pipes. The
// output is parsed as YAML documents: each non-empty one is an object.
type GoTemplate struct {
	// File names the template in error messages, for example
	// templates/statefulset.yaml.
	// +optional
	File string `json:"file,omitempty"`

	// Text of the template.
	Text string `json:"text"`

	// Kinds are the kinds of objects the template may render. operetta
	// watches children by kind, so a rendered object of another kind is an
	// error.
	// +kubebuilder:validation:MinItems=1
	Kinds []ChildKind `json:"kinds"`
}

// ChildKind is a kind of object, by API version and kind.
type ChildKind struct {
	// APIVersion of the kind, for example apps/v1.
	APIVersion string `json:"apiVersion"`
	// Kind, for example StatefulSet.
	Kind string `json:"kind"`
}

// KUDO says how a Framework imported from a KUDO package renders: the
// operator's name and version its Go templates see, and KUDO's labels and
// annotations on what they render, which some packages' selectors match.
type KUDO struct {
	// OperatorName is .OperatorName in Go templates.
	OperatorName string `json:"operatorName"`
	// OperatorVersion is .OperatorVersion in Go templates.
	// +optional
	OperatorVersion string `json:"operatorVersion,omitempty"`
}

// TaskKind is what a task does.
type TaskKind string

// The task kinds.
const (
	// TaskApply server-side applies resources and waits until they are healthy.
	TaskApply TaskKind = "Apply"
	// TaskDelete deletes resources and waits until they are gone.
	TaskDelete TaskKind = "Delete"
	// TaskWait waits until a condition holds.
	TaskWait TaskKind = "Wait"
	// TaskToggle applies resources while a condition holds and deletes them
	// while it does not.
	TaskToggle TaskKind = "Toggle"
	// TaskInstance creates or updates an instance of another Framework's kind
	// and waits until it is Ready.
	TaskInstance TaskKind = "Instance"
	// TaskDummy does nothing: done at once if its done field is true, else
	// it blocks its plan for good. KUDO packages run a blocking one in the
	// trigger plan of a parameter that may not change.
	TaskDummy TaskKind = "Dummy"
	// TaskPipe runs a pod and copies files its init container wrote into
	// Secrets or ConfigMaps, as KUDO's Pipe task did.
	TaskPipe TaskKind = "Pipe"
)

// Task is a unit of work in a plan step.
type Task struct {
	// Name of the task, used by plan steps.
	Name string `json:"name"`

	// Kind of the task: Apply, Delete, Wait, Toggle, Instance, Dummy or
	// Pipe.
	Kind TaskKind `json:"kind"`

	// Done says whether a Dummy task finishes at once (true) or blocks its
	// plan (false).
	// +optional
	Done bool `json:"done,omitempty"`

	// Resources are the ids of the resources an Apply, Delete or Toggle task
	// works on.
	// +optional
	Resources []string `json:"resources,omitempty"`

	// When is the condition of a Toggle task, as ${...}: its resources are
	// applied while it is true and deleted while it is false.
	// +optional
	When string `json:"when,omitempty"`

	// Condition of a Wait task, as ${...}: the task is done once it is true.
	// +optional
	Condition string `json:"condition,omitempty"`

	// Timeout of a Wait or Instance task, from the step's first run, for
	// example 5m. Exceeding it is FATAL_ERROR.
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// Framework names the Framework whose kind an Instance task creates.
	// +optional
	Framework string `json:"framework,omitempty"`

	// InstanceName is the name of the instance an Instance task creates, a
	// template; default "${instance.metadata.name}-<task name>".
	// +optional
	InstanceName string `json:"instanceName,omitempty"`

	// Spec is the spec of the instance an Instance task creates, with ${...}
	// expressions.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	// +optional
	Spec *runtime.RawExtension `json:"spec,omitempty"`

	// Pod is the id of the resource a Pipe task renders its pod from: one
	// init container, which writes the files into the one emptyDir volume
	// it mounts, and no other container.
	// +optional
	Pod string `json:"pod,omitempty"`

	// Pipe lists the files a Pipe task copies out of its pod, each into a
	// Secret or ConfigMap of its own.
	// +optional
	// +listType=map
	// +listMapKey=key
	Pipe []PipeFile `json:"pipe,omitempty"`
}

// PipeFile is one file a Pipe task copies out of its pod. The object it
// lands in is named <instance>.<plan>.<phase>.<step>.<task>.<key>, each part
// lower case and stripped of what is not a letter or a digit, as KUDO named
// it; Go templates read that name as .Pipes.<key>, in a plan that runs the
// task.
type PipeFile struct {
	// File is the absolute path the init container writes, under the
	// mount path of the pod's emptyDir volume; its base name is the key
	// of the data in the Secret or ConfigMap.
	// +kubebuilder:validation:MinLength=2
	File string `json:"file"`
	// Kind of the object the file lands in: Secret (data) or ConfigMap
	// (binaryData).
	// +kubebuilder:validation:Enum=Secret;ConfigMap
	Kind string `json:"kind"`
	// Key names the object in .Pipes: letters, digits and _, unique among
	// the Framework's Pipe tasks.
	// +kubebuilder:validation:Pattern=`^[a-zA-Z_][a-zA-Z0-9_]*$`
	Key string `json:"key"`
}

// Strategy says whether children run one after another or all at once.
type Strategy string

// The strategies.
const (
	Serial   Strategy = "serial"
	Parallel Strategy = "parallel"
)

// Plan is a named workflow: phases of steps of tasks.
type Plan struct {
	// Strategy over the plan's phases: serial (default) or parallel.
	// +optional
	Strategy Strategy `json:"strategy,omitempty"`

	// Phases of the plan; at least one.
	// +optional
	Phases []Phase `json:"phases,omitempty"`
}

// Phase is a group of steps.
type Phase struct {
	// Name of the phase, unique in its plan.
	Name string `json:"name"`

	// Strategy over the phase's steps: serial (default) or parallel.
	// +optional
	Strategy Strategy `json:"strategy,omitempty"`

	// Steps of the phase; at least one.
	// +optional
	Steps []Step `json:"steps,omitempty"`
}

// Step runs its tasks in order; it is complete when every task is done and
// every object they applied is healthy.
type Step struct {
	// Name of the step, unique in its phase.
	Name string `json:"name"`

	// Tasks are the names of the tasks the step runs, in order.
	// +optional
	Tasks []string `json:"tasks,omitempty"`

	// Timeout bounds how long the step may take, from its first run, for
	// example 10m. Exceeding it is FATAL_ERROR.
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// PrinterColumn is an extra column of `kubectl get` for the generated kind.
type PrinterColumn struct {
	// Name of the column.
	Name string `json:"name"`
	// JSONPath of the value, for example .spec.replicas.
	JSONPath string `json:"jsonPath"`
	// Type of the value: string, integer, number, boolean or date.
	// +kubebuilder:default=string
	// +optional
	Type string `json:"type,omitempty"`
	// Description of the column.
	// +optional
	Description string `json:"description,omitempty"`
}

// FrameworkStatus is what the controller observed of a Framework.
type FrameworkStatus struct {
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// CRDName is the name of the generated CustomResourceDefinition.
	// +optional
	CRDName string `json:"crdName,omitempty"`

	// CRDGeneration is the CRD's generation as operetta last applied it:
	// a manager that starts and finds the CRD at it, and this generation
	// Ready, installs nothing again.
	// +optional
	CRDGeneration int64 `json:"crdGeneration,omitempty"`

	// Rollout is how far the running generation has reached the instances.
	// +optional
	Rollout *RolloutStatus `json:"rollout,omitempty"`

	// Instances counts the instances of the kind by readiness.
	// +optional
	Instances *InstanceCounts `json:"instances,omitempty"`

	// StorageMigration is how far the instances are rewritten in the
	// stored version, after it changed; absent when none is stored in
	// another.
	// +optional
	StorageMigration *StorageMigration `json:"storageMigration,omitempty"`

	// Conditions, as kstatus reads them: Ready says whether the generated
	// kind is installed and its loop runs the current generation;
	// Reconciling is present while that is on its way (installing, waiting
	// for the CRD, rolling out, deleting); Stalled while only a change of the
	// Framework can help (invalid, a CRD conflict, a breaking change).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// StorageMigration is a rewrite of every instance in the stored version.
type StorageMigration struct {
	// To is the version instances are rewritten in.
	To string `json:"to"`
	// From are the versions instances may still be stored in.
	From []string `json:"from,omitempty"`
	// Migrated counts the instances rewritten so far.
	Migrated int64 `json:"migrated"`
	// After is the last instance rewritten, namespace/name: the rewrite
	// goes on after it, in that order, also after a restart.
	// +optional
	After string `json:"after,omitempty"`
}

// +kubebuilder:object:root=true

// FrameworkList is a list of Frameworks.
type FrameworkList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Framework `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Framework{}, &FrameworkList{})
}
