package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportKUDOClusterScopedOnlyWhenAsked: a package that renders a
// ClusterRoleBinding is refused, naming the file and the kind, unless
// --allow-cluster-scoped lists the kind in spec.allow.clusterScoped.
func TestImportKUDOClusterScopedOnlyWhenAsked(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"operator.yaml": "name: rbac\noperatorVersion: 0.1.0\ntasks:\n- name: main\n  kind: Apply\n  spec: {resources: [sa.yaml, crb.yaml]}\n" +
			"plans:\n  deploy:\n    phases:\n    - name: main\n      steps:\n      - name: main\n        tasks: [main]\n",
		"params.yaml":       "parameters: []\n",
		"templates/sa.yaml": "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: '{{ .Name }}'}\n",
		"templates/crb.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: '{{ .Name }}'}\n" +
			"roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}\n" +
			"subjects: [{kind: ServiceAccount, name: '{{ .Name }}', namespace: '{{ .Namespace }}'}]\n",
	})
	_, err := run(t, "import", "kudo", dir)
	if err == nil || !strings.Contains(err.Error(), "templates/crb.yaml: ClusterRoleBinding.rbac.authorization.k8s.io") ||
		!strings.Contains(err.Error(), "--allow-cluster-scoped") {
		t.Fatalf("without --allow-cluster-scoped: %v", err)
	}
	out := filepath.Join(dir, "framework.yaml")
	if _, err := run(t, "import", "kudo", dir, "--allow-cluster-scoped", "--check", "-o", out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"# - templates/crb.yaml: renders a cluster-scoped ClusterRoleBinding, which spec.allow.clusterScoped now lets it create (--allow-cluster-scoped)",
		"  allow:\n    clusterScoped:\n    - group: rbac.authorization.k8s.io\n      kind: ClusterRoleBinding\n",
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("no %q in\n%s", want, b)
		}
	}
}

// TestImportKUDOBoundsCounts: zookeeper's NODE_COUNT, a string KUDO loops
// over, is bounded by the generated schema: 100 renders, 3000000 is refused
// as the API server would refuse it.
func TestImportKUDOBoundsCounts(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "zookeeper.yaml")
	if _, err := run(t, "import", "kudo", filepath.Join("..", "kudo", "testdata", "packages", "zookeeper"), "-o", out); err != nil {
		t.Fatal(err)
	}
	instance := func(count string) string {
		file := filepath.Join(dir, "zk-"+count+".yaml")
		text := "apiVersion: kudo.operetta.dev/v1\nkind: Zookeeper\nmetadata: {name: zk, namespace: team}\nspec: {NODE_COUNT: \"" + count + "\"}\n"
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return file
	}
	if _, err := run(t, "render", out, "--instance", instance("100")); err != nil {
		t.Fatalf("NODE_COUNT 100: %v", err)
	}
	_, err := run(t, "render", out, "--instance", instance("3000000"))
	if err == nil || !strings.Contains(err.Error(), `spec.NODE_COUNT: Invalid value: "3000000"`) {
		t.Fatalf("NODE_COUNT 3000000: %v, want refused by the schema", err)
	}
}
