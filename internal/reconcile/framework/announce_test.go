package framework

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/client-go/tools/events"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/conditions"
	"operetta.dev/operetta/internal/testutil"
)

// statusOf is the status a Framework at generation has once edit set it.
func statusOf(generation int64, edit func(*v1alpha1.Framework)) v1alpha1.FrameworkStatus {
	fw := greeters()
	fw.Generation = generation
	if edit != nil {
		edit(fw)
	}
	return fw.Status
}

func TestEachFrameworkTransitionIsAnnouncedOnceWithItsTypedReason(t *testing.T) {
	none := v1alpha1.FrameworkStatus{}
	servingAt := func(g int64, msg string) v1alpha1.FrameworkStatus {
		return statusOf(g, func(fw *v1alpha1.Framework) { serving(fw, msg, false) })
	}
	rollingOut := func(g int64, total, updated int32) v1alpha1.FrameworkStatus {
		return statusOf(g, func(fw *v1alpha1.Framework) {
			fw.Status.Rollout = &v1alpha1.RolloutStatus{Generation: g, Total: total, Updated: updated}
			serving(fw, "served", true)
		})
	}
	refusedFor := func(g int64, reason conditions.Reason) v1alpha1.FrameworkStatus {
		return statusOf(g, func(fw *v1alpha1.Framework) { refused(fw, reason, "because") })
	}
	workingOn := func(g int64, reason conditions.Reason) v1alpha1.FrameworkStatus {
		return statusOf(g, func(fw *v1alpha1.Framework) { working(fw, reason, "waiting") })
	}
	for _, tc := range []struct {
		name    string
		old     v1alpha1.FrameworkStatus
		now     v1alpha1.FrameworkStatus
		blocked bool
		want    []string
	}{
		{name: "installed", old: workingOn(1, conditions.WaitingForCRD), now: servingAt(1, "served"), want: []string{"Normal Installed"}},
		{name: "installed at first sight", old: none, now: servingAt(1, "served"), want: []string{"Normal Installed"}},
		{name: "a new generation installed", old: servingAt(1, "served"), now: servingAt(2, "served"), want: []string{"Normal Installed"}},
		{name: "installed again, another message", old: servingAt(1, "served"), now: servingAt(1, "served as v2")},
		{name: "waiting for the CRD", old: none, now: workingOn(1, conditions.WaitingForCRD)},
		{name: "waiting for the election", old: none, now: workingOn(1, conditions.NotLeading)},
		{name: "refused", old: servingAt(1, "served"), now: refusedFor(2, conditions.InvalidFramework), want: []string{"Warning InvalidFramework"}},
		{name: "refused again alike", old: refusedFor(2, conditions.CRDConflict), now: refusedFor(2, conditions.CRDConflict)},
		{name: "refused for another reason", old: refusedFor(2, conditions.CRDConflict), now: refusedFor(2, conditions.BreakingChange), want: []string{"Warning BreakingChange"}},
		{name: "a rollout starts", old: servingAt(1, "served"), now: rollingOut(1, 3, 0), want: []string{"Normal RolloutStarted"}},
		{name: "a rollout goes on", old: rollingOut(1, 3, 1), now: rollingOut(1, 3, 2)},
		{name: "a rollout completes", old: rollingOut(1, 3, 2), now: statusOf(1, func(fw *v1alpha1.Framework) {
			fw.Status.Rollout = &v1alpha1.RolloutStatus{Generation: 1, Total: 3, Updated: 3}
			serving(fw, "served", false)
		}), want: []string{"Normal RolloutComplete"}},
		{name: "a rollout cut short by a refusal", old: rollingOut(1, 3, 2), now: refusedFor(2, conditions.InvalidExpression), want: []string{"Warning InvalidExpression"}},
		{name: "a deletion that waits for instances", old: servingAt(1, "served"), now: workingOn(1, conditions.Deleting), blocked: true, want: []string{"Warning DeletionBlocked"}},
		{name: "a deletion that waits a moment", old: servingAt(1, "served"), now: workingOn(1, conditions.Deleting)},
		{name: "a deletion that still waits", old: workingOn(1, conditions.Deleting), now: workingOn(1, conditions.Deleting), blocked: true},
	} {
		rec := events.NewFakeRecorder(10)
		emitEvents(rec, greeters(), tc.old, tc.now, tc.blocked)
		if got := testutil.Reasons(testutil.Drain(rec)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: events %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestTheRolloutEventsCountTheInstances(t *testing.T) {
	rec := events.NewFakeRecorder(10)
	fw := greeters()
	started := statusOf(1, func(fw *v1alpha1.Framework) {
		fw.Status.Rollout = &v1alpha1.RolloutStatus{Generation: 1, Total: 3, Updated: 1}
		serving(fw, "served", true)
	})
	done := statusOf(1, func(fw *v1alpha1.Framework) {
		fw.Status.Rollout = &v1alpha1.RolloutStatus{Generation: 1, Total: 3, Updated: 2, Failed: 1}
		serving(fw, "served", false)
	})
	emitEvents(rec, fw, statusOf(1, func(fw *v1alpha1.Framework) { serving(fw, "served", false) }), started, false)
	emitEvents(rec, fw, started, done, false)
	want := []string{
		"Normal RolloutStarted generation 1 is rolling out to 3 instances",
		"Normal RolloutComplete generation 1 reached 3 instances (2 updated, 1 failed)",
	}
	if got := testutil.Drain(rec); !slices.Equal(got, want) {
		t.Fatalf("events:\n got %q\nwant %q", got, want)
	}
}

// A reconcile may read the Framework from before this manager's last
// status write: what it announces is told from that write, not the read.
func TestATransitionIsToldFromTheLastWriteNotAStaleRead(t *testing.T) {
	rec := events.NewFakeRecorder(10)
	r := &Reconciler{Recorder: rec, Compiled: &Compiled{}}
	fw := greeters()
	waiting := statusOf(1, func(fw *v1alpha1.Framework) { working(fw, conditions.WaitingForCRD, "waiting") })
	served := statusOf(1, func(fw *v1alpha1.Framework) { serving(fw, "served", false) })

	r.announce(fw, waiting, served, false)
	// The next reconcile read the status from before that write.
	r.announce(fw, waiting, served, false)
	if got := testutil.Reasons(testutil.Drain(rec)); !slices.Equal(got, []string{"Normal Installed"}) {
		t.Fatalf("events %q, want Installed once", got)
	}

	// Forgotten (deleted and made again): installing it is news again.
	r.forget(fw.Name)
	r.announce(fw, waiting, served, false)
	if got := testutil.Drain(rec); len(got) != 1 || !strings.HasPrefix(got[0], "Normal Installed generation 1 installed: served") {
		t.Fatalf("events after forget: %q", got)
	}
}
