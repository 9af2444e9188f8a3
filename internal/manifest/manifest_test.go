package manifest

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	got, err := Decode([]byte("a: 1\nb: 1.5\n---\n---\n# only a comment\n---\n{\"c\": [2]}\n"), "f.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := []map[string]any{{"a": int64(1), "b": 1.5}, {"c": []any{int64(2)}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v, want %#v", got, want)
	}
	if _, err := Decode([]byte("a: 1\n---\n- a list\n"), "f.yaml"); err == nil || !strings.Contains(err.Error(), "f.yaml: document 2 is not an object") {
		t.Fatalf("a list: %v", err)
	}
}

func TestWithin(t *testing.T) {
	long := strings.Repeat("x", 10_000)
	many := make([]any, 50_000)
	for i := range many {
		many[i] = long // one string, shared: 500 MB once encoded
	}
	for _, tt := range []struct {
		name string
		obj  any
		want bool
	}{
		{"small", map[string]any{"a": []any{"b", int64(1), true, nil}}, true},
		{"a list of one long string 50,000 times", map[string]any{"data": map[string]any{"x": many}}, false},
		{"just over", map[string]any{"a": strings.Repeat("x", MaxObjectBytes)}, false},
	} {
		if got := Within(tt.obj, MaxObjectBytes); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
	// The estimate never undercounts: an object it admits encodes within
	// the limit.
	obj := map[string]any{"a": []any{"bb", int64(-12345678901234), 1.5e300, false, nil, map[string]any{"k": "v"}}}
	b, _ := json.Marshal(obj)
	least := 0
	for !Within(obj, least) {
		least++
	}
	if least < len(b) || least > 4*len(b) {
		t.Fatalf("encoded %d bytes, admitted from %d: the estimate must be above and near", len(b), least)
	}
}
