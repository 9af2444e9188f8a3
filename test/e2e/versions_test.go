//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The docs/versions.md example on the local cluster: the API server, a
// process on this host, converts through the manager's webhook by URL, with
// the certificate the manager made. An instance written in v1, as a GitOps
// repo keeps applying it, is read in both versions, and its plans complete
// with what v2 calls it.
func TestTheVersionsExampleConverts(t *testing.T) {
	dir := filepath.Join(root, "examples/versions")
	if err := kubectl("apply", "-f", filepath.Join(dir, "framework.yaml")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kubectl("delete", "framework", "caches", "--wait=false") })
	if err := kubectl("wait", "framework/caches", "--for=condition=Ready", "--timeout=60s"); err != nil {
		t.Fatal(err)
	}
	out, err := kubectlOutput("apply", "-f", filepath.Join(dir, "instance-v1.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = kubectl("delete", "caches.v2.versions.example.com", "web", "-n", "default", "--wait=false")
	})
	// The API server tells the client what the Framework says of v1.
	if !strings.Contains(out, "Warning: versions.example.com/v1 Cache is deprecated; use v2") {
		t.Errorf("applying in v1 warned nothing: %s", out)
	}
	if err := kubectl("wait", "caches.v2.versions.example.com/web", "-n", "default", "--for=jsonpath={.status.plans.deploy.status}=COMPLETE", "--timeout=2m"); err != nil {
		t.Fatal(err)
	}
	read := func(version, fields string) string {
		t.Helper()
		out, err := kubectlOutput("get", "caches."+version+".versions.example.com", "web", "-n", "default", "-o", "jsonpath="+fields)
		if err != nil {
			t.Fatal(err)
		}
		// kubectl repeats the deprecation warning on stderr: the last line
		// is the object's.
		lines := strings.Split(strings.TrimSpace(out), "\n")
		return lines[len(lines)-1]
	}
	if got := read("v1", "{.spec.size} {.spec.image} {.status.plans.deploy.status}"); got != "2 nginx:1.27 COMPLETE" {
		t.Errorf("read as v1: %q", got)
	}
	if got := read("v2", "{.spec.replicas} {.spec.image.repository} {.spec.image.tag} {.status.plans.deploy.status}"); got != "2 nginx 1.27 COMPLETE" {
		t.Errorf("read as v2: %q", got)
	}
	deployment := func() string {
		out, err := kubectlOutput("get", "deployment", "web", "-n", "default", "-o", "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image}")
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out)
	}
	if got := deployment(); got != "2 nginx:1.27" {
		t.Fatalf("the Deployment: %q", got)
	}

	// The repo changes its v1 file: the change reaches the children
	// through v2's fields.
	v1, err := os.ReadFile(filepath.Join(dir, "instance-v1.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.NewReplacer("size: 2", "size: 3", `image: "nginx:1.27"`, `image: "nginx:1.28"`).Replace(string(v1))
	file := filepath.Join(t.TempDir(), "instance-v1.yaml")
	if err := os.WriteFile(file, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := kubectl("apply", "-f", file); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Minute, func() error {
		if got := deployment(); got != "3 nginx:1.28" {
			return fmt.Errorf("the Deployment after the v1 change: %q", got)
		}
		return nil
	})
	if err := kubectl("wait", "caches.v1.versions.example.com/web", "-n", "default", "--for=jsonpath={.status.activePlanStatus}=COMPLETE", "--timeout=2m"); err != nil {
		t.Fatal(err)
	}
	if got := read("v2", "{.spec.replicas} {.spec.image.tag}"); got != "3 1.28" {
		t.Errorf("read as v2 after the v1 change: %q", got)
	}
	// The API server counts its conversions of the kind: some from v2 to
	// v1 (the reads above), none failed.
	metrics, err := kubectlOutput("get", "--raw", "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	const series = `apiserver_crd_conversion_webhook_duration_seconds_count{crd_name="caches.versions.example.com"`
	if !strings.Contains(metrics, series+`,from_version="v2",succeeded="true",to_version="v1"}`) {
		t.Errorf("the API server counts no conversion from v2 to v1 of caches:\n%s", grepLines(metrics, series))
	}
	if strings.Contains(metrics, series) && strings.Contains(grepLines(metrics, series), `succeeded="false"`) {
		t.Errorf("the API server counts failed conversions:\n%s", grepLines(metrics, series))
	}
}

// grepLines is the lines of text that contain s.
func grepLines(text, s string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
