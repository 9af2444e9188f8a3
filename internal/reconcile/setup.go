package reconcile

import (
	"fmt"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"operetta.dev/operetta/api/v1alpha1"
)

// NewScheme returns the scheme operetta's manager uses.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, v1alpha1.AddToScheme} {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// CacheOptions are the manager's cache options. The cache holds only CRDs
// operetta generated, and it never starts an informer because something read
// through it: an informer exists only for what a loop watches, so stopping the
// loop leaves none behind.
func CacheOptions() cache.Options {
	return cache.Options{
		ReaderFailOnMissingInformer: true,
		ByObject: map[client.Object]cache.ByObject{
			&apiextensionsv1.CustomResourceDefinition{}: {
				Label: labels.SelectorFromSet(labels.Set{v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue}),
			},
		},
	}
}

// Options tune the controllers.
type Options struct {
	// WorkersPerKind is the number of concurrent reconciles of each
	// generated kind.
	WorkersPerKind int
	// RequireServiceAccount refuses Frameworks that do not name a service
	// account to apply their children as: the least-privilege install, where
	// the manager itself may only read children.
	RequireServiceAccount bool
}

// Setup adds the loop registry and the Framework controller to mgr.
func Setup(mgr manager.Manager, opts Options) (*Registry, error) {
	if opts.WorkersPerKind < 1 {
		opts.WorkersPerKind = 1
	}
	registry, err := NewRegistry(mgr, opts.WorkersPerKind)
	if err != nil {
		return nil, fmt.Errorf("adding the loop registry: %w", err)
	}
	fr := &FrameworkReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Registry: registry, RequireServiceAccount: opts.RequireServiceAccount}
	if err := fr.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the Framework controller: %w", err)
	}
	return registry, nil
}
