// Package kube is operetta's one way of talking to the API server.
//
// It holds what operetta needs to know about the API server's answers, in
// one place: what an error means (Classify: transient, terminal, or a wait
// for something that arrives by itself, a kind not served yet included),
// which failures are part of normal operation and retried without an error
// log (Quiet), how a reconciler turns a failure into its result (ResultOf,
// Retry), and the questions code asks of an error (Gone, NotServed,
// Conflict, ...). No other package inspects an apierrors value: they ask
// here.
//
// It also holds how children are written and read: the Writer, which
// applies the built-in kinds as their Go types, and the empty objects the
// caches hold (ChildObject, Unstructured).
package kube
