package instance

import (
	"context"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

func TestRolloutAdmitsAtMostMaxAndForgetsNoOne(t *testing.T) {
	none := func(context.Context) ([]unstructured.Unstructured, error) { return nil, nil }
	key := func(n string) types.NamespacedName { return types.NamespacedName{Namespace: "ns", Name: n} }
	var ro rollout
	admit := func(name string, generation int64) (bool, []types.NamespacedName) {
		t.Helper()
		ok, forgotten, err := ro.admit(context.Background(), none, key(name), generation, 1)
		if err != nil {
			t.Fatal(err)
		}
		return ok, forgotten
	}
	if ok, _ := admit("a", 5); !ok {
		t.Fatal("the first instance of generation 5 was not admitted")
	}
	if ok, _ := admit("b", 5); ok {
		t.Fatal("a second instance was admitted with maxConcurrent 1")
	}
	if ok, _ := admit("a", 5); !ok {
		t.Fatal("an admitted instance lost its place")
	}
	// Generation 6 starts a new rollout: b, held for 5, is handed back to
	// be woken.
	ok, forgotten := admit("c", 6)
	if !ok || !slices.Equal(forgotten, []types.NamespacedName{key("b")}) {
		t.Fatalf("generation 6: admitted %v, forgotten %v; want admitted and b handed back", ok, forgotten)
	}
	// A reconcile still on generation 5 is not admitted, nor does it
	// rebuild the rollout.
	if ok, _ := admit("d", 5); ok {
		t.Fatal("an instance was admitted to an older generation's rollout")
	}
	if ok, _ := admit("e", 6); ok {
		t.Fatal("the stale admission reset generation 6's rollout")
	}
	if waiting := ro.done(key("c")); !slices.Equal(waiting, []types.NamespacedName{key("e")}) {
		t.Fatalf("freeing c woke %v, want e", waiting)
	}
	if ok, _ := admit("e", 6); !ok {
		t.Fatal("e was not admitted to the freed place")
	}
}
