package stale

import "testing"

func TestGuard(t *testing.T) {
	var g Guard[string]
	if g.Behind("a", "1") {
		t.Fatal("behind with no write")
	}
	g.Wrote("a", "1", "2")
	if !g.Behind("a", "1") {
		t.Fatal("the version the write was computed from is not behind")
	}
	if g.Behind("a", "2") || g.Behind("b", "1") {
		t.Fatal("the written version, or another object, is behind")
	}
	// A write that changed nothing leaves the version as it was: reading
	// it again is not behind, or the object would be held back for good.
	g.Wrote("c", "5", "5")
	if g.Behind("c", "5") {
		t.Fatal("a no-op write holds the object back")
	}
	g.Forget("a")
	if g.Behind("a", "1") {
		t.Fatal("forgotten, yet behind")
	}
}
