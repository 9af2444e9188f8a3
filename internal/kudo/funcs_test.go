package kudo

import (
	"fmt"
	"reflect"
	"sort"
	"testing"
	"text/template"

	sprig "github.com/Masterminds/sprig/v3"
)

// sample is an argument of type t for calling a function blind.
func sample(t reflect.Type) reflect.Value {
	switch t.Kind() {
	case reflect.String:
		return reflect.ValueOf("a-b c").Convert(t)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return reflect.ValueOf(3).Convert(t)
	case reflect.Float32, reflect.Float64:
		return reflect.ValueOf(1.5).Convert(t)
	case reflect.Bool:
		return reflect.ValueOf(true)
	case reflect.Slice:
		s := reflect.MakeSlice(t, 2, 2)
		s.Index(0).Set(sample(t.Elem()))
		s.Index(1).Set(sample(t.Elem()))
		return s
	case reflect.Map:
		m := reflect.MakeMap(t)
		m.SetMapIndex(sample(t.Key()), sample(t.Elem()))
		return m
	case reflect.Interface:
		return reflect.ValueOf("x")
	}
	return reflect.Zero(t)
}

// twice calls fn with sample arguments twice: the two results must be
// equal. It reports false for a function that cannot be called blind.
func twice(fn any) (same, called bool) {
	defer func() {
		if recover() != nil {
			called = false
		}
	}()
	v := reflect.ValueOf(fn)
	t := v.Type()
	args := make([]reflect.Value, 0, t.NumIn())
	for i := range t.NumIn() {
		if t.IsVariadic() && i == t.NumIn()-1 {
			args = append(args, sample(t.In(i).Elem()), sample(t.In(i).Elem()))
			continue
		}
		args = append(args, sample(t.In(i)))
	}
	out := func() string { return fmt.Sprintf("%v", valuesOf(v.Call(args))) }
	return out() == out(), true
}

func valuesOf(vs []reflect.Value) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v.Interface()
	}
	return out
}

func nondeterministic(f template.FuncMap) []string {
	var bad []string
	for name, fn := range f {
		if same, called := twice(fn); called && !same {
			bad = append(bad, name)
		}
	}
	sort.Strings(bad)
	return bad
}

// TestEveryFunctionIsDeterministic calls every function a template may use
// twice with the same arguments: a different result would make operetta
// apply a child again on every reconcile.
func TestEveryFunctionIsDeterministic(t *testing.T) {
	if bad := nondeterministic(Funcs()); len(bad) > 0 {
		t.Fatalf("functions with another result on every call: %v", bad)
	}
	// The check finds what it must: sprig's own map has encryptAES (a
	// random IV) and the random functions.
	bad := nondeterministic(sprig.TxtFuncMap())
	for _, want := range []string{"encryptAES", "randAlphaNum", "uuidv4"} {
		if !contains(bad, want) {
			t.Errorf("the check missed %s in sprig's map: it found %v", want, bad)
		}
	}
	called := 0
	for _, fn := range Funcs() {
		if _, ok := twice(fn); ok {
			called++
		}
	}
	if called < len(Funcs())*3/4 {
		t.Fatalf("only %d of %d functions could be called blind: the check proves little", called, len(Funcs()))
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
