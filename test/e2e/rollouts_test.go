//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestTheRolloutsWalkThroughRunsAsWritten runs every sh block of the
// walk-through in docs/rollouts.md, in order, in one shell that stops at
// the first failing command, from a directory where examples/ is the
// repository's: a diff, a canary of one, a held instance, a bad change
// halting after maxFailures, an undo. Then it checks what the commands
// printed at each turn.
func TestTheRolloutsWalkThroughRunsAsWritten(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(root, "docs/rollouts.md"))
	if err != nil {
		t.Fatal(err)
	}
	script := shellBlocks(t, string(doc), "## Walk-through")
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(root, "examples"), filepath.Join(dir, "examples")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Whatever step it stopped at, the next tests find the example
		// Framework as it was.
		_ = kubectl("delete", "namespace", "rollout-demo", "--wait=false", "--ignore-not-found")
		_ = kubectl("patch", "framework", "zookeeper", "--type=merge", "-p", `{"spec":{"rollout":null}}`)
		_ = kubectl("apply", "-f", filepath.Join(root, "examples/zookeeper/framework.yaml"))
	})
	cmd := exec.Command("bash", "-euo", "pipefail", "-xc", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "PATH="+filepath.Join(root, "bin")+":"+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	t.Logf("the walk-through:\n%s", out)
	if err != nil {
		t.Fatalf("the walk-through stopped: %v", err)
	}
	for _, want := range []string{
		`rollout-demo +zk-a +\d+->\d+ +deploy +0 +1 +0 +0 +spec\.rollout\.selector does not select it`,
		`rollout-demo +zk-b +\d+->\d+ +deploy +0 +1 +0 +0 +held by its operetta\.dev/paused annotation`,
		`revision \d+ of Framework zookeeper rolled out: 1 of 1 instances updated\n`,
		`revision \d+ of Framework zookeeper rolled out: 2 of 3 instances updated, 1 held by operetta\.dev/paused \(rollout-demo/zk-b\)`,
		`would fail: .*spec\.podManagementPolicy: .*field is immutable`,
		`framework zookeeper is Stalled \(RolloutHalted\): the rollout of revision \d+ halted`,
		`rollout status: exit status 1`,
		`framework/zookeeper rolled back to revision \d+`,
		`PAUSED: held by the operetta\.dev/paused annotation`,
		`revision \d+ of Framework zookeeper rolled out: 3 of 3 instances updated\n`,
	} {
		if !regexp.MustCompile(want).Match(out) {
			t.Errorf("the walk-through did not print %q", want)
		}
	}
	// The preview was of what the undo then did: the same revision.
	previewed := regexp.MustCompile(`going back to revision (\d+)'s spec`).FindSubmatch(out)
	undone := regexp.MustCompile(`rolled back to revision (\d+) `).FindSubmatch(out)
	if previewed == nil || undone == nil || string(previewed[1]) != string(undone[1]) {
		t.Errorf("diff previewed going back to %q, undo went back to %q", previewed, undone)
	}
}

// shellBlocks returns the sh code blocks of the section of doc that starts
// with heading, joined in order.
func shellBlocks(t *testing.T, doc, heading string) string {
	t.Helper()
	start := strings.Index(doc, "\n"+heading)
	if start < 0 {
		t.Fatalf("no section %q", heading)
	}
	section := doc[start+1:]
	if end := strings.Index(section[len(heading):], "\n## "); end >= 0 {
		section = section[:len(heading)+end]
	}
	var blocks []string
	for _, part := range strings.Split(section, "```sh\n")[1:] {
		code, _, ok := strings.Cut(part, "```")
		if !ok {
			t.Fatalf("an sh block of %q does not end", heading)
		}
		blocks = append(blocks, code)
	}
	if len(blocks) == 0 {
		t.Fatalf("section %q has no sh block", heading)
	}
	return strings.Join(blocks, "\n")
}
