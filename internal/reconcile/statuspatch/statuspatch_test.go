package statuspatch

import (
	"encoding/json"
	"testing"
)

func TestMergePatchCarriesOnlyWhatChanged(t *testing.T) {
	for _, tc := range []struct{ name, from, to, want string }{
		{"nothing changed", `{"a":1,"b":{"c":"x"}}`, `{"a":1,"b":{"c":"x"}}`, `{}`},
		{"a value changed", `{"a":1,"b":2}`, `{"a":1,"b":3}`, `{"b":3}`},
		{"a field added", `{"a":1}`, `{"a":1,"b":"new"}`, `{"b":"new"}`},
		{"a field removed", `{"a":1,"b":2}`, `{"a":1}`, `{"b":null}`},
		{"a nested field", `{"plans":{"deploy":{"status":"IN_PROGRESS","uid":"u1"}}}`,
			`{"plans":{"deploy":{"status":"COMPLETE","uid":"u1"}}}`, `{"plans":{"deploy":{"status":"COMPLETE"}}}`},
		{"a list is replaced whole", `{"inventory":[{"name":"a"},{"name":"b"}]}`,
			`{"inventory":[{"name":"a"}]}`, `{"inventory":[{"name":"a"}]}`},
		{"an object turned scalar", `{"a":{"b":1}}`, `{"a":"x"}`, `{"a":"x"}`},
		{"from nothing", `{}`, `{"a":{"b":1}}`, `{"a":{"b":1}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var from, to map[string]any
			if err := json.Unmarshal([]byte(tc.from), &from); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(tc.to), &to); err != nil {
				t.Fatal(err)
			}
			got, err := json.Marshal(mergePatch(from, to))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("mergePatch(%s, %s) = %s; want %s", tc.from, tc.to, got, tc.want)
			}
		})
	}
}
