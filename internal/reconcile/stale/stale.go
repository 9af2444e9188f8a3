// Package stale tells a reconcile that it works from a cache which has not
// seen the reconciler's own last status write yet. Acting on such a read
// would do again what the last reconcile did (trigger a plan, announce a
// transition) or conflict with the write it lacks; the reconcile is retried
// shortly instead.
package stale

import (
	"sync"
	"time"
)

// Retry is how soon a reconcile that found its object behind looks again:
// the reconciler's own status events do not wake it.
const Retry = 100 * time.Millisecond

// Guard remembers, per object, the resourceVersion its last status write was
// computed from.
type Guard[K comparable] struct {
	read sync.Map // K → string
}

// Behind says whether version is the one the last status write of key was
// computed from: the cache has not caught up with that write.
func (g *Guard[K]) Behind(key K, version string) bool {
	before, ok := g.read.Load(key)
	return ok && before == version
}

// Wrote records a status write computed from version read that left the
// object at version now. A write the server found nothing to change in
// (now == read, a field an older CRD prunes, say) leaves nothing to wait
// for: remembering it would hold the object back for good.
func (g *Guard[K]) Wrote(key K, read, now string) {
	if now != read {
		g.read.Store(key, read)
	}
}

// Forget drops what is remembered of key.
func (g *Guard[K]) Forget(key K) { g.read.Delete(key) }
