package framework

import (
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"

	"operetta.dev/operetta/api/v1alpha1"
)

func TestAGenerationIsCompiledOnce(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "examples", "webapp", "framework.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	fw := &v1alpha1.Framework{}
	if err := yaml.Unmarshal(b, fw); err != nil {
		t.Fatal(err)
	}
	fw.Name, fw.UID, fw.Generation = "x", "u1", 1
	var c Compiled
	first, errs := c.Of(fw)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	again, _ := c.Of(fw)
	if first == nil || again != first {
		t.Fatalf("the same generation compiled twice: %p, %p", first, again)
	}
	fw.Generation = 2
	if next, _ := c.Of(fw); next == first {
		t.Fatal("a new generation was not compiled")
	}
	fw.UID, fw.Generation = "u2", 1 // deleted and created again under the name
	if other, _ := c.Of(fw); other == first {
		t.Fatal("another Framework of the same name and generation took the old compilation")
	}
	c.Forget("x")
	if _, ok := c.m["x"]; ok {
		t.Fatal("Forget kept the compilation")
	}
}
