//go:build benchcluster

package main

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// collectionResult is one instance with an n-element collection of
// ConfigMaps, against a direct client creating the same n.
type collectionResult struct {
	n int
	// ready is create → the instance's deploy COMPLETE (every object
	// applied and ready); direct is the direct client's n creates.
	ready, direct time.Duration
	// create are the manager's requests until then; idle those in the
	// quiet after it.
	create, idle requests
	idleFor      time.Duration
}

// collection measures one instance whose deploy applies a collection of n
// ConfigMaps (forEach over spec.items), and the quiet after it.
func (b *bench) collection(ctx context.Context, n int) (collectionResult, error) {
	r := collectionResult{n: n, idleFor: b.idle}
	kind := b.fw.kind + "Collection"
	fw, gvr := b.fw.variant(b.fw.name+"-collection", kind)
	spec := fw.Object["spec"].(map[string]any)
	spec["parameters"] = []any{map[string]any{"name": "items", "type": "array", "default": []any{},
		"schema": map[string]any{"items": map[string]any{"type": "string"}}}}
	spec["resources"] = []any{map[string]any{"id": "items",
		"forEach": []any{map[string]any{"name": "item", "in": "${instance.spec.items}"}},
		"template": map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": "${instance.metadata.name}-${item}"},
			"data":     map[string]any{"index": "${string(itemIndex)}"}}}}
	spec["tasks"] = []any{map[string]any{"name": "items", "kind": "Apply", "resources": []any{"items"}}}
	spec["plans"] = map[string]any{"deploy": map[string]any{"phases": []any{map[string]any{
		"name": "main", "steps": []any{map[string]any{"name": "items", "tasks": []any{"items"}}}}}}}
	delete(spec, "status")
	delete(spec, "printerColumns")
	namespace := fmt.Sprintf("bench-collection-%d-%d", n, time.Now().Unix()%100000)
	fmt.Printf("\n== one instance with a collection of %d ConfigMaps, namespace %s\n", n, namespace)
	if err := b.applyFramework(ctx, fw, 2*time.Minute); err != nil {
		return r, err
	}
	defer b.deleteFramework(context.WithoutCancel(ctx), fw.GetName())
	if _, err := b.resource(schema.GroupKind{Group: b.fw.group, Kind: kind}, b.fw.version); err != nil {
		return r, err
	}
	deleteNamespace, err := b.inNamespace(ctx, namespace)
	if err != nil {
		return r, err
	}
	defer deleteNamespace()

	items := make([]any, n)
	for i := range items {
		items[i] = fmt.Sprintf("item-%03d", i)
	}
	before, err := b.sample(ctx, b.mgr)
	if err != nil {
		return r, err
	}
	start := time.Now()
	inst := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": gvr.GroupVersion().String(), "kind": kind,
		"metadata": map[string]any{"name": "set", "namespace": namespace},
		"spec":     map[string]any{"items": items},
	}}
	c := b.dyn.Resource(gvr).Namespace(namespace)
	if _, err := c.Create(ctx, inst, metav1.CreateOptions{}); err != nil {
		return r, fmt.Errorf("creating the instance: %w", err)
	}
	if err := poll(ctx, b.runTimeout, 50*time.Millisecond, func() (bool, error) {
		u, err := c.Get(ctx, "set", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		s, _, _ := unstructured.NestedString(u.Object, "status", "plans", "deploy", "status")
		return s == "COMPLETE", nil
	}, "the collection's deploy"); err != nil {
		return r, err
	}
	r.ready = time.Since(start)
	// Its own writes' events come back in the next moments: counted with
	// the create, then the quiet.
	time.Sleep(2 * time.Second)
	after, err := b.sample(ctx, b.mgr)
	if err != nil {
		return r, err
	}
	r.create = after.requests.minus(before.requests)
	time.Sleep(b.idle)
	end, err := b.sample(ctx, b.mgr)
	if err != nil {
		return r, err
	}
	r.idle = end.requests.minus(after.requests)

	start = time.Now()
	if err := b.create(ctx, n, func(ctx context.Context, i int) error {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("direct-%03d", i), Namespace: namespace},
			Data: map[string]string{"index": fmt.Sprint(i)}}
		_, err := b.kube.CoreV1().ConfigMaps(namespace).Create(ctx, cm, metav1.CreateOptions{})
		return err
	}); err != nil {
		return r, err
	}
	r.direct = time.Since(start)
	fmt.Printf("  operetta: create → deploy COMPLETE %s; manager requests %.0f (%.2f per element%s); then %s idle: %.0f%s\n",
		secs(r.ready), r.create.total(), r.create.total()/float64(n), paren(r.create.byMethod(1)), r.idleFor, r.idle.total(), paren(r.idle.byMethod(1)))
	fmt.Printf("  direct client (%d workers): %d ConfigMaps created in %s\n", b.workers, n, secs(r.direct))
	return r, nil
}
