// Package testutil holds the waiting helpers the integration and end-to-end
// suites share: they talk to real API servers, where things happen a little
// later.
package testutil

import (
	"testing"
	"time"
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
