package tasks

import (
	"hash/maphash"
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
)

// Renders remembers what each instance's templates rendered to, and when its
// children were applied, so a step that waits for its children neither
// renders them again while nothing its templates read has changed, nor
// applies again a child the cache has not caught up with. A render's inputs
// are the instance (its resourceVersion covers
// metadata, spec and status), the Framework generation and the plan run and
// step. Templates that read other children (resources.<id>) are rendered
// every time. It is shared by the reconciles of one kind and safe for
// concurrent use.
type Renders struct {
	mu sync.Mutex
	m  map[types.NamespacedName]map[string]rendered // instance → resource id →
	// applied is what this loop last applied of each child of an instance:
	// a child missing from the cache just after it was applied is one the
	// cache has not caught up with yet, not one that drifted.
	applied map[types.NamespacedName]map[childKey]application
	// swept is when applies older than appliedKept were last dropped.
	swept time.Time
}

// appliedKept bounds how long an apply is remembered when no event of its
// version came after it (the event came first, before the apply's answer):
// long past cacheGrace and any lag of a cache that keeps up, short enough
// that what is kept grows with the applies of the last minute, not with
// the fleet. A cache behind by more reads as drift, applied again.
const appliedKept = time.Minute

// application is one apply of a child by this loop.
type application struct {
	at time.Time
	// resourceVersion is the API server's answer: the reconcile that
	// applied the child judged its health from that very version.
	resourceVersion string
	// uid is the child's, as answered: an apply of it before the cache
	// shows it names it (claim).
	uid types.UID
	// seen: the cache showed the child since (an event, a read). Missing
	// from the cache after that, it was deleted, not yet to arrive.
	seen bool
	// awaited: a reconcile found the child missing from the cache and
	// waits for its event.
	awaited bool
}

// childKey names a child in the cluster.
type childKey struct {
	apiVersion, kind, namespace, name string
}

// keyOf is the key of a child of kind gvk: given apart, since a typed
// object from a cache need not carry its kind.
func keyOf(gvk schema.GroupVersionKind, obj client.Object) childKey {
	return childKey{gvk.GroupVersion().String(), gvk.Kind, obj.GetNamespace(), obj.GetName()}
}

// cacheGrace is how long after applying a child its absence from the cache
// is taken for the cache catching up rather than drift; its event wakes
// the instance long before.
const cacheGrace = 10 * time.Second

// rendered is what one render of a resource gave, and from what.
type rendered struct {
	inputs inputsDigest
	items  []v1alpha1.InventoryItem // which objects, without how they looked
	hashes []string                 // each item's
}

// NewRenders returns an empty memory of renders.
func NewRenders() *Renders {
	return &Renders{
		m:       map[types.NamespacedName]map[string]rendered{},
		applied: map[types.NamespacedName]map[childKey]application{},
	}
}

// Forget drops what an instance rendered, once it is gone.
func (m *Renders) Forget(instance types.NamespacedName) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, instance)
	delete(m.applied, instance)
}

// appliedNow records that instance's child obj, of kind gvk, was just
// applied, obj being the API server's answer.
func (m *Renders) appliedNow(instance types.NamespacedName, gvk schema.GroupVersionKind, obj client.Object) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	if now.Sub(m.swept) > appliedKept/2 {
		m.sweepLocked(now)
	}
	if m.applied[instance] == nil {
		m.applied[instance] = map[childKey]application{}
	}
	key := keyOf(gvk, obj)
	// The cache may have shown the object before the answer came back.
	last := m.applied[instance][key]
	m.applied[instance][key] = application{at: now, resourceVersion: obj.GetResourceVersion(), uid: obj.GetUID(),
		seen: last.seen && last.uid == obj.GetUID()}
}

// sweepLocked drops the applies older than appliedKept.
func (m *Renders) sweepLocked(now time.Time) {
	m.swept = now
	for instance, children := range m.applied {
		for key, a := range children {
			if now.Sub(a.at) > appliedKept {
				m.dropLocked(instance, key)
			}
		}
	}
}

// shown notes that the cache shows instance's child obj, of kind gvk: one
// this loop applied is then no longer on its way (appliedUID).
func (m *Renders) shown(instance types.NamespacedName, gvk schema.GroupVersionKind, obj client.Object) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.shownLocked(instance, keyOf(gvk, obj), obj)
}

func (m *Renders) shownLocked(instance types.NamespacedName, key childKey, obj client.Object) {
	if a, ok := m.applied[instance][key]; ok && !a.seen && a.uid != "" && a.uid == obj.GetUID() {
		a.seen = true
		m.applied[instance][key] = a
	}
}

// appliedUID is the UID of instance's child obj if this loop applied it so
// recently that the cache may not show it yet (no event showed it since),
// else "".
func (m *Renders) appliedUID(instance types.NamespacedName, obj *unstructured.Unstructured) types.UID {
	if m == nil {
		return ""
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.applied[instance][keyOf(obj.GroupVersionKind(), obj)]
	if !ok || a.seen || time.Since(a.at) >= cacheGrace {
		return ""
	}
	return a.uid
}

// await says whether instance's child obj was applied so recently that the
// cache may not show it yet, and if so marks it awaited, so that its event
// wakes the instance. It is asked before the cache is read: a child that
// arrives between the read and the mark would otherwise wake nothing.
func (m *Renders) await(instance types.NamespacedName, obj *unstructured.Unstructured) bool {
	if m == nil {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	key := keyOf(obj.GroupVersionKind(), obj)
	a, ok := m.applied[instance][key]
	if !ok || time.Since(a.at) >= cacheGrace {
		return false
	}
	a.awaited = true
	m.applied[instance][key] = a
	return true
}

// ahead says whether this loop's last apply of instance's child live, of
// kind gvk, answered with a newer version of the same object than live,
// the cache's: the cache has not caught up with that apply, and live is
// no drift. It marks the apply awaited, so the event that catches up wakes
// the instance. Versions are compared as the API server allows
// (resourceversion.CompareResourceVersion); where it does not, live is
// taken for drift, as before.
func (m *Renders) ahead(instance types.NamespacedName, gvk schema.GroupVersionKind, live client.Object) bool {
	if m == nil {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	key := keyOf(gvk, live)
	a, ok := m.applied[instance][key]
	if !ok || a.uid == "" || a.uid != live.GetUID() {
		return false
	}
	if cmp, err := resourceversion.CompareResourceVersion(a.resourceVersion, live.GetResourceVersion()); err != nil || cmp <= 0 {
		return false
	}
	a.awaited = true
	m.applied[instance][key] = a
	return true
}

// AppliedAsSeen says whether a child event of instance shows the very
// version this loop's last apply of it answered with, and no reconcile
// waits for it: the reconcile that applied it already judged that version,
// so the event has nothing new to say. It also notes that the cache now
// shows the object this loop applied (appliedUID), and forgets the apply
// once an event shows its version or a later one.
func (m *Renders) AppliedAsSeen(instance types.NamespacedName, gvk schema.GroupVersionKind, obj client.Object) bool {
	if m == nil {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	key := keyOf(gvk, obj)
	m.shownLocked(instance, key, obj)
	a, ok := m.applied[instance][key]
	if !ok || a.resourceVersion == "" {
		return false
	}
	cmp, err := resourceversion.CompareResourceVersion(a.resourceVersion, obj.GetResourceVersion())
	if err != nil || cmp > 0 {
		return false // the apply's own event is still to come
	}
	// The cache has caught up with the apply: nothing of it is awaited any
	// more, and a record kept for every child of 10,000 instances would be
	// most of what the manager holds per instance besides the instance.
	m.dropLocked(instance, key)
	return cmp == 0 && !a.awaited
}

func (m *Renders) dropLocked(instance types.NamespacedName, key childKey) {
	delete(m.applied[instance], key)
	if len(m.applied[instance]) == 0 {
		delete(m.applied, instance)
	}
}

// pending is how many applies of instance's children wait for the cache
// to show them, for tests.
func (m *Renders) pending(instance types.NamespacedName) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.applied[instance])
}

func (m *Renders) get(instance types.NamespacedName, id string, inputs inputsDigest) (rendered, bool) {
	if m == nil {
		return rendered{}, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	got, ok := m.m[instance][id]
	return got, ok && got.inputs == inputs
}

func (m *Renders) put(instance types.NamespacedName, id string, r rendered) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m[instance] == nil {
		m.m[instance] = map[string]rendered{}
	}
	m.m[instance][id] = r
}

// inputsDigest stands for what a template that reads no other child
// renders from: compared, never read, so a digest of it is kept for every
// resource of every instance, not the text.
type inputsDigest uint64

// inputsSeed keys the digests of one manager: the memory they are compared
// in lives no longer.
var inputsSeed = maphash.MakeSeed()

// renderInputs is what a template that reads no other child renders from.
func (r *renderer) renderInputs() inputsDigest {
	_, phase, step := r.where()
	return inputsDigest(maphash.String(inputsSeed, string(r.instance.GetUID())+"/"+r.instance.GetResourceVersion()+"/"+
		strconv.FormatInt(r.fw.Generation, 10)+"/"+r.planUID+"/"+phase+"/"+step))
}
