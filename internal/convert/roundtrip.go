package convert

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	utiljson "k8s.io/apimachinery/pkg/util/json"
)

// RoundTripSamples is how many generated specs a check at apply converts.
const RoundTripSamples = 200

// RoundTrip converts samples generated specs of up.From up and back down,
// and says how the first that did not come back as it was differs: the
// field path and both values. "" when every one came back.
func RoundTrip(up, down *Direction, seed uint64, samples int) string {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := range samples {
		in, _ := Sample(up.from, rng, 0).(map[string]any)
		if in == nil {
			in = map[string]any{}
		}
		mid, err := up.Convert(in)
		if err != nil {
			return fmt.Sprintf("sample %d: %v", i, err)
		}
		back, err := down.Convert(mid)
		if err != nil {
			return fmt.Sprintf("sample %d, on the way back: %v", i, err)
		}
		if p, a, b, differ := firstDifference("spec", normalize(in), normalize(back)); differ {
			return fmt.Sprintf("%s → %s → %s loses %s: it was %s, it came back %s (sample %d: %s)", up.From, up.To, down.To, p, show(a), show(b), i, show(in))
		}
	}
	return ""
}

// Sample generates a value of schema s: every required property and most
// optional ones, values within enums and bounds; a string with a pattern
// is its default if it has one, else left out when optional.
func Sample(s *apiextensionsv1.JSONSchemaProps, rng *rand.Rand, depth int) any {
	if s == nil {
		return nil
	}
	if len(s.Enum) > 0 {
		var v any
		_ = utiljson.Unmarshal(s.Enum[rng.IntN(len(s.Enum))].Raw, &v)
		return v
	}
	switch s.Type {
	case "object":
		out := map[string]any{}
		required := map[string]bool{}
		for _, r := range s.Required {
			required[r] = true
		}
		names := make([]string, 0, len(s.Properties))
		for k := range s.Properties {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			p := s.Properties[k]
			if !required[k] && (depth > 4 || rng.IntN(10) < 3) {
				continue
			}
			if v := Sample(&p, rng, depth+1); v != nil {
				out[k] = v
			}
		}
		if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil && depth <= 4 {
			for i := range rng.IntN(3) {
				if v := Sample(s.AdditionalProperties.Schema, rng, depth+1); v != nil {
					out[fmt.Sprintf("key%d", i)] = v
				}
			}
		}
		return out
	case "array":
		if s.Items == nil || s.Items.Schema == nil || depth > 4 {
			return []any{}
		}
		n := rng.IntN(4)
		if s.MinItems != nil && int(*s.MinItems) > n {
			n = int(*s.MinItems)
		}
		out := make([]any, 0, n)
		for range n {
			if v := Sample(s.Items.Schema, rng, depth+1); v != nil {
				out = append(out, v)
			}
		}
		return out
	case "integer":
		lo, hi := int64(-1000), int64(1000)
		if s.Minimum != nil {
			lo = int64(*s.Minimum)
		}
		if s.Maximum != nil {
			hi = int64(*s.Maximum)
		}
		if hi < lo {
			return lo
		}
		return lo + rng.Int64N(hi-lo+1)
	case "number":
		lo, hi := -1000.0, 1000.0
		if s.Minimum != nil {
			lo = *s.Minimum
		}
		if s.Maximum != nil {
			hi = *s.Maximum
		}
		return lo + rng.Float64()*(hi-lo)
	case "boolean":
		return rng.IntN(2) == 1
	case "string":
		if s.Pattern != "" || s.Format != "" {
			if s.Default != nil {
				var v any
				_ = utiljson.Unmarshal(s.Default.Raw, &v)
				return v
			}
			return nil
		}
		n := 1 + rng.IntN(12)
		if s.MaxLength != nil && int64(n) > *s.MaxLength {
			n = int(*s.MaxLength)
		}
		const letters = "abcdefghijklmnopqrstuvwxyz0123456789-"
		b := make([]byte, n)
		for i := range b {
			b[i] = letters[rng.IntN(len(letters)-1)]
		}
		return string(b)
	}
	return map[string]any{}
}

// normalize makes what means the same compare equal: JSON does not tell 1
// from 1.0, and an object with no fields says no more than none.
func normalize(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			if n := normalize(e); !isEmptyObject(n) {
				out[k] = n
			}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = normalize(e)
		}
		return out
	case int64:
		return float64(v)
	case int:
		return float64(v)
	}
	return v
}

func isEmptyObject(v any) bool {
	m, ok := v.(map[string]any)
	return ok && len(m) == 0
}

// firstDifference finds the first path, in key order, where a and b
// differ, with the values there.
func firstDifference(path string, a, b any) (string, any, any, bool) {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			if p, x, y, differ := firstDifference(path+"."+k, am[k], bm[k]); differ {
				return p, x, y, true
			}
		}
		return "", nil, nil, false
	}
	if reflect.DeepEqual(a, b) {
		return "", nil, nil, false
	}
	return path, a, b, true
}

func show(v any) string {
	if v == nil {
		return "absent"
	}
	b, err := utiljson.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSpace(string(b))
}
