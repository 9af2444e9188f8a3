package importer

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/kudo"
)

// A count-like parameter is one the templates loop over (until, untilStep,
// seq, repeat, a range over an int), set replicas: with, or whose name says
// it is a count (its last word COUNT, REPLICAS or NODES), and whose default
// is a count (a whole number, written without sign or leading zeros). The
// generated kind gets a bound for it, so that an instance cannot ask for
// NODE_COUNT "3000000": a render that loops three million times, or a
// StatefulSet of three million pods. KUDO had no such bound.
const (
	// minCountBound is the least bound a count-like parameter gets: far
	// more than the nodes, brokers or replicas of any package's default
	// (they are 1 to 5), far less than what would strain a render.
	minCountBound = 100
	// countBoundFactor × the default is the bound when that is more than
	// minCountBound: a package whose default is 30 gets 300.
	countBoundFactor = 10
	// maxCountDefault is the largest default taken for a count; a larger
	// one is a size or a duration, not a number of things.
	maxCountDefault = 100_000
)

// loopFuncs are sprig's functions that make as many elements as a number
// they are given says.
var loopFuncs = map[string]bool{"until": true, "untilStep": true, "seq": true, "repeat": true}

// conversions turn a KUDO parameter, a string, into the int a loop takes.
var conversions = map[string]bool{"int": true, "int64": true, "atoi": true}

// countWords are the last words of a count's name.
var countWords = map[string]bool{"COUNT": true, "REPLICAS": true, "NODES": true}

var replicasField = regexp.MustCompile(`(?m)^\s*replicas:[^\n]*\.Params\.(\w+)`)

// boundCounts gives each count-like parameter a bound, with a note saying
// what it is and why: a pattern for a string, minimum 0 and a maximum for an
// integer. Only the templates tasks name are looked at.
func (im *importer) boundCounts(params []v1alpha1.Parameter) {
	loops := map[string][]string{}    // parameter → files that loop over it
	replicas := map[string][]string{} // parameter → files that set replicas: with it
	for _, f := range im.files {
		file := "templates/" + f
		for _, name := range loopedParams(file, im.pkg.templates[f]) {
			loops[name] = append(loops[name], file)
		}
		for _, m := range replicasField.FindAllStringSubmatch(im.pkg.templates[f], -1) {
			if l := replicas[m[1]]; len(l) == 0 || l[len(l)-1] != file {
				replicas[m[1]] = append(replicas[m[1]], file)
			}
		}
	}
	for i := range params {
		p := &params[i]
		var why []string
		if files := loops[p.Name]; len(files) > 0 {
			why = append(why, "looped over in "+strings.Join(files, ", "))
		}
		if files := replicas[p.Name]; len(files) > 0 {
			why = append(why, "replicas: in "+strings.Join(files, ", "))
		}
		words := strings.Split(strings.ToUpper(p.Name), "_")
		if countWords[words[len(words)-1]] {
			why = append(why, "named as one")
		}
		if len(why) == 0 || len(p.Enum) > 0 || (p.Type != v1alpha1.TypeString && p.Type != v1alpha1.TypeInteger) {
			continue
		}
		def, ok := countDefault(p)
		switch {
		case !ok && len(loops[p.Name]) > 0:
			im.note("params.yaml: %s: %s, but its default is not a count (a whole number): no bound added", p.Name, why[0])
			continue
		case !ok:
			continue
		}
		bound := max(minCountBound, countBoundFactor*def)
		how := ""
		if p.Type == v1alpha1.TypeInteger {
			lo, hi := 0.0, float64(bound)
			if p.Minimum == nil {
				p.Minimum = &lo
			}
			p.Maximum = &hi
			how = fmt.Sprintf("minimum 0, maximum %d", bound)
		} else {
			p.Pattern = upTo(bound)
			how = "pattern " + p.Pattern
		}
		im.note("params.yaml: %s: a count (%s): the generated kind takes 0 to %d only (%s), the larger of %d and %d× the default %d; raise it in spec.parameters if the package needs more",
			p.Name, strings.Join(why, "; "), bound, how, minCountBound, countBoundFactor, def)
	}
}

// countDefault is p's default if it is a count: for a string, digits
// without a sign or leading zero (so that it matches the pattern the bound
// is); for an integer, not negative; no more than maxCountDefault either
// way. No default is no count: without one the bound could refuse what the
// package needs.
func countDefault(p *v1alpha1.Parameter) (int, bool) {
	if p.Default == nil {
		return 0, false
	}
	var s string
	if p.Type == v1alpha1.TypeString {
		if err := json.Unmarshal(p.Default.Raw, &s); err != nil {
			return 0, false
		}
	} else {
		s = string(p.Default.Raw)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > maxCountDefault || strconv.Itoa(n) != s {
		return 0, false
	}
	return n, true
}

// upTo is a regular expression that matches the decimal numbers 0 to n and
// nothing else: no sign, no leading zeros, no spaces (which sprig's int
// would read otherwise: "010" as 8, "0x10" as 16).
func upTo(n int) string {
	digits := strconv.Itoa(n)
	d := len(digits)
	alts := []string{"0"}
	// Shorter numbers than n, of 1 to d-1 digits.
	switch {
	case d == 2:
		alts = append(alts, "[1-9]")
	case d == 3:
		alts = append(alts, "[1-9][0-9]?")
	case d > 3:
		alts = append(alts, fmt.Sprintf("[1-9][0-9]{0,%d}", d-2))
	}
	// Numbers of d digits below n: n's first i digits, then a smaller
	// digit, then any.
	for i := range d {
		lo, hi := byte('0'), digits[i]-1
		if i == 0 {
			lo = '1'
		}
		if hi < lo {
			continue
		}
		alt := digits[:i] + digitRange(lo, hi)
		switch rest := d - i - 1; rest {
		case 0:
		case 1:
			alt += "[0-9]"
		default:
			alt += fmt.Sprintf("[0-9]{%d}", rest)
		}
		alts = append(alts, alt)
	}
	if n != 0 {
		alts = append(alts, digits)
	}
	return "^(" + strings.Join(alts, "|") + ")$"
}

func digitRange(lo, hi byte) string {
	if lo == hi {
		return string(lo)
	}
	return "[" + string(lo) + "-" + string(hi) + "]"
}

// loopedParams are the parameters a template loops over: those read in
// the count arguments of until, untilStep, seq and repeat (or piped into
// them), and in a range over an int made of them. A template that does not
// parse has none; the import says why elsewhere.
func loopedParams(file, text string) []string {
	t, err := template.New(file).Funcs(kudo.Funcs()).Parse(text)
	if err != nil {
		return nil
	}
	found := map[string]bool{}
	fields := func(n parse.Node) {
		for _, p := range kudo.ParamsRead(n) {
			found[p] = true
		}
	}
	var walk func(parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c)
				}
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n == nil {
				return
			}
			for k, c := range n.Cmds {
				if name := ident(c); k > 0 && loopFuncs[name] && name != "repeat" {
					for _, before := range n.Cmds[:k] { // their value is piped in as the count
						fields(before)
					}
				}
				walk(c)
			}
		case *parse.CommandNode:
			if name := ident(n); loopFuncs[name] {
				args := n.Args[1:]
				if name == "repeat" && len(args) > 1 {
					args = args[:1] // the count; the second is the string
				}
				for _, a := range args {
					fields(a)
				}
			}
			for _, a := range n.Args {
				walk(a)
			}
		case *parse.RangeNode:
			if convertsToInt(n.Pipe) {
				fields(n.Pipe) // a range over an int
			}
			walk(&n.BranchNode)
		case *parse.IfNode:
			walk(&n.BranchNode)
		case *parse.WithNode:
			walk(&n.BranchNode)
		case *parse.BranchNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.TemplateNode:
			walk(n.Pipe)
		}
	}
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			walk(tt.Root)
		}
	}
	out := make([]string, 0, len(found))
	for name := range found {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// ident is the function a command calls, "" if it calls none.
func ident(c *parse.CommandNode) string {
	if len(c.Args) == 0 {
		return ""
	}
	if id, ok := c.Args[0].(*parse.IdentifierNode); ok {
		return id.Ident
	}
	return ""
}

// convertsToInt says whether a pipeline's value is a conversion to int:
// int .Params.N, (int .Params.N), .Params.N | atoi.
func convertsToInt(p *parse.PipeNode) bool {
	if p == nil || len(p.Cmds) == 0 {
		return false
	}
	last := p.Cmds[len(p.Cmds)-1]
	if len(last.Args) == 0 {
		return false
	}
	if inner, ok := last.Args[0].(*parse.PipeNode); ok && len(last.Args) == 1 {
		return convertsToInt(inner)
	}
	return conversions[ident(last)]
}
