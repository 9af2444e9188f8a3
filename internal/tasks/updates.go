package tasks

import (
	"maps"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/internal/compile"
)

// UpdateMatters says whether a child's update from old to new may change
// what an Executor of fw decides, so that its instance must be reconciled.
//
// A Deployment's controller writes its status several times on the way to
// available, and each write would otherwise cost its instance a reconcile
// that renders nothing, applies nothing and writes nothing. Only such
// updates are skipped: a built-in kind's (children of custom kinds, such as
// instances an Instance task made, are judged by more than kstatus), with a
// generation that did not change (drift is told by it; kinds without one
// drift on any change), the same uid and labels and no deletion, whose
// kstatus verdict (and, if it failed, its message) stayed the same, of a
// Framework nothing of which but kstatus looks inside children.
func UpdateMatters(fw *compile.Framework, verdicts *Verdicts, gvk schema.GroupVersionKind, old, new client.Object) bool {
	if _, custom := new.(*unstructured.Unstructured); custom {
		return true
	}
	if gvk == podKind {
		// A Pipe task's pod: how its init container fares is the step's
		// message, and no kstatus verdict tells it.
		return true
	}
	switch {
	case new.GetGeneration() == 0, new.GetGeneration() != old.GetGeneration(), new.GetUID() != old.GetUID(),
		new.GetDeletionTimestamp() != nil, !maps.Equal(new.GetLabels(), old.GetLabels()),
		fw.LooksInsideChildren():
		return true
	}
	before, err1 := verdicts.of(gvk, old)
	after, err2 := verdicts.of(gvk, new)
	switch {
	case err1 != nil || err2 != nil || before.Status != after.Status:
		return true
	case after.Status == status.FailedStatus:
		// A failed child's message is what its instance reports.
		return before.Message != after.Message
	}
	return false
}
