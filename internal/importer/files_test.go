package importer_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"operetta.dev/operetta/internal/importer"
)

// applyCM is a task that applies templates/cm.yaml.
const applyCM = "tasks:\n- name: main\n  kind: Apply\n  spec: {resources: [cm.yaml]}\n"

const cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"

// kubeconfig is a file outside the package a link may point at: its
// content must appear in no error and no Framework.
const kubeconfig = "apiVersion: v1\nkind: Config\nusers:\n- name: admin\n  user: {token: s3cr3t-t0ken-outside-the-package}\n"

func expectRefused(t *testing.T, dir string, want ...string) {
	t.Helper()
	res, err := importer.KUDO(dir, importer.Options{})
	if err == nil {
		b, _ := res.YAML("demo")
		if strings.Contains(string(b), "s3cr3t") {
			t.Errorf("the content outside the package is in the Framework:\n%s", b)
		}
		t.Fatalf("imported, want refused with %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q, want %q in it", err, w)
		}
	}
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("the error shows the content outside the package: %v", err)
	}
}

// TestReadsOnlyRegularFilesInside: a symbolic link is refused by path,
// whether it points outside the package or inside it, whether a task names
// it or not, and so is a templates/ that is one.
func TestReadsOnlyRegularFilesInside(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(outside, []byte(kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	link := func(t *testing.T, dir, name, target string) {
		t.Helper()
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("a template linked to a file outside", func(t *testing.T) {
		dir := pkgDir(t, applyCM, "", nil)
		link(t, dir, "templates/cm.yaml", outside)
		expectRefused(t, dir, "templates/cm.yaml: a symbolic link", "only regular files inside the package directory")
	})
	t.Run("a template no task names, linked outside", func(t *testing.T) {
		dir := pkgDir(t, applyCM, "", map[string]string{"cm.yaml": cm})
		link(t, dir, "templates/unused.yaml", outside)
		expectRefused(t, dir, "templates/unused.yaml: a symbolic link")
	})
	t.Run("a template linked to another inside", func(t *testing.T) {
		dir := pkgDir(t, applyCM, "", map[string]string{"real.yaml": cm})
		link(t, dir, "templates/cm.yaml", "real.yaml")
		expectRefused(t, dir, "templates/cm.yaml: a symbolic link")
	})
	t.Run("params.yaml linked outside", func(t *testing.T) {
		dir := pkgDir(t, applyCM, "", map[string]string{"cm.yaml": cm})
		if err := os.Remove(filepath.Join(dir, "params.yaml")); err != nil {
			t.Fatal(err)
		}
		link(t, dir, "params.yaml", outside)
		expectRefused(t, dir, "params.yaml: a symbolic link")
	})
	t.Run("templates/ linked to a directory outside", func(t *testing.T) {
		dir := pkgDir(t, applyCM, "", nil)
		if err := os.Remove(filepath.Join(dir, "templates")); err != nil {
			t.Fatal(err)
		}
		link(t, dir, "templates", filepath.Dir(outside))
		expectRefused(t, dir, "templates: a symbolic link")
	})
	t.Run("a directory in templates/", func(t *testing.T) {
		dir := pkgDir(t, applyCM, "", map[string]string{"cm.yaml": cm})
		if err := os.Mkdir(filepath.Join(dir, "templates", "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		expectRefused(t, dir, "templates/sub: a directory")
	})
	t.Run("a socket in templates/", func(t *testing.T) {
		dir := pkgDir(t, applyCM, "", map[string]string{"cm.yaml": cm})
		l, err := net.Listen("unix", filepath.Join(dir, "templates", "s.yaml"))
		if err != nil {
			t.Skipf("no unix socket here: %v", err)
		}
		defer l.Close()
		expectRefused(t, dir, "templates/s.yaml: a socket")
	})
}

// TestCapsWhatItReads: a file past MaxFileBytes is refused by path and cap,
// and so is a package whose files together pass MaxPackageBytes.
func TestCapsWhatItReads(t *testing.T) {
	t.Run("a file", func(t *testing.T) {
		big := cm + "data: {x: '" + strings.Repeat("x", importer.MaxFileBytes) + "'}\n"
		dir := pkgDir(t, applyCM, "", map[string]string{"cm.yaml": big})
		expectRefused(t, dir, "templates/cm.yaml: larger than 1048576 bytes, the cap on a package file")
	})
	t.Run("the package", func(t *testing.T) {
		templates := map[string]string{"cm.yaml": cm}
		filler := strings.Repeat("#", importer.MaxFileBytes)
		for i := range importer.MaxPackageBytes / importer.MaxFileBytes {
			templates[fmt.Sprintf("fill-%d.yaml", i)] = filler
		}
		dir := pkgDir(t, applyCM, "", templates)
		expectRefused(t, dir, "the package's files come to more than 8388608 bytes, the cap on a package")
	})
	t.Run("a file at the cap is read", func(t *testing.T) {
		text := cm + strings.Repeat("#", importer.MaxFileBytes-len(cm))
		if _, err := importer.KUDO(pkgDir(t, applyCM, "", map[string]string{"cm.yaml": text}), importer.Options{}); err != nil {
			t.Fatal(err)
		}
	})
}
