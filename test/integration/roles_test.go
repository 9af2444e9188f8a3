package integration

import (
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
)

// TestNamespaceUsersGetTheKindThroughItsRoles: a Framework's kind is granted
// through ClusterRoles that aggregate into the built-in view, edit and
// admin. envtest runs no aggregation controller, so users are bound to the
// Framework's roles themselves here; the local cluster's e2e binds a user to
// the built-in edit.
func TestNamespaceUsersGetTheKindThroughItsRoles(t *testing.T) {
	startManager(t)
	mine, theirs := namespace(t, "roles-mine"), namespace(t, "roles-theirs")
	group := "roles.test.operetta.dev"
	gvk := thingGVK(group)
	fw := framework("roles", group, nil, []v1alpha1.Resource{configMap("config", "")},
		[]v1alpha1.Task{apply("config", "config")}, onePlan("config"))
	createFramework(t, fw)
	frameworkReady(t, "roles", metav1.ConditionTrue)

	edit := &rbacv1.ClusterRole{}
	if err := k8s.Get(ctx(t), client.ObjectKey{Name: "operetta:roles:edit"}, edit); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"rbac.authorization.k8s.io/aggregate-to-edit", "rbac.authorization.k8s.io/aggregate-to-admin"} {
		if edit.Labels[l] != "true" {
			t.Errorf("ClusterRole %s lacks label %s=true: %v", edit.Name, l, edit.Labels)
		}
	}
	view := &rbacv1.ClusterRole{}
	if err := k8s.Get(ctx(t), client.ObjectKey{Name: "operetta:roles:view"}, view); err != nil {
		t.Fatal(err)
	}
	if view.Labels["rbac.authorization.k8s.io/aggregate-to-view"] != "true" {
		t.Errorf("ClusterRole %s lacks the aggregate-to-view label: %v", view.Name, view.Labels)
	}

	alice := userBoundTo(t, "alice", mine, edit.Name)
	if err := alice.Create(ctx(t), instance(gvk, mine, "a", map[string]any{})); err != nil {
		t.Fatalf("an editor of %s creating an instance there: %v", mine, err)
	}
	waitForPlan(t, gvk, mine, "a", "deploy", "COMPLETE")
	if err := alice.Create(ctx(t), instance(gvk, theirs, "a", map[string]any{})); !apierrors.IsForbidden(err) {
		t.Fatalf("an editor of %s creating an instance in %s: %v, want forbidden", mine, theirs, err)
	}
	bob := userBoundTo(t, "bob", mine, view.Name)
	if _, err := getAs(t, bob, gvk, mine, "a"); err != nil {
		t.Fatalf("a viewer reading an instance: %v", err)
	}
	if err := bob.Create(ctx(t), instance(gvk, mine, "b", map[string]any{})); !apierrors.IsForbidden(err) {
		t.Fatalf("a viewer creating an instance: %v, want forbidden", err)
	}

	// The roles go with the Framework.
	if err := k8s.Delete(ctx(t), fw); err != nil {
		t.Fatal(err)
	}
	frameworkGone(t, "roles")
	for _, name := range []string{edit.Name, view.Name} {
		if err := k8s.Get(ctx(t), client.ObjectKey{Name: name}, &rbacv1.ClusterRole{}); !apierrors.IsNotFound(err) {
			t.Errorf("ClusterRole %s after its Framework was deleted: %v, want gone", name, err)
		}
	}
}

// userBoundTo binds user to ClusterRole role in ns and returns a client that
// acts as user.
func userBoundTo(t *testing.T, user, ns, role string) client.Client {
	t.Helper()
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: user + "-" + strings.ReplaceAll(role, ":", "-")},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	}
	if err := k8s.Create(ctx(t), binding); err != nil {
		t.Fatal(err)
	}
	cfg := rest.CopyConfig(restConfig)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// getAs reads an object of gvk with client c.
func getAs(t *testing.T, c client.Client, gvk schema.GroupVersionKind, ns, name string) (*unstructured.Unstructured, error) {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	return u, c.Get(ctx(t), client.ObjectKey{Namespace: ns, Name: name}, u)
}
