package integration

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/cli"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// plugin runs `kubectl operetta args...` against the suite's API server, in
// namespace ns.
func plugin(t *testing.T, ns string, args ...string) (string, error) {
	t.Helper()
	out := &syncBuffer{}
	err := pluginTo(out, ns, args...)
	return out.String(), err
}

func pluginTo(out io.Writer, ns string, args ...string) error {
	c := &cli.Cluster{Client: k8s, Mapper: k8s.RESTMapper(), Namespace: ns}
	root := cli.NewRootWith(genericiooptions.IOStreams{In: strings.NewReader(""), Out: out, ErrOut: io.Discard}, c, time.Now)
	root.SetArgs(args)
	return root.Execute()
}

// syncBuffer is a buffer a command writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var (
	timestamps = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ|\d{8}T\d{6}\.\d{3}Z`)
	durations  = regexp.MustCompile(`(took|running for) [0-9hms.µ]+`)
	runs       = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	spaces     = regexp.MustCompile(` {2,}`)
	cells      = regexp.MustCompile(`  [0-9hms.µ]+s  `)
)

// normalize replaces what changes from run to run: times, durations and run
// UIDs.
func normalize(s string) string {
	s = timestamps.ReplaceAllString(s, "<time>")
	s = durations.ReplaceAllString(s, "$1 <d>")
	return runs.ReplaceAllString(s, "<uid>")
}

// normalizeTable also evens out the column widths the times decide.
func normalizeTable(s string) string {
	return cells.ReplaceAllString(spaces.ReplaceAllString(normalize(s), "  "), "  <d>  ")
}

func goldenFile(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./test/integration -run %s -update)", err, t.Name())
	}
	if got != string(want) {
		t.Fatalf("%s is stale; run go test ./test/integration -run %s -update and review the diff.\ngot:\n%s", path, t.Name(), got)
	}
}

// TestThePluginShowsAndTriggersPlans drives an instance's plans with
// kubectl operetta against a real API server: its status and history as
// printed from real status objects, a trigger refused for a plan the
// Framework lacks, one followed to COMPLETE, one to FATAL_ERROR, and what
// diagnose gathers.
func TestThePluginShowsAndTriggersPlans(t *testing.T) {
	startManager(t)
	ns := namespace(t, "plugin")
	group := "plugin.test.operetta.dev"
	gvk := thingGVK(group)
	svc := resource("svc", `{"apiVersion":"v1","kind":"Service","metadata":{"name":"${instance.metadata.name}"},"spec":{"ports":[{"port":70000}]}}`)
	fw := framework("plugin", group, nil,
		[]v1alpha1.Resource{configMap("config", ""), gated("gate"), svc},
		[]v1alpha1.Task{apply("config", "config"), apply("gate", "gate"), apply("svc", "svc")},
		map[string]v1alpha1.Plan{
			"deploy": {Phases: []v1alpha1.Phase{{Name: "main", Steps: steps("config")}}},
			"backup": {Phases: []v1alpha1.Phase{{Name: "main", Steps: steps("gate")}}},
			"broken": {Phases: []v1alpha1.Phase{{Name: "main", Steps: steps("svc")}}},
		})
	createFramework(t, fw)
	frameworkReady(t, "plugin", metav1.ConditionTrue)
	if err := k8s.Create(ctx(t), instance(gvk, ns, "p", map[string]any{})); err != nil {
		t.Fatal(err)
	}
	waitForPlan(t, gvk, ns, "p", "deploy", "COMPLETE")
	ref := "things." + group + "/p"

	out, err := plugin(t, ns, "plan", "trigger", "restore", ref)
	if err == nil || !strings.Contains(err.Error(), `Framework plugin has no plan "restore"; its plans are: deploy, backup, broken`) {
		t.Fatalf("triggering a plan the Framework lacks: %v\n%s", err, out)
	}
	if u, _ := get(t, gvk, ns, "p"); u.GetAnnotations()[v1alpha1.AnnotationRunPlan] != "" {
		t.Fatal("a refused trigger annotated the instance")
	}

	// backup waits for its gate; --wait follows it until the gate opens.
	done := make(chan error, 1)
	following := &syncBuffer{}
	go func() { done <- pluginTo(following, ns, "plan", "trigger", "backup", ref, "--wait", "--timeout=60s") }()
	eventually(t, 30*time.Second, func() error {
		if !strings.Contains(following.String(), "step gate IN_PROGRESS") {
			return fmt.Errorf("plan trigger --wait printed %q, want the step it waits at", following.String())
		}
		return nil
	})
	out, err = plugin(t, ns, "plan", "status", ref)
	if err != nil {
		t.Fatal(err)
	}
	goldenFile(t, "plugin-plan-status.txt", normalize(out))
	openGateOf(t, ns, "p-gate")
	select {
	case err := <-done:
		if err != nil || !strings.Contains(following.String(), "plan backup COMPLETE") {
			t.Fatalf("plan trigger --wait: %v\n%s", err, following.String())
		}
		mustContain(t, following.String(), "plan backup triggered (operetta.dev/run-plan=backup@")
	case <-time.After(60 * time.Second):
		t.Fatal("plan trigger --wait did not return once the plan completed")
	}

	// A plan that fails for good makes --wait fail, saying why.
	out, err = plugin(t, ns, "plan", "trigger", "broken", ref, "--wait", "--timeout=60s")
	if err == nil || !strings.Contains(err.Error(), "plan broken of thing/p failed") || !strings.Contains(err.Error(), "spec.ports[0].port") {
		t.Fatalf("plan trigger --wait of a failing plan: %v\n%s", err, out)
	}

	out, err = plugin(t, ns, "plan", "history", ref)
	if err != nil {
		t.Fatal(err)
	}
	goldenFile(t, "plugin-plan-history.txt", normalizeTable(out))

	out, err = plugin(t, ns, "plan", "status", ref, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var view struct {
		ActivePlan string                         `json:"activePlan"`
		Plans      map[string]v1alpha1.PlanStatus `json:"plans"`
	}
	if err := json.Unmarshal([]byte(out), &view); err != nil || view.ActivePlan != "broken" || len(view.Plans) != 3 {
		t.Fatalf("-o json: %v, active %q, %d plans\n%s", err, view.ActivePlan, len(view.Plans), out)
	}

	out, err = plugin(t, ns, "diagnose", ref)
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, out, "== Thing "+ns+"/p", "Stalled=True Failed: plan broken failed",
		"== Framework\nplugin (generation 1", "Ready=True Serving",
		"ConfigMap p-config: Current", "ConfigMap p-gate: Current",
		"Thing/p  PlanComplete: plan deploy is complete", "PlanFailed: plan broken failed")
}

// TestTheScaffoldDeploys: what kubectl operetta new writes is a Framework the
// controller serves, and its instance's deploy plan completes.
func TestTheScaffoldDeploys(t *testing.T) {
	startManager(t)
	ns := namespace(t, "scaffold")
	s, err := cli.NewScaffold("scaffolded", "")
	if err != nil {
		t.Fatal(err)
	}
	files, err := s.Files()
	if err != nil {
		t.Fatal(err)
	}
	fw := &v1alpha1.Framework{}
	if err := yaml.UnmarshalStrict(files["framework.yaml"], fw); err != nil {
		t.Fatal(err)
	}
	createFramework(t, fw)
	frameworkReady(t, "scaffolded", metav1.ConditionTrue)
	inst := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(files["instance.yaml"], &inst.Object); err != nil {
		t.Fatal(err)
	}
	inst.SetNamespace(ns)
	if err := k8s.Create(ctx(t), inst); err != nil {
		t.Fatal(err)
	}
	gvk := inst.GroupVersionKind()
	waitForPlan(t, gvk, ns, inst.GetName(), "deploy", "IN_PROGRESS")
	// envtest runs no Deployment controller: play it.
	eventually(t, 30*time.Second, func() error {
		return k8s.Get(ctx(t), client.ObjectKey{Namespace: ns, Name: inst.GetName()}, &appsv1.Deployment{})
	})
	setDeploymentReady(t, ns, inst.GetName(), true)
	waitForPlan(t, gvk, ns, inst.GetName(), "deploy", "COMPLETE")
}
