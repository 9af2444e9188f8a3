package v1alpha1_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"operetta.dev/operetta/api/v1alpha1"
)

func TestOwnerOfChild(t *testing.T) {
	labels := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name, namespace string
		labels          map[string]string
		framework       string
		want            types.NamespacedName
		ok              bool
	}{
		{name: "a child elsewhere names its instance's namespace", namespace: "shared",
			labels:    labels(v1alpha1.LabelManagedBy, "operetta", v1alpha1.LabelFramework, "kafka", v1alpha1.LabelInstance, "db", v1alpha1.LabelInstanceNS, "tenant-a"),
			framework: "kafka", want: types.NamespacedName{Namespace: "tenant-a", Name: "db"}, ok: true},
		{name: "a cluster-scoped child", namespace: "",
			labels:    labels(v1alpha1.LabelManagedBy, "operetta", v1alpha1.LabelFramework, "kafka", v1alpha1.LabelInstance, "db", v1alpha1.LabelInstanceNS, "tenant-b"),
			framework: "kafka", want: types.NamespacedName{Namespace: "tenant-b", Name: "db"}, ok: true},
		{name: "without the namespace label, its own namespace", namespace: "tenant-a",
			labels:    labels(v1alpha1.LabelManagedBy, "operetta", v1alpha1.LabelFramework, "kafka", v1alpha1.LabelInstance, "db"),
			framework: "kafka", want: types.NamespacedName{Namespace: "tenant-a", Name: "db"}, ok: true},
		{name: "no labels", namespace: "tenant-a"},
		{name: "managed by another tool", namespace: "tenant-a",
			labels: labels(v1alpha1.LabelManagedBy, "Helm", v1alpha1.LabelFramework, "kafka", v1alpha1.LabelInstance, "db")},
		{name: "no instance", namespace: "tenant-a",
			labels: labels(v1alpha1.LabelManagedBy, "operetta", v1alpha1.LabelFramework, "kafka")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj := &metav1.ObjectMeta{Namespace: tc.namespace, Labels: tc.labels}
			framework, got, ok := v1alpha1.OwnerOfChild(obj)
			if framework != tc.framework || got != tc.want || ok != tc.ok {
				t.Errorf("OwnerOfChild = %s %s %v; want %s %s %v", framework, got, ok, tc.framework, tc.want, tc.ok)
			}
		})
	}
}
