// Package reconcile is operetta's edge to the API server: the Framework
// reconciler that installs generated CRDs, the registry that starts and stops
// one reconcile loop per generated kind at runtime, and the instance
// reconciler that drives instances through the pure plan engine.
package reconcile
