package plans

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"operetta.dev/operetta/api/v1alpha1"
)

// Result is what running a step found.
type Result int

const (
	// Done: every task of the step ran and everything it applied is healthy.
	Done Result = iota
	// Waiting: the step ran but something is not healthy yet.
	Waiting
	// Failed: a transient error; the step is retried.
	Failed
	// Fatal: the step cannot succeed until its input changes.
	Fatal
)

// Outcome is the result of running a step, with a message for people.
type Outcome struct {
	Result  Result
	Message string
	// Timeout, if set, is how long the step may go on Waiting or Failed,
	// counted from its first run: a Wait task's own timeout.
	Timeout time.Duration
}

// StepRunner runs one step, idempotently: it may be called again for a step
// that already ran, after a restart or a retry.
type StepRunner func(phase v1alpha1.Phase, step v1alpha1.Step) Outcome

// Start returns the status of a new run of plan: every phase and step PENDING.
func Start(plan v1alpha1.Plan, uid types.UID, now time.Time) v1alpha1.PlanStatus {
	st := v1alpha1.PlanStatus{Status: v1alpha1.Pending, UID: uid, StartedAt: ptrTime(now)}
	return align(plan, st)
}

// Advance runs as many steps of plan as the strategies allow now and returns
// the new status. A terminal status is returned as it is.
func Advance(plan v1alpha1.Plan, st v1alpha1.PlanStatus, run StepRunner, now time.Time) v1alpha1.PlanStatus {
	if st.Status.IsTerminal() {
		return st
	}
	st = align(plan, *st.DeepCopy())
	for i, phase := range plan.Phases {
		ps := &st.Phases[i]
		if ps.Status == v1alpha1.Complete {
			continue
		}
		advancePhase(phase, ps, run, now)
		if plan.Strategy != v1alpha1.Parallel && ps.Status != v1alpha1.Complete {
			break
		}
	}
	st.Status, st.Message = summarize(phaseEntries(st.Phases))
	if st.Status.IsTerminal() {
		st.FinishedAt = ptrTime(now)
	}
	return st
}

func advancePhase(phase v1alpha1.Phase, ps *v1alpha1.PhaseStatus, run StepRunner, now time.Time) {
	for i, step := range phase.Steps {
		ss := &ps.Steps[i]
		if ss.Status == v1alpha1.Complete {
			continue
		}
		if ss.StartedAt == nil {
			ss.StartedAt = ptrTime(now)
		}
		out := timeout(run(phase, step), step, ss.StartedAt.Time, now)
		ss.Status, ss.Message = statusOf(out.Result), out.Message
		if ss.Status.IsTerminal() && ss.FinishedAt == nil {
			ss.FinishedAt = ptrTime(now)
		}
		if phase.Strategy != v1alpha1.Parallel && ss.Status != v1alpha1.Complete {
			break
		}
	}
	ps.Status, ps.Message = summarize(stepEntries(ps.Steps))
}

// timeout turns a step that is still not done past its deadline into a fatal
// one: the step's own timeout, or a shorter one its task asked for.
func timeout(out Outcome, step v1alpha1.Step, started, now time.Time) Outcome {
	if out.Result != Waiting && out.Result != Failed {
		return out
	}
	limit := out.Timeout
	if step.Timeout != nil && (limit == 0 || step.Timeout.Duration < limit) {
		limit = step.Timeout.Duration
	}
	if limit <= 0 || now.Sub(started) <= limit {
		return out
	}
	return Outcome{Result: Fatal, Message: fmt.Sprintf("timed out after %s: %s", limit, out.Message)}
}

func statusOf(r Result) v1alpha1.ExecutionStatus {
	switch r {
	case Done:
		return v1alpha1.Complete
	case Waiting:
		return v1alpha1.InProgress
	case Failed:
		return v1alpha1.Error
	default:
		return v1alpha1.FatalError
	}
}

// entry is a child status seen by summarize.
type entry struct {
	name    string
	status  v1alpha1.ExecutionStatus
	message string
}

// summarize derives a parent's status from its children: the worst of them,
// with the first message of a child in that state, prefixed by its name.
func summarize(children []entry) (v1alpha1.ExecutionStatus, string) {
	rank := map[v1alpha1.ExecutionStatus]int{
		v1alpha1.FatalError: 4, v1alpha1.Error: 3, v1alpha1.InProgress: 2,
	}
	worst, complete, started := entry{}, 0, false
	for _, c := range children {
		if rank[c.status] > rank[worst.status] {
			worst = c
		}
		switch c.status {
		case v1alpha1.Complete:
			complete++
			started = true
		case v1alpha1.InProgress, v1alpha1.Error, v1alpha1.FatalError:
			started = true
		}
	}
	switch {
	case worst.status != "":
		msg := worst.message
		if msg != "" {
			msg = fmt.Sprintf("%s: %s", worst.name, msg)
		}
		return worst.status, msg
	case complete == len(children):
		return v1alpha1.Complete, ""
	case started:
		return v1alpha1.InProgress, ""
	default:
		return v1alpha1.Pending, ""
	}
}

func stepEntries(steps []v1alpha1.StepStatus) []entry {
	out := make([]entry, len(steps))
	for i, s := range steps {
		out[i] = entry{s.Name, s.Status, s.Message}
	}
	return out
}

func phaseEntries(phases []v1alpha1.PhaseStatus) []entry {
	out := make([]entry, len(phases))
	for i, p := range phases {
		out[i] = entry{p.Name, p.Status, p.Message}
	}
	return out
}

// align makes st's tree match plan's phases and steps, keeping the status of
// those with the same names, so a Framework changed mid-plan neither loses
// progress nor indexes past the end of a shortened plan.
func align(plan v1alpha1.Plan, st v1alpha1.PlanStatus) v1alpha1.PlanStatus {
	oldPhases := map[string]v1alpha1.PhaseStatus{}
	for _, p := range st.Phases {
		oldPhases[p.Name] = p
	}
	phases := make([]v1alpha1.PhaseStatus, len(plan.Phases))
	for i, phase := range plan.Phases {
		old, ok := oldPhases[phase.Name]
		oldSteps := map[string]v1alpha1.StepStatus{}
		for _, s := range old.Steps {
			oldSteps[s.Name] = s
		}
		ps := v1alpha1.PhaseStatus{Name: phase.Name, Status: v1alpha1.Pending, Steps: make([]v1alpha1.StepStatus, len(phase.Steps))}
		if ok {
			ps.Status, ps.Message = old.Status, old.Message
		}
		for j, step := range phase.Steps {
			ss, ok := oldSteps[step.Name]
			if !ok {
				ss = v1alpha1.StepStatus{Name: step.Name, Status: v1alpha1.Pending}
			}
			ps.Steps[j] = ss
		}
		phases[i] = ps
	}
	st.Phases = phases
	return st
}

func ptrTime(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t.UTC().Truncate(time.Second))
	return &mt
}
