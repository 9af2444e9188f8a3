package framework

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/cel/openapi/resolver"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
)

// Compiled keeps each Framework's compilation of its current generation, so
// that installing it, warming its informers and running its cleanups on
// deletion compile a generation once between them. A compilation depends on
// the spec only, which only a new generation changes. The zero value is
// ready to use; it is safe for concurrent use.
type Compiled struct {
	// Schemas resolves the kinds externalRefs read, for typed expressions
	// (compile.Options); nil leaves them dynamic.
	Schemas resolver.SchemaResolver

	mu sync.Mutex
	m  map[string]compilation
}

type compilation struct {
	uid        types.UID
	generation int64
	fw         *compile.Framework
	errs       field.ErrorList
}

// Of returns fw's compilation, compiling it if its generation has not been.
func (c *Compiled) Of(fw *v1alpha1.Framework) (*compile.Framework, field.ErrorList) {
	c.mu.Lock()
	got, ok := c.m[fw.Name]
	c.mu.Unlock()
	if ok && got.uid == fw.UID && got.generation == fw.Generation {
		return got.fw, got.errs
	}
	compiled, errs := compile.CompileWith(fw, compile.Options{Schemas: c.Schemas})
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]compilation{}
	}
	c.m[fw.Name] = compilation{uid: fw.UID, generation: fw.Generation, fw: compiled, errs: errs}
	return compiled, errs
}

// Forget drops the compilation of a Framework that is gone.
func (c *Compiled) Forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, name)
}
