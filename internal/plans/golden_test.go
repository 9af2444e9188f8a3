package plans

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"operetta.dev/operetta/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite the golden step logs in testdata/")

// scenario is a plan run, pass by pass, whose step log is compared with
// testdata/<name>.test.log.golden.
type scenario struct {
	name     string
	plan     v1alpha1.Plan
	outcomes map[string][]Outcome
	passes   int
	// between runs before the given pass (1-based): "restart" round-trips the
	// status through JSON as a new manager would read it, "retrigger" starts
	// the plan over with a new UID.
	between map[int]string
}

func TestGoldenStepLogs(t *testing.T) {
	wait := func(msg string) Outcome { return Outcome{Result: Waiting, Message: msg} }
	done := Outcome{Result: Done}
	withTimeout := func(p v1alpha1.Plan, phase, step int, d time.Duration) v1alpha1.Plan {
		p.Phases[phase].Steps[step].Timeout = &metav1.Duration{Duration: d}
		return p
	}
	scenarios := []scenario{{
		name:   "serial-then-parallel",
		plan:   plan("serial:prepare*=config,services;ensemble=servers,exporter"),
		passes: 3,
		outcomes: map[string][]Outcome{
			"prepare/services": {wait("waiting for Service zk-hs"), done},
			"ensemble/servers": {wait("waiting for StatefulSet zk: 1/3 ready"), done},
		},
	}, {
		name:   "parallel-phases",
		plan:   plan("parallel:a=s1,s2;b*=s3,s4"),
		passes: 2,
		outcomes: map[string][]Outcome{
			"a/s1": {wait("waiting for ConfigMap a"), done},
			"b/s4": {wait("waiting for Service b"), done},
		},
	}, {
		name:   "transient-error-retried",
		plan:   plan("serial:main=apply,check"),
		passes: 3,
		outcomes: map[string][]Outcome{
			"main/apply": {{Result: Failed, Message: "applying ConfigMap c: conflict"}, {Result: Failed, Message: "applying ConfigMap c: the server is currently unable to handle the request"}, done},
		},
	}, {
		name:   "fatal-error-stops",
		plan:   plan("serial:main=apply,check;after=never"),
		passes: 2,
		outcomes: map[string][]Outcome{
			"main/check": {{Result: Fatal, Message: `applying Service s: Service "s" is invalid: spec.ports: Required value`}},
		},
	}, {
		name:     "step-timeout",
		plan:     withTimeout(plan("serial:main=wait"), 0, 0, 90*time.Second),
		passes:   3,
		outcomes: map[string][]Outcome{"main/wait": {wait("waiting for Job migrate")}},
	}, {
		name:     "task-timeout",
		plan:     plan("serial:main=wait"),
		passes:   3,
		outcomes: map[string][]Outcome{"main/wait": {{Result: Waiting, Message: "condition is false", Timeout: 2 * time.Minute}}},
	}, {
		name:     "restart-resumes",
		plan:     plan("serial:a=s1,s2;b=s3"),
		passes:   3,
		outcomes: map[string][]Outcome{"a/s2": {wait("waiting for StatefulSet x"), wait("waiting for StatefulSet x"), done}},
		between:  map[int]string{2: "restart", 3: "restart"},
	}, {
		name:     "retrigger-restarts",
		plan:     plan("serial:a=s1,s2"),
		passes:   3,
		outcomes: map[string][]Outcome{"a/s2": {wait("waiting for StatefulSet x"), wait("waiting for StatefulSet x"), done}},
		between:  map[int]string{2: "retrigger"},
	}}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			got := sc.run(t)
			path := filepath.Join("testdata", sc.name+".test.log.golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test ./internal/plans -update writes it)", err)
			}
			if got != string(want) {
				t.Fatalf("step log differs from %s (go test ./internal/plans -update, then review the diff):\n%s", path, got)
			}
		})
	}
}

func (sc scenario) run(t *testing.T) string {
	var log strings.Builder
	fmt.Fprintf(&log, "# %s\n", sc.name)
	s := &script{outcomes: sc.outcomes}
	uids := 1
	st := Start(sc.plan, types.UID(fmt.Sprintf("run-%d", uids)), now)
	for pass := 1; pass <= sc.passes; pass++ {
		at := now.Add(time.Duration(pass) * time.Minute)
		switch sc.between[pass] {
		case "restart":
			b, err := json.Marshal(st)
			if err != nil {
				t.Fatal(err)
			}
			st = v1alpha1.PlanStatus{}
			if err := json.Unmarshal(b, &st); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&log, "-- manager restarted; status read back from JSON\n")
		case "retrigger":
			uids++
			st = Start(sc.plan, types.UID(fmt.Sprintf("run-%d", uids)), at)
			fmt.Fprintf(&log, "-- plan triggered again\n")
		}
		s.calls = nil
		st = Advance(sc.plan, st, func(phase v1alpha1.Phase, step v1alpha1.Step) Outcome {
			out := s.run(phase, step)
			fmt.Fprintf(&log, "  run %s/%s -> %s\n", phase.Name, step.Name, describe(out))
			return out
		}, at)
		fmt.Fprintf(&log, "pass %d at +%dm: %s\n", pass, pass, tree(st))
	}
	return log.String()
}

func describe(o Outcome) string {
	name := [...]string{"done", "waiting", "failed", "fatal"}[o.Result]
	if o.Message != "" {
		name += ": " + o.Message
	}
	return name
}

// tree prints a plan status compactly, with times relative to the test clock.
func tree(st v1alpha1.PlanStatus) string {
	rel := func(t *metav1.Time) string {
		if t == nil {
			return "-"
		}
		return fmt.Sprintf("+%s", t.Sub(now))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "plan %s uid=%s started=%s finished=%s", st.Status, st.UID, rel(st.StartedAt), rel(st.FinishedAt))
	if st.Message != "" {
		fmt.Fprintf(&b, " %q", st.Message)
	}
	for _, ph := range st.Phases {
		fmt.Fprintf(&b, "\n    phase %s %s", ph.Name, ph.Status)
		for _, s := range ph.Steps {
			fmt.Fprintf(&b, "\n      step %s %s started=%s", s.Name, s.Status, rel(s.StartedAt))
			if s.Message != "" {
				fmt.Fprintf(&b, " %q", s.Message)
			}
		}
	}
	return b.String()
}
