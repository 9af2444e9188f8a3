package integration

import (
	"encoding/json"
	"fmt"
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
	wio := &envtest.WebhookInstallOptions{}
	if err := wio.PrepWithoutInstalling(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = wio.Cleanup() })
	url := "https://" + wio.LocalServingHost + ":" + strconv.Itoa(wio.LocalServingPort)
	return startManagerElecting(t, operetta.Options{WorkersPerKind: 2, Conversion: &apiextensionsv1.WebhookClientConfig{URL: ptr.To(url), CABundle: wio.LocalServingCAData}},
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
