package engine

import (
	"context"
	"errors"
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
	predicates []instancePredicate
	log        logr.Logger

	// stopStarting ends the start, which retries until it has an informer:
	// a source that did not sync in time must not go on to make one.
	stopStarting context.CancelFunc
	// started is closed when the start ended, err telling why if not
	// synced.
	started chan struct{}
	err     error
}

// informerRetryPeriod is how long to wait before asking the cache again
// for an informer it could not make: the REST mapper may not yet know a
// kind whose CRD was established a moment ago.
const informerRetryPeriod = time.Second

func newInstanceSource(c cache.Cache, obj *unstructured.Unstructured, log logr.Logger,
	h handler.TypedEventHandler[*unstructured.Unstructured, reconcile.Request],
	predicates ...instancePredicate) *instanceSource {
	return &instanceSource{cache: c, obj: obj, handler: h, predicates: predicates, log: log, started: make(chan struct{})}
}

func (s *instanceSource) String() string {
	return fmt.Sprintf("instances of %s", s.obj.GroupVersionKind())
}

// Start registers the handler with the kind's informer in the background
// and returns at once; WaitForSync tells when the handler has seen the
// informer's initial list.
func (s *instanceSource) Start(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
	ctx, s.stopStarting = context.WithCancel(ctx)
	go func() {
		defer close(s.started)
		s.err = s.start(ctx, q)
	}()
	return nil
}

func (s *instanceSource) start(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
	var inf cache.Informer
	var lastErr error
	err := wait.PollUntilContextCancel(ctx, informerRetryPeriod, true, func(ctx context.Context) (bool, error) {
		var err error
		if inf, err = s.cache.GetInformer(ctx, s.obj, cache.BlockUntilSynced(false)); err != nil {
			if lastErr == nil || err.Error() != lastErr.Error() {
				s.log.Error(err, "getting the informer of the loop's kind; retrying")
			}
			lastErr = err
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		if lastErr != nil {
			return fmt.Errorf("getting its informer: %w", lastErr)
		}
		return err
	}
	reg, err := inf.AddEventHandlerWithOptions(&instanceEvents{ctx: ctx, source: s, queue: q}, toolscache.HandlerOptions{Logger: &s.log})
	if err != nil {
		return err
	}
	// Done once the informer has listed and the handler has been handed
	// every object of that list.
	if !toolscache.WaitFor(ctx, "", reg.HasSyncedChecker()) {
		return ctx.Err()
	}
	return nil
}

// WaitForSync returns once the handler has seen the informer's initial
// list, or with the error that stopped it. If ctx ends first the start is
// ended too. A loop stopped while it syncs is no error (as for
// source.Kind).
func (s *instanceSource) WaitForSync(ctx context.Context) error {
	select {
	case <-s.started:
	case <-ctx.Done():
		s.stopStarting()
		<-s.started
		switch {
		case errors.Is(ctx.Err(), context.Canceled), s.err == nil:
			return nil // the loop stops, or it synced just now
		case errors.Is(s.err, context.Canceled):
			return fmt.Errorf("%s did not sync: %w", s, ctx.Err())
		}
	}
	if s.err == nil || errors.Is(s.err, context.Canceled) {
		return nil
	}
	return fmt.Errorf("%s did not sync: %w", s, s.err)
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
		e.unexpected("add", obj)
		return
	}
	ev := event.TypedCreateEvent[*unstructured.Unstructured]{Object: o, IsInInitialList: isInInitialList}
	if e.source.lets(func(p instancePredicate) bool { return p.Create(ev) }) {
		e.source.handler.Create(e.ctx, ev, e.queue)
	}
}

func (e *instanceEvents) OnUpdate(oldObj, newObj any) {
	old, okOld := oldObj.(*unstructured.Unstructured)
	o, okNew := newObj.(*unstructured.Unstructured)
	if !okOld || !okNew {
		e.unexpected("update", newObj)
		return
	}
	ev := event.TypedUpdateEvent[*unstructured.Unstructured]{ObjectOld: old, ObjectNew: o}
	if e.source.lets(func(p instancePredicate) bool { return p.Update(ev) }) {
		e.source.handler.Update(e.ctx, ev, e.queue)
	}
}

func (e *instanceEvents) OnDelete(obj any) {
	ev := event.TypedDeleteEvent[*unstructured.Unstructured]{}
	if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		ev.DeleteStateUnknown, obj = true, tomb.Obj
	}
	o, ok := obj.(*unstructured.Unstructured)
	if !ok {
		e.unexpected("delete", obj)
		return
	}
	ev.Object = o
	if e.source.lets(func(p instancePredicate) bool { return p.Delete(ev) }) {
		e.source.handler.Delete(e.ctx, ev, e.queue)
	}
}

type instancePredicate = predicate.TypedPredicate[*unstructured.Unstructured]

// lets reports whether every predicate of the source lets an event through.
func (s *instanceSource) lets(through func(instancePredicate) bool) bool {
	for _, p := range s.predicates {
		if !through(p) {
			return false
		}
	}
	return true
}

// unexpected logs a notification that does not hold an instance: the
// informer of an unstructured kind hands on nothing else, so it is a bug.
func (e *instanceEvents) unexpected(what string, obj any) {
	e.source.log.Error(nil, "an instance informer's notification without an instance", "event", what, "type", fmt.Sprintf("%T", obj))
}
