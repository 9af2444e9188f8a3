package expr

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// FuzzTemplate feeds arbitrary template strings through parsing, compiling and
// rendering: none of them may panic, and text without "${" renders as itself.
func FuzzTemplate(f *testing.F) {
	for _, seed := range []string{
		"plain", "${instance.spec.replicas}", "a-${instance.metadata.name}-b", "$${HOME}",
		`${"}" + instance.metadata.name}`, "${{'a': 1}.a}", "${", "}", "${}", "${'''x'''}",
		"${lists.range(3).map(i, string(i)).join(',')}", "${1/0}", `${"\"}`,
	} {
		f.Add(seed)
	}
	env, err := NewEnv(nil)
	if err != nil {
		f.Fatal(err)
	}
	vars := Vars{Instance: map[string]any{
		"metadata": map[string]any{"name": "zk"},
		"spec":     map[string]any{"replicas": int64(3)},
	}}
	f.Fuzz(func(t *testing.T, s string) {
		tpl, errs := env.CompileTemplate(map[string]any{"v": s}, field.NewPath("t"))
		if len(errs) > 0 {
			for _, e := range errs {
				if e.Field != "t.v" {
					t.Fatalf("error at %s, want t.v", e.Field)
				}
			}
			return
		}
		out, err := tpl.RenderObject(vars)
		if err != nil {
			return // a runtime error is fine; a panic is not
		}
		if !strings.Contains(s, "${") && out["v"] != s {
			t.Fatalf("%q rendered as %#v", s, out["v"])
		}
	})
}
