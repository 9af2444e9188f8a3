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
		QueuedCauses: map[string]string{"backup": "operetta.dev/run-plan=backup@now"},
		Schedules: []v1alpha1.ScheduleStatus{{Name: "nightly", Schedule: "0 11 * * *", LastScheduleTime: at("2026-11-22T11:00:00Z"),
			LastOutcome: v1alpha1.ScheduleStarted, LastRunUID: "run-2", NextScheduleTime: at("2026-11-23T11:00:00Z")}},
		Triggers: []v1alpha1.TriggerStatus{
			{Name: "tls", Watching: "Secret zk-tls", Digest: "84af6f6f1a1a2bb6", LastTriggerTime: at("2026-11-22T09:00:00Z"), LastOutcome: v1alpha1.TriggerStarted, LastRunUID: "run-0"},
			{Name: "settings", Watching: "ConfigMap shared=zk", Digest: "0b5f4c2a9e1d7c33"},
		},
		Plans: map[string]v1alpha1.PlanStatus{
			"deploy": {Status: v1alpha1.Complete, UID: "run-1", Cause: "instance created", StartedAt: at("2026-11-22T10:00:00Z"), FinishedAt: at("2026-11-22T10:01:30Z"),
				Phases: []v1alpha1.PhaseStatus{{Name: "main", Status: v1alpha1.Complete, Steps: []v1alpha1.StepStatus{
					{Name: "config", Status: v1alpha1.Complete, StartedAt: at("2026-11-22T10:00:00Z"), FinishedAt: at("2026-11-22T10:00:01Z")},
					{Name: "servers", Status: v1alpha1.Complete, StartedAt: at("2026-11-22T10:00:01Z"), FinishedAt: at("2026-11-22T10:01:30Z")},
				}}}},
			"backup": {Status: v1alpha1.FatalError, UID: "run-2", Cause: "schedule nightly", Message: "main: dump: Job zk-dump failed: BackoffLimitExceeded",
				StartedAt: at("2026-11-22T11:00:00Z"), FinishedAt: at("2026-11-22T11:02:00Z"),
				Phases: []v1alpha1.PhaseStatus{{Name: "main", Status: v1alpha1.FatalError, Message: "dump: Job zk-dump failed: BackoffLimitExceeded",
					Steps: []v1alpha1.StepStatus{{Name: "dump", Status: v1alpha1.FatalError, Message: "Job zk-dump failed: BackoffLimitExceeded",
						StartedAt: at("2026-11-22T11:00:00Z"), FinishedAt: at("2026-11-22T11:02:00Z")}}}}},
			"upgrade": {Status: v1alpha1.InProgress, UID: "run-3", Cause: "revision 4", Message: "main: servers: waiting for StatefulSet zk: not ready yet (InProgress)",
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

	held := sample()
	held.Conditions = append(held.Conditions, metav1.Condition{Type: v1alpha1.ConditionPaused, Status: metav1.ConditionTrue, Reason: "Held", Message: "held by the operetta.dev/paused annotation"})
	var h bytes.Buffer
	PlanTree(&h, "zookeeper/zk", held, now, false)
	if first, _, _ := strings.Cut(h.String(), "\n"); !strings.HasSuffix(first, " PAUSED: held by the operetta.dev/paused annotation") {
		t.Errorf("a held instance's first line: %q", first)
	}

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

func TestWaitFollowsItsRun(t *testing.T) {
	acted := func(edit func(*v1alpha1.InstanceStatus)) v1alpha1.InstanceStatus {
		st := sample()
		st.LastRunPlan = "backup@1"
		st.PlanQueue = nil
		edit(&st)
		return st
	}
	backup := func(uid types.UID, status v1alpha1.ExecutionStatus) func(*v1alpha1.InstanceStatus) {
		return func(s *v1alpha1.InstanceStatus) {
			run := s.Plans["backup"]
			run.UID, run.Status = uid, status
			s.Plans["backup"] = run
		}
	}
	type seen struct {
		st     v1alpha1.InstanceStatus
		line   string
		status v1alpha1.ExecutionStatus
		err    string
	}
	tests := []struct {
		name  string
		polls []seen
	}{
		{"queued, then run to the end", []seen{
			{st: sample(), line: "waiting for operetta to act on the request"},
			{st: acted(func(s *v1alpha1.InstanceStatus) { s.PlanQueue = []string{"backup"} }), line: "plan backup is queued (position 1) behind upgrade"},
			{st: acted(backup("run-9", v1alpha1.InProgress)), line: "plan backup IN_PROGRESS, phase main, step dump FATAL_ERROR: Job zk-dump failed: BackoffLimitExceeded", status: v1alpha1.InProgress},
			{st: acted(backup("run-9", v1alpha1.Complete)), status: v1alpha1.Complete},
		}},
		{"complete before the first poll", []seen{
			{st: acted(backup("run-9", v1alpha1.Complete)), status: v1alpha1.Complete},
		}},
		{"another request later does not lose the run", []seen{
			{st: acted(backup("run-9", v1alpha1.InProgress)), status: v1alpha1.InProgress},
			{st: acted(func(s *v1alpha1.InstanceStatus) { backup("run-9", v1alpha1.Complete)(s); s.LastRunPlan = "deploy@2" }), status: v1alpha1.Complete},
		}},
		{"operetta refused the plan", []seen{
			{st: acted(func(s *v1alpha1.InstanceStatus) { s.RunPlanError = "names no plan of Framework zk" }), err: "operetta ran nothing: names no plan of Framework zk"},
		}},
		{"taken, and no run started", []seen{
			{st: acted(func(*v1alpha1.InstanceStatus) {}), err: "started no run of plan backup"},
		}},
		{"replaced before it was seen finishing", []seen{
			{st: acted(backup("run-9", v1alpha1.InProgress)), status: v1alpha1.InProgress},
			{st: acted(backup("run-10", v1alpha1.InProgress)), err: "run run-9 of plan backup was replaced by run run-10"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &progress{plan: "backup", value: "backup@1", previous: "run-2"}
			for i, want := range tt.polls {
				run, line, err := p.next(want.st)
				switch {
				case want.err != "":
					if err == nil || !strings.Contains(err.Error(), want.err) {
						t.Fatalf("poll %d: error %v, want %q", i, err, want.err)
					}
					return
				case err != nil:
					t.Fatalf("poll %d: %v", i, err)
				case run.Status != want.status || (want.line != "" && line != want.line):
					t.Fatalf("poll %d: %s %q, want %s %q", i, run.Status, line, want.status, want.line)
				}
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
	t.Run("versions, from an instance in the older version", func(t *testing.T) {
		dir := filepath.Join("..", "..", "examples", "versions")
		out, err := run(t, "render", filepath.Join(dir, "framework.yaml"), "--instance", filepath.Join(dir, "instance-v1.yaml"))
		if err != nil || !strings.Contains(out, "replicas: 2") || !strings.Contains(out, "image: nginx:1.27") {
			t.Fatalf("v1 size and image reach the template as v2 replicas and image: %v\n%s", err, out)
		}
		golden(t, "render-versions.yaml", []byte(out))
	})
	t.Run("collections, with and without the external ConfigMap", func(t *testing.T) {
		dir := filepath.Join("..", "..", "examples", "collections")
		args := []string{"render", filepath.Join(dir, "framework.yaml"), "--instance", filepath.Join(dir, "instance.yaml")}
		out, err := run(t, append(args, "--external", filepath.Join(dir, "external.yaml"))...)
		if err != nil {
			t.Fatal(err)
		}
		golden(t, "render-collections.yaml", []byte(out))
		out, err = run(t, args...)
		if err != nil || !strings.Contains(out, "reads ConfigMap default/messaging-defaults (externalRef defaults), not given with --external") ||
			strings.Contains(out, "kind: ConfigMap") {
			t.Fatalf("without --external: %v\n%s", err, out)
		}
	})
}

func TestVerifyAndCRDOfTheExamples(t *testing.T) {
	for _, ex := range []string{"zookeeper", "kafka", "webapp", "collections", "versions"} {
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
	metadata := write("metadata.yaml", "apiVersion: operetta.dev/v1alpha1\nkind: Framework\nmetadata: {nmae: x}\nspec:\n  names: {group: x.example.com, kind: X}\n  plans: {}\n")
	out, err = run(t, "verify", metadata)
	if err == nil || !strings.Contains(out, `strict decoding error: unknown field "metadata.nmae"`) {
		t.Fatalf("a misspelt metadata field: %v\n%s", err, out)
	}
	nameless := write("nameless.yaml", "apiVersion: operetta.dev/v1alpha1\nkind: Framework\nmetadata: {}\nspec:\n  names: {group: x.example.com, kind: X}\n  plans: {}\n")
	out, err = run(t, "verify", nameless)
	if err == nil || !strings.Contains(out, "metadata.name: Required value") {
		t.Fatalf("no name: %v\n%s", err, out)
	}
	invalid := write("invalid.yaml", "apiVersion: operetta.dev/v1alpha1\nkind: Framework\nmetadata: {name: x}\nspec:\n  names: {group: x.example.com, kind: X}\n  parameters: [{name: a, type: text}]\n  plans: {}\n")
	out, err = run(t, "verify", invalid)
	if err == nil || !strings.Contains(out, "Framework x: InvalidFramework") ||
		!strings.Contains(out, `  spec.parameters[0].type: Unsupported value: "text"`) ||
		!strings.Contains(out, "  spec.plans[deploy]: Required value") {
		t.Fatalf("an invalid Framework, each problem on its line: %v\n%s", err, out)
	}
	schedules := write("schedules.yaml", "apiVersion: operetta.dev/v1alpha1\nkind: Framework\nmetadata: {name: x}\nspec:\n  names: {group: x.example.com, kind: X}\n"+
		"  tasks: [{name: noop, kind: Dummy, done: true}]\n  plans: {deploy: {phases: [{name: p, steps: [{name: s, tasks: [noop]}]}]}}\n"+
		"  schedules:\n  - {name: nightly, plan: backup, schedule: '0 2 * * *'}\n  - {name: hourly, plan: deploy, schedule: '0 * * *'}\n")
	out, err = run(t, "verify", schedules)
	if err == nil || !strings.Contains(out, `  spec.schedules[0].plan: Not found: "backup"`) ||
		!strings.Contains(out, `  spec.schedules[1].schedule: Invalid value: "0 * * *": expected exactly 5 fields, found 4`) {
		t.Fatalf("schedules of no plan and of no cron: %v\n%s", err, out)
	}
	triggers := write("triggers.yaml", "apiVersion: operetta.dev/v1alpha1\nkind: Framework\nmetadata: {name: x}\nspec:\n  names: {group: x.example.com, kind: X}\n"+
		"  tasks: [{name: noop, kind: Dummy, done: true}]\n  plans: {deploy: {phases: [{name: p, steps: [{name: s, tasks: [noop]}]}]}}\n"+
		"  triggers:\n  - {name: tls, plan: rotate, watch: {apiVersion: v1, kind: Secret, name: '${instance.spec.tls}'}}\n")
	out, err = run(t, "verify", triggers)
	if err == nil || !strings.Contains(out, `  spec.triggers[0].plan: Not found: "rotate"`) ||
		!strings.Contains(out, `  spec.triggers[0].watch.name: Invalid value: "${instance.spec.tls}"`) {
		t.Fatalf("a trigger of no plan, naming a field the kind lacks: %v\n%s", err, out)
	}
}

// TestVerifyWarnsOfAFrameworkTooLargeToStore: a Framework whose encoding
// passes etcd's default 1.5 MiB compiles, but is likely refused at apply.
func TestVerifyWarnsOfAFrameworkTooLargeToStore(t *testing.T) {
	example, err := os.ReadFile(filepath.Join("..", "..", "examples", "webapp", "framework.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Replace(string(example), "description: Container image of the web server.", "description: "+strings.Repeat("x", 2<<20), 1)
	p := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(p, []byte(big), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "verify", p)
	if err != nil || !strings.Contains(out, "warning: the Framework is 2") || !strings.Contains(out, "more than the 1572864 an API server stores by default") {
		t.Fatalf("verify of a 2 MiB Framework: %v\n%.2000s", err, out)
	}
}

// TestVerifyWarnsOfSharedClusterScopedNames: a cluster-scoped child whose
// name leaves out the instance's namespace and name makes two tenants'
// instances collide; one that includes both does not.
func TestVerifyWarnsOfSharedClusterScopedNames(t *testing.T) {
	out, err := run(t, "verify", filepath.Join("..", "..", "test", "e2e", "testdata", "tenant.yaml"))
	if err != nil || !strings.Contains(out, `Framework shared: warning: spec.resources[0] (reader): the name of cluster-scoped ClusterRole "e2e-shared-reader" does not include`) ||
		!strings.Contains(out, "Framework greeter: warning: spec.resources[0] (greeting): the template may render cluster-scoped ClusterRoleBinding but never reads .Namespace") {
		t.Fatalf("%v\n%s", err, out)
	}
	p := filepath.Join(t.TempDir(), "named.yaml")
	b, err := os.ReadFile(filepath.Join("..", "..", "test", "e2e", "testdata", "tenant.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	named := strings.Replace(string(b), "name: e2e-shared-reader", `name: "${instance.metadata.namespace}-${instance.metadata.name}-reader"`, 1)
	if err := os.WriteFile(p, []byte(named), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, "verify", p); err != nil || strings.Contains(out, "Framework shared: warning") {
		t.Fatalf("a name with the instance's namespace and name: %v\n%s", err, out)
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
	if err != nil || strings.Count("\n"+out, "\n---\n") != 3 {
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
	if _, err := run(t, "new", "Key_Value", "--dir", t.TempDir()); err == nil {
		t.Fatal("new took a name that is no DNS label")
	}
}

// TestImportKUDOChecksEveryRender: --check renders each plan's resources
// with the default parameters and names the one that does not render; the
// imported Framework renders offline like any other.
func TestImportKUDOChecksEveryRender(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"operator.yaml": "name: certs\noperatorVersion: 0.1.0\ntasks:\n- name: main\n  kind: Apply\n  spec: {resources: [ok.yaml, tls.yaml]}\n" +
			"plans:\n  deploy:\n    phases:\n    - name: main\n      steps:\n      - name: main\n        tasks: [main]\n",
		// TOLERATIONS has no default: KUDO requires it, --check gives it [].
		"params.yaml":        "parameters:\n- name: REPLICAS\n  default: \"2\"\n- name: TOLERATIONS\n  type: array\n",
		"templates/ok.yaml":  "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: '{{ .Name }}-ok'}\ndata: {replicas: '{{ .Params.REPLICAS }}'}\n",
		"templates/tls.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: '{{ .Pipes.cert }}'}\n",
	}
	writeFiles(t, dir, files)
	_, err := run(t, "import", "kudo", dir, "--check")
	if err == nil || !strings.Contains(err.Error(), "1 of 2 renders failed") ||
		!strings.Contains(err.Error(), "plan deploy, phase main, step main, task main, resource tls (templates/tls.yaml): rendering resource tls") ||
		!strings.Contains(err.Error(), `map has no entry for key "cert"`) {
		t.Fatalf("--check: %v", err)
	}

	if err := os.WriteFile(filepath.Join(dir, "templates/tls.yaml"), []byte("apiVersion: v1\nkind: Secret\nmetadata: {name: tls}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "framework.yaml")
	if _, err := run(t, "import", "kudo", dir, "--check", "-o", out); err != nil {
		t.Fatal(err)
	}
	inst := filepath.Join(dir, "instance.yaml")
	if err := os.WriteFile(inst, []byte("apiVersion: kudo.operetta.dev/v1\nkind: Certs\nmetadata: {name: web, namespace: team}\nspec: {REPLICAS: \"3\", TOLERATIONS: []}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rendered, err := run(t, "render", out, "--instance", inst)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"name: web-ok", `replicas: "3"`, "heritage: kudo", "kudo.dev/instance: web", "name: tls"} {
		if !strings.Contains(rendered, want) {
			t.Errorf("render lacks %q:\n%s", want, rendered)
		}
	}
}

// TestImportKUDOPipeTask: a Pipe task is imported as one, its pod template
// a resource of its own; render shows the pod and the files it copies, and
// the template that mounts .Pipes.<key> names the object KUDO named.
func TestImportKUDOPipeTask(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"operator.yaml": "name: certs\noperatorVersion: 0.1.0\ntasks:\n" +
			"- name: gen-cert\n  kind: Pipe\n  spec:\n    pod: gen.yaml\n    pipe:\n    - {file: /tmp/cert.pem, kind: Secret, key: cert}\n" +
			"- name: app\n  kind: Apply\n  spec: {resources: [app.yaml]}\n" +
			"plans:\n  deploy:\n    phases:\n    - name: main\n      steps:\n      - {name: certs, tasks: [gen-cert]}\n      - {name: app, tasks: [app]}\n",
		"params.yaml": "parameters: []\n",
		"templates/gen.yaml": "apiVersion: v1\nkind: Pod\nspec:\n  volumes: [{name: out, emptyDir: {}}]\n" +
			"  initContainers:\n  - {name: init, image: busybox, command: [touch, /tmp/cert.pem], volumeMounts: [{name: out, mountPath: /tmp}]}\n",
		"templates/app.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {secret: '{{ .Pipes.cert }}'}\n",
	}
	writeFiles(t, dir, files)
	out := filepath.Join(dir, "framework.yaml")
	if _, err := run(t, "import", "kudo", dir, "--check", "-o", out); err != nil {
		t.Fatal(err)
	}
	inst := filepath.Join(dir, "instance.yaml")
	if err := os.WriteFile(inst, []byte("apiVersion: kudo.operetta.dev/v1\nkind: Certs\nmetadata: {name: web-1, namespace: team}\nspec: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rendered, err := run(t, "render", out, "--instance", inst)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"runs the pod below, copies /tmp/cert.pem into a Secret (.Pipes.cert), then deletes the pod",
		"kind: Pod\n",
		"secret: web1.deploy.main.certs.gencert.cert\n",
	} {
		if !strings.Contains(rendered, want) {
			t.Errorf("render lacks %q:\n%s", want, rendered)
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kind: Pipe\n", "pod: gen\n", "key: cert\n", "file: /tmp/cert.pem\n"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the Framework lacks %q:\n%s", want, b)
		}
	}
}

// writeFiles writes files, by path under dir, making their directories.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
