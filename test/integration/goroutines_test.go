package integration

import (
	"bytes"
	"fmt"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"operetta.dev/operetta/api/v1alpha1"
)

// Frameworks applied and deleted leave no goroutine of theirs behind: the
// manager's count comes back to what it was with none (issue 27's churn
// target, at a small size).
func TestDeletedFrameworksLeaveNoGoroutineBehind(t *testing.T) {
	m := startManager(t)
	// One Framework first, so what the first one starts for good (the
	// shared children cache's informer of ConfigMaps, client
	// connections) is in the count before.
	warm := configMapFramework("goroutines-warm", "goroutines-warm.test.operetta.dev", "Warm")
	createFramework(t, warm)
	frameworkReady(t, "goroutines-warm", metav1.ConditionTrue)
	settle := func() int {
		time.Sleep(2 * time.Second) // what stopped has ended
		return runtime.NumGoroutine()
	}
	before := settle()
	var stacks bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&stacks, 1)
	const k = 10
	for i := range k {
		createFramework(t, configMapFramework(fmt.Sprintf("goroutines-%d", i), fmt.Sprintf("goroutines-%d.test.operetta.dev", i), "Thing"))
	}
	for i := range k {
		frameworkReady(t, fmt.Sprintf("goroutines-%d", i), metav1.ConditionTrue)
	}
	with := runtime.NumGoroutine()
	for i := range k {
		if err := k8s.Delete(ctx(t), &v1alpha1.Framework{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("goroutines-%d", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 30*time.Second, func() error {
		if n := len(m.registry.Running()); n != 1 {
			return fmt.Errorf("%d loops run", n)
		}
		return nil
	})
	eventually(t, 30*time.Second, func() error {
		if after := settle(); after > before {
			var now bytes.Buffer
			_ = pprof.Lookup("goroutine").WriteTo(&now, 1)
			return fmt.Errorf("%d goroutines before %d Frameworks, %d with them, %d after they went\nbefore:\n%s\nafter:\n%s", before, k, with, after, stacks.String(), now.String())
		}
		return nil
	})
}
