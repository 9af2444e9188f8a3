package instance

import (
	"sort"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/metrics"
)

// progress counts, from what each reconcile found, how far a Framework
// generation has reached the instances, and how many of them are ready. The
// Framework controller is handed its Report when it changed, instead of
// listing instances on a timer.
type progress struct {
	mu        sync.Mutex
	instances map[types.NamespacedName]standing
	// failed and working count per generation the instances that failed
	// on it for good, and those moved to it whose plans are not done: what
	// the rollout's gates ask on every reconcile of a waiting instance,
	// kept as instances are set rather than counted over all of them.
	failed, working map[int64]int
}

// tally adds d times what s counts for in failed and working.
func (p *progress) tally(s standing, d int) {
	if p.failed == nil {
		p.failed, p.working = map[int64]int{}, map[int64]int{}
	}
	if s.settled && s.failed {
		p.failed[s.generation] += d
	}
	if !s.settled && s.migrating {
		p.working[s.generation] += d
	}
}

// gateCounts are how many instances failed on generation, and how many
// moved to it are still working.
func (p *progress) gateCounts(generation int64) (failed, working int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failed[generation], p.working[generation]
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
	if seen {
		p.tally(before, -1)
	}
	p.tally(s, 1)
	p.instances[key] = s
	return !seen || before != s
}

// forget drops an instance that is gone, and reports whether it was counted.
func (p *progress) forget(key types.NamespacedName) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	before, seen := p.instances[key]
	if seen {
		p.tally(before, -1)
	}
	delete(p.instances, key)
	return seen
}

// Report is where a Framework generation stands across its instances, as
// the loop last reconciled them: what the Framework's status says of its
// rollout and instances. It is counted here, where each reconcile records
// its instance, in one pass.
type Report struct {
	// Rollout counts the instances the generation reached: updated,
	// failed, and all.
	Rollout v1alpha1.RolloutStatus
	// Instances counts the instances by readiness.
	Instances v1alpha1.InstanceCounts
	// Primed: the loop has reconciled every instance its cache holds at
	// least once; until then the counts are partial (a loop just started).
	Primed bool
	// RollingOut: the generation has not reached every instance yet: some
	// still stand on an older one, or are being moved to it. New instances
	// and plans run for other reasons (a spec change) are no rollout.
	RollingOut bool
	// Failed names (up to maxNamed) the instances that failed for good on
	// the generation.
	Failed []string
	// Paused: the rollout is paused (spec.rollout.paused) while some
	// instances are not on the generation yet.
	Paused bool
	// Halted: as many instances failed on the generation as
	// spec.rollout.maxFailures allows, or one admitted to it is Late; no
	// other is admitted.
	Halted bool
	// Working names (up to maxNamed) the instances this loop saw move
	// from an older generation to this one, whose plans are not done.
	Working []string
	// Deadline is when spec.rollout.progressDeadline ends (zero: none),
	// and Late says it passed with instances still Working.
	Deadline time.Time
	Late     bool
}

// maxNamed bounds the instances a Report names.
const maxNamed = 10

// Settled says whether every instance finished with the generation.
func (r Report) Settled() bool {
	return r.Rollout.Updated+r.Rollout.Failed == r.Rollout.Total
}

// report counts where generation stands.
func (p *progress) report(generation int64) Report {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := int32(len(p.instances))
	out := Report{
		Rollout:   v1alpha1.RolloutStatus{Generation: generation, Total: n},
		Instances: v1alpha1.InstanceCounts{Total: n},
	}
	for key, s := range p.instances {
		switch {
		case s.generation == generation && !s.settled:
			if s.migrating && len(out.Working) < maxNamed {
				out.Working = append(out.Working, key.String())
			}
		case s.generation != generation:
		case s.failed:
			out.Rollout.Failed++
			if len(out.Failed) < maxNamed {
				out.Failed = append(out.Failed, key.String())
			}
		default:
			out.Rollout.Updated++
		}
		switch {
		case s.ready:
			out.Instances.Ready++
		case s.stalled:
			out.Instances.Failed++
		default:
			out.Instances.NotReady++
		}
		if s.generation != 0 && s.generation < generation || s.migrating {
			out.RollingOut = true
		}
	}
	sort.Strings(out.Failed)
	sort.Strings(out.Working)
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
