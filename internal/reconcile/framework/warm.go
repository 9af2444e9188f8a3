package framework

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/engine"
	"operetta.dev/operetta/internal/kube"
	"operetta.dev/operetta/internal/reconcile/instance"
	"operetta.dev/operetta/internal/shard"
)

// Warmer runs on every replica, leader or not, and keeps the informers of
// the loops its shard's installed Frameworks need: a standby that is
// elected then starts its loops from synced caches, instead of listing
// every instance and child of the shard first. On the leader the loops own
// those informers and it does nothing.
type Warmer struct {
	// Cache is the manager's: it holds the shard's Frameworks.
	Cache  cache.Cache
	Engine *engine.Engine[*instance.Reconciler]
	// Shard whose Frameworks it warms (internal/shard).
	Shard string
	// Compiled is shared with the Reconciler: a generation is compiled
	// once on a replica.
	Compiled *Compiled

	warmed map[string]int64 // Framework → generation warmed
}

// NeedLeaderElection is false: warming is for standbys.
func (w *Warmer) NeedLeaderElection() bool { return false }

// Start warms each installed Framework as it is seen, and cools one that is
// gone, until ctx ends.
func (w *Warmer) Start(ctx context.Context) error {
	w.warmed = map[string]int64{}
	if w.Compiled == nil {
		w.Compiled = &Compiled{}
	}
	q := workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "framework-warmer"})
	defer q.ShutDown()
	// The Framework CRD may be applied with the manager (one GitOps
	// sync): wait for it rather than end the manager.
	var informer cache.Informer
	if err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		i, err := w.Cache.GetInformer(ctx, &v1alpha1.Framework{})
		informer = i
		return err == nil, nil
	}); err != nil {
		return nil // ctx ended
	}
	enqueue := func(obj any) {
		if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		if fw, ok := obj.(*v1alpha1.Framework); ok {
			q.Add(fw.Name)
		}
	}
	reg, err := informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, obj any) { enqueue(obj) }, DeleteFunc: enqueue,
	})
	if err != nil {
		return err
	}
	defer func() { _ = informer.RemoveEventHandler(reg) }()
	go func() {
		<-ctx.Done()
		q.ShutDown()
	}()
	for {
		name, shutdown := q.Get()
		if shutdown {
			return nil
		}
		if err := w.warm(ctx, name); err != nil {
			q.AddRateLimited(name)
		} else {
			q.Forget(name)
		}
		q.Done(name)
	}
}

// warm starts the informers of Framework name's loop once its current
// generation is installed, and stops them when it is gone from the shard.
func (w *Warmer) warm(ctx context.Context, name string) error {
	fw := &v1alpha1.Framework{}
	err := w.Cache.Get(ctx, client.ObjectKey{Name: name}, fw)
	switch {
	case kube.Gone(err) || err == nil && !shard.Owns(w.Shard, fw):
		delete(w.warmed, name)
		w.Engine.Cool(name)
		return nil
	case err != nil:
		return err
	}
	if !readyNow(fw) || w.warmed[name] == fw.Generation {
		return nil // not installed yet (the leader will), or warm already
	}
	compiled, errs := w.Compiled.Of(fw)
	if len(errs) > 0 {
		return nil // the leader reports it
	}
	if err := w.Engine.Warm(ctx, name, compiled.GVK, compiled.ChildKinds); err != nil {
		return err
	}
	w.warmed[name] = fw.Generation
	return nil
}
