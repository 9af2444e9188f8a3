package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	instancectl "operetta.dev/operetta/internal/reconcile/instance"
)

// TestAnInstanceNeverTakesAnotherInstancesObject: two tenants' instances of
// the same name render the same cluster-scoped ClusterRole. The second is
// refused, naming the first; the first's ClusterRole is not written, and
// deleting the second leaves it. An object in an instance's inventory that
// became another's is left, not deleted, when the instance goes.
func TestAnInstanceNeverTakesAnotherInstancesObject(t *testing.T) {
	startManager(t)
	tenantA, tenantB := namespace(t, "owner-a"), namespace(t, "owner-b")
	group := "owned.test.operetta.dev"
	fw := framework("owned", group, nil,
		[]v1alpha1.Resource{resource("role", `{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole",
			"metadata":{"name":"ownership-${instance.metadata.name}-reader"},
			"rules":[{"apiGroups":[""],"resources":["configmaps"],"verbs":["get"]}]}`)},
		[]v1alpha1.Task{apply("role", "role")},
		onePlan("role"))
	fw.Spec.Allow = v1alpha1.Allow{ClusterScoped: []metav1.GroupKind{{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}}}
	createFramework(t, fw)
	frameworkReady(t, "owned", metav1.ConditionTrue)
	gvk := thingGVK(group)

	if err := k8s.Create(ctx(t), instance(gvk, tenantA, "db", map[string]any{})); err != nil {
		t.Fatal(err)
	}
	waitForPlan(t, gvk, tenantA, "db", "deploy", "COMPLETE")
	first := &rbacv1.ClusterRole{}
	if !exists(t, first, "", "ownership-db-reader") {
		t.Fatal("tenant A's ClusterRole was not created")
	}

	if err := k8s.Create(ctx(t), instance(gvk, tenantB, "db", map[string]any{})); err != nil {
		t.Fatal(err)
	}
	u := waitForPlan(t, gvk, tenantB, "db", "deploy", "FATAL_ERROR")
	msg, _, _ := unstructuredString(u, "status", "plans", "deploy", "message")
	mustContain(t, msg, "ClusterRole ownership-db-reader exists and belongs to Thing owner-a/db, not to this instance",
		"operetta neither overwrites nor adopts it")
	unchanged := func(when string) {
		t.Helper()
		now := &rbacv1.ClusterRole{}
		if !exists(t, now, "", "ownership-db-reader") {
			t.Fatalf("%s: tenant A's ClusterRole is gone", when)
		}
		if now.UID != first.UID || now.ResourceVersion != first.ResourceVersion || now.Labels[v1alpha1.LabelInstanceNS] != tenantA {
			t.Fatalf("%s: tenant A's ClusterRole was written: uid %s→%s, resourceVersion %s→%s, labels %v",
				when, first.UID, now.UID, first.ResourceVersion, now.ResourceVersion, now.Labels)
		}
	}
	unchanged("after tenant B's plan failed")

	b, _ := get(t, gvk, tenantB, "db")
	if err := k8s.Delete(ctx(t), b); err != nil {
		t.Fatal(err)
	}
	instanceGone(t, gvk, tenantB, "db")
	unchanged("after tenant B's instance was deleted")

	t.Run("an inventory entry whose object became another's is left when the instance goes", func(t *testing.T) {
		// Someone hands tenant A's ClusterRole to another instance.
		role := &rbacv1.ClusterRole{}
		if !exists(t, role, "", "ownership-db-reader") {
			t.Fatal("no ClusterRole")
		}
		role.Labels[v1alpha1.LabelInstanceNS] = "owner-c"
		if err := k8s.Update(ctx(t), role); err != nil {
			t.Fatal(err)
		}
		a, _ := get(t, gvk, tenantA, "db")
		if err := k8s.Delete(ctx(t), a); err != nil {
			t.Fatal(err)
		}
		instanceGone(t, gvk, tenantA, "db")
		after := &rbacv1.ClusterRole{}
		if !exists(t, after, "", "ownership-db-reader") || after.UID != role.UID {
			t.Fatalf("the ClusterRole that became owner-c/db's was deleted with owner-a/db (uid %s, was %s)", after.UID, role.UID)
		}
		// Left, and said so: the one who deletes the instance learns what
		// is still there.
		eventually(t, 10*time.Second, func() error {
			reasons, err := eventReasons(t, tenantA, "db")
			if err != nil || !reasons[instancectl.EventChildLeft] {
				return fmt.Errorf("no %s event about %s/db: %v %v", instancectl.EventChildLeft, tenantA, reasons, err)
			}
			return nil
		})
		_ = k8s.Delete(ctx(t), after)
	})
}

// TestAnInstanceNeverOverwritesAnObjectNoInstanceOwns: a ConfigMap someone
// made before, of the name the template renders, is neither overwritten nor
// adopted.
func TestAnInstanceNeverOverwritesAnObjectNoInstanceOwns(t *testing.T) {
	startManager(t)
	ns := namespace(t, "preexisting")
	group := "preexisting.test.operetta.dev"
	createFramework(t, configMapFramework("preexisting", group, "Greeter"))
	frameworkReady(t, "preexisting", metav1.ConditionTrue)
	theirs := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "g-greeting"}, Data: map[string]string{"greeting": "theirs"}}
	if err := k8s.Create(ctx(t), theirs); err != nil {
		t.Fatal(err)
	}
	gvk := thingGVK(group)
	gvk.Kind = "Greeter"
	if err := k8s.Create(ctx(t), instance(gvk, ns, "g", map[string]any{"greeting": "ours"})); err != nil {
		t.Fatal(err)
	}
	u := waitForPlan(t, gvk, ns, "g", "deploy", "FATAL_ERROR")
	msg, _, _ := unstructuredString(u, "status", "plans", "deploy", "message")
	mustContain(t, msg, "ConfigMap g-greeting exists and belongs to no operetta instance: operetta neither overwrites nor adopts it")
	now := &corev1.ConfigMap{}
	if !exists(t, now, ns, "g-greeting") {
		t.Fatal("the ConfigMap is gone")
	}
	if now.UID != theirs.UID || now.ResourceVersion != theirs.ResourceVersion || now.Data["greeting"] != "theirs" ||
		len(now.Labels) > 0 || len(now.OwnerReferences) > 0 {
		t.Fatalf("the ConfigMap was written: %+v", now.ObjectMeta)
	}
}

// TestAnInstancesOwnChildrenAreWrittenWithoutARead: the ownership checks
// cost no request on the normal path. A child is created, changed back and
// re-created after someone deleted it, each by applies alone: never read.
// (A reconcile woken by the instance's status write before the cache shows
// the child applies it once more, as it did before the checks.)
func TestAnInstancesOwnChildrenAreWrittenWithoutARead(t *testing.T) {
	m := startManager(t)
	ns := namespace(t, "ownpath")
	group := "ownpath.test.operetta.dev"
	createFramework(t, configMapFramework("ownpath", group, "Greeter"))
	frameworkReady(t, "ownpath", metav1.ConditionTrue)
	gvk := thingGVK(group)
	gvk.Kind = "Greeter"
	child := "/namespaces/" + ns + "/configmaps/o-greeting"
	writes := func(when string, mark int) {
		t.Helper()
		sent := m.requests.since(mark, child)
		for _, s := range sent {
			if !strings.HasPrefix(s, "PATCH") {
				t.Errorf("%s: the manager sent %q for the ConfigMap; want applies only", when, sent)
			}
		}
		if len(sent) == 0 {
			t.Errorf("%s: the manager sent nothing for the ConfigMap; want it applied", when)
		}
	}
	greeting := func() (*corev1.ConfigMap, error) {
		cm := &corev1.ConfigMap{}
		err := k8s.Get(ctx(t), client.ObjectKey{Namespace: ns, Name: "o-greeting"}, cm)
		return cm, err
	}

	mark := m.requests.mark()
	if err := k8s.Create(ctx(t), instance(gvk, ns, "o", map[string]any{"greeting": "hi"})); err != nil {
		t.Fatal(err)
	}
	waitForPlan(t, gvk, ns, "o", "deploy", "COMPLETE")
	writes("created", mark)
	cm, err := greeting()
	if err != nil {
		t.Fatal(err)
	}

	// Changed by someone: applied again, by its UID.
	mark = m.requests.mark()
	cm.Data["greeting"] = "changed"
	if err := k8s.Update(ctx(t), cm); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		now, err := greeting()
		if err != nil || now.Data["greeting"] != "hi" {
			return fmt.Errorf("greeting %v (%v), want hi again", now.Data, err)
		}
		if now.UID != cm.UID {
			return fmt.Errorf("uid %s, want the same object %s", now.UID, cm.UID)
		}
		return nil
	})
	writes("changed", mark)

	// Deleted by someone: created again.
	mark = m.requests.mark()
	if err := k8s.Delete(ctx(t), cm); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		now, err := greeting()
		if err != nil {
			return err
		}
		if now.UID == cm.UID {
			return fmt.Errorf("still the deleted one")
		}
		return nil
	})
	writes("deleted", mark)
	u := waitForPlan(t, gvk, ns, "o", "deploy", "COMPLETE")
	if msg, _, _ := unstructuredString(u, "status", "plans", "deploy", "message"); msg != "" {
		t.Errorf("plan message %q after the corrections, want none", msg)
	}
}
