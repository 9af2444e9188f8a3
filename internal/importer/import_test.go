package importer_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/importer"
)

var update = flag.Bool("update", false, "rewrite the golden Frameworks in testdata/")

// packages are three real KUDO packages (kudobuilder/operators, Apache-2.0).
const packages = "../kudo/testdata/packages"

// TestTheRealPackagesImport imports zookeeper, redis and first-operator
// and compares each Framework with its golden file; each must compile.
func TestTheRealPackagesImport(t *testing.T) {
	for _, name := range []string{"first-operator", "redis", "zookeeper"} {
		t.Run(name, func(t *testing.T) {
			res, err := importer.KUDO(os.DirFS(filepath.Join(packages, name)), importer.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if _, errs := compile.Compile(res.Framework); len(errs) > 0 {
				t.Fatalf("the imported Framework does not compile: %s", compile.Message(errs))
			}
			got, err := res.YAML(name)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", name+".golden.yaml")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if string(got) != string(want) {
				t.Errorf("%s differs from the import; run go test ./internal/importer -update and review the diff", golden)
			}
		})
	}
}
