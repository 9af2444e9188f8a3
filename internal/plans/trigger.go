package plans

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"operetta.dev/operetta/api/v1alpha1"
)

// Observed is what an instance and its Framework show now, compared with what
// the instance's status recorded when plans were last triggered.
type Observed struct {
	// ParameterDigests of the instance's spec now, by parameter.
	ParameterDigests map[string]string
	// FrameworkGeneration now.
	FrameworkGeneration int64
	// GoingBack: that generation returns to an older revision's spec than
	// the one the instance is on.
	GoingBack bool
	// RunPlan is the operetta.dev/run-plan annotation now.
	RunPlan string
	// Status is the instance's status.
	Status v1alpha1.InstanceStatus
}

// Triggers are a Framework's plans and what triggers them.
type Triggers struct {
	Plans map[string]v1alpha1.Plan
	// ByParameter is the plan each parameter's change runs.
	ByParameter map[string]string
}

// DefaultTrigger is the plan a change runs when nothing says otherwise:
// update if the Framework has one, else deploy.
func DefaultTrigger(plans map[string]v1alpha1.Plan) string {
	if _, ok := plans[v1alpha1.PlanUpdate]; ok {
		return v1alpha1.PlanUpdate
	}
	return v1alpha1.PlanDeploy
}

// UpgradeTrigger is the plan a Framework change runs: upgrade, else update,
// else deploy.
func UpgradeTrigger(plans map[string]v1alpha1.Plan) string {
	if _, ok := plans[v1alpha1.PlanUpgrade]; ok {
		return v1alpha1.PlanUpgrade
	}
	return DefaultTrigger(plans)
}

// Run is a plan to start and what caused it, as its status records it.
type Run struct {
	Plan, Cause string
}

// CauseKind is the kind of a run's cause, for metrics: created, parameter,
// revision, annotation, schedule, trigger, or unknown (a run started before causes
// were recorded).
func CauseKind(cause string) string {
	for _, k := range []struct{ prefix, kind string }{
		{"instance created", "created"}, {"parameter ", "parameter"}, {"revision ", "revision"},
		{v1alpha1.AnnotationRunPlan + "=", "annotation"}, {"schedule ", "schedule"}, {"trigger ", "trigger"},
	} {
		if strings.HasPrefix(cause, k.prefix) {
			return k.kind
		}
	}
	return "unknown"
}

// Names are the plans of runs, in order.
func Names(runs []Run) []string {
	out := make([]string, len(runs))
	for i, r := range runs {
		out[i] = r.Plan
	}
	return out
}

// Triggered returns the plans o needs to start, in plan order, each with
// its cause: deploy when it never ran; else the trigger plan of every
// changed parameter, the upgrade plan on a new Framework generation, and
// the plan a new run-plan annotation names.
func Triggered(t Triggers, o Observed) []Run {
	if _, ran := o.Status.Plans[v1alpha1.PlanDeploy]; !ran {
		return []Run{{Plan: v1alpha1.PlanDeploy, Cause: "instance created"}}
	}
	causes := map[string][]string{}
	changed := func(plan, cause string) {
		if plan != "" { // a parameter the Framework no longer declares
			causes[plan] = append(causes[plan], cause)
		}
	}
	var params []string
	for name, digest := range o.ParameterDigests {
		if o.Status.ParameterDigests[name] != digest {
			params = append(params, name)
		}
	}
	for name := range o.Status.ParameterDigests {
		if _, still := o.ParameterDigests[name]; !still {
			params = append(params, name)
		}
	}
	sort.Strings(params)
	for _, name := range params {
		changed(t.ByParameter[name], "parameter "+name)
	}
	if o.Status.FrameworkGeneration != 0 && o.FrameworkGeneration != o.Status.FrameworkGeneration {
		if _, ok := t.Plans[v1alpha1.PlanRollback]; ok && o.GoingBack {
			changed(v1alpha1.PlanRollback, fmt.Sprintf("revision %d, going back", o.FrameworkGeneration))
		} else {
			changed(UpgradeTrigger(t.Plans), fmt.Sprintf("revision %d", o.FrameworkGeneration))
		}
	}
	if plan := RunPlanName(o.RunPlan); o.RunPlan != o.Status.LastRunPlan && plan != "" {
		if _, ok := t.Plans[plan]; ok {
			changed(plan, v1alpha1.AnnotationRunPlan+"="+o.RunPlan)
		}
	}
	names := make([]string, 0, len(causes))
	for name := range causes {
		names = append(names, name)
	}
	out := make([]Run, 0, len(names))
	for _, name := range Order(names) {
		out = append(out, Run{Plan: name, Cause: strings.Join(causes[name], ", ")})
	}
	return out
}

// RunPlanName is the plan an operetta.dev/run-plan value names: the value
// itself, or what stands before an "@", so "backup@2026-11-21" runs backup
// and a new suffix runs it again.
func RunPlanName(value string) string {
	name, _, _ := strings.Cut(value, "@")
	return strings.TrimSpace(name)
}

// Order sorts plan names in the order plans run when several are triggered at
// once: deploy, update, upgrade, then the others by name.
func Order(names []string) []string {
	rank := map[string]int{v1alpha1.PlanDeploy: 0, v1alpha1.PlanUpdate: 1, v1alpha1.PlanUpgrade: 2, v1alpha1.PlanRollback: 2}
	sort.Slice(names, func(i, j int) bool {
		ri, iok := rank[names[i]]
		rj, jok := rank[names[j]]
		switch {
		case iok && jok:
			return ri < rj
		case iok != jok:
			return iok
		default:
			return names[i] < names[j]
		}
	})
	return names
}

// Schedule records triggered plans in st: the running plan triggered again
// restarts (through start, with a new UID); other plans join the queue once,
// their cause kept for when they start. When the active plan is complete, or
// failed and something new was triggered, the next queued plan starts.
func Schedule(st *v1alpha1.InstanceStatus, triggered []Run, start func(plan, cause string) v1alpha1.PlanStatus) {
	active := st.Plans[st.ActivePlan]
	running := st.ActivePlan != "" && !active.Status.IsTerminal()
	for _, run := range triggered {
		switch {
		case running && run.Plan == st.ActivePlan:
			st.Plans[run.Plan] = start(run.Plan, run.Cause)
		case !contains(st.PlanQueue, run.Plan):
			st.PlanQueue = append(st.PlanQueue, run.Plan)
			if st.QueuedCauses == nil {
				st.QueuedCauses = map[string]string{}
			}
			st.QueuedCauses[run.Plan] = run.Cause
		}
	}
	active = st.Plans[st.ActivePlan]
	done := st.ActivePlan == "" || active.Status == v1alpha1.Complete ||
		(active.Status == v1alpha1.FatalError && len(triggered) > 0)
	if done && len(st.PlanQueue) > 0 {
		next := st.PlanQueue[0]
		st.PlanQueue = st.PlanQueue[1:]
		if len(st.PlanQueue) == 0 {
			st.PlanQueue = nil
		}
		cause := st.QueuedCauses[next]
		delete(st.QueuedCauses, next)
		if len(st.QueuedCauses) == 0 {
			st.QueuedCauses = nil
		}
		st.Plans[next] = start(next, cause)
		st.ActivePlan = next
	}
	st.ActivePlanStatus = st.Plans[st.ActivePlan].Status
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// ParameterDigests digests the value of each named parameter in spec, so a
// status can remember what plans ran for without copying the spec.
func ParameterDigests(spec map[string]any, names []string) map[string]string {
	out := make(map[string]string, len(names))
	for _, name := range names {
		v, ok := spec[name]
		if !ok {
			continue
		}
		b, err := json.Marshal(v) // sorted keys: stable for equal values
		if err != nil {
			b = []byte(fmt.Sprint(v))
		}
		sum := sha256.Sum256(b)
		out[name] = hex.EncodeToString(sum[:8])
	}
	return out
}
