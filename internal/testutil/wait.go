// Package testutil holds the waiting helpers the integration and end-to-end
// suites share: they talk to real API servers, where things happen a little
// later.
package testutil

import (
	"context"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Eventually retries check every interval until it returns nil, and fails
// the test with check's last error once timeout has passed.
func Eventually(t testing.TB, timeout, interval time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", timeout, err)
		}
		time.Sleep(interval)
	}
}

// WaitForInstance reads the instance of kind gvk at key until check accepts
// it, and returns it; it fails the test with check's last word after
// timeout.
func WaitForInstance(t testing.TB, c client.Reader, gvk schema.GroupVersionKind, key types.NamespacedName, timeout time.Duration, check func(*unstructured.Unstructured) error) *unstructured.Unstructured {
	t.Helper()
	var u *unstructured.Unstructured
	Eventually(t, timeout, 100*time.Millisecond, func() error {
		u = &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		if err := c.Get(context.Background(), key, u); err != nil {
			return err
		}
		return check(u)
	})
	return u
}

// Plan reads status.plans.<plan> of an instance: its status, message and
// run's UID.
func Plan(u *unstructured.Unstructured, plan string) (status, message, uid string) {
	status, _, _ = unstructured.NestedString(u.Object, "status", "plans", plan, "status")
	message, _, _ = unstructured.NestedString(u.Object, "status", "plans", plan, "message")
	uid, _, _ = unstructured.NestedString(u.Object, "status", "plans", plan, "uid")
	return status, message, uid
}

// WaitForPlan waits until the instance's plan has status want, and returns
// the instance.
func WaitForPlan(t testing.TB, c client.Reader, gvk schema.GroupVersionKind, key types.NamespacedName, plan, want string, timeout time.Duration) *unstructured.Unstructured {
	t.Helper()
	return WaitForInstance(t, c, gvk, key, timeout, func(u *unstructured.Unstructured) error {
		if got, msg, _ := Plan(u, plan); got != want {
			return fmt.Errorf("%s %s: plan %s is %q (%s), want %s", gvk.Kind, key, plan, got, msg, want)
		}
		return nil
	})
}
