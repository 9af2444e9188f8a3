package tasks

import (
	"strconv"
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"operetta.dev/operetta/api/v1alpha1"
)

// Renders remembers what each instance's templates rendered to, so a step
// that waits for its children does not render them again while nothing its
// templates read has changed: the instance (its resourceVersion covers
// metadata, spec and status), the Framework generation and the plan run and
// step. Templates that read other children (resources.<id>) are rendered
// every time. It is shared by the reconciles of one kind and safe for
// concurrent use.
type Renders struct {
	mu sync.Mutex
	m  map[types.NamespacedName]map[string]rendered // instance → resource id →
}

// rendered is what one render gave, and from what.
type rendered struct {
	inputs string
	item   v1alpha1.InventoryItem // which object, without how it looked
	hash   string
}

// NewRenders returns an empty memory of renders.
func NewRenders() *Renders {
	return &Renders{m: map[types.NamespacedName]map[string]rendered{}}
}

// Forget drops what an instance rendered, once it is gone.
func (m *Renders) Forget(instance types.NamespacedName) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, instance)
}

func (m *Renders) get(instance types.NamespacedName, id, inputs string) (rendered, bool) {
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

// renderInputs is what a template that reads no other child renders from.
func (r *Run) renderInputs() string {
	phase, _ := r.vars.Plan["phase"].(string)
	step, _ := r.vars.Plan["step"].(string)
	return string(r.instance.GetUID()) + "/" + r.instance.GetResourceVersion() + "/" +
		strconv.FormatInt(r.fw.Generation, 10) + "/" + r.planUID + "/" + phase + "/" + step
}
