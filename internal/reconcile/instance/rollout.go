package instance

import (
	"context"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// rollout admits instances to the plan a Framework change triggers, at most
// maxConcurrent at a time. Who is upgrading is rebuilt from the informer
// cache when the generation changes (or the manager restarts), so the bound
// holds across restarts too. Instances that wait are remembered, and a freed
// place wakes them: nothing polls.
type rollout struct {
	mu         sync.Mutex
	generation int64
	active     map[types.NamespacedName]bool
	held       map[types.NamespacedName]bool
}

// admit reports whether instance may start upgrading to generation now.
// list lists every instance, from the cache. When a newer generation starts
// a new rollout, the instances held for the older one are returned, to be
// woken rather than forgotten. A reconcile that still runs an older
// generation than the rollout's is never admitted: the newer generation
// enqueued every instance anyway.
func (ro *rollout) admit(ctx context.Context, list func(context.Context) ([]unstructured.Unstructured, error), instance types.NamespacedName, generation int64, max int) (ok bool, forgotten []types.NamespacedName, err error) {
	ro.mu.Lock()
	defer ro.mu.Unlock()
	if generation < ro.generation {
		return false, nil, nil
	}
	if generation != ro.generation || ro.active == nil {
		items, err := list(ctx)
		if err != nil {
			return false, nil, err
		}
		for k := range ro.held {
			forgotten = append(forgotten, k)
		}
		ro.generation, ro.active, ro.held = generation, upgrading(items, generation), map[types.NamespacedName]bool{}
	}
	if ro.active[instance] {
		return true, forgotten, nil
	}
	if len(ro.active) >= max {
		ro.held[instance] = true
		return false, forgotten, nil
	}
	delete(ro.held, instance)
	ro.active[instance] = true
	return true, forgotten, nil
}

// done frees an instance's place once its upgrade finished or it is gone, and
// returns the instances waiting for a place if one was freed.
func (ro *rollout) done(instance types.NamespacedName) []types.NamespacedName {
	ro.mu.Lock()
	defer ro.mu.Unlock()
	delete(ro.held, instance)
	if !ro.active[instance] {
		return nil
	}
	delete(ro.active, instance)
	waiting := make([]types.NamespacedName, 0, len(ro.held))
	for k := range ro.held {
		waiting = append(waiting, k)
	}
	return waiting
}

// upgrading lists the instances already running a plan for generation.
func upgrading(items []unstructured.Unstructured, generation int64) map[types.NamespacedName]bool {
	out := map[types.NamespacedName]bool{}
	for i := range items {
		st := ReadStatus(&items[i])
		if st.FrameworkGeneration == generation && !st.ActivePlanStatus.IsTerminal() && st.ActivePlan != "" {
			out[client.ObjectKeyFromObject(&items[i])] = true
		}
	}
	return out
}
