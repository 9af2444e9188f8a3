package kube

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"operetta.dev/operetta/api/v1alpha1"
)

// TypedApplier applies a child and answers with the Go type of its kind.
type TypedApplier interface {
	// ApplyTyped server-side applies obj as operetta's field manager, taking
	// ownership of its fields, and returns the object the API server
	// answered with, as the children cache holds that kind
	// (ChildObject). ok is false, and nothing is sent, for a kind the
	// cache holds unstructured: it is applied as unstructured instead.
	ApplyTyped(ctx context.Context, obj *unstructured.Unstructured) (applied client.Object, ok bool, err error)
}

// MetadataReader reads an object's metadata from the API server itself,
// past any cache.
type MetadataReader interface {
	ReadMetadata(ctx context.Context, gvk schema.GroupVersionKind, key client.ObjectKey) (*metav1.PartialObjectMetadata, error)
}

// Writer is a client that also applies children of the built-in kinds as
// their Go types. controller-runtime answers an unstructured apply in JSON,
// decoded into a map: of all a reconcile does, that costs the most CPU. A
// built-in kind is answered here in protobuf instead, decoded into the type
// the children cache holds, whose kstatus verdict the cache's next event of
// the same version then finds remembered.
type Writer struct {
	client.Client
	config *rest.Config
	http   *http.Client
	codecs serializer.CodecFactory

	mu     sync.Mutex
	kinds  map[schema.GroupVersionKind]kindClient
	scopes map[schema.GroupVersionKind]bool // namespaced or not
	reader client.Reader                    // uncached, made on first use
}

// kindClient sends the requests of one kind.
type kindClient struct {
	rest.Interface
	resource   string
	namespaced bool
}

// NewWriter wraps c, whose requests go to config through httpClient, into a
// Writer.
func NewWriter(c client.Client, config *rest.Config, httpClient *http.Client) *Writer {
	config = rest.CopyConfig(config)
	if config.WarningHandler == nil && config.WarningHandlerWithContext == nil {
		// The API server's warnings on a child (a deprecated field, a
		// duplicate port) reach the manager's log, as c's do.
		config.WarningHandlerWithContext = log.NewKubeAPIWarningLogger(log.KubeAPIWarningLoggerOptions{})
	}
	return &Writer{Client: c, config: config, http: httpClient,
		codecs: serializer.NewCodecFactory(c.Scheme()), kinds: map[schema.GroupVersionKind]kindClient{},
		scopes: map[schema.GroupVersionKind]bool{}}
}

// ApplyTyped implements TypedApplier.
func (w *Writer) ApplyTyped(ctx context.Context, obj *unstructured.Unstructured) (client.Object, bool, error) {
	gvk := obj.GroupVersionKind()
	applied := ChildObject(w.Scheme(), gvk)
	if _, generic := applied.(*unstructured.Unstructured); generic {
		return nil, false, nil
	}
	kc, err := w.kindClient(gvk)
	if err != nil {
		return nil, true, err
	}
	body, err := obj.MarshalJSON()
	if err != nil {
		return nil, true, fmt.Errorf("encoding %s %s: %w", gvk.Kind, obj.GetName(), err)
	}
	err = kc.Patch(types.ApplyPatchType).
		NamespaceIfScoped(obj.GetNamespace(), kc.namespaced).
		Resource(kc.resource).
		Name(obj.GetName()).
		VersionedParams(&metav1.PatchOptions{FieldManager: v1alpha1.FieldManager, Force: ptr.To(true)}, metav1.ParameterCodec).
		Body(body).
		Do(ctx).
		Into(applied)
	if err != nil {
		return nil, true, err
	}
	// Decoding leaves a typed object without its kind; the cache's have it.
	applied.GetObjectKind().SetGroupVersionKind(gvk)
	return applied, true, nil
}

// ReadMetadata implements MetadataReader: it reads past the cache the
// manager's client may read from, which holds no children, and as the
// account the Writer writes as. Only a refused write, or a delete of a kind
// no informer holds, reads, so the client is made on first use.
func (w *Writer) ReadMetadata(ctx context.Context, gvk schema.GroupVersionKind, key client.ObjectKey) (*metav1.PartialObjectMetadata, error) {
	w.mu.Lock()
	reader := w.reader
	w.mu.Unlock()
	if reader == nil {
		c, err := client.New(w.config, client.Options{HTTPClient: w.http, Scheme: w.Scheme(), Mapper: w.RESTMapper()})
		if err != nil {
			return nil, fmt.Errorf("a client to read children with: %w", err)
		}
		w.mu.Lock()
		if w.reader == nil {
			w.reader = c
		}
		reader = w.reader
		w.mu.Unlock()
	}
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(gvk)
	if err := reader.Get(ctx, key, m); err != nil {
		return nil, err
	}
	return m, nil
}

// kindClient is the REST client of kind gvk, made once: it sends protobuf
// where the API server speaks it. One per kind, as controller-runtime makes
// them, since each has its own --kube-api-qps budget: ConfigMaps and
// Services sharing core/v1's would halve how fast either is applied.
func (w *Writer) kindClient(gvk schema.GroupVersionKind) (kindClient, error) {
	w.mu.Lock()
	kc, ok := w.kinds[gvk]
	w.mu.Unlock()
	if ok {
		return kc, nil
	}
	// Outside the lock: a kind the mapper has not seen sends it to discovery.
	mapping, err := w.RESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return kindClient{}, err
	}
	rc, err := apiutil.RESTClientForGVK(gvk, false, false, w.config, w.codecs, w.http)
	if err != nil {
		return kindClient{}, fmt.Errorf("a client for %s: %w", gvk, err)
	}
	kc = kindClient{Interface: rc, resource: mapping.Resource.Resource, namespaced: mapping.Scope.Name() == meta.RESTScopeNameNamespace}
	w.mu.Lock()
	defer w.mu.Unlock()
	if made, ok := w.kinds[gvk]; ok {
		return made, nil // made meanwhile: one client, one QPS budget, per kind
	}
	w.kinds[gvk] = kc
	return kc, nil
}

// IsObjectNamespaced answers from what the Writer learnt of obj's kind
// before, asking the client's REST mapper once per kind: the mapper
// allocates more per question than rendering the child does, and a kind's
// scope does not change (a CRD's is immutable).
func (w *Writer) IsObjectNamespaced(obj runtime.Object) (bool, error) {
	gvk, err := apiutil.GVKForObject(obj, w.Scheme())
	if err != nil {
		return false, err
	}
	w.mu.Lock()
	namespaced, known := w.scopes[gvk]
	w.mu.Unlock()
	if known {
		return namespaced, nil
	}
	if namespaced, err = w.Client.IsObjectNamespaced(obj); err != nil {
		return false, err
	}
	w.mu.Lock()
	w.scopes[gvk] = namespaced
	w.mu.Unlock()
	return namespaced, nil
}
