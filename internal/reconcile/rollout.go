package reconcile

import (
	"context"
	"sync"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
)

// rollout admits instances to the plan a Framework change triggers, at most
// maxConcurrent at a time, per loop. Who is upgrading is rebuilt from the
// informer cache when the generation changes (or the manager restarts), so
// the bound holds across restarts too.
type rollout struct {
	mu         sync.Mutex
	generation int64
	active     map[types.NamespacedName]bool
}

// admit reports whether instance may start upgrading to generation now.
func (ro *rollout) admit(ctx context.Context, reader client.Reader, gvk schema.GroupVersionKind, instance types.NamespacedName, generation int64, max int) (bool, error) {
	ro.mu.Lock()
	defer ro.mu.Unlock()
	if ro.generation != generation || ro.active == nil {
		active, err := upgrading(ctx, reader, gvk, generation)
		if err != nil {
			return false, err
		}
		ro.generation, ro.active = generation, active
	}
	if ro.active[instance] {
		return true, nil
	}
	if len(ro.active) >= max {
		return false, nil
	}
	ro.active[instance] = true
	return true, nil
}

// done frees an instance's place once its upgrade finished or it is gone.
func (ro *rollout) done(instance types.NamespacedName) {
	ro.mu.Lock()
	defer ro.mu.Unlock()
	delete(ro.active, instance)
}

// upgrading lists the instances already running a plan for generation.
func upgrading(ctx context.Context, reader client.Reader, gvk schema.GroupVersionKind, generation int64) (map[types.NamespacedName]bool, error) {
	items, err := listInstances(ctx, reader, gvk)
	if err != nil {
		return nil, err
	}
	out := map[types.NamespacedName]bool{}
	for i := range items {
		st := readStatus(&items[i])
		if st.FrameworkGeneration == generation && !st.ActivePlanStatus.IsTerminal() && st.ActivePlan != "" {
			out[client.ObjectKeyFromObject(&items[i])] = true
		}
	}
	return out, nil
}

// progress counts the instances of a kind and those that run generation with
// nothing left to do for it.
func progress(ctx context.Context, reader client.Reader, gvk schema.GroupVersionKind, generation int64) (updated, total int32, err error) {
	items, err := listInstances(ctx, reader, gvk)
	if err != nil {
		return 0, 0, err
	}
	for i := range items {
		st := readStatus(&items[i])
		total++
		if st.FrameworkGeneration == generation && st.ActivePlanStatus == v1alpha1.Complete {
			updated++
		}
	}
	return updated, total, nil
}
