package expr

import (
	"runtime"
	"testing"
	"time"

	"github.com/google/cel-go/cel"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

func specOf(types map[string]string) *apiextensionsv1.JSONSchemaProps {
	props := map[string]apiextensionsv1.JSONSchemaProps{}
	for name, t := range types {
		props[name] = apiextensionsv1.JSONSchemaProps{Type: t}
	}
	return &apiextensionsv1.JSONSchemaProps{Type: "object", Properties: props}
}

// Two Frameworks whose expression checks alike share its plan; where their
// types make the checker pick other functions (+ of strings, + of ints),
// each has its own, and each evaluates as its types say.
func TestAnExpressionCheckedAlikeSharesItsPlan(t *testing.T) {
	strs, err := NewEnv(specOf(map[string]string{"a": "string", "b": "string", "other": "integer"}))
	if err != nil {
		t.Fatal(err)
	}
	strsToo, err := NewEnv(specOf(map[string]string{"a": "string", "b": "string"}))
	if err != nil {
		t.Fatal(err)
	}
	ints, err := NewEnv(specOf(map[string]string{"a": "integer", "b": "integer"}))
	if err != nil {
		t.Fatal(err)
	}
	const src = "instance.spec.a + instance.spec.b"
	compile := func(env *Env) *Program {
		t.Helper()
		p, err := env.Compile(src)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	s1, s2, i1 := compile(strs), compile(strsToo), compile(ints)
	if s1 == s2 || s1.prg != s2.prg {
		t.Errorf("the same expression checked alike in two environments: programs shared %v, plans shared %v; want two programs over one plan",
			s1 == s2, s1.prg == s2.prg)
	}
	if i1.prg == s1.prg {
		t.Error("an expression checked to int addition shares the plan of string concatenation")
	}
	got, err := s2.Eval(Vars{Instance: map[string]any{"spec": map[string]any{"a": "x", "b": "y"}}})
	if err != nil || got != "xy" {
		t.Errorf("strings: got %v, %v; want xy", got, err)
	}
	got, err = i1.Eval(Vars{Instance: map[string]any{"spec": map[string]any{"a": int64(1), "b": int64(2)}}})
	if err != nil || got != int64(3) {
		t.Errorf("ints: got %v, %v; want 3", got, err)
	}
}

// A plan no Program uses any more is dropped: a manager whose Frameworks
// come and go keeps only the plans of those it serves.
func TestAPlanNoProgramUsesIsDropped(t *testing.T) {
	env, err := NewEnv(specOf(map[string]string{"unusedElsewhere": "string"}))
	if err != nil {
		t.Fatal(err)
	}
	p, err := env.Compile("instance.spec.unusedElsewhere + '-plans-test'")
	if err != nil {
		t.Fatal(err)
	}
	key := keyOf(p.Source, mustCompile(t, env, p.Source))
	if !held(key) {
		t.Fatal("the plan of a live program is not held")
	}
	runtime.KeepAlive(p)
	env, p = nil, nil
	deadline := time.Now().Add(10 * time.Second)
	for held(key) {
		if time.Now().After(deadline) {
			t.Fatal("the plan of an expression no program uses is still held after 10 s of collections")
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

func held(key planKey) bool {
	plans.Lock()
	defer plans.Unlock()
	_, ok := plans.m[key]
	return ok
}

func mustCompile(t *testing.T, env *Env, src string) *cel.Ast {
	t.Helper()
	ast, iss := env.cel.Compile(src)
	if iss.Err() != nil {
		t.Fatal(iss.Err())
	}
	return ast
}
