package integration

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"operetta.dev/operetta/api/v1alpha1"
	operetta "operetta.dev/operetta/internal/manager"
)

// startConverting starts a manager that serves the conversion webhook on a
// local port, with a certificate envtest makes, reached by URL.
func startConverting(t *testing.T) *manager {
	t.Helper()
	return startConvertingWith(t, 0)
}

// startConvertingWith is startConverting rewriting batch instances per
// reconcile in a storage migration (0: the default).
func startConvertingWith(t *testing.T, batch int) *manager {
	t.Helper()
	wio := &envtest.WebhookInstallOptions{}
	if err := wio.PrepWithoutInstalling(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = wio.Cleanup() })
	url := "https://" + wio.LocalServingHost + ":" + strconv.Itoa(wio.LocalServingPort)
	return startManagerElecting(t, operetta.Options{WorkersPerKind: 2, MigrationBatch: batch,
		Conversion: &apiextensionsv1.WebhookClientConfig{URL: ptr.To(url), CABundle: wio.LocalServingCAData}},
		nil, func(o *ctrl.Options) {
			o.WebhookServer = webhook.NewServer(webhook.Options{Host: wio.LocalServingHost, Port: wio.LocalServingPort, CertDir: wio.LocalServingCertDir})
		})
}

// versionedFramework is stored as v2 ({replicas, resources.memory, tags})
// and served as v1 too ({size, memory}); deploy writes replicas into a
// ConfigMap, as templates read the stored version.
func versionedFramework(name, group string) *v1alpha1.Framework {
	raw := func(s string) *apiextensionsv1.JSON { return &apiextensionsv1.JSON{Raw: []byte(s)} }
	fw := framework(name, group,
		[]v1alpha1.Parameter{
			{Name: "replicas", Type: v1alpha1.TypeInteger, Default: raw(`1`)},
			{Name: "resources", Type: v1alpha1.TypeObject, Schema: raw(`{"properties":{"memory":{"type":"string"}}}`)},
			{Name: "tags", Type: v1alpha1.TypeArray, Schema: raw(`{"items":{"type":"string"}}`)},
		},
		[]v1alpha1.Resource{resource("config", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"${instance.metadata.name}-config"},"data":{"replicas":"${string(instance.spec.replicas)}"}}`)},
		[]v1alpha1.Task{apply("config", "config")}, onePlan("config"))
	fw.Spec.Parameters = fw.Spec.Parameters[1:] // no value: each version has only what it says
	fw.Spec.Names.Version = "v2"
	fw.Spec.Versions = []v1alpha1.Version{{Name: "v1", Deprecated: true,
		Parameters: []v1alpha1.Parameter{{Name: "size", Type: v1alpha1.TypeInteger}, {Name: "memory", Type: v1alpha1.TypeString}},
		ToNext:     map[string]string{"replicas": "${self.?size}", "resources.memory": "${self.?memory}"},
		FromNext:   map[string]string{"size": "${self.?replicas}", "memory": "${self.?resources.?memory}"},
	}}
	return fw
}

func specOf(t *testing.T, gvk schema.GroupVersionKind, ns, name string) (*unstructured.Unstructured, string) {
	t.Helper()
	u, err := get(t, gvk, ns, name)
	if err != nil {
		t.Fatal(err)
	}
	spec, _, _ := unstructured.NestedMap(u.Object, "spec")
	return u, show(spec)
}

// TestAKindOfTwoVersionsConvertsBothWays: an instance written in v1 is read
// in v2 as its mappings say and back in v1 as it was, runs its plans on
// the stored version, and a field v1 has no place for survives a write
// through v1.
func TestAKindOfTwoVersionsConvertsBothWays(t *testing.T) {
	startConverting(t)
	ns := namespace(t, "versions")
	group := "versions.test.operetta.dev"
	createFramework(t, versionedFramework("versions", group))
	frameworkReady(t, "versions", metav1.ConditionTrue)
	v1 := schema.GroupVersionKind{Group: group, Version: "v1", Kind: "Thing"}
	v2 := v1.GroupVersion().WithKind("Thing")
	v2.Version = "v2"

	if err := k8s.Create(ctx(t), instance(v1, ns, "t", map[string]any{"size": int64(3), "memory": "1Gi"})); err != nil {
		t.Fatal(err)
	}
	if _, spec := specOf(t, v2, ns, "t"); spec != `{"replicas":3,"resources":{"memory":"1Gi"}}` {
		t.Fatalf("written as v1, read as v2: %s", spec)
	}
	if _, spec := specOf(t, v1, ns, "t"); spec != `{"memory":"1Gi","size":3}` {
		t.Fatalf("read back as v1: %s", spec)
	}
	waitForPlan(t, v2, ns, "t", "deploy", "COMPLETE")
	eventually(t, 30*time.Second, func() error {
		cm := map[string]any{}
		u := &unstructured.Unstructured{Object: cm}
		u.SetAPIVersion("v1")
		u.SetKind("ConfigMap")
		if err := k8s.Get(ctx(t), client.ObjectKey{Namespace: ns, Name: "t-config"}, u); err != nil {
			return err
		}
		if r, _, _ := unstructured.NestedString(u.Object, "data", "replicas"); r != "3" {
			return fmt.Errorf("the ConfigMap says replicas %q", r)
		}
		return nil
	})

	// tags, which v1 has no place for, survive an update through v1.
	updateAs(t, v2, ns, "t", func(u *unstructured.Unstructured) {
		_ = unstructured.SetNestedStringSlice(u.Object, []string{"a", "b"}, "spec", "tags")
	})
	old, spec := specOf(t, v1, ns, "t")
	if strings.Contains(spec, "tags") || !strings.Contains(old.GetAnnotations()["operetta.dev/kept-v2"], `"tags":["a","b"]`) {
		t.Fatalf("v1 view: %s, annotations %v", spec, old.GetAnnotations())
	}
	updateAs(t, v1, ns, "t", func(u *unstructured.Unstructured) {
		_ = unstructured.SetNestedField(u.Object, int64(5), "spec", "size")
	})
	if after, spec := specOf(t, v2, ns, "t"); spec != `{"replicas":5,"resources":{"memory":"1Gi"},"tags":["a","b"]}` || after.GetAnnotations()["operetta.dev/kept-v2"] != "" {
		t.Fatalf("after a write through v1: %s, annotations %v", spec, after.GetAnnotations())
	}
}

// updateAs reads the instance in the version of gvk, changes it and
// writes it back in that version, again on a conflict with the manager's
// status writes.
func updateAs(t *testing.T, gvk schema.GroupVersionKind, ns, name string, change func(*unstructured.Unstructured)) {
	t.Helper()
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		u, err := get(t, gvk, ns, name)
		if err != nil {
			return err
		}
		change(u)
		return k8s.Update(ctx(t), u)
	}); err != nil {
		t.Fatal(err)
	}
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// TestAStorageMigrationRewritesEveryInstanceAndResumes: 200 instances stored
// as v1; the stored version moves to v2 (v1 still served). The manager
// rewrites them in batches of 10, shows how far it got, goes on where it
// was after a restart, then trims storedVersions to v2, after which v1 can
// be dropped and every instance still reads.
func TestAStorageMigrationRewritesEveryInstanceAndResumes(t *testing.T) {
	const n = 200
	m := startConvertingWith(t, 10)
	ns := namespace(t, "migrate")
	group := "migrate.test.operetta.dev"
	fw := versionedFramework("migrate", group)
	stored := *fw.DeepCopy()
	// First only v1, with v1's parameters, as the kind was before.
	fw.Spec.Names.Version, fw.Spec.Parameters, fw.Spec.Versions = "v1", fw.Spec.Versions[0].Parameters, nil
	fw.Spec.Resources, fw.Spec.Tasks = nil, []v1alpha1.Task{{Name: "config", Kind: v1alpha1.TaskDummy, Done: true}}
	createFramework(t, fw)
	frameworkReady(t, "migrate", metav1.ConditionTrue)
	v1 := schema.GroupVersionKind{Group: group, Version: "v1", Kind: "Thing"}
	for i := range n {
		if err := k8s.Create(ctx(t), instance(v1, ns, fmt.Sprintf("t%03d", i), map[string]any{"size": int64(i%5 + 1)})); err != nil {
			t.Fatal(err)
		}
	}

	editFramework(t, "migrate", fw, func() {
		fw.Spec.Names.Version, fw.Spec.Parameters, fw.Spec.Versions = "v2", stored.Spec.Parameters, stored.Spec.Versions
	})
	progress := func() *v1alpha1.StorageMigration {
		f := &v1alpha1.Framework{}
		if err := k8s.Get(ctx(t), client.ObjectKey{Name: "migrate"}, f); err != nil {
			t.Fatal(err)
		}
		return f.Status.StorageMigration
	}
	var at int64
	eventually(t, 60*time.Second, func() error {
		p := progress()
		if p == nil || p.Migrated < 10 || p.After == "" {
			return fmt.Errorf("migration %+v", p)
		}
		at = p.Migrated
		return nil
	})
	m.stop()
	if p := progress(); p == nil || p.Migrated >= n || p.To != "v2" || !slices.Equal(p.From, []string{"v1"}) {
		t.Fatalf("stopped at %+v, want a migration to v2 under way", p)
	}
	startConvertingWith(t, 10)
	eventually(t, 30*time.Second, func() error {
		p := progress()
		if p != nil && p.Migrated < at {
			t.Fatalf("the migration started again from %d after a restart at %d", p.Migrated, at)
		}
		if p == nil || p.Migrated <= at {
			return fmt.Errorf("not resumed yet: %+v", p)
		}
		return nil
	})
	crd := &apiextensionsv1.CustomResourceDefinition{}
	eventually(t, 2*time.Minute, func() error {
		if err := k8s.Get(ctx(t), client.ObjectKey{Name: "things." + group}, crd); err != nil {
			return err
		}
		if p := progress(); p != nil || !slices.Equal(crd.Status.StoredVersions, []string{"v2"}) {
			return fmt.Errorf("migration %+v, storedVersions %v", p, crd.Status.StoredVersions)
		}
		return nil
	})

	// Nothing is stored as v1 any more: v1 can go, and all still read.
	editFramework(t, "migrate", fw, func() {
		fw.Spec.Versions = nil
		fw.Annotations = map[string]string{v1alpha1.AnnotationAllowBreakingChanges: "true"}
	})
	v2 := v1
	v2.Version = "v2"
	eventually(t, 60*time.Second, func() error {
		if err := k8s.Get(ctx(t), client.ObjectKey{Name: "things." + group}, crd); err != nil {
			return err
		}
		if len(crd.Spec.Versions) != 1 {
			return fmt.Errorf("versions %d", len(crd.Spec.Versions))
		}
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(v2.GroupVersion().WithKind("ThingList"))
		if err := k8s.List(ctx(t), list, client.InNamespace(ns)); err != nil {
			return err
		}
		if len(list.Items) != n {
			return fmt.Errorf("%d instances read as v2", len(list.Items))
		}
		for _, u := range list.Items {
			if r, _, _ := unstructured.NestedInt64(u.Object, "spec", "replicas"); r < 1 {
				return fmt.Errorf("%s has no replicas: %v", u.GetName(), u.Object["spec"])
			}
		}
		return nil
	})
}
