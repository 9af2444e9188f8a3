package convert

import (
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func props(p map[string]apiextensionsv1.JSONSchemaProps, required ...string) *apiextensionsv1.JSONSchemaProps {
	return &apiextensionsv1.JSONSchemaProps{Type: "object", Properties: p, Required: required}
}

var (
	str   = apiextensionsv1.JSONSchemaProps{Type: "string"}
	small = apiextensionsv1.JSONSchemaProps{Type: "integer", Minimum: ptr(1.0), Maximum: ptr(9.0)}
	tags  = apiextensionsv1.JSONSchemaProps{Type: "array", Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &str}}
	// v1 has size and a flat memory; v2 renamed size to replicas and put
	// memory under resources. name and tags are the same in both.
	v1 = props(map[string]apiextensionsv1.JSONSchemaProps{"name": str, "size": small, "memory": str, "tags": tags}, "size")
	v2 = props(map[string]apiextensionsv1.JSONSchemaProps{"name": str, "replicas": small, "tags": tags,
		"resources": *props(map[string]apiextensionsv1.JSONSchemaProps{"memory": str})}, "replicas")
	up   = map[string]string{"replicas": "${self.size}", "resources.memory": "${self.?memory}"}
	down = map[string]string{"size": "${self.replicas}", "memory": "${self.?resources.?memory}"}
)

func ptr[T any](v T) *T { return &v }

func compile(t *testing.T, from, to string, fs, ts *apiextensionsv1.JSONSchemaProps, m map[string]string) *Direction {
	t.Helper()
	d, errs := Compile(from, to, fs, ts, m, field.NewPath("spec", "versions").Index(0).Child("toNext"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return d
}

func TestAConversionRenamesRestructuresAndCarriesTheRest(t *testing.T) {
	d := compile(t, "v1", "v2", v1, v2, up)
	got, err := d.Convert(map[string]any{"name": "zk", "size": int64(3), "memory": "512Mi", "tags": []any{"a"}, "gone": "x"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"name":"zk","replicas":3,"resources":{"memory":"512Mi"},"tags":["a"]}`
	if show(got) != want {
		t.Fatalf("converted %s, want %s", show(got), want)
	}
	got, err = d.Convert(map[string]any{"size": int64(1)})
	if err != nil || show(got) != `{"replicas":1}` {
		t.Fatalf("an optional field left out: %s, %v", show(got), err)
	}
}

func TestMappingsAreCheckedAgainstBothSchemas(t *testing.T) {
	for name, tc := range map[string]struct {
		m    map[string]string
		want string
	}{
		"a field the target lacks":     {map[string]string{"replica": "${self.size}"}, `spec.versions[0].toNext[replica]: Invalid value: "replica": version v2's spec has no field replica`},
		"a field the source lacks":     {map[string]string{"replicas": "${self.sise}"}, `spec.versions[0].toNext[replicas]: Invalid value: "${self.sise}": ERROR: <input>:1:5: undefined field 'sise'`},
		"a type the field cannot hold": {map[string]string{"replicas": "${self.memory}"}, "gives a value of type string; spec.replicas of version v2 is a value of type integer"},
		"not one expression":           {map[string]string{"replicas": "size"}, "must be one ${...} expression over self"},
	} {
		t.Run(name, func(t *testing.T) {
			_, errs := Compile("v1", "v2", v1, v2, tc.m, field.NewPath("spec", "versions").Index(0).Child("toNext"))
			if !strings.Contains(errs.ToAggregate().Error(), tc.want) {
				t.Fatalf("got %v, want %q", errs, tc.want)
			}
		})
	}
}

func TestRoundTrips(t *testing.T) {
	there, back := compile(t, "v1", "v2", v1, v2, up), compile(t, "v2", "v1", v2, v1, down)
	if msg := RoundTrip(there, back, 1, RoundTripSamples); msg != "" {
		t.Fatalf("v1 → v2 → v1: %s", msg)
	}
	if msg := RoundTrip(back, there, 2, RoundTripSamples); msg != "" {
		t.Fatalf("v2 → v1 → v2: %s", msg)
	}
	// A way back that forgets the memory loses it: named, with the values.
	lossy := compile(t, "v2", "v1", v2, v1, map[string]string{"size": "${self.replicas}"})
	msg := RoundTrip(there, lossy, 1, RoundTripSamples)
	if !strings.Contains(msg, "v1 → v2 → v1 loses spec.memory: it was \"") || !strings.Contains(msg, "it came back absent") {
		t.Fatalf("a lossy way back: %q", msg)
	}
}

// FuzzRoundTrip: for any seed, the generated specs of either version come
// back as they were.
func FuzzRoundTrip(f *testing.F) {
	for _, seed := range []uint64{0, 1, 42, 1 << 40} {
		f.Add(seed)
	}
	there, errs := Compile("v1", "v2", v1, v2, up, field.NewPath("up"))
	if len(errs) > 0 {
		f.Fatal(errs)
	}
	back, errs := Compile("v2", "v1", v2, v1, down, field.NewPath("down"))
	if len(errs) > 0 {
		f.Fatal(errs)
	}
	f.Fuzz(func(t *testing.T, seed uint64) {
		if msg := RoundTrip(there, back, seed, 10); msg != "" {
			t.Fatal(msg)
		}
		if msg := RoundTrip(back, there, seed, 10); msg != "" {
			t.Fatal(msg)
		}
	})
}
