package framework

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
)

// Namespace users get a generated kind through Kubernetes' own user-facing
// roles: the ClusterRoles below carry the labels that aggregate them into
// the built-in admin, edit and view roles, so whoever may edit a namespace
// may create instances in it, and nowhere else. They belong to the
// Framework and go with it.

// aggregateTo are the labels that aggregate a ClusterRole into built-in roles.
var aggregateTo = map[string][]string{
	"view": {"rbac.authorization.k8s.io/aggregate-to-view"},
	"edit": {"rbac.authorization.k8s.io/aggregate-to-edit", "rbac.authorization.k8s.io/aggregate-to-admin"},
}

var roleVerbs = map[string][]string{
	"view": {"get", "list", "watch"},
	"edit": {"get", "list", "watch", "create", "update", "patch", "delete"},
}

// roleNames are the ClusterRoles a Framework's kind is granted through.
func roleNames(framework string) []string {
	return []string{roleName(framework, "view"), roleName(framework, "edit")}
}

func roleName(framework, access string) string {
	return fmt.Sprintf("operetta:%s:%s", framework, access)
}

// applyRoles applies the ClusterRoles of compiled's kind.
func (r *Reconciler) applyRoles(ctx context.Context, fw *v1alpha1.Framework, compiled *compile.Framework) error {
	for _, access := range []string{"view", "edit"} {
		role := &rbacv1.ClusterRole{
			TypeMeta: metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "ClusterRole"},
			ObjectMeta: metav1.ObjectMeta{
				Name: roleName(fw.Name, access),
				Labels: map[string]string{
					v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue,
					v1alpha1.LabelFramework: fw.Name,
				},
				OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(fw, v1alpha1.GroupVersion.WithKind("Framework"))},
			},
			Rules: []rbacv1.PolicyRule{{
				APIGroups: []string{compiled.GVK.Group},
				Resources: []string{compiled.CRD.Spec.Names.Plural},
				Verbs:     roleVerbs[access],
			}, {
				APIGroups: []string{compiled.GVK.Group},
				Resources: []string{compiled.CRD.Spec.Names.Plural + "/status"},
				Verbs:     []string{"get", "list", "watch"},
			}},
		}
		for _, l := range aggregateTo[access] {
			role.Labels[l] = "true"
		}
		if _, err := r.apply(ctx, role, "ClusterRole "+role.Name); err != nil {
			return err
		}
	}
	return nil
}

// deleteRoles deletes the ClusterRoles of Framework name. Their owner
// reference would have the garbage collector do it too, but not before the
// Framework is gone, and not on a cluster without one.
func (r *Reconciler) deleteRoles(ctx context.Context, name string) error {
	for _, n := range roleNames(name) {
		if err := r.Client.Delete(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: n}}); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting ClusterRole %s: %w", n, err)
		}
	}
	return nil
}
