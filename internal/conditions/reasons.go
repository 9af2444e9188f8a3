package conditions

// Reason is the reason of a condition, and of the event that announces it.
type Reason string

// Reasons of an instance's conditions.
const (
	// Succeeded: the active plan is complete and every child is ready.
	Succeeded Reason = "Succeeded"
	// Progressing: the active plan is running.
	Progressing Reason = "Progressing"
	// Retrying: the active plan hit an error it retries.
	Retrying Reason = "Retrying"
	// Failed: the active plan failed for good.
	Failed Reason = "Failed"
	// ChildNotReady: the plans are done, and a child is not healthy now (a
	// StatefulSet lost replicas, say).
	ChildNotReady Reason = "ChildNotReady"
	// ChildFailed: the plans are done, and a child failed for good.
	ChildFailed Reason = "ChildFailed"
	// Held (Paused): the instance is annotated operetta.dev/paused.
	Held Reason = "Held"
)

// Reasons of a Framework's conditions.
const (
	// Serving: the current generation is installed and its loop runs.
	Serving Reason = "Serving"
	// RollingOut (Reconciling, while Serving): the current generation has
	// not reached every instance yet.
	RollingOut Reason = "RollingOut"
	// RolloutPaused (Reconciling, while Serving): spec.rollout.paused
	// keeps the current revision from the instances not on it yet.
	RolloutPaused Reason = "RolloutPaused"
	// RolloutHalted (Stalled, while Serving): spec.rollout.maxFailures
	// instances failed on the current revision; no other is admitted.
	RolloutHalted Reason = "RolloutHalted"
	// WaitingForCRD: the generated CRD is applied, not established yet.
	WaitingForCRD Reason = "WaitingForCRD"
	// NotLeading: this manager is not the elected leader yet.
	NotLeading Reason = "WaitingForLeaderElection"
	// MigratingStorage: instances are being rewritten in the kind's new
	// stored version.
	MigratingStorage Reason = "MigratingStorage"
	// WaitingForWatchedKind: a trigger watches a kind the API server does
	// not serve yet.
	WaitingForWatchedKind Reason = "WaitingForWatchedKind"
	// Deleting: the Framework is being deleted; the message says what it
	// waits for.
	Deleting Reason = "Deleting"
)

// Reasons a Framework generation is refused (Stalled): only a change of the
// Framework helps. Each is also the reason of the Warning event that says
// so.
const (
	// InvalidFramework: the Framework does not compile.
	InvalidFramework Reason = "InvalidFramework"
	// InvalidExpression: it compiles but for its expressions.
	InvalidExpression Reason = "InvalidExpression"
	// CRDConflict: a CRD of the generated name exists that operetta did not
	// create, or another Framework owns.
	CRDConflict Reason = "CRDConflict"
	// BreakingChange: the generated CRD would break existing instances.
	BreakingChange Reason = "BreakingChange"
	// InstallFailed: the API server refused the generated CRD.
	InstallFailed Reason = "InstallFailed"
	// CRDNotAccepted: the API server does not establish the generated CRD
	// (a name another CRD of its group has, say).
	CRDNotAccepted Reason = "CRDNotAccepted"
	// ServiceAccountRequired: the manager runs with
	// --require-service-account and the Framework names none.
	ServiceAccountRequired Reason = "ServiceAccountRequired"
	// TriggerNotAllowed: a trigger watches a cluster-scoped kind, or one
	// the Framework's account may not list and watch everywhere. A grant
	// helps too: it is looked at again every minute.
	TriggerNotAllowed Reason = "TriggerNotAllowed"
	// WaitingForCertificate: the Framework serves several versions and the
	// conversion webhook's certificate is not made or read yet.
	WaitingForCertificate Reason = "WaitingForCertificate"
	// ConversionNotServed: the Framework serves several versions of its
	// kind, and this manager runs no conversion webhook.
	ConversionNotServed Reason = "ConversionNotServed"
)
