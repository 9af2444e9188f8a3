package importer_test

import (
	"strings"
	"testing"

	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/importer"
)

// v1beta1CRD is a CRD as packages of KUDO's time shipped it (Spark's
// operator CRDs were of this shape): one version, one schema for all, a
// status subresource and printer columns at the top, unknown fields kept.
const v1beta1CRD = `apiVersion: apiextensions.k8s.io/v1beta1
kind: CustomResourceDefinition
metadata:
  name: sparkapplications.sparkoperator.k8s.io
spec:
  group: sparkoperator.k8s.io
  version: v1beta2
  scope: Namespaced
  names: {kind: SparkApplication, plural: sparkapplications, shortNames: [sparkapp]}
  subresources: {status: {}}
  additionalPrinterColumns:
  - {name: Status, type: string, JSONPath: .status.applicationState.state}
  validation:
    openAPIV3Schema:
      type: object
      properties:
        spec:
          type: object
          properties:
            mode: {type: string, enum: [cluster, client]}
            executor: {type: object, properties: {instances: {type: integer, minimum: 1}}}
`

func crdPackage(t *testing.T, crd string) string {
	return pkgDir(t, "tasks:\n- name: main\n  kind: Apply\n  spec: {resources: [crds.yaml]}\n", "", map[string]string{"crds.yaml": crd})
}

// TestAV1beta1CRDIsRewrittenToV1: what the API server did converting a
// stored v1beta1 CRD, the importer does to the template, with a note.
func TestAV1beta1CRDIsRewrittenToV1(t *testing.T) {
	res, err := importer.KUDO(crdPackage(t, v1beta1CRD), importer.Options{AllowClusterScoped: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, errs := compile.Compile(res.Framework); len(errs) > 0 {
		t.Fatalf("the imported Framework does not compile: %s", compile.Message(errs))
	}
	text := res.Framework.Spec.Resources[0].GoTemplate.Text
	for _, want := range []string{
		"apiVersion: apiextensions.k8s.io/v1\n", "  name: v1beta2\n", "api-approved.kubernetes.io: unapproved,", "served: true", "storage: true",
		"jsonPath: .status.applicationState.state", "x-kubernetes-preserve-unknown-fields: true", "status: {}",
		"enum:\n", "minimum: 1",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the rewritten CRD lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "apiextensions.k8s.io/v1beta1") || strings.Contains(text, "preserveUnknownFields: true") {
		t.Errorf("the rewritten CRD still says v1beta1 things:\n%s", text)
	}
	if kinds := res.Framework.Spec.Resources[0].GoTemplate.Kinds; len(kinds) != 1 || kinds[0].APIVersion != "apiextensions.k8s.io/v1" {
		t.Errorf("kinds %v, want the v1 CRD", kinds)
	}
	if !slicesContain(res.Notes, "templates/crds.yaml:1: apiextensions.k8s.io/v1beta1 CustomResourceDefinition rewritten to apiextensions.k8s.io/v1") {
		t.Errorf("no note of the rewrite: %q", res.Notes)
	}
}

// TestAV1beta1CRDv1WouldRefuseIsRefused: a CRD v1 would refuse (a schema
// that is not structural, a templated CRD, a conversion webhook) is
// refused at import, with the reason, instead of failing at install.
func TestAV1beta1CRDv1WouldRefuseIsRefused(t *testing.T) {
	tests := []struct{ name, crd, want string }{
		{"a schema that is not structural",
			strings.Replace(v1beta1CRD, "mode: {type: string, enum: [cluster, client]}", "mode: {enum: [cluster, client]}", 1),
			"templates/crds.yaml:1: an apiextensions.k8s.io/v1beta1 CustomResourceDefinition, which Kubernetes no longer serves: as v1 the API server would refuse it: " +
				"spec.validation.openAPIV3Schema.properties[spec].properties[mode].type: Required value: must not be empty for specified object fields"},
		{"template actions", strings.Replace(v1beta1CRD, "scope: Namespaced", "scope: {{ .Params.SCOPE }}", 1),
			"rewritten to v1 only when it has no template actions"},
		{"a conversion webhook", v1beta1CRD + "  conversion: {strategy: Webhook, webhookClientConfig: {url: \"https://x\"}}\n",
			"its conversion webhook is not rewritten"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := importer.KUDO(crdPackage(t, tt.crd), importer.Options{AllowClusterScoped: true})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func slicesContain(notes []string, prefix string) bool {
	for _, n := range notes {
		if strings.HasPrefix(n, prefix) {
			return true
		}
	}
	return false
}
