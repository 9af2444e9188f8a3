package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// instanceSource feeds a loop the events of its kind's instances, as
// controller-runtime's source.Kind does, but is told when its informer has
// synced instead of asking. source.Kind checks every 100 ms, first whether
// the informer has listed and then whether its handler has seen that list,
// so a loop started for a newly established kind began to work ~0.2 s
// after its informer was ready. client-go's DoneCheckers close a channel
// at that moment.
type instanceSource struct {
	cache      cache.Cache
	obj        *unstructured.Unstructured
	handler    handler.TypedEventHandler[*unstructured.Unstructured, reconcile.Request]
	predicates []predicate.TypedPredicate[*unstructured.Unstructured]
	log        logr.Logger
	// synced gets the error that ended the start, or is closed once the
	// handler has seen the informer's initial list.
	synced chan error
}

// retryInformer is how long to wait before asking the cache again for an
// informer it could not make (the REST mapper may not know a kind whose
// CRD was established a moment ago).
const retryInformer = time.Second

func newInstanceSource(c cache.Cache, obj *unstructured.Unstructured, log logr.Logger,
	h handler.TypedEventHandler[*unstructured.Unstructured, reconcile.Request],
	predicates ...predicate.TypedPredicate[*unstructured.Unstructured]) *instanceSource {
	return &instanceSource{cache: c, obj: obj, handler: h, predicates: predicates, log: log, synced: make(chan error, 1)}
}

func (s *instanceSource) String() string {
	return fmt.Sprintf("instances of %s", s.obj.GroupVersionKind())
}

// Start registers the handler with the kind's informer and returns at once;
// WaitForSync tells when the handler has seen the informer's initial list.
func (s *instanceSource) Start(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
	go func() {
		var inf cache.Informer
		err := wait.PollUntilContextCancel(ctx, retryInformer, true, func(ctx context.Context) (bool, error) {
			var err error
			if inf, err = s.cache.GetInformer(ctx, s.obj, cache.BlockUntilSynced(false)); err != nil {
				s.log.Error(err, "getting the informer of the loop's kind; retrying")
				return false, nil
			}
			return true, nil
		})
		if err != nil {
			s.synced <- err
			return
		}
		reg, err := inf.AddEventHandlerWithOptions(&instanceEvents{ctx: ctx, source: s, queue: q}, toolscache.HandlerOptions{Logger: &s.log})
		if err != nil {
			s.synced <- err
			return
		}
		if !toolscache.WaitFor(ctx, "", reg.HasSyncedChecker()) {
			s.synced <- ctx.Err()
			return
		}
		close(s.synced)
	}()
	return nil
}

// WaitForSync returns once the handler has seen the informer's initial
// list, or with the error that stopped it.
func (s *instanceSource) WaitForSync(ctx context.Context) error {
	select {
	case err := <-s.synced:
		if err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s did not sync: %w", s, ctx.Err())
	}
}

// instanceEvents turns the informer's notifications into controller-runtime
// events, filtered by the source's predicates, for its handler.
type instanceEvents struct {
	ctx    context.Context
	source *instanceSource
	queue  workqueue.TypedRateLimitingInterface[reconcile.Request]
}

func (e *instanceEvents) OnAdd(obj any, isInInitialList bool) {
	o, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return
	}
	ev := event.TypedCreateEvent[*unstructured.Unstructured]{Object: o, IsInInitialList: isInInitialList}
	for _, p := range e.source.predicates {
		if !p.Create(ev) {
			return
		}
	}
	e.source.handler.Create(e.ctx, ev, e.queue)
}

func (e *instanceEvents) OnUpdate(oldObj, newObj any) {
	old, ok := oldObj.(*unstructured.Unstructured)
	o, ok2 := newObj.(*unstructured.Unstructured)
	if !ok || !ok2 {
		return
	}
	ev := event.TypedUpdateEvent[*unstructured.Unstructured]{ObjectOld: old, ObjectNew: o}
	for _, p := range e.source.predicates {
		if !p.Update(ev) {
			return
		}
	}
	e.source.handler.Update(e.ctx, ev, e.queue)
}

func (e *instanceEvents) OnDelete(obj any) {
	ev := event.TypedDeleteEvent[*unstructured.Unstructured]{}
	if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		ev.DeleteStateUnknown, obj = true, tomb.Obj
	}
	o, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return
	}
	ev.Object = o
	for _, p := range e.source.predicates {
		if !p.Delete(ev) {
			return
		}
	}
	e.source.handler.Delete(e.ctx, ev, e.queue)
}
