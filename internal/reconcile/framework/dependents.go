package framework

import (
	"operetta.dev/operetta/api/v1alpha1"
)

// wakeDependents enqueues, once for each generation of fw seen Ready, the
// instances of every loop with an Instance task of fw. Such a task waits
// for fw to be Ready, and no event of its own kind's objects says when; the
// resync would find it only up to a resync later. It runs on the Framework
// as the cache has it, so the woken instances read the same Ready.
func (r *Reconciler) wakeDependents(fw *v1alpha1.Framework) {
	if !readyNow(fw) {
		return
	}
	r.mu.Lock()
	seen := r.readySeen[fw.Name] == fw.Generation
	r.readySeen[fw.Name] = fw.Generation
	r.mu.Unlock()
	if seen {
		return
	}
	for _, name := range r.Engine.Running() {
		if rec, ok := r.Engine.Reconciler(name); ok && rec.DependsOn(fw.Name) {
			r.Engine.WakeAll(name)
		}
	}
}

// forgetReady forgets a Framework that is gone: made again, its first Ready
// wakes its dependents again.
func (r *Reconciler) forgetReady(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.readySeen, name)
}
