package framework

import (
	"context"
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/kube"
)

func clusterRole(name string) *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

func TestAKindIsGrantedToNamespaceUsersThroughTheBuiltInRoles(t *testing.T) {
	ctx := context.Background()
	fw := greeters()
	compiled, errs := compile.Compile(fw)
	if len(errs) > 0 {
		t.Fatal(compile.Message(errs))
	}
	server := newAPIServer(t)
	r := newReconciler(server, nil)
	if err := r.applyRoles(ctx, fw, compiled); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		aggregates []string
		verbs      []string
	}{
		{"operetta:greeters:view", []string{"rbac.authorization.k8s.io/aggregate-to-view"}, []string{"get", "list", "watch"}},
		{"operetta:greeters:edit", []string{"rbac.authorization.k8s.io/aggregate-to-edit", "rbac.authorization.k8s.io/aggregate-to-admin"},
			[]string{"get", "list", "watch", "create", "update", "patch", "delete"}},
	} {
		role := &rbacv1.ClusterRole{}
		if err := server.Get(ctx, client.ObjectKey{Name: tc.name}, role); err != nil {
			t.Fatalf("ClusterRole %s: %v", tc.name, err)
		}
		for _, l := range tc.aggregates {
			if role.Labels[l] != "true" {
				t.Errorf("%s: labels %v, want %s", tc.name, role.Labels, l)
			}
		}
		if role.Labels[v1alpha1.LabelFramework] != "greeters" || len(role.OwnerReferences) != 1 || role.OwnerReferences[0].UID != fw.UID {
			t.Errorf("%s: labels %v, owners %+v; want it the Framework's", tc.name, role.Labels, role.OwnerReferences)
		}
		want := []rbacv1.PolicyRule{
			{APIGroups: []string{greeterGVK.Group}, Resources: []string{"greeters"}, Verbs: tc.verbs},
			{APIGroups: []string{greeterGVK.Group}, Resources: []string{"greeters/status"}, Verbs: []string{"get", "list", "watch"}},
		}
		if !slices.EqualFunc(role.Rules, want, func(a, b rbacv1.PolicyRule) bool {
			return slices.Equal(a.APIGroups, b.APIGroups) && slices.Equal(a.Resources, b.Resources) && slices.Equal(a.Verbs, b.Verbs)
		}) {
			t.Errorf("%s: rules %+v, want %+v", tc.name, role.Rules, want)
		}
	}

	if err := r.deleteRoles(ctx, "greeters"); err != nil {
		t.Fatal(err)
	}
	for _, name := range roleNames("greeters") {
		if err := server.Get(ctx, client.ObjectKey{Name: name}, clusterRole(name)); !kube.Gone(err) {
			t.Fatalf("ClusterRole %s after deleteRoles: %v", name, err)
		}
	}
	// Gone already: nothing to do, no error.
	if err := r.deleteRoles(ctx, "greeters"); err != nil {
		t.Fatalf("deleting roles already gone: %v", err)
	}
}
