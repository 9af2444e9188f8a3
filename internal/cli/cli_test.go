package cli

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"operetta.dev/operetta/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/cli -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale; run go test ./internal/cli -update and review the diff.\ngot:\n%s", path, got)
	}
}

func at(s string) *metav1.Time {
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return &metav1.Time{Time: tm}
}

// sample is an instance whose upgrade waits on its second step, after a
// deploy that completed and a backup that failed.
func sample() v1alpha1.InstanceStatus {
	return v1alpha1.InstanceStatus{
		ActivePlan: "upgrade", ActivePlanStatus: v1alpha1.InProgress, PlanQueue: []string{"backup"},
		Plans: map[string]v1alpha1.PlanStatus{
			"deploy": {Status: v1alpha1.Complete, UID: "run-1", StartedAt: at("2026-11-22T10:00:00Z"), FinishedAt: at("2026-11-22T10:01:30Z"),
				Phases: []v1alpha1.PhaseStatus{{Name: "main", Status: v1alpha1.Complete, Steps: []v1alpha1.StepStatus{
					{Name: "config", Status: v1alpha1.Complete, StartedAt: at("2026-11-22T10:00:00Z"), FinishedAt: at("2026-11-22T10:00:01Z")},
					{Name: "servers", Status: v1alpha1.Complete, StartedAt: at("2026-11-22T10:00:01Z"), FinishedAt: at("2026-11-22T10:01:30Z")},
				}}}},
			"backup": {Status: v1alpha1.FatalError, UID: "run-2", Message: "main: dump: Job zk-dump failed: BackoffLimitExceeded",
				StartedAt: at("2026-11-22T11:00:00Z"), FinishedAt: at("2026-11-22T11:02:00Z"),
				Phases: []v1alpha1.PhaseStatus{{Name: "main", Status: v1alpha1.FatalError, Message: "dump: Job zk-dump failed: BackoffLimitExceeded",
					Steps: []v1alpha1.StepStatus{{Name: "dump", Status: v1alpha1.FatalError, Message: "Job zk-dump failed: BackoffLimitExceeded",
						StartedAt: at("2026-11-22T11:00:00Z"), FinishedAt: at("2026-11-22T11:02:00Z")}}}}},
			"upgrade": {Status: v1alpha1.InProgress, UID: "run-3", Message: "main: servers: waiting for StatefulSet zk: not ready yet (InProgress)",
				StartedAt: at("2026-11-22T12:00:00Z"),
				Phases: []v1alpha1.PhaseStatus{{Name: "main", Status: v1alpha1.InProgress, Steps: []v1alpha1.StepStatus{
					{Name: "config", Status: v1alpha1.Complete, StartedAt: at("2026-11-22T12:00:00Z"), FinishedAt: at("2026-11-22T12:00:02Z")},
					{Name: "servers", Status: v1alpha1.InProgress, Message: "waiting for StatefulSet zk: not ready yet (InProgress)", StartedAt: at("2026-11-22T12:00:02Z")},
				}}}},
		},
	}
}

var now = at("2026-11-22T12:03:00Z").Time

func TestPlanTree(t *testing.T) {
	var b bytes.Buffer
	PlanTree(&b, "zookeeper/zk", sample(), now, false)
	golden(t, "plan-status.txt", b.Bytes())

	var empty bytes.Buffer
	PlanTree(&empty, "zookeeper/new", v1alpha1.InstanceStatus{}, now, false)
	if !strings.Contains(empty.String(), "no plan has run yet") {
		t.Fatalf("a new instance:\n%s", empty.String())
	}
}

func TestPlanTreeColoursOnlyOnATerminal(t *testing.T) {
	var plain, coloured bytes.Buffer
	PlanTree(&plain, "zookeeper/zk", sample(), now, false)
	PlanTree(&coloured, "zookeeper/zk", sample(), now, true)
	if strings.Contains(plain.String(), "\x1b[") {
		t.Fatal("colour codes in piped output")
	}
	for _, want := range []string{green + "COMPLETE" + reset, red + "FATAL_ERROR" + reset, yellow + "IN_PROGRESS" + reset} {
		if !strings.Contains(coloured.String(), want) {
			t.Errorf("no %q on a terminal", want)
		}
	}
}

func TestPlanHistory(t *testing.T) {
	var b bytes.Buffer
	PlanHistory(&b, sample(), now, false)
	golden(t, "plan-history.txt", b.Bytes())
}

func TestProgressOf(t *testing.T) {
	st := sample()
	st.LastRunPlan = "backup@1"
	tests := []struct {
		name     string
		edit     func(*v1alpha1.InstanceStatus)
		value    string
		previous types.UID
		want     string
		status   v1alpha1.ExecutionStatus
	}{
		{"not acted on", func(*v1alpha1.InstanceStatus) {}, "backup@2", "", "waiting for operetta to act on the request", ""},
		{"queued", func(*v1alpha1.InstanceStatus) {}, "backup@1", "run-2", "plan backup is queued (position 1) behind upgrade", ""},
		{"not started", func(s *v1alpha1.InstanceStatus) { s.PlanQueue = nil }, "backup@1", "run-2", "waiting for the plan to start", ""},
		{"failed", func(s *v1alpha1.InstanceStatus) { s.PlanQueue = nil }, "backup@1", "run-0",
			"plan backup FATAL_ERROR, phase main, step dump FATAL_ERROR: Job zk-dump failed: BackoffLimitExceeded", v1alpha1.FatalError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := *st.DeepCopy()
			tt.edit(&s)
			run, line := progressOf(s, "backup", tt.value, tt.previous)
			if line != tt.want || run.Status != tt.status {
				t.Fatalf("got %q (%s), want %q (%s)", line, run.Status, tt.want, tt.status)
			}
		})
	}
}

// run runs the plugin's offline commands as a user would.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := NewRootWith(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, &Cluster{}, func() time.Time { return now })
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestRenderTheExamples(t *testing.T) {
	for _, ex := range []string{"zookeeper", "kafka", "webapp"} {
		t.Run(ex, func(t *testing.T) {
			dir := filepath.Join("..", "..", "examples", ex)
			out, err := run(t, "render", filepath.Join(dir, "framework.yaml"), "--instance", filepath.Join(dir, "instance.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "render-"+ex+".yaml", []byte(out))
		})
	}
}

func TestVerifyAndCRDOfTheExamples(t *testing.T) {
	for _, ex := range []string{"zookeeper", "kafka", "webapp"} {
		fw := filepath.Join("..", "..", "examples", ex, "framework.yaml")
		out, err := run(t, "verify", fw)
		if err != nil || !strings.Contains(out, ": OK, serves ") {
			t.Errorf("verify %s: %v\n%s", ex, err, out)
		}
		crd, err := run(t, "crd", fw)
		if err != nil || !strings.Contains(crd, "kind: CustomResourceDefinition") || !strings.Contains(crd, "openAPIV3Schema:") {
			t.Errorf("crd %s: %v\n%.300s", ex, err, crd)
		}
	}
}

func TestVerifyRefusesWhatTheAPIServerWould(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	unknown := write("unknown.yaml", "apiVersion: operetta.dev/v1alpha1\nkind: Framework\nmetadata: {name: x}\nspec:\n  names: {group: x.example.com, kind: X}\n  plans: {}\n  bogus: 1\n")
	out, err := run(t, "verify", unknown)
	if err == nil || !strings.Contains(out, `strict decoding error: unknown field "spec.bogus"`) {
		t.Fatalf("an unknown field: %v\n%s", err, out)
	}
	invalid := write("invalid.yaml", "apiVersion: operetta.dev/v1alpha1\nkind: Framework\nmetadata: {name: x}\nspec:\n  names: {group: x.example.com, kind: X}\n  parameters: [{name: a, type: text}]\n  plans: {}\n")
	out, err = run(t, "verify", invalid)
	if err == nil || !strings.Contains(out, "Framework x: InvalidFramework") ||
		!strings.Contains(out, `  spec.parameters[0].type: Unsupported value: "text"`) ||
		!strings.Contains(out, "  spec.plans[deploy]: Required value") {
		t.Fatalf("an invalid Framework, each problem on its line: %v\n%s", err, out)
	}
}

func TestNewScaffoldVerifiesAndRenders(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kv")
	if _, err := run(t, "new", "key-value", "--dir", dir); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "verify", filepath.Join(dir, "framework.yaml"))
	if err != nil || !strings.Contains(out, "serves KeyValue as key-value.example.com/v1 with plans deploy, update") {
		t.Fatalf("verify of the scaffold: %v\n%s", err, out)
	}
	out, err = run(t, "render", filepath.Join(dir, "framework.yaml"), "--instance", filepath.Join(dir, "instance.yaml"))
	if err != nil || strings.Count(out, "\n---\n")+strings.Count(out[:4], "---") != 3 {
		t.Fatalf("render of the scaffold: %v\n%s", err, out)
	}
	s, err := NewScaffold("key-value", "")
	if err != nil {
		t.Fatal(err)
	}
	files, err := s.Files()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "new-framework.yaml", files["framework.yaml"])
	golden(t, "new-instance.yaml", files["instance.yaml"])
	if _, err := run(t, "new", "key-value", "--dir", dir); err == nil {
		t.Fatal("new overwrote existing files")
	}
	if _, err := run(t, "new", "Key_Value"); err == nil {
		t.Fatal("new took a name that is no DNS label")
	}
}
