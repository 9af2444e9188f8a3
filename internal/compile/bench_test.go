package compile_test

import (
	"fmt"
	"runtime"
	"testing"

	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/expr"
)

// BenchmarkCompileZooKeeper measures what a Framework generation costs once:
// checking, compiling every expression and generating the CRD.
func BenchmarkCompileZooKeeper(b *testing.B) {
	fw := zookeeper(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, errs := compile.Compile(fw); len(errs) > 0 {
			b.Fatal(errs)
		}
	}
}

// BenchmarkRenderZooKeeper measures rendering all four templates of an
// instance, which a reconcile does for every step it runs.
func BenchmarkRenderZooKeeper(b *testing.B) {
	c, errs := compile.Compile(zookeeper(b))
	if len(errs) > 0 {
		b.Fatal(errs)
	}
	vars := expr.Vars{Instance: map[string]any{
		"metadata": map[string]any{"name": "zk", "namespace": "default"},
		"spec": map[string]any{"replicas": int64(3), "image": "zookeeper:3.9.2", "cpu": "250m",
			"memory": "512Mi", "logLevel": "INFO", "clientPort": int64(2181), "tlsSecret": ""},
	}, Plan: map[string]any{"name": "deploy", "uid": "5b1f3c2e-7d41-4a8e-9c0f-2b6d8e1a4f70", "phase": "main", "step": "everything"}}
	b.ReportAllocs()
	for b.Loop() {
		for _, r := range c.Resources {
			if _, err := r.Template.RenderObject(vars); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkRetainedPerFramework measures the heap a compiled Framework keeps
// for as long as its kind is served, the figure a manager of 200 Frameworks
// pays 200 times: B/first for one whose expressions no other Framework
// has, B/framework for each further one that repeats them (a copy under
// another name and kind, as a kept generation or a similar package is),
// which shares their planned programs.
func BenchmarkRetainedPerFramework(b *testing.B) {
	for _, name := range []string{"webapp", "zookeeper"} {
		b.Run(name, func(b *testing.B) {
			base := example(b, name)
			// What every Framework shares once per manager (the CEL
			// libraries) is not any one's.
			if _, errs := compile.Compile(example(b, "versions")); len(errs) > 0 {
				b.Fatal(errs)
			}
			const n = 50
			var first, perFramework float64
			for b.Loop() {
				kept := make([]*compile.Framework, n)
				before := heapInUse()
				for i := range kept {
					fw := base.DeepCopy()
					fw.Name = fmt.Sprintf("%s-%d", base.Name, i)
					fw.Spec.Names.Kind = fmt.Sprintf("%s%d", base.Spec.Names.Kind, i)
					c, errs := compile.Compile(fw)
					if len(errs) > 0 {
						b.Fatal(errs)
					}
					kept[i] = c
					if i == 0 {
						first = float64(heapInUse() - before)
					}
				}
				perFramework = (float64(heapInUse()-before) - first) / (n - 1)
				runtime.KeepAlive(kept)
			}
			b.ReportMetric(first, "B/first")
			b.ReportMetric(perFramework, "B/framework")
		})
	}
}

func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
