package cli

import (
	"bytes"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"operetta.dev/operetta/internal/tasks"
)

func object(apiVersion, kind, ns, name string, fields map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	for k, v := range fields {
		u.Object[k] = v
	}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

func TestWriteDiff(t *testing.T) {
	cm := func(v string) *unstructured.Unstructured {
		return object("v1", "ConfigMap", "ns", "c", map[string]any{"data": map[string]any{"v": v}})
	}
	withManagedFields := cm("1")
	withManagedFields.SetManagedFields(nil)
	withManagedFields.Object["metadata"].(map[string]any)["managedFields"] = []any{map[string]any{"manager": "someone"}}
	secret := func(data map[string]any) *unstructured.Unstructured {
		return object("v1", "Secret", "ns", "s", map[string]any{"data": data})
	}
	for _, tc := range []struct {
		name          string
		change        tasks.Change
		want, notWant []string
	}{
		{"a changed field", tasks.Change{Before: cm("1"), After: cm("2")},
			[]string{"diff -u -N LIVE/v1.ConfigMap.ns.c MERGED/v1.ConfigMap.ns.c\n--- LIVE/v1.ConfigMap.ns.c\n+++ MERGED/v1.ConfigMap.ns.c\n", "-  v: \"1\"\n+  v: \"2\"\n"}, nil},
		{"no change, but who wrote it when", tasks.Change{Before: withManagedFields, After: cm("1")}, nil, []string{"diff"}},
		{"created", tasks.Change{After: cm("1")}, []string{"@@ -0,0 +1,7 @@\n", "+kind: ConfigMap\n", "+  namespace: ns\n"}, []string{"\n-a", "\n+\n"}},
		{"deleted", tasks.Change{Before: cm("1")}, []string{"@@ -1,7 +0,0 @@\n", "-kind: ConfigMap\n"}, []string{"\n+k"}},
		{"a cluster-scoped kind of a group", tasks.Change{After: object("rbac.authorization.k8s.io/v1", "ClusterRole", "", "r", nil)},
			[]string{"LIVE/rbac.authorization.k8s.io.v1.ClusterRole.r MERGED/rbac.authorization.k8s.io.v1.ClusterRole.r"}, nil},
		{"a Secret's values masked", tasks.Change{
			Before: secret(map[string]any{"same": "c2FtZQ==", "changed": "b2xk", "gone": "Z29uZQ=="}),
			After:  secret(map[string]any{"same": "c2FtZQ==", "changed": "bmV3", "new": "bmV3"})},
			[]string{"-  changed: '*** (before)'\n-  gone: '*** (before)'\n+  changed: '*** (after)'\n+  new: '*** (after)'\n   same: '***'\n"},
			[]string{"c2FtZQ", "b2xk", "bmV3", "Z29uZQ"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := writeDiff(&b, tc.change); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("diff lacks %q:\n%s", w, b.String())
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(b.String(), w) {
					t.Errorf("diff has %q:\n%s", w, b.String())
				}
			}
		})
	}
}
