package kudo

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// A render prints every slot's value as a token into a skeleton: the YAML
// the template's own text makes, whatever the values. The real output is the
// skeleton with each token replaced by its value, and must have the
// skeleton's structure: the same documents, keys, lists and scalars, except
// where a token stands, which the value fills with one scalar (or, for an
// encoder's output, the value's own subtree). So a value can be anything and
// still never add a document, an object, a key or a list item, nor change a
// kind, a name or a namespace the template wrote.

// tokens mark slots in a skeleton: letters and digits only, so a token is a
// plain scalar wherever it stands; the nonce is new for each render, so
// neither the template nor a value can forge one.
type tokens struct {
	nonce string
	// re finds tokens; only a check that parses the YAML needs it.
	re *regexp.Regexp
}

func newTokens() tokens {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return tokens{nonce: "zop" + hex.EncodeToString(b)}
}

func (t tokens) withRegexp() tokens {
	t.re = regexp.MustCompile(t.nonce + `s([0-9]+)z`)
	return t
}

func (t tokens) of(i int) string { return t.nonce + "s" + strconv.Itoa(i) + "z" }

// find returns the slots of the tokens in s, in order.
func (t tokens) find(s string) []int {
	var out []int
	for _, m := range t.re.FindAllStringSubmatch(s, -1) {
		i, _ := strconv.Atoi(m[1])
		out = append(out, i)
	}
	return out
}

// printed is what one slot printed in a render.
type printed struct {
	slot  int
	value string
}

// fill replaces every slot's prefix and token in skeleton with the value it
// printed: the text the template would have printed without tokens.
func fill(skeleton string, t tokens, slots []slot, values []printed) string {
	var b strings.Builder
	b.Grow(len(skeleton))
	rest := skeleton
	for i, p := range values {
		tok := slots[p.slot].prefix + t.of(i)
		at := strings.Index(rest, tok)
		if at < 0 {
			continue // printed into a variable's text, not the output
		}
		b.WriteString(rest[:at])
		b.WriteString(p.value)
		rest = rest[at+len(tok):]
	}
	b.WriteString(rest)
	return b.String()
}

// misfit says which slot's value made the output's structure differ from
// the skeleton's, and how.
type misfit struct {
	slot int
	what string
}

func (m *misfit) Error() string { return m.what }

// fit checks that output has skeleton's structure (see above). It returns a
// *misfit naming the slot to blame, or nil.
func fit(skeleton, output string, t tokens, slots []slot, values []printed) error {
	bs, as := documents(skeleton), documents(output)
	f := &fitter{t: t.withRegexp(), slots: slots, values: values}
	if len(as) != len(bs) {
		return f.blame(skeleton, len(skeleton), "a value adds or removes a YAML document")
	}
	for i := range bs {
		var b, a yaml.Node
		if err := yaml.Unmarshal(bs[i], &b); err != nil {
			return f.blame(string(bs[i]), len(bs[i]), "the template's own text is not YAML ("+yamlError(err)+")")
		}
		if err := yaml.Unmarshal(as[i], &a); err != nil {
			return f.blame(string(bs[i]), offsetOfLine(bs[i], errorLine(err)), "a value makes the YAML invalid ("+yamlError(err)+")")
		}
		if bad := f.node(&b, &a); bad != nil {
			return f.blame(string(bs[i]), offsetOfLine(bs[i], bad.Line), f.why)
		}
	}
	return nil
}

type fitter struct {
	t      tokens
	slots  []slot
	values []printed
	why    string
}

// node returns the skeleton node where a differs from b, or nil.
func (f *fitter) node(b, a *yaml.Node) *yaml.Node {
	if b.Kind == yaml.ScalarNode && strings.Contains(b.Value, f.t.nonce) {
		switch {
		case f.wholeEncoded(b):
			if hasAlias(a) {
				f.why = "a value adds a YAML alias"
				return b
			}
		case a.Kind != yaml.ScalarNode:
			f.why = "a value turns a scalar into " + kindName(a.Kind)
			return b
		case a.Anchor != "":
			f.why = "a value adds a YAML anchor"
			return b
		}
		return nil
	}
	if a.Kind != b.Kind || a.Anchor != b.Anchor {
		f.why = "a value turns " + kindName(b.Kind) + " into " + kindName(a.Kind)
		return b
	}
	switch b.Kind {
	case yaml.DocumentNode, yaml.MappingNode, yaml.SequenceNode:
		if len(a.Content) != len(b.Content) {
			f.why = "a value adds or removes keys or items of " + kindName(b.Kind)
			return b
		}
		for i := range b.Content {
			key := b.Kind == yaml.MappingNode && i%2 == 0
			if key && a.Content[i].Kind == yaml.ScalarNode && a.Content[i].ShortTag() == "!!null" && b.Content[i].ShortTag() != "!!null" {
				// "~" or "null" as a key: YAML has it, JSON (and so an
				// object) does not.
				f.why = "a value makes a map key null, which no object can have"
				return b.Content[i]
			}
			if bad := f.node(b.Content[i], a.Content[i]); bad != nil {
				return bad
			}
		}
	case yaml.ScalarNode, yaml.AliasNode:
		if a.Value != b.Value || a.Tag != b.Tag {
			f.why = "a value changes the template's own text"
			return b
		}
	}
	return nil
}

// wholeEncoded says whether plain scalar b is exactly one token of an
// encoder's slot: its value's own structure may stand there.
func (f *fitter) wholeEncoded(b *yaml.Node) bool {
	if b.Style != 0 {
		return false
	}
	found := f.t.find(b.Value)
	if len(found) != 1 || f.t.of(found[0]) != b.Value || found[0] >= len(f.values) {
		return false
	}
	return f.slots[f.values[found[0]].slot].structured
}

// blame returns a misfit naming the slot whose token comes last in doc
// before offset, preferring one whose value holds YAML syntax; the first
// slot if no token comes before it.
func (f *fitter) blame(doc string, offset int, what string) error {
	var last, suspect = -1, -1
	for _, loc := range f.t.re.FindAllStringSubmatchIndex(doc, -1) {
		if loc[0] > offset && last >= 0 {
			break
		}
		i, _ := strconv.Atoi(doc[loc[2]:loc[3]])
		last = i
		if i < len(f.values) && strings.ContainsAny(f.values[i].value, "\n:#,[]{}\"'&*!|>%@`-") {
			suspect = i
		}
	}
	if suspect >= 0 {
		last = suspect
	}
	if last < 0 || last >= len(f.values) {
		return &misfit{slot: -1, what: what}
	}
	return &misfit{slot: f.values[last].slot, what: what}
}

func hasAlias(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		return true
	}
	for _, c := range n.Content {
		if hasAlias(c) {
			return true
		}
	}
	return false
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.DocumentNode:
		return "a document"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a scalar"
	case yaml.AliasNode:
		return "an alias"
	}
	return "nothing"
}

// documents splits text as manifest.Decode does, on "---" lines.
func documents(text string) [][]byte {
	var out [][]byte
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(text)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) || err != nil {
			return out
		}
		out = append(out, doc)
	}
}

var lineOf = regexp.MustCompile(`line ([0-9]+)`)

// yamlError is a YAML syntax error without what the document says: only the
// line and the rule it breaks, so no value is quoted.
func yamlError(err error) string {
	return withoutQuotes(strings.TrimPrefix(err.Error(), "yaml: "))
}

// withoutQuotes cuts msg where it starts quoting: what a parser quotes is
// the rendered text, which may hold a secret.
func withoutQuotes(msg string) string {
	if i := strings.IndexAny(msg, "`\"'"); i >= 0 {
		msg = strings.TrimSpace(strings.TrimRight(msg[:i], ": "))
	}
	return msg
}

func errorLine(err error) int {
	m := lineOf.FindStringSubmatch(err.Error())
	if m == nil {
		return 1 << 30
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// offsetOfLine is the offset just past line n (1-based) of doc.
func offsetOfLine(doc []byte, n int) int {
	at := 0
	for range n {
		i := bytes.IndexByte(doc[at:], '\n')
		if i < 0 {
			return len(doc)
		}
		at += i + 1
	}
	return at
}

// describe names the slot's parameters as fields of the instance.
func (m *misfit) describe(slots []slot) string {
	if m.slot < 0 {
		return m.what
	}
	s := slots[m.slot]
	fields := make([]string, len(s.params))
	for i, p := range s.params {
		fields[i] = "spec." + p
	}
	from := "the value printed"
	if len(fields) > 0 {
		from = "the value of " + strings.Join(fields, ", ") + " printed"
	}
	return fmt.Sprintf("%s at %s: %s; a value fills one scalar (a template that means to insert structure encodes it with toYaml or toJson)", from, s.at, m.what)
}
