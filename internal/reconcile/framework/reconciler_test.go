package framework

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/kube"
	"operetta.dev/operetta/internal/shard"
)

// A reconcile that read a Framework before it was relabelled to another
// shard must not write a status computed from it: the shard it moved to
// owns that status now.
func TestStatusComputedBeforeARelabelIsNotWritten(t *testing.T) {
	ctx := context.Background()
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	fw := &v1alpha1.Framework{ObjectMeta: metav1.ObjectMeta{Name: "webapp"}}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(fw).WithStatusSubresource(fw).Build()
	r := &Reconciler{Client: c}

	var stale v1alpha1.Framework
	if err := c.Get(ctx, client.ObjectKeyFromObject(fw), &stale); err != nil {
		t.Fatal(err)
	}
	var moved v1alpha1.Framework
	if err := c.Get(ctx, client.ObjectKeyFromObject(fw), &moved); err != nil {
		t.Fatal(err)
	}
	moved.Labels = map[string]string{v1alpha1.LabelShard: "other"}
	if err := c.Update(ctx, &moved); err != nil {
		t.Fatal(err)
	}

	old := stale.Status.DeepCopy()
	stale.Status.ObservedGeneration = 7
	wrote, err := r.patchStatus(ctx, &stale, old)
	if wrote || !kube.Quiet(err) {
		t.Fatalf("patchStatus of a Framework read before its relabel: wrote %v, err %v; want no write, and a conflict retried quietly", wrote, err)
	}
	var now v1alpha1.Framework
	if err := c.Get(ctx, client.ObjectKeyFromObject(fw), &now); err != nil {
		t.Fatal(err)
	}
	if now.Status.ObservedGeneration != 0 || shard.Owns("", &now) {
		t.Fatalf("Framework now: observedGeneration %d, labels %v; want the relabel kept and the stale status refused", now.Status.ObservedGeneration, now.Labels)
	}

	// Computed from the Framework as it is, the same status is written.
	old = now.Status.DeepCopy()
	now.Status.ObservedGeneration = 7
	if wrote, err := r.patchStatus(ctx, &now, old); err != nil || !wrote {
		t.Fatalf("patchStatus of the current Framework: wrote %v, err %v; want a write", wrote, err)
	}
	var stored v1alpha1.Framework
	if err := c.Get(ctx, client.ObjectKeyFromObject(fw), &stored); err != nil {
		t.Fatal(err)
	}
	// The next reconcile tells a cache without this write by its version.
	if stored.Status.ObservedGeneration != 7 || stored.ResourceVersion != now.ResourceVersion {
		t.Fatalf("stored: observedGeneration %d, version %s; want 7, and the version written (%s)",
			stored.Status.ObservedGeneration, stored.ResourceVersion, now.ResourceVersion)
	}
}
