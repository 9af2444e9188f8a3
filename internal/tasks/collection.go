package tasks

import (
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/expr"
	"operetta.dev/operetta/internal/kube"
	"operetta.dev/operetta/internal/manifest"
)

// MaxCollection bounds the objects one collection renders (the product of
// its iterators), a render budget: a list in an instance's spec cannot
// make the manager render, apply and watch without end.
const MaxCollection = 500

// combination is one element of each iterator, bound as the template's
// variables, and how messages name it.
type combination struct {
	vars map[string]any
	name string
}

// renderEach renders a collection: one object per combination of its
// iterators' elements, each placed as any child. Two combinations that
// render the same object are an error naming both.
func (r *renderer) renderEach(id string, res *compile.Resource) ([]*unstructured.Unstructured, error) {
	objs, names, err := RenderEach(res, id, r.vars)
	if err != nil {
		return nil, err
	}
	by := map[v1alpha1.InventoryItem]string{}
	for i, obj := range objs {
		if err := r.place(id, obj); err != nil {
			return nil, err
		}
		key := r.inventory.itemOf(obj)
		if other, dup := by[key]; dup {
			return nil, kube.Fail("resource %s: %s and %s both render %s %s: give each element its own name", id, other, names[i], obj.GetKind(), obj.GetName())
		}
		by[key] = names[i]
	}
	return objs, nil
}

// RenderEach renders collection res (resource id) with vars, as they are,
// unplaced: its objects, and for each the elements it was rendered for
// ("topic[0], zone[1]").
func RenderEach(res *compile.Resource, id string, vars expr.Vars) ([]*unstructured.Unstructured, []string, error) {
	combos, err := combinations(vars, res.ForEach)
	if err != nil {
		return nil, nil, kube.Fail("rendering resource %s: %w", id, err)
	}
	objs := make([]*unstructured.Unstructured, 0, len(combos))
	names := make([]string, 0, len(combos))
	for _, c := range combos {
		each := vars
		each.Extra = c.vars
		m, err := res.Template.RenderObject(each)
		if err != nil {
			return nil, nil, kube.Fail("rendering resource %s for %s: %w", id, c.name, err)
		}
		if !manifest.Within(m, manifest.MaxObjectBytes) {
			return nil, nil, kube.Fail("rendering resource %s for %s: the object is larger than the API server's limit of %d bytes", id, c.name, manifest.MaxObjectBytes)
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
		names = append(names, c.name)
	}
	return objs, names, nil
}

// combinations is the product of the iterators' elements, the first
// varying slowest, at most MaxCollection.
func combinations(vars expr.Vars, iterators []*compile.Iterator) ([]combination, error) {
	out := []combination{{vars: map[string]any{}}}
	for _, it := range iterators {
		elems, err := it.In.Elements(vars, MaxCollection)
		if err != nil {
			return nil, fmt.Errorf("forEach %s: %w", it.Name, err)
		}
		if len(out)*len(elems) > MaxCollection {
			return nil, fmt.Errorf("forEach: %d combinations of elements, more than the %d a collection may have", len(out)*len(elems), MaxCollection)
		}
		next := make([]combination, 0, len(out)*len(elems))
		for _, c := range out {
			for _, e := range elems {
				bound := make(map[string]any, len(c.vars)+2)
				for k, v := range c.vars {
					bound[k] = v
				}
				bound[it.Name], bound[it.Name+"Index"] = e.Value, e.Index
				name := fmt.Sprintf("%s[%v]", it.Name, e.Index.Value())
				if c.name != "" {
					name = c.name + ", " + name
				}
				next = append(next, combination{vars: bound, name: name})
			}
		}
		out = next
	}
	return out, nil
}

// exposeCollection makes resources.<id> of a collection the list of its
// objects, by name, for expressions that read it (its own readyWhen
// among them).
func (r *applier) exposeCollection(id string, lives []client.Object) error {
	if !r.fw.LooksInsideChildren() {
		return nil
	}
	list := make([]any, 0, len(lives))
	sorted := append([]client.Object(nil), lives...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].GetName() < sorted[j].GetName() })
	for _, live := range sorted {
		u, err := asUnstructured(live.GetObjectKind().GroupVersionKind(), live)
		if err != nil {
			return err
		}
		list = append(list, u.Object)
	}
	r.vars.Resources[id] = list
	return nil
}

// collectionHealth says what a collection waits for: by its readyWhen,
// over the whole collection, if it has one; else each object by kstatus.
func (r *applier) collectionHealth(id string, lives []client.Object) ([]string, error) {
	if err := r.exposeCollection(id, lives); err != nil {
		return nil, err
	}
	if cond := r.fw.Resources[id].ReadyWhen; cond != nil {
		ok, err := cond.EvalBool(r.vars)
		switch {
		case err != nil:
			return []string{fmt.Sprintf("resource %s: readyWhen: %v", id, err)}, nil
		case !ok:
			return []string{fmt.Sprintf("resource %s: readyWhen is false", id)}, nil
		}
		return nil, nil
	}
	return r.eachHealth(id, lives)
}
