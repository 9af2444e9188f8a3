package expr

import (
	"fmt"
	"strings"
)

// segment is a piece of a template string: literal text or an expression.
type segment struct {
	text   string
	isExpr bool
}

// parse splits s into literal text and ${...} expressions. "$${" stands for a
// literal "${", so shell scripts in ConfigMaps can keep their variables.
// Braces and quotes inside an expression are balanced, so a map literal or a
// string containing "}" does not end it early.
func parse(s string) ([]segment, error) {
	var segs []segment
	var lit strings.Builder
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			lit.WriteString("${")
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			end, err := exprEnd(s, i+2)
			if err != nil {
				return nil, err
			}
			if lit.Len() > 0 {
				segs = append(segs, segment{text: lit.String()})
				lit.Reset()
			}
			src := strings.TrimSpace(s[i+2 : end])
			if src == "" {
				return nil, fmt.Errorf("empty expression ${} at offset %d", i)
			}
			segs = append(segs, segment{text: src, isExpr: true})
			i = end + 1
		default:
			lit.WriteByte(s[i])
			i++
		}
	}
	if lit.Len() > 0 {
		segs = append(segs, segment{text: lit.String()})
	}
	return segs, nil
}

// exprEnd returns the index of the "}" closing the expression that starts at
// from, skipping nested braces and quoted strings.
func exprEnd(s string, from int) (int, error) {
	depth := 0
	for i := from; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'', '"':
			j, err := stringEnd(s, i)
			if err != nil {
				return 0, err
			}
			i = j
		case '{':
			depth++
		case '}':
			if depth == 0 {
				return i, nil
			}
			depth--
		}
	}
	return 0, fmt.Errorf("unterminated expression: %q has no closing }", s[from-2:])
}

// stringEnd returns the index of the quote closing the CEL string literal that
// starts at from. Triple quotes and escapes are honoured.
func stringEnd(s string, from int) (int, error) {
	q := s[from : from+1]
	if strings.HasPrefix(s[from:], q+q+q) {
		if j := strings.Index(s[from+3:], q+q+q); j >= 0 {
			return from + 3 + j + 2, nil
		}
		return 0, fmt.Errorf("unterminated string in expression %q", s[from:])
	}
	for i := from + 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case q[0]:
			return i, nil
		}
	}
	return 0, fmt.Errorf("unterminated string in expression %q", s[from:])
}
