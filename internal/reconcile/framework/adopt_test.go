package framework

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
)

func TestAShardAdoptsTheChildrenAnotherShardApplied(t *testing.T) {
	compiled, errs := compile.Compile(greeters())
	if len(errs) > 0 {
		t.Fatal(compile.Message(errs))
	}
	child := func(name, framework, shard string) *corev1.ConfigMap {
		l := map[string]string{v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue, v1alpha1.LabelFramework: framework}
		if shard != "" {
			l[v1alpha1.LabelShard] = shard
		}
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, Labels: l}}
	}
	for _, tc := range []struct {
		shard string
		want  []string // the writes
	}{
		// The unsharded manager takes the children of every shard.
		{"", []string{"patch ConfigMap from-old", "patch ConfigMap mine"}},
		// A shard takes those of any other, or of no shard.
		{"blue", []string{"patch ConfigMap from-old", "patch ConfigMap unsharded"}},
	} {
		server := newAPIServer(t, child("from-old", "greeters", "old"), child("unsharded", "greeters", ""),
			child("mine", "greeters", "blue"), child("not-greeters", "other", "old"))
		r := newReconciler(server, nil)
		r.Shard = tc.shard
		r.adopt(compiled, server)
		sent := server.sent()
		slices.Sort(sent)
		if !slices.Equal(sent, tc.want) {
			t.Errorf("shard %q: sent %q, want %q", tc.shard, sent, tc.want)
		}
		for _, name := range []string{"from-old", "unsharded", "mine"} {
			cm := &corev1.ConfigMap{}
			if err := server.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: name}, cm); err != nil {
				t.Fatal(err)
			}
			if got, ok := cm.Labels[v1alpha1.LabelShard]; got != tc.shard || (tc.shard == "" && ok) {
				t.Errorf("shard %q: %s is labelled %q (present %v) after adoption", tc.shard, name, got, ok)
			}
		}
		other := &corev1.ConfigMap{}
		if err := server.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: "not-greeters"}, other); err != nil {
			t.Fatal(err)
		}
		if other.Labels[v1alpha1.LabelShard] != "old" {
			t.Errorf("shard %q: another Framework's child was adopted", tc.shard)
		}
	}
}
