package compile_test

import (
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
			"memory": "512Mi", "logLevel": "INFO", "clientPort": int64(2181)},
	}}
	b.ReportAllocs()
	for b.Loop() {
		for _, r := range c.Resources {
			if _, err := r.Template.RenderObject(vars); err != nil {
				b.Fatal(err)
			}
		}
	}
}
