package kudo

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"text/template/parse"

	sprig "github.com/Masterminds/sprig/v3"
	"sigs.k8s.io/yaml"

	"operetta.dev/operetta/internal/manifest"
)

// Vars are the variables KUDO gave templates.
type Vars struct {
	Name, Namespace                           string // the instance's
	OperatorName, OperatorVersion, AppVersion string
	PlanName, PhaseName, StepName             string
	// Params holds every parameter the package declares: scalars as
	// strings (see Params), arrays and maps as values.
	Params map[string]any
	// Pipes holds the names of the objects Pipe tasks created, by key.
	Pipes map[string]string
}

// excluded are sprig functions a template may not call: they would read the
// manager's environment or file system, or give another result on every
// render (the clock, randomness, generated keys), which would make operetta
// apply a child again on every reconcile.
var excluded = []string{
	"env", "expandenv", "base", "dir", "clean", "ext", "isAbs", "getHostByName",
	"now", "date", "dateInZone", "date_in_zone", "dateModify", "date_modify", "mustDateModify", "must_date_modify",
	"ago", "htmlDate", "htmlDateInZone", "unixEpoch", "toDate", "mustToDate", "duration", "durationRound",
	"encryptAES", "randAlpha", "randAlphaNum", "randAscii", "randNumeric", "randBytes", "randInt", "shuffle", "uuidv4",
	"genPrivateKey", "derivePassword", "buildCustomCert", "genCA", "genCAWithKey", "genSelfSignedCert",
	"genSelfSignedCertWithKey", "genSignedCert", "genSignedCertWithKey", "bcrypt", "htpasswd",
}

// Funcs is the function map templates are parsed with.
func Funcs() template.FuncMap {
	f := sprig.TxtFuncMap()
	for _, name := range excluded {
		delete(f, name)
	}
	f["toYaml"] = toYaml
	bounded(f)
	return f
}

// toYaml is KUDO's: YAML without the trailing newline, "" if v cannot be
// marshalled.
func toYaml(v any) string {
	b, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Template is a parsed package template.
type Template struct {
	name   string
	t      *template.Template
	slots  []slot
	clones sync.Pool
}

// Parse parses a template file's text. A syntax error, or a function that
// does not exist (or is excluded), is reported with the file and line.
func Parse(name, text string) (*Template, error) {
	t, err := template.New(name).Option("missingkey=error").Funcs(Funcs()).Parse(text)
	if err != nil {
		return nil, err
	}
	trees := make([]*parse.Tree, 0, len(t.Templates()))
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			trees = append(trees, tt.Tree)
		}
	}
	// Added after parsing: a template cannot call them itself.
	t.Funcs(template.FuncMap{
		slotFunc:  func(int, any) (string, error) { return "", errors.New("rendered without a render") },
		rangeFunc: func(v any) (any, error) { return v, nil },
	})
	return &Template{name: name, t: t, slots: instrument(trees)}, nil
}

// ParamUse is a read of .Params.NAME in a template, and where it is.
type ParamUse struct {
	Name string
	// At is file:line:column.
	At string
}

// ParamsUsed lists the parameters the template reads as .Params.NAME, the
// first read of each, so a name the package does not declare is found
// before any instance exists.
func (t *Template) ParamsUsed() []ParamUse {
	seen := map[string]bool{}
	var out []ParamUse
	var walk func(*parse.Tree, parse.Node)
	walk = func(tree *parse.Tree, n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, c := range n.Nodes {
				walk(tree, c)
			}
		case *parse.ActionNode:
			walk(tree, n.Pipe)
		case *parse.IfNode:
			walk(tree, &n.BranchNode)
		case *parse.RangeNode:
			walk(tree, &n.BranchNode)
		case *parse.WithNode:
			walk(tree, &n.BranchNode)
		case *parse.BranchNode:
			walk(tree, n.Pipe)
			walk(tree, n.List)
			walk(tree, n.ElseList)
		case *parse.TemplateNode:
			walk(tree, n.Pipe)
		case *parse.PipeNode:
			visitArgs(n, func(a parse.Node) {
				if f, ok := a.(*parse.FieldNode); ok && len(f.Ident) >= 2 && f.Ident[0] == "Params" && !seen[f.Ident[1]] {
					seen[f.Ident[1]] = true
					at, _ := tree.ErrorContext(f)
					out = append(out, ParamUse{Name: f.Ident[1], At: at})
				}
			})
		}
	}
	for _, tt := range t.t.Templates() {
		if tt.Tree != nil {
			walk(tt.Tree, tt.Tree.Root)
		}
	}
	return out
}

// Render executes the template and parses the result as YAML documents:
// zero or more objects, their integers int64 as the API server returns
// them. Empty documents are skipped. Every value the template prints must
// fill the one node the template gives it (see fit.go), and the render stays
// within its budgets (see budget.go); an error names the parameter and the
// template's line, never a value.
func (t *Template) Render(v Vars) ([]map[string]any, error) {
	c, err := t.clone()
	if err != nil {
		return nil, err
	}
	defer t.clones.Put(c)
	r := c.render
	*r = render{tokens: newTokens(), slots: t.slots}
	if err := c.t.Execute(&r.out, v); err != nil {
		return nil, err
	}
	skeleton := r.out.String()
	text := fill(skeleton, r.tokens, t.slots, r.values)
	if err := r.fit(skeleton, text); err != nil {
		var m *misfit
		if errors.As(err, &m) {
			return nil, fmt.Errorf("%s: %s", t.name, m.describe(t.slots))
		}
		return nil, err
	}
	objs, err := manifest.Decode([]byte(text), t.name)
	if err != nil {
		return nil, errors.New(withoutQuotes(err.Error()))
	}
	if len(objs) > MaxObjects {
		return nil, fmt.Errorf("%s: %w", t.name, overBudget("%d objects are more than %d", len(objs), MaxObjects))
	}
	return objs, nil
}

// A clone of a template calls back into its own render state, so renders
// of one template can run at once; clones are pooled, since making one
// copies the function map.
type clone struct {
	t      *template.Template
	render *render
}

func (t *Template) clone() (*clone, error) {
	if c, ok := t.clones.Get().(*clone); ok {
		return c, nil
	}
	tt, err := t.t.Clone()
	if err != nil {
		return nil, err
	}
	c := &clone{t: tt, render: &render{}}
	tt.Funcs(template.FuncMap{slotFunc: c.render.print, rangeFunc: c.render.iterate})
	return c, nil
}

// render is the state of one render.
type render struct {
	tokens     tokens
	slots      []slot
	out        output
	values     []printed
	iterations int
}

// print records what slot prints and prints its token instead.
func (r *render) print(slot int, v any) (string, error) {
	text := printText(v)
	if err := r.out.add(len(text)); err != nil {
		return "", err
	}
	r.out.values += len(text)
	r.values = append(r.values, printed{slot: slot, value: text})
	return r.slots[slot].prefix + r.tokens.of(len(r.values)-1), nil
}

// fit checks that the output, text, has the skeleton's structure. When
// every value printed is inert (see inert), it has: such a value stands
// where its token stood as a plain, quoted or block scalar of the same
// extent, so the YAML need not be parsed twice.
func (r *render) fit(skeleton, text string) error {
	for _, p := range r.values {
		if !inert.MatchString(p.value) || nullWords[p.value] {
			return fit(skeleton, text, r.tokens, r.slots, r.values)
		}
	}
	return nil
}

// nullWords read as YAML's null, not as a token: as a map key, no object
// can have one, which fit names.
var nullWords = map[string]bool{"null": true, "Null": true, "NULL": true}

// inert values read as YAML as a token does: they start with a letter or a
// digit and hold no space, no line break and no indicator that could end a
// scalar or start a structure (a colon only between letters or digits, as
// in an image's tag).
var inert = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9._/=+@-]|:[A-Za-z0-9])*$`)

// iterate counts the elements a range is about to go over.
func (r *render) iterate(v any) (any, error) {
	n, err := lengthOf(v)
	if err != nil {
		return nil, err
	}
	if r.iterations += n; r.iterations > MaxIterations {
		return nil, overBudget("ranges go over more than %d elements", MaxIterations)
	}
	return v, nil
}

// printText is what text/template prints for v.
func printText(v any) string {
	if v == nil {
		return "<no value>"
	}
	return fmt.Sprint(v)
}

// Params is what templates see of parameter values: every declared
// parameter (a missing one as ""), scalars as the strings KUDO stored.
func Params(declared []string, values map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(declared))
	for _, name := range declared {
		v, err := scalarString(values[name])
		if err != nil {
			return nil, fmt.Errorf("parameter %s: %w", name, err)
		}
		out[name] = v
	}
	return out, nil
}

func scalarString(v any) (any, error) {
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case bool:
		return strconv.FormatBool(v), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case int:
		return strconv.Itoa(v), nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	case []any, map[string]any:
		return v, nil
	}
	return nil, fmt.Errorf("unsupported value %T", v)
}
