package kudo

import (
	"strconv"
	"strings"
	"text/template/parse"
)

// A slot is an action of a template that prints: {{ .Params.X }}, {{ $i }},
// {{ toYaml .Params.M | indent 4 }}. The template's own text is the
// platform team's and is trusted to be YAML structure; what an action
// prints is a value, a tenant's maybe, and must stay inside the one node the
// template puts it in. A render prints a token for each slot first, so the
// structure the template alone makes can be told apart from the values
// (see fit.go).
type slot struct {
	// at is file:line:col of the action.
	at string
	// params are the parameters the printed value comes from, as far as the
	// template shows it: read in the action, or through the variable or the
	// dot of a range or with over them.
	params []string
	// structured is true for the output of an encoder (toYaml, toJson):
	// the value's own structure, which may fill its node with a subtree.
	structured bool
	// prefix is what indent or nindent with a constant width put before
	// the value: the template author's indentation, kept in the skeleton.
	prefix string
}

// Names of the functions the render adds to actions; a template cannot call
// them, since they are added after it is parsed.
const (
	slotFunc  = "operettaSlot"
	rangeFunc = "operettaRange"
)

// encoders print a value's own structure, faithfully escaped.
var encoders = map[string]bool{
	"toYaml": true, "toJson": true, "toPrettyJson": true, "toRawJson": true,
	"mustToJson": true, "mustToPrettyJson": true, "mustToRawJson": true,
}

// instrument makes every printing action of the template set end in a call
// of slotFunc with the action's index, and every range count its elements
// through rangeFunc, and returns the slots found.
func instrument(trees []*parse.Tree) []slot {
	in := &instrumenter{vars: map[string][]string{}}
	for _, tree := range trees {
		in.tree = tree
		in.list(tree.Root, nil)
	}
	return in.slots
}

type instrumenter struct {
	tree  *parse.Tree
	slots []slot
	// vars are the parameters a variable's value comes from. Scopes are
	// not followed: this only names a field in an error.
	vars map[string][]string
}

func (in *instrumenter) list(l *parse.ListNode, dot []string) {
	if l == nil {
		return
	}
	for _, n := range l.Nodes {
		in.node(n, dot)
	}
}

func (in *instrumenter) node(n parse.Node, dot []string) {
	switch n := n.(type) {
	case *parse.ActionNode:
		from := in.paramsOf(n.Pipe, dot)
		if len(n.Pipe.Decl) > 0 {
			in.declare(n.Pipe, from)
			return
		}
		at, _ := in.tree.ErrorContext(n)
		in.slots = append(in.slots, slot{at: at, params: from, structured: encodes(n.Pipe), prefix: indentOf(n.Pipe)})
		in.call(n.Pipe, slotFunc, len(in.slots)-1)
	case *parse.IfNode:
		in.branch(&n.BranchNode, dot, dot)
	case *parse.WithNode:
		in.branch(&n.BranchNode, dot, in.paramsOf(n.Pipe, dot))
	case *parse.RangeNode:
		in.branch(&n.BranchNode, dot, in.paramsOf(n.Pipe, dot))
		in.call(n.Pipe, rangeFunc, -1)
	}
}

func (in *instrumenter) branch(b *parse.BranchNode, dot, inner []string) {
	in.declare(b.Pipe, in.paramsOf(b.Pipe, dot))
	in.list(b.List, inner)
	in.list(b.ElseList, dot)
}

func (in *instrumenter) declare(p *parse.PipeNode, from []string) {
	for _, v := range p.Decl {
		in.vars[v.Ident[0]] = from
	}
}

// call appends a call of fn to pipe p: fn receives the pipeline's value
// last, after the slot's index if index >= 0.
func (in *instrumenter) call(p *parse.PipeNode, fn string, index int) {
	cmd := &parse.CommandNode{NodeType: parse.NodeCommand, Pos: p.Pos}
	cmd.Args = append(cmd.Args, parse.NewIdentifier(fn).SetTree(in.tree).SetPos(p.Pos))
	if index >= 0 {
		cmd.Args = append(cmd.Args, &parse.NumberNode{NodeType: parse.NodeNumber, Pos: p.Pos,
			IsInt: true, IsUint: true, IsFloat: true, Int64: int64(index), Uint64: uint64(index), Float64: float64(index),
			Text: strconv.Itoa(index)})
	}
	p.Cmds = append(p.Cmds, cmd)
}

// paramsOf lists the parameters pipe p reads, directly or through a
// variable or the dot.
func (in *instrumenter) paramsOf(p *parse.PipeNode, dot []string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(names ...string) {
		for _, n := range names {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	visitArgs(p, func(n parse.Node) {
		switch n := n.(type) {
		case *parse.FieldNode:
			if len(n.Ident) >= 2 && n.Ident[0] == "Params" {
				add(n.Ident[1])
			} else {
				add(dot...)
			}
		case *parse.DotNode:
			add(dot...)
		case *parse.VariableNode:
			if len(n.Ident) >= 3 && n.Ident[1] == "Params" { // $.Params.X, $root.Params.X
				add(n.Ident[2])
			} else {
				add(in.vars[n.Ident[0]]...)
			}
		}
	})
	return out
}

// visitArgs calls visit for every argument of the pipes and commands in n,
// parenthesised pipes and chains included.
func visitArgs(n parse.Node, visit func(parse.Node)) {
	switch n := n.(type) {
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, c := range n.Cmds {
			visitArgs(c, visit)
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			visitArgs(a, visit)
		}
	case *parse.ChainNode:
		visitArgs(n.Node, visit)
	default:
		visit(n)
	}
}

// ParamsRead lists the parameters n reads as .Params.X, or through a
// variable holding the root ($.Params.X, $root.Params.X), in its pipes' and
// commands' arguments.
func ParamsRead(n parse.Node) []string {
	var out []string
	visitArgs(n, func(n parse.Node) {
		switch n := n.(type) {
		case *parse.FieldNode:
			if len(n.Ident) >= 2 && n.Ident[0] == "Params" {
				out = append(out, n.Ident[1])
			}
		case *parse.VariableNode:
			if len(n.Ident) >= 3 && n.Ident[1] == "Params" { // $.Params.X, $root.Params.X
				out = append(out, n.Ident[2])
			}
		}
	})
	return out
}

// encodes says whether pipe p prints an encoder's output.
func encodes(p *parse.PipeNode) bool {
	for _, c := range p.Cmds {
		if id, ok := c.Args[0].(*parse.IdentifierNode); ok && encoders[id.Ident] {
			return true
		}
	}
	return false
}

// indentOf is the indentation pipe p's last command, indent or nindent with
// a constant width, puts before the value.
func indentOf(p *parse.PipeNode) string {
	last := p.Cmds[len(p.Cmds)-1]
	id, ok := last.Args[0].(*parse.IdentifierNode)
	if !ok || len(last.Args) < 2 {
		return ""
	}
	width, ok := last.Args[1].(*parse.NumberNode)
	if !ok || !width.IsInt || width.Int64 < 0 || width.Int64 > 256 {
		return ""
	}
	switch id.Ident {
	case "indent":
		return strings.Repeat(" ", int(width.Int64))
	case "nindent":
		return "\n" + strings.Repeat(" ", int(width.Int64))
	}
	return ""
}
