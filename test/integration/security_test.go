package integration

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
)

func resource(id, template string) v1alpha1.Resource {
	return v1alpha1.Resource{ID: id, Template: &runtime.RawExtension{Raw: []byte(template)}}
}

func onePlan(names ...string) map[string]v1alpha1.Plan {
	return map[string]v1alpha1.Plan{"deploy": {Phases: []v1alpha1.Phase{{Name: "main", Steps: steps(names...)}}}}
}

func TestATenantCannotReachOutsideItsNamespace(t *testing.T) {
	startManager(t)
	ns := namespace(t, "tenant")
	namespace(t, "victim")
	group := "tenant.test.operetta.dev"
	fw := framework("tenant", group,
		[]v1alpha1.Parameter{{Name: "target", Type: v1alpha1.TypeString, Default: &apiextensionsv1.JSON{Raw: []byte(`""`)}}},
		[]v1alpha1.Resource{
			resource("cm", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"${instance.metadata.name}","namespace":"${instance.spec.target}"}}`),
			resource("crb", `{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"${instance.metadata.name}-admin"},
				"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"cluster-admin"},
				"subjects":[{"kind":"ServiceAccount","name":"default","namespace":"${instance.metadata.namespace}"}]}`),
		},
		[]v1alpha1.Task{apply("cm", "cm"), apply("crb", "crb")},
		onePlan("cm", "crb"))
	createFramework(t, fw)
	frameworkReady(t, "tenant", metav1.ConditionTrue)
	gvk := thingGVK(group)

	if err := k8s.Create(ctx(t), instance(gvk, ns, "escape", map[string]any{"target": "victim"})); err != nil {
		t.Fatal(err)
	}
	u := waitForPlan(t, gvk, ns, "escape", "deploy", "FATAL_ERROR")
	msg, _, _ := unstructuredString(u, "status", "plans", "deploy", "message")
	mustContain(t, msg, `namespace "victim" is not the instance's namespace "tenant"`)
	if exists(t, &corev1.ConfigMap{}, "victim", "escape") {
		t.Fatal("a ConfigMap was created in another namespace")
	}

	// In its own namespace the ConfigMap is fine; the ClusterRoleBinding is not.
	if err := k8s.Create(ctx(t), instance(gvk, ns, "admin", map[string]any{"target": ns})); err != nil {
		t.Fatal(err)
	}
	u = waitForPlan(t, gvk, ns, "admin", "deploy", "FATAL_ERROR")
	msg, _, _ = unstructuredString(u, "status", "plans", "deploy", "message")
	mustContain(t, msg, "ClusterRoleBinding is cluster-scoped", "spec.allow.clusterScoped")
	if err := k8s.Get(ctx(t), client.ObjectKey{Name: "admin-admin"}, &rbacv1.ClusterRoleBinding{}); !apierrors.IsNotFound(err) {
		t.Fatalf("ClusterRoleBinding: %v, want none", err)
	}
}

func TestAnAllowListWidensWhereChildrenGo(t *testing.T) {
	startManager(t)
	ns := namespace(t, "allowed")
	shared := namespace(t, "shared")
	group := "allowed.test.operetta.dev"
	fw := framework("allowed", group, nil,
		[]v1alpha1.Resource{
			resource("cm", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"${instance.metadata.name}-shared","namespace":"shared"}}`),
			resource("role", `{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"${instance.metadata.name}-reader"},
				"rules":[{"apiGroups":[""],"resources":["configmaps"],"verbs":["get"]}]}`),
		},
		[]v1alpha1.Task{apply("cm", "cm"), apply("role", "role")},
		onePlan("cm", "role"))
	fw.Spec.Allow = v1alpha1.Allow{Namespaces: []string{shared}, ClusterScoped: []metav1.GroupKind{{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}}}
	createFramework(t, fw)
	frameworkReady(t, "allowed", metav1.ConditionTrue)
	gvk := thingGVK(group)
	if err := k8s.Create(ctx(t), instance(gvk, ns, "a", map[string]any{})); err != nil {
		t.Fatal(err)
	}
	waitForPlan(t, gvk, ns, "a", "deploy", "COMPLETE")
	cm := &corev1.ConfigMap{}
	if !exists(t, cm, shared, "a-shared") || cm.Labels["operetta.dev/instance-namespace"] != ns {
		t.Fatalf("ConfigMap in %s: labels %v", shared, cm.Labels)
	}
	if err := k8s.Get(ctx(t), client.ObjectKey{Name: "a-reader"}, &rbacv1.ClusterRole{}); err != nil {
		t.Fatal(err)
	}

	t.Run("deleting the instance deletes what no owner reference covers", func(t *testing.T) {
		u, _ := get(t, gvk, ns, "a")
		if err := k8s.Delete(ctx(t), u); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, func() error {
			if _, err := get(t, gvk, ns, "a"); !apierrors.IsNotFound(err) {
				return fmt.Errorf("instance still there: %v", err)
			}
			if exists(t, &corev1.ConfigMap{}, shared, "a-shared") {
				return fmt.Errorf("ConfigMap in %s still there", shared)
			}
			if err := k8s.Get(ctx(t), client.ObjectKey{Name: "a-reader"}, &rbacv1.ClusterRole{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("ClusterRole: %v", err)
			}
			return nil
		})
	})
}

func TestChildrenAreAppliedAsTheServiceAccount(t *testing.T) {
	startManager(t)
	ns := namespace(t, "impersonate")
	if err := k8s.Create(ctx(t), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "limited"}}); err != nil {
		t.Fatal(err)
	}
	grant(t, ns, "limited", "configmaps")
	group := "impersonate.test.operetta.dev"
	fw := framework("impersonate", group, nil,
		[]v1alpha1.Resource{configMap("config", ""),
			resource("secret", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"${instance.metadata.name}-secret"},"stringData":{"k":"v"}}`)},
		[]v1alpha1.Task{apply("config", "config"), apply("secret", "secret")},
		onePlan("config", "secret"))
	fw.Spec.ServiceAccountName, fw.Spec.ServiceAccountNamespace = "limited", ns
	createFramework(t, fw)
	frameworkReady(t, "impersonate", metav1.ConditionTrue)
	gvk := thingGVK(group)
	if err := k8s.Create(ctx(t), instance(gvk, ns, "i", map[string]any{})); err != nil {
		t.Fatal(err)
	}
	// A missing RBAC rule is fixed by granting it, not by changing the
	// instance: the plan retries, saying who may not do what.
	u := waitForPlan(t, gvk, ns, "i", "deploy", "ERROR")
	msg, _, _ := unstructuredString(u, "status", "plans", "deploy", "message")
	mustContain(t, msg, "applying Secret i-secret", `User "system:serviceaccount:impersonate:limited" cannot patch resource "secrets"`)
	expectHealth(t, "a plan retrying an error", u, status.InProgressStatus, "Progressing")
	if !exists(t, &corev1.ConfigMap{}, ns, "i-config") {
		t.Fatal("the ConfigMap the account may create was not applied")
	}
	if exists(t, &corev1.Secret{}, ns, "i-secret") {
		t.Fatal("a Secret was created although the account may not")
	}

	generation := u.GetGeneration()
	grant(t, ns, "limited", "secrets")
	u = waitForPlan(t, gvk, ns, "i", "deploy", "COMPLETE")
	if u.GetGeneration() != generation {
		t.Fatalf("the instance changed (generation %d, was %d): granting the rule alone must resume the plan", u.GetGeneration(), generation)
	}
	if !exists(t, &corev1.Secret{}, ns, "i-secret") {
		t.Fatal("the Secret was not applied once the account may")
	}
}

// grant lets service account sa of ns do anything with core resource in ns.
func grant(t *testing.T, ns, sa, resource string) {
	t.Helper()
	for _, o := range []client.Object{
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: resource},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{resource}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}}}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sa + "-" + resource},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: resource},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: ns}}},
	} {
		if err := k8s.Create(ctx(t), o); err != nil {
			t.Fatal(err)
		}
	}
}
