// Package manager assembles operetta inside a controller-runtime manager:
// the scheme, the cache, the engine of per-kind loops and the Framework
// controller.
package manager

import (
	"context"
	"fmt"
	"strings"
	"time"

	"golang.org/x/time/rate"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/cel/openapi/resolver"
	"k8s.io/client-go/discovery"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmanager "sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/conversion"
	"operetta.dev/operetta/internal/crdgen"
	"operetta.dev/operetta/internal/engine"
	"operetta.dev/operetta/internal/kube"
	"operetta.dev/operetta/internal/metrics"
	"operetta.dev/operetta/internal/reconcile/framework"
	"operetta.dev/operetta/internal/reconcile/instance"
	"operetta.dev/operetta/internal/servingcert"
	"operetta.dev/operetta/internal/shard"
)

// Engine is the engine operetta runs: one instance loop per generated kind.
type Engine = engine.Engine[*instance.Reconciler]

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
		DefaultTransform:            kube.StripUnread,
		ByObject: map[client.Object]cache.ByObject{
			&apiextensionsv1.CustomResourceDefinition{}: {
				Label: labels.SelectorFromSet(labels.Set{v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue}),
			},
		},
	}
}

// MetricsOptions serves the metrics on addr: plain HTTP, or with secure
// HTTPS (a self-signed certificate) to clients the API server authenticates
// (TokenReview) and allows `get` on the /metrics URL (SubjectAccessReview).
func MetricsOptions(addr string, secure bool) metricsserver.Options {
	opts := metricsserver.Options{BindAddress: addr}
	if secure {
		opts.SecureServing = true
		opts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	return opts
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
	// SkipUserRoles leaves out the ClusterRoles that grant each generated
	// kind to namespace users through the built-in admin, edit and view.
	SkipUserRoles bool
	// Resync is how long an instance whose plan waits goes without an event
	// before it looks again anyway. Default DefaultResync.
	Resync time.Duration
	// MaxBackoff caps the exponential backoff of an instance whose plan
	// retries an error. Default DefaultMaxBackoff.
	MaxBackoff time.Duration
	// Shard is the shard this manager runs (internal/shard): the
	// Frameworks labelled with it, or the unlabelled ones if empty.
	Shard string
	// PipeImage is the image of the container Pipe tasks read files out
	// of; default tasks.DefaultPipeImage.
	PipeImage string
	// Conversion, if set, makes this manager serve the conversion webhook
	// on the manager's webhook server (every replica, leader or not), and
	// install kinds of several versions with it: ClientConfig says how the
	// API server reaches it, a Service or a URL, and its CA bundle; its
	// path is ConvertPath.
	Conversion *apiextensionsv1.WebhookClientConfig
	// Certificate, if set, is the webhook's certificate, whose CA bundle
	// replaces Conversion's in the CRDs; a new CA is written into each.
	Certificate *servingcert.Source
	// MigrationBatch is how many instances a reconcile rewrites when the
	// stored version of a kind changed; framework.DefaultMigrationBatch if 0.
	MigrationBatch int
}

// ConvertPath is where the webhook server answers ConversionReviews.
const ConvertPath = "/convert"

const (
	// DefaultResync is the safety resync of a waiting plan: what it waits
	// for wakes it long before — its children's events, the CRD of a kind
	// not served yet, the Framework an Instance task needs turning Ready.
	DefaultResync = 5 * time.Minute
	// DefaultMaxBackoff is the longest an instance waits between retries
	// of an error, such as a missing RBAC rule that someone grants later.
	DefaultMaxBackoff = 2 * time.Minute
	// minBackoff is the first retry's delay.
	minBackoff = 100 * time.Millisecond
)

// Setup adds the engine and the Framework controller to mgr, and returns the
// engine.
func Setup(mgr ctrlmanager.Manager, opts Options) (*Engine, error) {
	if opts.Resync <= 0 {
		opts.Resync = DefaultResync
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	fr := &framework.Reconciler{}
	// An externalRef's fields are typed by the kind's schema the API server
	// publishes (OpenAPI v3), read when a Framework generation compiles.
	dc, err := discovery.NewDiscoveryClientForConfigAndClient(mgr.GetConfig(), mgr.GetHTTPClient())
	if err != nil {
		return nil, fmt.Errorf("a discovery client: %w", err)
	}
	compiled := &framework.Compiled{Schemas: &resolver.ClientDiscoveryResolver{Discovery: dc}}
	e, err := engine.New[*instance.Reconciler](mgr, engine.Options{
		Workers:     opts.WorkersPerKind,
		RateLimiter: func() workqueue.TypedRateLimiter[reconcile.Request] { return rateLimiter(opts.MaxBackoff) },
		LoopFailed:  func(name string, _ error) { fr.LoopFailed(name) },
		Children:    shard.Children(opts.Shard),
		OwnerOf:     v1alpha1.OwnerOfChild,
	})
	if err != nil {
		return nil, fmt.Errorf("adding the engine: %w", err)
	}
	*fr = framework.Reconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Engine: e, Config: mgr.GetConfig(), HTTPClient: mgr.GetHTTPClient(),
		Recorder: boundedRecorder{mgr.GetEventRecorder(v1alpha1.FieldManager)}, RequireServiceAccount: opts.RequireServiceAccount,
		UserRoles: !opts.SkipUserRoles, Resync: opts.Resync, Shard: opts.Shard, PipeImage: opts.PipeImage, Compiled: compiled,
		MigrationBatch: opts.MigrationBatch,
	}
	if cc := opts.Conversion; cc != nil {
		served := cc.DeepCopy()
		switch {
		case served.Service != nil:
			served.Service.Path = ptr.To(ConvertPath)
		case served.URL != nil:
			served.URL = ptr.To(strings.TrimSuffix(*served.URL, "/") + ConvertPath)
		}
		fr.Conversion = served
		if src := opts.Certificate; src != nil {
			fr.CABundle = src.CABundle
			src.OnCAChange(fr.CAChanged)
		}
		mgr.GetWebhookServer().Register(ConvertPath, &conversion.Handler{Lookup: servedBy(mgr.GetCache(), compiled)})
	}
	if err := fr.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the Framework controller: %w", err)
	}
	if err := mgr.Add(&framework.Warmer{Cache: mgr.GetCache(), Engine: e, Shard: opts.Shard, Compiled: compiled}); err != nil {
		return nil, fmt.Errorf("adding the warmer: %w", err)
	}
	metrics.SetSources(metrics.Sources{
		Instances: func() map[string]map[metrics.InstanceState]int {
			out := map[string]map[metrics.InstanceState]int{}
			for _, name := range e.Running() {
				if rec, ok := e.Reconciler(name); ok {
					out[name] = rec.States()
				}
			}
			return out
		},
		Frameworks: func() map[[2]string]int { return frameworkConditions(mgr.GetCache()) },
		Informers:  e.Informers,
	})
	return e, nil
}

// servedBy finds the Framework that serves a kind among those the manager's
// cache holds, compiled: every replica answers conversions, and only the
// leader reconciles Frameworks.
func servedBy(c client.Reader, compiled *framework.Compiled) func(schema.GroupKind) (*compile.Framework, bool) {
	return func(gk schema.GroupKind) (*compile.Framework, bool) {
		// The cache's own objects, read only: only the one compiled is
		// copied (compiling once per generation).
		list := &v1alpha1.FrameworkList{}
		if err := c.List(context.Background(), list, client.UnsafeDisableDeepCopy); err != nil {
			return nil, false
		}
		for i := range list.Items {
			fw := &list.Items[i]
			names := crdgen.NamesOf(fw)
			if names.Group != gk.Group || names.Kind != gk.Kind || fw.DeletionTimestamp != nil {
				continue
			}
			if c, errs := compiled.Of(fw.DeepCopy()); len(errs) == 0 {
				return c, true
			}
		}
		return nil, false
	}
}

// rateLimiter is controller-runtime's default with a cap that suits causes
// people fix (its own cap of 1,000 s makes a fixed cause wait 16 minutes).
func rateLimiter(maxBackoff time.Duration) workqueue.TypedRateLimiter[reconcile.Request] {
	return workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](minBackoff, maxBackoff),
		&workqueue.TypedBucketRateLimiter[reconcile.Request]{Limiter: rate.NewLimiter(rate.Limit(10), 100)},
	)
}

// frameworkConditions counts the Frameworks in the cache by condition type and
// status; a type a Framework lacks counts as False, as kstatus reads it.
func frameworkConditions(reader client.Reader) map[[2]string]int {
	list := &v1alpha1.FrameworkList{}
	if err := reader.List(context.Background(), list); err != nil {
		return nil
	}
	out := map[[2]string]int{}
	for _, fw := range list.Items {
		for _, t := range []string{v1alpha1.ConditionReady, v1alpha1.ConditionReconciling, v1alpha1.ConditionStalled} {
			status := string(metav1.ConditionFalse)
			if c := meta.FindStatusCondition(fw.Status.Conditions, t); c != nil {
				status = string(c.Status)
			}
			out[[2]string{t, status}]++
		}
	}
	return out
}
