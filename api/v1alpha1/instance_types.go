package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Labels and annotations operetta puts on what it creates.
const (
	LabelManagedBy  = "app.kubernetes.io/managed-by"
	ManagedByValue  = "operetta"
	LabelFramework  = "operetta.dev/framework"
	LabelInstance   = "operetta.dev/instance"
	LabelInstanceNS = "operetta.dev/instance-namespace"
	// LabelShard on a Framework names the manager shard that runs it
	// (--shard); children carry their shard's too. No label: the
	// manager started without --shard.
	LabelShard       = "operetta.dev/shard"
	FieldManager     = "operetta"
	CategoryAllKinds = "operetta"
	PlanDeploy       = "deploy"
	PlanUpdate       = "update"
	PlanUpgrade      = "upgrade"
	PlanCleanup      = "cleanup"
	// PlanRollback runs on instances going back to an older revision's
	// spec (kubectl operetta rollout undo, or a revert in Git).
	PlanRollback          = "rollback"
	AnnotationRunPlan     = "operetta.dev/run-plan"
	AnnotationSkipCleanup = "operetta.dev/skip-cleanup"
	// AnnotationPaused "true" on an instance holds it as it is: no plan
	// step, drift correction, pruning or newer revision until removed.
	AnnotationPaused = "operetta.dev/paused"
	// AnnotationSpecHash on a FrameworkRevision digests what of its spec
	// reaches instances.
	AnnotationSpecHash = "operetta.dev/spec-hash"
	// AnnotationCRDDigest on a generated CRD digests what operetta applied
	// of it (its spec, the conversion webhook's CA included, and labels): a
	// manager that starts finds out from the cache whether what it would
	// apply is what is there, an upgraded operetta's generator included.
	AnnotationCRDDigest = "operetta.dev/crd-digest"
	// AnnotationReturnsTo on a FrameworkRevision names the older revision
	// whose spec it has again: going back to it.
	AnnotationReturnsTo            = "operetta.dev/returns-to"
	FinalizerCleanup               = "operetta.dev/cleanup"
	FinalizerFramework             = "operetta.dev/framework"
	AnnotationAllowBreakingChanges = "operetta.dev/allow-breaking-changes"
	ConditionReady                 = "Ready"
	ConditionReconciling           = "Reconciling"
	ConditionStalled               = "Stalled"
	// ConditionPaused True says an instance is held (AnnotationPaused).
	ConditionPaused = "Paused"
)

// OwnerOfChild reads, from a child's labels, the instance it belongs to:
// its Framework, and its namespace and name. ok is false for an object no
// operetta instance labelled as its own. A child in its instance's
// namespace may lack the instance-namespace label: its own namespace is
// meant.
func OwnerOfChild(obj metav1.Object) (framework string, instance types.NamespacedName, ok bool) {
	l := obj.GetLabels()
	if l[LabelManagedBy] != ManagedByValue || l[LabelFramework] == "" || l[LabelInstance] == "" {
		return "", types.NamespacedName{}, false
	}
	ns := l[LabelInstanceNS]
	if ns == "" {
		ns = obj.GetNamespace()
	}
	return l[LabelFramework], types.NamespacedName{Namespace: ns, Name: l[LabelInstance]}, true
}

// ExecutionStatus is the state of a plan, phase or step.
type ExecutionStatus string

// The execution statuses, as KUDO named them.
const (
	NeverRun   ExecutionStatus = "NEVER_RUN"
	Pending    ExecutionStatus = "PENDING"
	InProgress ExecutionStatus = "IN_PROGRESS"
	Complete   ExecutionStatus = "COMPLETE"
	// Error is transient: the step is retried with backoff.
	Error ExecutionStatus = "ERROR"
	// FatalError stops the plan until the spec, the Framework or a manual
	// trigger changes.
	FatalError ExecutionStatus = "FATAL_ERROR"
)

// IsTerminal reports whether nothing more happens in this status without a
// new trigger.
func (s ExecutionStatus) IsTerminal() bool { return s == Complete || s == FatalError }

// InstanceStatus is the status of every generated kind. The controller writes
// it; it never writes an instance's spec.
type InstanceStatus struct {
	// ObservedGeneration is the instance generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, Reconciling (a plan runs) and Stalled (a plan failed
	// fatally), as kstatus expects.
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ActivePlan is the plan that runs now, or ran last.
	// +optional
	ActivePlan string `json:"activePlan,omitempty"`

	// ActivePlanStatus repeats plans[activePlan].status for printer columns.
	// +optional
	ActivePlanStatus ExecutionStatus `json:"activePlanStatus,omitempty"`

	// PlanQueue lists plans triggered while another ran, in the order they
	// will run.
	// +optional
	PlanQueue []string `json:"planQueue,omitempty"`

	// QueuedCauses say what triggered each queued plan, for its run's
	// cause when it starts.
	// +optional
	QueuedCauses map[string]string `json:"queuedCauses,omitempty"`

	// Plans by name: the last run of each.
	// +optional
	Plans map[string]PlanStatus `json:"plans,omitempty"`

	// ParameterDigests are digests of the parameter values plans were last
	// triggered for; a parameter whose digest changes triggers its plan.
	// +optional
	ParameterDigests map[string]string `json:"parameterDigests,omitempty"`

	// FrameworkGeneration is the Framework generation plans were last
	// triggered for; a new one triggers upgrade (else update, else deploy).
	// +optional
	FrameworkGeneration int64 `json:"frameworkGeneration,omitempty"`

	// FrameworkRevision names the FrameworkRevision the instance runs:
	// <framework>-<generation>. A newer one reaches it as its rollout
	// admits it.
	// +optional
	FrameworkRevision string `json:"frameworkRevision,omitempty"`

	// Inventory lists the children operetta applied and has not deleted.
	// +optional
	Inventory []InventoryItem `json:"inventory,omitempty"`

	// LastRunPlan is the last value of the operetta.dev/run-plan annotation
	// that was acted on.
	// +optional
	LastRunPlan string `json:"lastRunPlan,omitempty"`

	// RunPlanError says why the last operetta.dev/run-plan value was not
	// run: it names a plan the Framework does not have.
	// +optional
	RunPlanError string `json:"runPlanError,omitempty"`

	// Schedules say where each of the Framework's schedules stands on the
	// instance.
	// +optional
	Schedules []ScheduleStatus `json:"schedules,omitempty"`

	// Triggers say what each of the Framework's triggers watches on the
	// instance and the data it last saw.
	// +optional
	Triggers []TriggerStatus `json:"triggers,omitempty"`
}

// PlanStatus is the progress of one run of a plan.
type PlanStatus struct {
	Status ExecutionStatus `json:"status"`
	// +optional
	Message string `json:"message,omitempty"`
	// UID identifies the run; a re-triggered plan gets a new one.
	// +optional
	UID types.UID `json:"uid,omitempty"`
	// Cause says what started the run: "instance created", "parameter
	// replicas", "revision 4", "annotation", "schedule nightly".
	// +optional
	Cause string `json:"cause,omitempty"`
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
	// +optional
	Phases []PhaseStatus `json:"phases,omitempty"`
}

// PhaseStatus is the progress of one phase.
type PhaseStatus struct {
	Name   string          `json:"name"`
	Status ExecutionStatus `json:"status"`
	// +optional
	Message string `json:"message,omitempty"`
	// +optional
	Steps []StepStatus `json:"steps,omitempty"`
}

// StepStatus is the progress of one step.
type StepStatus struct {
	Name   string          `json:"name"`
	Status ExecutionStatus `json:"status"`
	// +optional
	Message string `json:"message,omitempty"`
	// StartedAt is when the step first ran in this plan run; timeouts count
	// from it.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// FinishedAt is when the step completed or failed for good.
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
}

// InventoryItem is a child operetta applied, in the instance's namespace.
type InventoryItem struct {
	// ID of the Framework resource, or the Instance task, it was rendered from.
	ID         string `json:"id"`
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	// Namespace, if not the instance's; "" for the instance's own or for a
	// cluster-scoped object (see Cluster).
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// Cluster is true for a cluster-scoped object.
	// +optional
	Cluster bool `json:"cluster,omitempty"`
	// Generation of the child after operetta last applied it (its
	// resourceVersion for kinds without a generation): a different one means
	// someone else changed it.
	// +optional
	Observed string `json:"observed,omitempty"`
	// Hash digests what operetta last applied and the plan run that applied
	// it: a step applies a child again only when its render or the run
	// changed, or the child drifted.
	// +optional
	Hash string `json:"hash,omitempty"`
	// Step is the plan/phase/step that last applied an object of a
	// goTemplate resource, whose render may read them: drift is corrected
	// with the same render.
	// +optional
	Step string `json:"step,omitempty"`
	// Superseded is true once a later render of its goTemplate resource no
	// longer has the object (a range over fewer nodes, say): it is pruned
	// when the instance's plans are done.
	// +optional
	Superseded bool `json:"superseded,omitempty"`
}
