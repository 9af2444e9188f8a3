package compile

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"operetta.dev/operetta/api/v1alpha1"
)

// checkDependencies records which resources each template reads
// (DependsOn: its render waits for them) and refuses a name that is no
// resource or task of the Framework, and a cycle, naming it.
func checkDependencies(resources []v1alpha1.Resource, out *Framework, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	index := map[string]int{}
	for i, r := range resources {
		index[r.ID] = i
	}
	for i, r := range resources {
		res := out.Resources[r.ID]
		if res == nil {
			continue
		}
		ids, _ := res.Template.ResourceIDs()
		for _, it := range res.ForEach {
			more, _ := it.In.ResourceIDs()
			ids = append(ids, more...)
		}
		seen := map[string]bool{}
		for _, id := range ids {
			if seen[id] || id == r.ID {
				continue // a template may read its own object as last applied
			}
			seen[id] = true
			_, isResource := out.Resources[id]
			_, isTask := out.Tasks[id]
			switch {
			case isResource:
				res.DependsOn = append(res.DependsOn, id)
			case !isTask:
				errs = append(errs, field.Invalid(path.Index(i), r.ID,
					fmt.Sprintf("reads resources.%s, which is no resource or task of the Framework", id)).WithOrigin(originExpression))
			}
		}
		sort.Strings(res.DependsOn)
	}
	if len(errs) > 0 {
		return errs
	}
	if cycle := findCycle(out); cycle != nil {
		errs = append(errs, field.Invalid(path.Index(index[cycle[0]]), cycle[0],
			"its template and "+fmt.Sprint(len(cycle)-2)+" other(s) read each other in a cycle, "+strings.Join(cycle, " → ")+": none could be rendered first"))
	}
	return errs
}

// findCycle returns a cycle of DependsOn, from and back to its first id
// (the least by name that is on one), or nil.
func findCycle(fw *Framework) []string {
	ids := make([]string, 0, len(fw.Resources))
	for id := range fw.Resources {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	const (
		unseen = iota
		open
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(id string) []string
	visit = func(id string) []string {
		state[id] = open
		stack = append(stack, id)
		for _, dep := range fw.Resources[id].DependsOn {
			switch state[dep] {
			case open:
				for i, s := range stack {
					if s == dep {
						return append(append([]string(nil), stack[i:]...), dep)
					}
				}
			case unseen:
				if c := visit(dep); c != nil {
					return c
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[id] = done
		return nil
	}
	for _, id := range ids {
		if state[id] == unseen {
			if c := visit(id); c != nil {
				return c
			}
		}
	}
	return nil
}

// Ordered returns ids with every resource after those of ids it depends
// on, otherwise in the order given.
func (f *Framework) Ordered(ids []string) []string {
	in := map[string]bool{}
	for _, id := range ids {
		in[id] = true
	}
	placed := map[string]bool{}
	out := make([]string, 0, len(ids))
	var place func(id string)
	place = func(id string) {
		if placed[id] {
			return
		}
		placed[id] = true // a cycle is refused at apply; this ends one anyway
		if res := f.Resources[id]; res != nil {
			for _, dep := range res.DependsOn {
				if in[dep] {
					place(dep)
				}
			}
		}
		out = append(out, id)
	}
	for _, id := range ids {
		place(id)
	}
	return out
}
