package instance

import (
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/metrics"
)

// progress counts, from what each reconcile found, how far a Framework
// generation has reached the instances, and how many of them are ready. The Framework controller reads it
// when told it changed, instead of listing instances on a timer.
type progress struct {
	mu        sync.Mutex
	instances map[types.NamespacedName]standing
}

// standing is where one instance stands.
type standing struct {
	generation int64
	settled    bool // its plans for generation are done, or failed for good
	failed     bool
	ready      bool // its Ready condition is True
	stalled    bool // its Stalled condition is True
	planStatus v1alpha1.ExecutionStatus
	// migrating: this loop saw it move from an older generation to this
	// one, and its plans for it are not done yet.
	migrating bool
}

func standingOf(st v1alpha1.InstanceStatus) standing {
	idle := len(st.PlanQueue) == 0
	return standing{
		generation: st.FrameworkGeneration,
		settled:    idle && st.ActivePlanStatus.IsTerminal(),
		failed:     st.ActivePlanStatus == v1alpha1.FatalError,
		ready:      meta.IsStatusConditionTrue(st.Conditions, v1alpha1.ConditionReady),
		stalled:    meta.IsStatusConditionTrue(st.Conditions, v1alpha1.ConditionStalled),
		planStatus: st.ActivePlanStatus,
	}
}

// set records where an instance stands, and reports whether that changed.
func (p *progress) set(key types.NamespacedName, s standing) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.instances == nil {
		p.instances = map[types.NamespacedName]standing{}
	}
	before, seen := p.instances[key]
	if seen && !s.settled && (before.migrating && before.generation == s.generation ||
		before.generation != 0 && before.generation < s.generation) {
		s.migrating = true
	}
	p.instances[key] = s
	return !seen || before != s
}

// forget drops an instance that is gone, and reports whether it was counted.
func (p *progress) forget(key types.NamespacedName) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, seen := p.instances[key]
	delete(p.instances, key)
	return seen
}

// of counts the instances at generation: those updated, failed, and all.
func (p *progress) of(generation int64) v1alpha1.RolloutStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := v1alpha1.RolloutStatus{Generation: generation, Total: int32(len(p.instances))}
	for _, s := range p.instances {
		switch {
		case s.generation != generation || !s.settled:
		case s.failed:
			out.Failed++
		default:
			out.Updated++
		}
	}
	return out
}

// rollingOut says whether generation has not reached every instance yet:
// some still stand on an older one, or are being moved to it. New instances
// and plans run for other reasons (a spec change) are not a rollout.
func (p *progress) rollingOut(generation int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.instances {
		if s.generation != 0 && s.generation < generation || s.migrating {
			return true
		}
	}
	return false
}

// counts counts the instances by readiness.
func (p *progress) counts() v1alpha1.InstanceCounts {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := v1alpha1.InstanceCounts{Total: int32(len(p.instances))}
	for _, s := range p.instances {
		switch {
		case s.ready:
			out.Ready++
		case s.stalled:
			out.Failed++
		default:
			out.NotReady++
		}
	}
	return out
}

// states counts the instances by readiness and active plan status.
func (p *progress) states() map[metrics.InstanceState]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[metrics.InstanceState]int{}
	for _, s := range p.instances {
		out[metrics.InstanceState{Ready: s.ready, PlanStatus: string(s.planStatus)}]++
	}
	return out
}

// inUse says which generations instances still stand on.
func (p *progress) inUse() map[int64]bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[int64]bool{}
	for _, s := range p.instances {
		out[s.generation] = true
	}
	return out
}
