// Command image packages the manager binary as an OCI image without Docker:
// one layer holding a static binary on an empty base, run as a non-root
// user. It writes an OCI image layout (for registries and tools that read
// one) and a tarball that `docker load`, `kind load image-archive` and
// `crane push` take. `make image` runs it.
package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// nonRoot is the user and group the manager runs as: distroless' nonroot.
const nonRoot = "65532:65532"

func main() {
	var opts options
	flag.StringVar(&opts.binary, "binary", "", "the manager, built static for linux (CGO_ENABLED=0)")
	flag.StringVar(&opts.arch, "arch", "amd64", "the binary's architecture (GOARCH)")
	flag.StringVar(&opts.ref, "ref", "operetta/manager:dev", "the image's reference in the tarball")
	flag.StringVar(&opts.version, "version", "dev", "the version the image is labelled with")
	flag.StringVar(&opts.tarball, "tarball", "", "write a tarball here")
	flag.StringVar(&opts.layout, "layout", "", "write an OCI image layout into this directory")
	flag.Parse()
	if err := build(opts); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

type options struct {
	binary, arch, ref, version, tarball, layout string
}

func build(o options) error {
	if o.binary == "" || (o.tarball == "" && o.layout == "") {
		return errors.New("-binary and at least one of -tarball and -layout are required")
	}
	ref, err := name.NewTag(o.ref)
	if err != nil {
		return fmt.Errorf("-ref %q: %w", o.ref, err)
	}
	bin, err := os.ReadFile(o.binary)
	if err != nil {
		return err
	}
	if err := checkStatic(o.binary); err != nil {
		return err
	}
	img, err := image(bin, o.arch, o.version)
	if err != nil {
		return err
	}
	if o.tarball != "" {
		if err := tarball.WriteToFile(o.tarball, ref, img); err != nil {
			return fmt.Errorf("writing %s: %w", o.tarball, err)
		}
	}
	if o.layout != "" {
		if err := os.RemoveAll(o.layout); err != nil {
			return err
		}
		p, err := layout.Write(o.layout, empty.Index)
		if err != nil {
			return fmt.Errorf("writing %s: %w", o.layout, err)
		}
		if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
			"org.opencontainers.image.ref.name": ref.String(),
		})); err != nil {
			return fmt.Errorf("writing %s: %w", o.layout, err)
		}
	}
	return nil
}

// checkStatic refuses a binary that needs a dynamic loader: the image has
// none.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s is not a linux binary: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked; build it with CGO_ENABLED=0", path)
		}
	}
	return nil
}

// image is the manager's image: bin as /manager on an empty base.
func image(bin []byte, arch, version string) (v1.Image, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	// A fixed time keeps the image's digest a function of the binary.
	epoch := time.Unix(0, 0)
	if err := tw.WriteHeader(&tar.Header{Name: "manager", Mode: 0o755, Size: int64(len(bin)), ModTime: epoch, Typeflag: tar.TypeReg}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(bin); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(buf.Bytes())), nil
	})
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", arch
	cfg.Created = v1.Time{Time: epoch}
	cfg.Config.Entrypoint = []string{"/manager"}
	cfg.Config.User = nonRoot
	cfg.Config.WorkingDir = "/"
	cfg.Config.Labels = map[string]string{
		"org.opencontainers.image.title":   "operetta manager",
		"org.opencontainers.image.version": version,
	}
	return mutate.ConfigFile(img, cfg)
}
