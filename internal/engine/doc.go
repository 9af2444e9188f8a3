// Package engine runs controllers whose kinds appear at runtime: one loop per
// generated kind, each with its own queue, workers and informer, started and
// stopped while the manager runs, and one label-filtered informer per child
// kind, shared by every loop. It knows nothing of Frameworks or plans: the
// reconciler of a loop comes from a factory its caller gives.
package engine
