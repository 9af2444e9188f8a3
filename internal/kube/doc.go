// Package kube holds what operetta needs to know about the API server's
// answers, in one place: what an error means (Classify: transient, terminal,
// or a kind not served yet, which is waited for), which failures are part of
// normal operation and retried without an error log (Quiet), how a
// reconciler turns a failure into its result (ResultOf, Retry), and the
// questions code asks of an error (Gone, NotServed, Conflict, ...). No other
// package inspects an apierrors value: they ask here.
package kube
