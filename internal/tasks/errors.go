package tasks

import (
	"operetta.dev/operetta/internal/kube"
	"operetta.dev/operetta/internal/plans"
)

// Classify translates what kube.Classify says a failure means into the plan
// state machine's terms: a terminal failure fails the plan for good (FATAL_ERROR),
// a kind not served yet makes the step wait (its CRD's event wakes it,
// engine.watchCRDs), anything else is retried with backoff (ERROR).
//
// Marked terminal (kube.Fail) where it is met, besides render errors: new content refused because the instance's own
// namespace is being deleted (applyChild: that namespace never takes any
// again; a cleanup plan that must create something there stops, and its
// Stalled condition says how to let the instance go), and a child whose
// object belongs to another instance or to none (ownedNow: only its owner,
// or a change that renders another name, frees it).
func Classify(err error) plans.Result {
	switch kube.Classify(err) {
	case kube.Terminal:
		return plans.Fatal
	case kube.Waiting:
		return plans.Waiting
	default:
		return plans.Failed
	}
}

// outcome turns a step failure into the plan state machine's terms.
func outcome(err error) plans.Outcome {
	return plans.Outcome{Result: Classify(err), Message: err.Error()}
}
