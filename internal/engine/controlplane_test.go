package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// The engine's tests that need a real API server (a kind served, a watch,
// informers that come and go) share one envtest control plane, started by
// the first of them: the package's other tests run without one.
var (
	controlPlaneOnce sync.Once
	env              *envtest.Environment
	envConfig        *rest.Config
	envErr           error
)

// The kinds the test loops run, served by CRDs the control plane starts
// with.
var (
	widgetGVK = schema.GroupVersionKind{Group: "engine.test.operetta.dev", Version: "v1", Kind: "Widget"}
	gadgetGVK = schema.GroupVersionKind{Group: "engine.test.operetta.dev", Version: "v1", Kind: "Gadget"}
)

func TestMain(m *testing.M) {
	code := m.Run()
	if env != nil {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping envtest:", err)
		}
	}
	os.Exit(code)
}

// controlPlane starts etcd and kube-apiserver (bin/k8s, built by
// hack/control-plane.sh, or KUBEBUILDER_ASSETS) serving Widget and Gadget,
// once, and returns its config.
func controlPlane(t *testing.T) *rest.Config {
	t.Helper()
	controlPlaneOnce.Do(func() {
		if os.Getenv("KUBEBUILDER_ASSETS") == "" {
			assets, _ := filepath.Abs("../../bin/k8s")
			os.Setenv("KUBEBUILDER_ASSETS", assets)
		}
		if _, err := os.Stat(filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kube-apiserver")); err != nil {
			envErr = fmt.Errorf("no kube-apiserver in %s: run `make test`, which builds the control plane (hack/control-plane.sh)", os.Getenv("KUBEBUILDER_ASSETS"))
			return
		}
		env = &envtest.Environment{CRDs: []*apiextensionsv1.CustomResourceDefinition{crdOf(widgetGVK), crdOf(gadgetGVK)}}
		envConfig, envErr = env.Start()
	})
	if envErr != nil {
		t.Fatalf("starting envtest: %v", envErr)
	}
	return envConfig
}

// crdOf is a namespaced CRD serving gvk with any fields.
func crdOf(gvk schema.GroupVersionKind) *apiextensionsv1.CustomResourceDefinition {
	kind := gvk.Kind
	plural := strings.ToLower(kind) + "s"
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: plural + "." + gvk.Group},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: gvk.Group, Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: plural, Singular: strings.ToLower(kind), Kind: kind, ListKind: kind + "List"},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{Name: gvk.Version, Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object", XPreserveUnknownFields: ptr.To(true),
				}}}},
		},
	}
}
