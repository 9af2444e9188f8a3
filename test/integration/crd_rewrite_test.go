package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"operetta.dev/operetta/internal/importer"
)

// TestARewrittenV1beta1CRDIsServed: the importer's v1 rewrite of a
// v1beta1 CRD (as Spark's package shipped them) is one the API server takes
// and establishes, and an object of it keeps a field the schema does not
// name, as v1beta1 kept it.
func TestARewrittenV1beta1CRDIsServed(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"operator.yaml": "name: spark\noperatorVersion: 0.1.0\ntasks:\n- name: crds\n  kind: Apply\n  spec: {resources: [crds.yaml]}\n" +
			"plans:\n  deploy:\n    phases:\n    - name: main\n      steps:\n      - {name: crds, tasks: [crds]}\n",
		"params.yaml": "parameters: []\n",
		"templates/crds.yaml": "apiVersion: apiextensions.k8s.io/v1beta1\nkind: CustomResourceDefinition\n" +
			"metadata: {name: sparkapplications.rewrite.sparkoperator.k8s.io}\n" +
			"spec:\n  group: rewrite.sparkoperator.k8s.io\n  version: v1beta2\n  scope: Namespaced\n" +
			"  names: {kind: SparkApplication, plural: sparkapplications}\n  subresources: {status: {}}\n" +
			"  validation:\n    openAPIV3Schema:\n      type: object\n      properties:\n        spec:\n          type: object\n" +
			"          properties: {mode: {type: string, enum: [cluster, client]}}\n",
	}
	for name, text := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res, err := importer.KUDO(dir, importer.Options{AllowClusterScoped: true})
	if err != nil {
		t.Fatal(err)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.UnmarshalStrict([]byte(res.Framework.Spec.Resources[0].GoTemplate.Text), crd); err != nil {
		t.Fatalf("the rewrite is not a v1 CRD: %v", err)
	}
	if err := k8s.Create(ctx(t), crd); err != nil {
		t.Fatalf("the API server refused the rewritten CRD: %v", err)
	}
	t.Cleanup(func() { _ = k8s.Delete(ctx(t), crd) })
	eventually(t, 30*time.Second, func() error {
		got := &apiextensionsv1.CustomResourceDefinition{}
		if err := k8s.Get(ctx(t), client.ObjectKey{Name: crd.Name}, got); err != nil {
			return err
		}
		for _, c := range got.Status.Conditions {
			if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("not established: %v", got.Status.Conditions)
	})
	ns := namespace(t, "spark-rewrite")
	app := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "rewrite.sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
		"metadata": map[string]any{"name": "pi", "namespace": ns},
		"spec":     map[string]any{"mode": "cluster", "sparkVersion": "3.5.0"},
	}}
	eventually(t, 30*time.Second, func() error { return k8s.Create(ctx(t), app) })
	got, err := get(t, app.GroupVersionKind(), ns, "pi")
	if err != nil {
		t.Fatal(err)
	}
	if v, _, _ := unstructured.NestedString(got.Object, "spec", "sparkVersion"); v != "3.5.0" {
		t.Errorf("a field the schema does not name was pruned (%q), as v1beta1 would not have", v)
	}
}
