package importer

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apiextensions-apiserver/pkg/apihelpers"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1beta1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// crdScheme converts CustomResourceDefinitions between versions as the API
// server did when it served both.
var crdScheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{apiextensions.AddToScheme, v1beta1.AddToScheme, apiextensionsv1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}()

// crdToV1 rewrites an apiextensions.k8s.io/v1beta1 CustomResourceDefinition
// as v1, the way the API server converted one it stored: v1beta1's defaults
// first (every version served, preserveUnknownFields true), its one
// validation schema, subresources and columns copied to each version. v1
// prunes unknown fields, v1beta1 kept them unless told not to: a CRD that
// kept them keeps them, with x-kubernetes-preserve-unknown-fields on every
// object of each version's schema (a schema of its own if it had none). The
// result must pass the API server's v1 validation, a structural schema
// included; what does not is refused with its reasons, not installed
// broken.
func crdToV1(text string) (v1 string, notes []string, err error) {
	in := &v1beta1.CustomResourceDefinition{}
	if err := yaml.UnmarshalStrict([]byte(text), in); err != nil {
		return "", nil, fmt.Errorf("reading it as a v1beta1 CustomResourceDefinition: %w", err)
	}
	crdScheme.Default(in)
	v1beta1.SetObjectDefaults_CustomResourceDefinition(in)
	internal := &apiextensions.CustomResourceDefinition{}
	if err := crdScheme.Convert(in, internal, nil); err != nil {
		return "", nil, err
	}
	if internal.Spec.Conversion != nil && internal.Spec.Conversion.Strategy == apiextensions.WebhookConverter {
		return "", nil, fmt.Errorf("its conversion webhook is not rewritten: v1 asks for conversionReviewVersions the webhook must speak")
	}
	if p := internal.Spec.PreserveUnknownFields; p != nil && *p {
		internal.Spec.PreserveUnknownFields = nil
		perVersion := false
		for _, v := range internal.Spec.Versions {
			if v.Schema != nil && v.Schema.OpenAPIV3Schema != nil {
				keepUnknown(v.Schema.OpenAPIV3Schema)
				perVersion = true
			}
		}
		if !perVersion {
			if internal.Spec.Validation == nil || internal.Spec.Validation.OpenAPIV3Schema == nil {
				internal.Spec.Validation = &apiextensions.CustomResourceValidation{OpenAPIV3Schema: &apiextensions.JSONSchemaProps{Type: "object"}}
			}
			keepUnknown(internal.Spec.Validation.OpenAPIV3Schema)
		}
	}
	if apihelpers.IsProtectedCommunityGroup(internal.Spec.Group) && internal.Annotations[apiextensionsv1.KubeAPIApprovedAnnotation] == "" {
		// v1beta1 did not ask; v1 takes "unapproved" and says so in the
		// CRD's KubernetesAPIApprovalPolicyConformant condition.
		if internal.Annotations == nil {
			internal.Annotations = map[string]string{}
		}
		internal.Annotations[apiextensionsv1.KubeAPIApprovedAnnotation] = "unapproved, a v1beta1 CRD of a KUDO package rewritten to v1 by operetta"
		notes = append(notes, fmt.Sprintf("group %s is one of Kubernetes' own, which v1 keeps for approved APIs: annotated %s: unapproved, as v1 requires", internal.Spec.Group, apiextensionsv1.KubeAPIApprovedAnnotation))
	}
	internal.Status = apiextensions.CustomResourceDefinitionStatus{StoredVersions: storedVersions(internal)}
	if errs := validation.ValidateCustomResourceDefinition(context.Background(), internal); len(errs) > 0 {
		msgs := make([]string, 0, len(errs))
		for _, e := range errs {
			msgs = append(msgs, e.Error())
		}
		return "", nil, fmt.Errorf("as v1 the API server would refuse it: %s", strings.Join(msgs, "; "))
	}
	out := &apiextensionsv1.CustomResourceDefinition{}
	if err := crdScheme.Convert(internal, out, nil); err != nil {
		return "", nil, err
	}
	out.APIVersion, out.Kind = apiextensionsv1.SchemeGroupVersion.String(), "CustomResourceDefinition"
	out.Status = apiextensionsv1.CustomResourceDefinitionStatus{}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(out)
	if err != nil {
		return "", nil, err
	}
	delete(m, "status")
	if md, ok := m["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	b, err := yaml.Marshal(m)
	if err != nil {
		return "", nil, err
	}
	return string(b), notes, nil
}

// keepUnknown marks every object of schema as keeping the fields it does
// not name, which is what v1beta1's preserveUnknownFields did for the whole
// object: v1 prunes below any node that does not say so.
func keepUnknown(schema *apiextensions.JSONSchemaProps) {
	if schema == nil {
		return
	}
	// A map (additionalProperties) keeps every key already.
	if (schema.Type == "object" || schema.Type == "" && len(schema.Properties) > 0) && schema.AdditionalProperties == nil {
		keep := true
		schema.XPreserveUnknownFields = &keep
	}
	for name, p := range schema.Properties {
		keepUnknown(&p)
		schema.Properties[name] = p
	}
	if schema.Items != nil {
		keepUnknown(schema.Items.Schema)
		for i := range schema.Items.JSONSchemas {
			keepUnknown(&schema.Items.JSONSchemas[i])
		}
	}
	if schema.AdditionalProperties != nil {
		keepUnknown(schema.AdditionalProperties.Schema)
	}
}

// storedVersions is what a new CRD stores: its storage version.
func storedVersions(crd *apiextensions.CustomResourceDefinition) []string {
	for _, v := range crd.Spec.Versions {
		if v.Storage {
			return []string{v.Name}
		}
	}
	return nil
}
