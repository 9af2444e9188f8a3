package plans

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"operetta.dev/operetta/api/v1alpha1"
)

var now = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// plan builds a plan from "strategy:phase=step,step;phase=step" for brevity.
func plan(spec string) v1alpha1.Plan {
	strategy, rest, _ := strings.Cut(spec, ":")
	p := v1alpha1.Plan{Strategy: v1alpha1.Strategy(strategy)}
	for _, ph := range strings.Split(rest, ";") {
		name, steps, _ := strings.Cut(ph, "=")
		phaseStrategy := v1alpha1.Serial
		if n, ok := strings.CutSuffix(name, "*"); ok {
			name, phaseStrategy = n, v1alpha1.Parallel
		}
		phase := v1alpha1.Phase{Name: name, Strategy: phaseStrategy}
		for _, s := range strings.Split(steps, ",") {
			phase.Steps = append(phase.Steps, v1alpha1.Step{Name: s})
		}
		p.Phases = append(p.Phases, phase)
	}
	return p
}

// script runs steps from a table of outcomes per pass and records the order.
type script struct {
	outcomes map[string][]Outcome
	calls    []string
}

func (s *script) run(phase v1alpha1.Phase, step v1alpha1.Step) Outcome {
	key := phase.Name + "/" + step.Name
	s.calls = append(s.calls, key)
	outs := s.outcomes[key]
	if len(outs) == 0 {
		return Outcome{Result: Done}
	}
	out := outs[0]
	if len(outs) > 1 {
		s.outcomes[key] = outs[1:]
	}
	return out
}

func TestAdvance(t *testing.T) {
	wait := Outcome{Result: Waiting, Message: "waiting for StatefulSet zk"}
	tests := []struct {
		name     string
		plan     string
		outcomes map[string][]Outcome
		passes   int
		calls    [][]string
		status   v1alpha1.ExecutionStatus
		message  string
	}{{
		name:   "serial plan runs everything in one pass when all is healthy",
		plan:   "serial:a=s1,s2;b=s3",
		passes: 1,
		calls:  [][]string{{"a/s1", "a/s2", "b/s3"}},
		status: v1alpha1.Complete,
	}, {
		name:     "serial phase waits for an unhealthy step before the next",
		plan:     "serial:a=s1,s2;b=s3",
		outcomes: map[string][]Outcome{"a/s1": {wait, {Result: Done}}},
		passes:   2,
		calls:    [][]string{{"a/s1"}, {"a/s1", "a/s2", "b/s3"}},
		status:   v1alpha1.Complete,
	}, {
		name:     "parallel phase starts every step at once",
		plan:     "serial:a*=s1,s2,s3;b=s4",
		outcomes: map[string][]Outcome{"a/s1": {wait, {Result: Done}}},
		passes:   2,
		calls:    [][]string{{"a/s1", "a/s2", "a/s3"}, {"a/s1", "b/s4"}},
		status:   v1alpha1.Complete,
	}, {
		name:     "parallel plan starts every phase at once",
		plan:     "parallel:a=s1,s2;b=s3",
		outcomes: map[string][]Outcome{"a/s1": {wait}},
		passes:   1,
		calls:    [][]string{{"a/s1", "b/s3"}},
		status:   v1alpha1.InProgress,
		message:  "a: s1: waiting for StatefulSet zk",
	}, {
		name:     "a transient error is retried on the next pass",
		plan:     "serial:a=s1,s2",
		outcomes: map[string][]Outcome{"a/s1": {{Result: Failed, Message: "conflict"}, {Result: Done}}},
		passes:   2,
		calls:    [][]string{{"a/s1"}, {"a/s1", "a/s2"}},
		status:   v1alpha1.Complete,
	}, {
		name:     "a fatal error stops the plan",
		plan:     "serial:a=s1,s2;b=s3",
		outcomes: map[string][]Outcome{"a/s2": {{Result: Fatal, Message: "Service is invalid"}}},
		passes:   2,
		calls:    [][]string{{"a/s1", "a/s2"}, nil},
		status:   v1alpha1.FatalError,
		message:  "a: s2: Service is invalid",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := plan(tt.plan)
			s := &script{outcomes: tt.outcomes}
			st := Start(p, "uid-1", now)
			var calls [][]string
			for i := 0; i < tt.passes; i++ {
				s.calls = nil
				st = Advance(p, st, s.run, now.Add(time.Duration(i+1)*time.Minute))
				calls = append(calls, s.calls)
			}
			if !reflect.DeepEqual(calls, tt.calls) {
				t.Errorf("calls %v, want %v", calls, tt.calls)
			}
			if st.Status != tt.status || st.Message != tt.message {
				t.Errorf("status %s %q, want %s %q", st.Status, st.Message, tt.status, tt.message)
			}
			if st.UID != "uid-1" || !st.StartedAt.Time.Equal(now) {
				t.Errorf("uid %s started %v: the run's identity changed", st.UID, st.StartedAt)
			}
			if st.Status.IsTerminal() != (st.FinishedAt != nil) {
				t.Errorf("finishedAt %v for status %s", st.FinishedAt, st.Status)
			}
			for _, ph := range st.Phases {
				for _, step := range ph.Steps {
					if step.Status.IsTerminal() != (step.FinishedAt != nil) {
						t.Errorf("step %s/%s: finishedAt %v for status %s", ph.Name, step.Name, step.FinishedAt, step.Status)
					}
					if step.FinishedAt != nil && step.StartedAt.After(step.FinishedAt.Time) {
						t.Errorf("step %s/%s finished %v before it started %v", ph.Name, step.Name, step.FinishedAt, step.StartedAt)
					}
				}
			}
		})
	}
}

func TestAdvanceResumesFromStatus(t *testing.T) {
	p := plan("serial:a=s1,s2;b=s3")
	st := Start(p, "u", now)
	st.Status = v1alpha1.InProgress
	st.Phases[0].Status = v1alpha1.InProgress
	st.Phases[0].Steps[0].Status = v1alpha1.Complete
	s := &script{}
	st = Advance(p, st, s.run, now)
	if want := []string{"a/s2", "b/s3"}; !reflect.DeepEqual(s.calls, want) {
		t.Fatalf("calls %v, want %v: a completed step ran again", s.calls, want)
	}
	if st.Status != v1alpha1.Complete {
		t.Fatalf("status %s", st.Status)
	}
}

func TestAdvanceAlignsWithAChangedPlan(t *testing.T) {
	old := plan("serial:a=s1,s2,s3")
	st := Start(old, "u", now)
	st.Phases[0].Steps[0].Status = v1alpha1.Complete
	changed := plan("serial:a=s1,new;b=s4")
	s := &script{}
	st = Advance(changed, st, s.run, now)
	if want := []string{"a/new", "b/s4"}; !reflect.DeepEqual(s.calls, want) {
		t.Fatalf("calls %v, want %v", s.calls, want)
	}
	if len(st.Phases) != 2 || len(st.Phases[0].Steps) != 2 {
		t.Fatalf("status tree %+v does not match the plan", st.Phases)
	}
}

func TestAdvanceLeavesTerminalPlansAlone(t *testing.T) {
	p := plan("serial:a=s1")
	for _, status := range []v1alpha1.ExecutionStatus{v1alpha1.Complete, v1alpha1.FatalError} {
		st := Start(p, "u", now)
		st.Status = status
		s := &script{}
		if got := Advance(p, st, s.run, now); got.Status != status || len(s.calls) != 0 {
			t.Fatalf("%s: ran %v and became %s", status, s.calls, got.Status)
		}
	}
}
