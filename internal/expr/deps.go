package expr

import (
	"sort"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
)

// resourceRefs finds which children an expression reads: the ids it names
// as resources.<id>, resources.?<id>, resources['<id>'], and whether it
// indexes resources by a value only known when it runs (any).
func resourceRefs(checked *cel.Ast) (ids map[string]bool, any bool) {
	ids = map[string]bool{}
	// Every use of resources not as the operand of a select or an index
	// hands the map whole to something: counted apart.
	uses, consumed := 0, 0
	isResources := func(e celast.Expr) bool {
		return e.Kind() == celast.IdentKind && e.AsIdent() == VarResources
	}
	celast.PreOrderVisit(checked.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		switch e.Kind() {
		case celast.SelectKind:
			if s := e.AsSelect(); isResources(s.Operand()) {
				ids[s.FieldName()] = true
				consumed++
			}
		case celast.CallKind:
			c := e.AsCall()
			switch c.FunctionName() {
			case "_[_]", "_[?_]", "_?._":
			default:
				return
			}
			args := c.Args()
			if len(args) != 2 || !isResources(args[0]) {
				return
			}
			consumed++
			if args[1].Kind() == celast.LiteralKind {
				if id, ok := args[1].AsLiteral().(types.String); ok {
					ids[string(id)] = true
					return
				}
			}
			any = true
		case celast.IdentKind:
			if e.AsIdent() == VarResources {
				uses++
			}
		}
	}))
	return ids, any || uses > consumed
}

// ResourceIDs are the children the template's expressions name, sorted,
// and whether one of them reads resources in a way only known when it
// runs (resources[x], or the map handed whole to a function).
func (t *Template) ResourceIDs() (ids []string, dynamic bool) {
	if t == nil {
		return nil, false
	}
	seen := map[string]bool{}
	var walk func(n node)
	walk = func(n node) {
		switch n := n.(type) {
		case mapNode:
			for _, k := range n.keys {
				walk(n.values[k])
			}
		case listNode:
			for _, v := range n.items {
				walk(v)
			}
		case typedExpr:
			dynamic = n.prg.addResourceIDs(seen) || dynamic
		case stringExpr:
			for _, p := range n.parts {
				if p.prg != nil {
					dynamic = p.prg.addResourceIDs(seen) || dynamic
				}
			}
		}
	}
	walk(t.root)
	for id := range seen {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids, dynamic
}

// ResourceIDs are the children the expression names, sorted, and whether
// it reads resources in a way only known when it runs.
func (p *Program) ResourceIDs() ([]string, bool) {
	if p == nil {
		return nil, false
	}
	seen := map[string]bool{}
	dynamic := p.addResourceIDs(seen)
	ids := make([]string, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids, dynamic
}

func (p *Program) addResourceIDs(into map[string]bool) (dynamic bool) {
	for id := range p.resourceIDs {
		into[id] = true
	}
	return p.anyResource
}
