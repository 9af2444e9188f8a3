package engine

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache/informertest"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllertest"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"operetta.dev/operetta/internal/kube"
)

func TestAnInstanceSourceSyncsWithItsInformerAndEnqueuesWhatChanged(t *testing.T) {
	gvk := schema.GroupVersionKind{Group: "apps.example.com", Version: "v1", Kind: "WebApp"}
	inf := controllertest.NewFakeInformer() // not synced yet
	s, q := sourceOver(t, gvk, &informertest.FakeInformers{InformersByGVK: map[schema.GroupVersionKind]toolscache.SharedIndexInformer{gvk: inf}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.Start(ctx, q); err != nil {
		t.Fatal(err)
	}

	early, stop := context.WithTimeout(ctx, 20*time.Millisecond)
	defer stop()
	if err := s.WaitForSync(early); err == nil {
		t.Fatal("WaitForSync returned before the informer synced")
	}
	inf.Synced()
	waiting, stop := context.WithTimeout(ctx, 10*time.Second)
	defer stop()
	if err := s.WaitForSync(waiting); err != nil {
		t.Fatalf("WaitForSync after the informer synced: %v", err)
	}

	web := instance("web", 1, nil)
	statusOnly := instance("web", 1, nil)
	statusOnly.Object["status"] = map[string]any{"phase": "IN_PROGRESS"}
	newSpec := instance("web", 2, nil)
	deleting := instance("web", 2, &metav1.Time{Time: time.Now()})
	for _, tc := range []struct {
		name  string
		event func()
		want  bool
	}{
		{"an instance added", func() { inf.Add(web) }, true},
		{"a status write", func() { inf.Update(web, statusOnly) }, false},
		{"a new generation", func() { inf.Update(statusOnly, newSpec) }, true},
		{"deletion started", func() { inf.Update(newSpec, deleting) }, true},
		{"deleted, as a tombstone", func() {
			// What an informer hands on when its watch missed the deletion.
			events := &instanceEvents{ctx: ctx, source: s, queue: q}
			events.OnDelete(toolscache.DeletedFinalStateUnknown{Key: "ns/web", Obj: deleting})
		}, true},
	} {
		tc.event()
		if got := q.Len() == 1; got != tc.want {
			t.Errorf("%s: enqueued %v, want %v", tc.name, got, tc.want)
		}
		if q.Len() > 0 {
			req, _ := q.Get()
			if want := (types.NamespacedName{Namespace: "ns", Name: "web"}); req.NamespacedName != want {
				t.Errorf("%s: enqueued %v, want %v", tc.name, req.NamespacedName, want)
			}
			q.Done(req)
			q.Forget(req)
		}
	}
}

func instance(name string, generation int64, deleted *metav1.Time) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetAPIVersion("apps.example.com/v1")
	u.SetKind("WebApp")
	u.SetNamespace("ns")
	u.SetName(name)
	u.SetGeneration(generation)
	u.SetDeletionTimestamp(deleted)
	return u
}

// slowQueue takes its time to add, as a busy handler would.
type slowQueue struct {
	workqueue.TypedRateLimitingInterface[reconcile.Request]
}

func (q slowQueue) Add(req reconcile.Request) {
	time.Sleep(20 * time.Millisecond)
	q.TypedRateLimitingInterface.Add(req)
}

// listOnly lists and then watches nothing, like a kind nobody writes.
type listOnly struct{ *toolscache.ListWatch }

// IsWatchListSemanticsUnSupported makes the reflector list rather than
// ask for a watch that streams the list.
func (listOnly) IsWatchListSemanticsUnSupported() bool { return true }

func TestAnInstanceSourceSyncsOnceItsHandlerHasSeenTheList(t *testing.T) {
	gvk := schema.GroupVersionKind{Group: "apps.example.com", Version: "v1", Kind: "WebApp"}
	list := &unstructured.UnstructuredList{}
	list.SetResourceVersion("10")
	for _, name := range []string{"a", "b", "c"} {
		list.Items = append(list.Items, *instance(name, 1, nil))
	}
	inf := toolscache.NewSharedIndexInformer(listOnly{&toolscache.ListWatch{
		ListWithContextFunc: func(context.Context, metav1.ListOptions) (runtime.Object, error) { return list.DeepCopy(), nil },
		WatchFuncWithContext: func(context.Context, metav1.ListOptions) (watch.Interface, error) {
			return watch.NewFake(), nil
		},
	}}, &unstructured.Unstructured{}, 0, toolscache.Indexers{})
	s, q := sourceOver(t, gvk, &informertest.FakeInformers{InformersByGVK: map[schema.GroupVersionKind]toolscache.SharedIndexInformer{gvk: inf}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go inf.RunWithContext(ctx)
	if err := s.Start(ctx, slowQueue{q}); err != nil {
		t.Fatal(err)
	}
	waiting, stop := context.WithTimeout(ctx, 10*time.Second)
	defer stop()
	if err := s.WaitForSync(waiting); err != nil {
		t.Fatal(err)
	}
	// The informer itself syncs as soon as it has handed the list on; the
	// handler sees it 20 ms an object later.
	if q.Len() != len(list.Items) {
		t.Errorf("synced with %d of the %d listed instances enqueued", q.Len(), len(list.Items))
	}
}

func TestAnInstanceSourceThatDoesNotSyncSaysWhyOrIsStopped(t *testing.T) {
	gvk := schema.GroupVersionKind{Group: "apps.example.com", Version: "v1", Kind: "WebApp"}
	cause := errors.New("no matches for kind WebApp")
	s, q := sourceOver(t, gvk, &informertest.FakeInformers{Error: cause})
	if err := s.Start(context.Background(), q); err != nil {
		t.Fatal(err)
	}
	timeout, stop := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer stop()
	// WaitForSync returns only once the start has ended, so nothing goes on
	// asking for the informer.
	if err := s.WaitForSync(timeout); !errors.Is(err, cause) {
		t.Errorf("timed out: %v; want the cache's error", err)
	}

	unsynced := &informertest.FakeInformers{InformersByGVK: map[schema.GroupVersionKind]toolscache.SharedIndexInformer{gvk: controllertest.NewFakeInformer()}}
	stopping, q := sourceOver(t, gvk, unsynced)
	ctx, cancel := context.WithCancel(context.Background())
	if err := stopping.Start(ctx, q); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := stopping.WaitForSync(ctx); err != nil {
		t.Errorf("the loop stopped while it synced: %v; want no error", err)
	}
}

// sourceOver is the source a loop of kind gvk gets, over c, and a queue
// for it.
func sourceOver(t *testing.T, gvk schema.GroupVersionKind, c cache.Cache) (*instanceSource, workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	t.Cleanup(q.ShutDown)
	return newInstanceSource(c, kube.Unstructured(gvk), logr.Discard(), &handler.TypedEnqueueRequestForObject[*unstructured.Unstructured]{}, instanceChanged()), q
}
