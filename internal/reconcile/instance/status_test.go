package instance

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
)

func TestReadStatusDecodesWhatItCanAndNeverAMissingPlanMap(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     any
		wantActive string
	}{
		{"no status", nil, ""},
		{"a status", map[string]any{"activePlan": "deploy", "plans": map[string]any{"deploy": map[string]any{"status": "COMPLETE"}}}, "deploy"},
		// Written by something else, or an older operetta: the controller
		// writes it again.
		{"an unreadable status", map[string]any{"plans": "not a map"}, ""},
	} {
		u := thing("a")
		if tc.status != nil {
			u.Object["status"] = tc.status
		}
		st := ReadStatus(u)
		if st.Plans == nil {
			t.Errorf("%s: Plans is nil; every reconcile writes into it", tc.name)
		}
		if st.ActivePlan != tc.wantActive {
			t.Errorf("%s: activePlan %q, want %q", tc.name, st.ActivePlan, tc.wantActive)
		}
	}
	u := thing("a")
	u.Object["status"] = map[string]any{"plans": map[string]any{"deploy": map[string]any{"status": "COMPLETE", "uid": "run-1"}}}
	if got := ReadStatus(u).Plans["deploy"]; got.Status != v1alpha1.Complete || got.UID != "run-1" {
		t.Errorf("plans.deploy read as %+v", got)
	}
}

func TestReadProjectedKeepsOnlyTheFrameworksProjections(t *testing.T) {
	u := thing("a")
	u.Object["status"] = map[string]any{"activePlan": "deploy", "url": "http://a", "port": nil, "stale": "x"}
	got := readProjected(u, []compile.Projection{{Name: "url"}, {Name: "port"}, {Name: "missing"}})
	if want := map[string]any{"url": "http://a"}; !maps.Equal(got, want) {
		t.Fatalf("projected %v, want %v", got, want)
	}
}

func TestPatchStatusWritesOnlyWhatChangedLockedByTheVersionRead(t *testing.T) {
	ctx := context.Background()
	server := newAPIServer(t, thing("a"))
	u := server.get(t, "a")
	old := ReadStatus(u)

	if wrote, err := patchStatus(ctx, server, u, old, *old.DeepCopy(), nil, map[string]any{}); err != nil || wrote {
		t.Fatalf("an unchanged status: wrote %v, err %v; want nothing sent", wrote, err)
	}
	if sent := server.sent(); len(sent) > 0 {
		t.Fatalf("an unchanged status sent %v", sent)
	}

	st := *old.DeepCopy()
	st.ActivePlan, st.ActivePlanStatus = v1alpha1.PlanDeploy, v1alpha1.InProgress
	read := u.GetResourceVersion()
	wrote, err := patchStatus(ctx, server, u, old, st, nil, map[string]any{"url": "http://a"})
	if err != nil || !wrote {
		t.Fatalf("a changed status: wrote %v, err %v", wrote, err)
	}
	if sent := server.sent(); !slices.Equal(sent, []string{"patch a/status"}) {
		t.Fatalf("sent %v, want one status patch", sent)
	}
	stored := server.get(t, "a")
	if got := ReadStatus(stored); got.ActivePlanStatus != v1alpha1.InProgress {
		t.Fatalf("stored status %+v", got)
	}
	if url, _, _ := unstructured.NestedString(stored.Object, "status", "url"); url != "http://a" {
		t.Fatalf("the projection was not written beside the status: %v", stored.Object["status"])
	}
	// The caller's copy is what was written, at the version written.
	if u.GetResourceVersion() == read || u.GetResourceVersion() != stored.GetResourceVersion() {
		t.Fatalf("the instance's version is %s after the write (read %s, stored %s)", u.GetResourceVersion(), read, stored.GetResourceVersion())
	}

	// A status computed from the version read before that write is
	// refused: acting twice on a stale cache conflicts instead.
	staleCopy := thing("a")
	staleCopy.SetResourceVersion(read)
	st.ActivePlanStatus = v1alpha1.Complete
	if _, err := patchStatus(ctx, server, staleCopy, old, st, nil, nil); !apierrors.IsConflict(err) {
		t.Fatalf("a write computed from an older version: %v, want a conflict", err)
	}
}

func TestListListsTheKindsInstancesAndSaysWhatFailed(t *testing.T) {
	ctx := context.Background()
	server := newAPIServer(t, thing("a"), thing("b"))
	items, err := List(ctx, server, testGVK)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for i := range items {
		names = append(names, items[i].GetName())
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"a", "b"}) {
		t.Fatalf("listed %v, want a and b", names)
	}

	cause := errors.New("the cache is not synced")
	failing := interceptor.NewClient(server.WithWatch, interceptor.Funcs{
		List: func(context.Context, client.WithWatch, client.ObjectList, ...client.ListOption) error { return cause },
	})
	if _, err := List(ctx, failing, testGVK); !errors.Is(err, cause) || !strings.Contains(err.Error(), "listing Thing instances") {
		t.Fatalf("a failed list: %v; want the cause, saying what was listed", err)
	}
}
