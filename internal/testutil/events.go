package testutil

import (
	"strings"

	"k8s.io/client-go/tools/events"
)

// Drain returns the events rec recorded since the last call, each as
// client-go's fake recorder writes it: "Type Reason note".
func Drain(rec *events.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-rec.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// Reasons are the "Type Reason" of events as Drain returns them.
func Reasons(evs []string) []string {
	out := make([]string, 0, len(evs))
	for _, e := range evs {
		f := strings.Fields(e)
		out = append(out, strings.Join(f[:min(2, len(f))], " "))
	}
	return out
}
