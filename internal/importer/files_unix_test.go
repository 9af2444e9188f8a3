//go:build unix

package importer_test

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"operetta.dev/operetta/internal/importer"
)

// TestRefusesAFIFOWithoutBlocking: a FIFO no one writes to, as a template
// or as operator.yaml, is refused by path at once; opening it would wait
// for a writer for ever.
func TestRefusesAFIFOWithoutBlocking(t *testing.T) {
	for _, name := range []string{"templates/cm.yaml", "templates/unused.yaml", "operator.yaml"} {
		t.Run(name, func(t *testing.T) {
			dir := pkgDir(t, applyCM, "", map[string]string{"cm.yaml": cm})
			path := filepath.Join(dir, name)
			_ = syscall.Unlink(path)
			if err := syscall.Mkfifo(path, 0o644); err != nil {
				t.Skipf("mkfifo: %v", err)
			}
			done := make(chan error, 1)
			go func() {
				_, err := importer.KUDO(dir, importer.Options{})
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil || err.Error() != name+": a FIFO; the importer reads only regular files inside the package directory" {
					t.Fatalf("error %v, want %s refused as a FIFO", err, name)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the import blocked on the FIFO")
			}
		})
	}
}
