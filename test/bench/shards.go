//go:build benchcluster

package main

import (
	"context"
	"fmt"
	"maps"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"operetta.dev/operetta/internal/crdgen"
	"operetta.dev/operetta/internal/shard"
)

// shardedFramework is one shard's copy of the Framework: its own name, kind
// and label, run by a manager of its own.
type shardedFramework struct {
	shard string
	fw    *unstructured.Unstructured
	gvr   schema.GroupVersionResource
	kind  string
}

// shardFramework makes the copy of the Framework for shard name, named
// after it.
func (b *bench) shardFramework(name string) shardedFramework {
	kind := b.fw.kind + crdgen.KindOf(name)
	fw, gvr := b.fw.variant(b.fw.name+"-"+name, kind)
	shard.Label(fw, name)
	return shardedFramework{shard: name, fw: fw, gvr: gvr, kind: kind}
}

// measureShards runs n instances split over k Frameworks, each labelled for
// a shard of its own and run by a manager of its own (no leader election,
// as the unsharded run), in one namespace, created by the same client as the
// unsharded run's: what it costs and how long each instance takes when the
// work of one manager is spread over k.
func (b *bench) measureShards(ctx context.Context, n, k int) (result, error) {
	r := result{mode: fmt.Sprintf("%d shards", k), n: n}
	namespace := fmt.Sprintf("bench-shards-%d-%d", n, time.Now().Unix()%100000)
	fmt.Printf("\n== %d shards, N=%d (%d instances each, a manager each), namespace %s\n", k, n, n/k, namespace)

	var (
		parts []shardedFramework
		procs []*managerProc
	)
	all := &plan{children: map[string][]*unstructured.Unstructured{}, expected: map[childKey]string{},
		kinds: map[schema.GroupVersionResource]string{}, gvrs: map[string]schema.GroupVersionResource{}}
	var gvrs []schema.GroupVersionResource
	owner := map[string]shardedFramework{} // instance → its shard's Framework
	count := map[string]int64{}            // Framework → instances
	for i := range k {
		part := b.shardFramework(fmt.Sprintf("s%d", i+1))
		p, err := b.launch.start(ctx, fmt.Sprintf("shard-%s-n%d", part.shard, n), "--leader-elect=false", "--shard="+part.shard)
		if err != nil {
			return r, err
		}
		defer p.stop() // after its Framework is deleted: deferred calls run last first
		procs = append(procs, p)
		defer b.deleteFramework(context.WithoutCancel(ctx), part.fw.GetName())
		if err := b.applyFramework(ctx, part.fw, 2*time.Minute); err != nil {
			return r, err
		}
		// The remainder goes to the first shards, so the sizes add up to n.
		size := n/k + min(1, max(0, n%k-i))
		p2, err := b.plan(namespace, part.shard, size)
		if err != nil {
			return r, err
		}
		maps.Copy(all.expected, p2.expected)
		maps.Copy(all.kinds, p2.kinds)
		maps.Copy(all.children, p2.children)
		for _, name := range p2.instances {
			owner[name] = part
		}
		count[part.fw.GetName()] = int64(size)
		parts = append(parts, part)
		gvrs = append(gvrs, part.gvr)
	}
	// Interleaved, so every shard's instances are created from the start.
	for i := range n {
		part := i % k
		name := fmt.Sprintf("%s-%04d", parts[part].shard, i/k)
		all.instances = append(all.instances, name)
	}

	deleteNamespace, err := b.inNamespace(ctx, namespace)
	if err != nil {
		return r, err
	}
	defer deleteNamespace()
	tr := newTracker(all.expected, all.instances)
	defer tr.close()
	if err := tr.watch(ctx, b.dyn, namespace, all.kinds, gvrs...); err != nil {
		return r, err
	}

	before, err := b.sample(ctx, procs...)
	if err != nil {
		return r, err
	}
	start := time.Now()
	err = b.create(ctx, n, func(ctx context.Context, i int) error {
		name := all.instances[i]
		part := owner[name]
		return b.createInstance(ctx, tr, part.gvr, part.kind, namespace, name)
	})
	r.created = time.Since(start)
	if err != nil {
		return r, err
	}
	fmt.Printf("  client: %d instances of %d kinds created in %s by %d workers\n", n, k, secs(r.created), b.workers)
	if r.timedOut, err = b.settle(ctx, tr); err != nil {
		return r, err
	}
	if r.timedOut == "" {
		for name, c := range count {
			if err := b.rolloutReported(ctx, name, c); err != nil {
				fmt.Printf("  WARNING: %v\n", err)
			}
		}
	}
	after, err := b.sample(ctx, procs...)
	if err != nil {
		return r, err
	}
	r.record(tr.timings(start), before, after)
	return r, nil
}
