package engine

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/cache/informertest"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllertest"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

func TestAnInstanceSourceSyncsWithItsInformerAndEnqueuesWhatChanged(t *testing.T) {
	gvk := schema.GroupVersionKind{Group: "apps.example.com", Version: "v1", Kind: "WebApp"}
	inf := controllertest.NewFakeInformer() // not synced yet
	c := &informertest.FakeInformers{InformersByGVK: map[schema.GroupVersionKind]toolscache.SharedIndexInformer{gvk: inf}}
	s := newInstanceSource(c, objectOf(gvk), logr.Discard(), &handler.TypedEnqueueRequestForObject[*unstructured.Unstructured]{}, instanceChanged())
	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	defer q.ShutDown()
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
