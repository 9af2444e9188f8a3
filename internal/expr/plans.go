package expr

import (
	"crypto/sha256"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"weak"

	"github.com/google/cel-go/cel"
	"k8s.io/apiserver/pkg/cel/library"
)

// A Framework's environment checks its expressions against its own types;
// planning them does not need those types. cel-go's planner reads a
// checked expression's references (variables by name, functions by
// overload) and its type map, and the API server's object types give it
// nothing more than field names (no accessors), so a checked expression
// planned in an environment of the same libraries without the Framework's
// types runs the same. Planning there, not in each Framework's
// environment, is what lets the memory go:
//   - a cel.Program keeps the environment it was planned in, so the
//     Framework's own (its declarations, its checker's copy of every
//     function, ~100 kB) is released once the Framework is compiled;
//   - cel-go builds the bindings of every function once per environment
//     (~40 kB), here once per manager;
//   - a cel.Program carries a table of every function (~20 kB), so one
//     expression checked alike in several Frameworks (or in the kept
//     generations of one) is planned once and shared.

// planningEnv is the environment every checked expression is planned in:
// the libraries of celEnv, no variable (a checked expression names its
// variables itself).
var planningEnv = sync.OnceValues(func() (*cel.Env, error) { return celEnv(nil, nil) })

// plan is a planned program, shared by every Program whose expression was
// checked alike. It lives while one of them does.
type plan struct{ cel.Program }

// plans holds every plan some Program still uses, by planKey; an entry is
// dropped when the last Program using it is collected.
var plans = struct {
	sync.Mutex
	m map[planKey]weak.Pointer[plan]
}{m: map[planKey]weak.Pointer[plan]{}}

type planKey [sha256.Size]byte

// planOf returns the plan of ast, checked from src: a shared one if an
// expression checked alike is planned already.
func planOf(src string, ast *cel.Ast) (*plan, error) {
	key := keyOf(src, ast)
	plans.Lock()
	if p := plans.m[key].Value(); p != nil {
		plans.Unlock()
		return p, nil
	}
	plans.Unlock()
	// Planned outside the lock: a plan takes a while, and two Frameworks
	// compiling the same expression at once at worst plan it twice.
	prg, err := planIn(ast)
	if err != nil {
		return nil, err
	}
	p := &plan{prg}
	plans.Lock()
	defer plans.Unlock()
	if q := plans.m[key].Value(); q != nil {
		return q, nil
	}
	plans.m[key] = weak.Make(p)
	runtime.AddCleanup(p, forget, key)
	return p, nil
}

// forget drops the entry of key once its plan is collected, unless a new
// plan took the key since.
func forget(key planKey) {
	plans.Lock()
	defer plans.Unlock()
	if w, ok := plans.m[key]; ok && w.Value() == nil {
		delete(plans.m, key)
	}
}

// planIn plans ast in the planning environment. cel-go folds constants
// while it plans, and panics on some it cannot (a map literal with a
// bytes key, {b'0': 0}): that is an expression refused, not a manager
// brought down.
func planIn(ast *cel.Ast) (prg cel.Program, err error) {
	env, err := planningEnv()
	if err != nil {
		return nil, err
	}
	defer func() {
		if p := recover(); p != nil {
			prg, err = nil, fmt.Errorf("cannot be planned: %v", p)
		}
	}()
	return env.Program(ast, cel.CostLimit(CostLimit), cel.CostTracking(&library.CostEstimator{}))
}

// keyOf is what a plan depends on: the source (which fixes the parsed
// tree and its ids), and what the checker resolved for each id, the
// references and the types.
func keyOf(src string, ast *cel.Ast) planKey {
	h := sha256.New()
	fmt.Fprintf(h, "%d:%s", len(src), src)
	native := ast.NativeRep()
	refs := native.ReferenceMap()
	for _, id := range sortedIDs(refs) {
		r := refs[id]
		fmt.Fprintf(h, "|r%d:%q:%q:%v", id, r.Name, r.OverloadIDs, r.Value)
	}
	typesOf := native.TypeMap()
	for _, id := range sortedIDs(typesOf) {
		fmt.Fprintf(h, "|t%d:%s", id, typesOf[id])
	}
	var key planKey
	h.Sum(key[:0])
	return key
}

func sortedIDs[V any](m map[int64]V) []int64 {
	ids := make([]int64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
