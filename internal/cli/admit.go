package cli

import (
	_ "embed"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/manifest"
)

// frameworkCRD is the Framework CRD, copied here by `make manifests`.
//
//go:embed operetta.dev_frameworks.yaml
var frameworkCRD []byte

// crdSchema is a CRD version's schema, ready to default and validate objects as
// the API server does.
type crdSchema struct {
	structural *structuralschema.Structural
	validator  validation.SchemaCreateValidator
}

func schemaOf(crd *apiextensionsv1.CustomResourceDefinition) (*crdSchema, error) {
	return versionSchemaOf(crd, crd.Spec.Versions[0].Name)
}

// versionSchemaOf is the schema of one version of crd.
func versionSchemaOf(crd *apiextensionsv1.CustomResourceDefinition, version string) (*crdSchema, error) {
	i := slices.IndexFunc(crd.Spec.Versions, func(v apiextensionsv1.CustomResourceDefinitionVersion) bool { return v.Name == version })
	if i < 0 {
		return nil, fmt.Errorf("CRD %s has no version %s", crd.Name, version)
	}
	internal := &apiextensions.JSONSchemaProps{}
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(crd.Spec.Versions[i].Schema.OpenAPIV3Schema, internal, nil); err != nil {
		return nil, err
	}
	s, err := structuralschema.NewStructural(internal)
	if err != nil {
		return nil, err
	}
	v, _, err := validation.NewSchemaValidator(internal)
	if err != nil {
		return nil, err
	}
	return &crdSchema{structural: s, validator: v}, nil
}

// admit checks obj as the API server admits a create with kubectl's strict
// field validation: a field the schema does not know is refused, defaults
// are applied, the schema is checked. CEL validation rules
// (x-kubernetes-validations) are not run.
func (s *crdSchema) admit(obj map[string]any) error {
	unknown := pruning.PruneWithOptions(runtime.DeepCopyJSON(obj), s.structural, true,
		structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
	// Pruning leaves metadata to ObjectMeta's decoding, which is strict too.
	md, _ := obj["metadata"].(map[string]any)
	for k := range md {
		if !objectMetaFields[k] {
			unknown = append(unknown, "metadata."+k)
		}
	}
	sort.Strings(unknown)
	if len(unknown) > 0 {
		quoted := make([]string, len(unknown))
		for i, p := range unknown {
			quoted[i] = fmt.Sprintf("unknown field %q", p)
		}
		return fmt.Errorf("strict decoding error: %s", strings.Join(quoted, ", "))
	}
	if name(obj) == "" {
		return fmt.Errorf("metadata.name: Required value: name or generateName is required")
	}
	defaulting.Default(obj, s.structural)
	if errs := validation.ValidateCustomResource(nil, obj, s.validator); len(errs) > 0 {
		return errs.ToAggregate()
	}
	return nil
}

// objectMetaFields are the fields metadata may have.
var objectMetaFields = func() map[string]bool {
	out := map[string]bool{}
	t := reflect.TypeOf(metav1.ObjectMeta{})
	for i := range t.NumField() {
		if n, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); n != "" {
			out[n] = true
		}
	}
	return out
}()

var frameworkSchema = sync.OnceValues(func() (*crdSchema, error) {
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.Unmarshal(frameworkCRD, crd); err != nil {
		return nil, fmt.Errorf("the embedded Framework CRD: %w", err)
	}
	return schemaOf(crd)
})

// document is one object of a file.
type document struct {
	file  string
	index int // 0-based, among the file's documents
	obj   map[string]any
}

func (d document) where() string { return fmt.Sprintf("%s (document %d)", d.file, d.index+1) }

// readDocuments reads every YAML or JSON object in file ("-": stdin).
func readDocuments(file string, stdin io.Reader) ([]document, error) {
	var b []byte
	var err error
	if file == "-" {
		b, err = io.ReadAll(stdin)
	} else {
		b, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, err
	}
	objs, err := manifest.Decode(b, file)
	if err != nil {
		return nil, err
	}
	docs := make([]document, len(objs))
	for i, obj := range objs {
		docs[i] = document{file: file, index: i, obj: obj}
	}
	return docs, nil
}

// admitFramework decodes a Framework as the API server admits it.
func admitFramework(d document) (*v1alpha1.Framework, error) {
	s, err := frameworkSchema()
	if err != nil {
		return nil, err
	}
	obj := runtime.DeepCopyJSON(d.obj)
	if err := s.admit(obj); err != nil {
		return nil, fmt.Errorf("%s: the API server would refuse Framework %q: %w", d.where(), name(obj), err)
	}
	fw := &v1alpha1.Framework{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj, fw); err != nil {
		return nil, fmt.Errorf("%s: %w", d.where(), err)
	}
	return fw, nil
}

func name(obj map[string]any) string {
	return (&unstructured.Unstructured{Object: obj}).GetName()
}

func isFramework(obj map[string]any) bool {
	u := &unstructured.Unstructured{Object: obj}
	return u.GroupVersionKind() == v1alpha1.GroupVersion.WithKind("Framework")
}
