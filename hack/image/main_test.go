package main

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestImageRunsAStaticBinaryAsNonRoot builds an image from a small static
// binary and reads both outputs back as a registry or `docker load` would.
func TestImageRunsAStaticBinaryAsNonRoot(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\nfunc main() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "manager")
	compile := exec.Command("go", "build", "-o", bin, src)
	compile.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOFLAGS=")
	if out, err := compile.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	want, _ := os.ReadFile(bin)
	o := options{binary: bin, arch: "amd64", ref: "operetta/manager:1.2.3", version: "1.2.3",
		tarball: filepath.Join(dir, "image.tar"), layout: filepath.Join(dir, "layout")}
	if err := build(o); err != nil {
		t.Fatal(err)
	}

	tag, _ := name.NewTag(o.ref)
	img, err := tarball.ImageFromPath(o.tarball, &tag)
	if err != nil {
		t.Fatalf("reading the tarball as %s: %v", o.ref, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Config.User != nonRoot || strings.Join(cfg.Config.Entrypoint, " ") != "/manager" || cfg.OS != "linux" || cfg.Architecture != "amd64" {
		t.Fatalf("config: user %q, entrypoint %v, platform %s/%s", cfg.Config.User, cfg.Config.Entrypoint, cfg.OS, cfg.Architecture)
	}
	if cfg.Config.Labels["org.opencontainers.image.version"] != "1.2.3" {
		t.Errorf("labels %v", cfg.Config.Labels)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d, %v; want the binary's one", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var files []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, h.Name)
		if h.Name == "manager" {
			got, _ := io.ReadAll(tr)
			if h.Mode != 0o755 || string(got) != string(want) {
				t.Errorf("manager: mode %o, %d bytes; want 755 and the binary's %d", h.Mode, len(got), len(want))
			}
		}
	}
	if strings.Join(files, ",") != "manager" {
		t.Fatalf("the layer holds %v, want the manager alone", files)
	}

	idx, err := layout.ImageIndexFromPath(o.layout)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil || len(m.Manifests) != 1 || m.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != tag.String() {
		t.Fatalf("layout index %+v, %v; want one image named %s", m, err, tag)
	}
	fromLayout, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := img.Digest()
	d2, _ := fromLayout.Digest()
	if d1 != d2 {
		t.Fatalf("the tarball's image %s and the layout's %s differ", d1, d2)
	}
}

func TestImageRefusesADynamicBinary(t *testing.T) {
	const dynamic = "/bin/ls"
	if _, err := os.Stat(dynamic); err != nil {
		t.Skipf("no %s here", dynamic)
	}
	err := build(options{binary: dynamic, ref: "operetta/manager:x", tarball: filepath.Join(t.TempDir(), "x.tar")})
	if err == nil || !strings.Contains(err.Error(), "dynamically linked") {
		t.Fatalf("building from %s: %v, want a refusal naming it dynamically linked", dynamic, err)
	}
}
