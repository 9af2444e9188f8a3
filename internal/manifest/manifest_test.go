package manifest

import (
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
