package kudo

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"text/template"
)

// The budgets of one render of one template. A tenant's value may be a
// count, a list or a long string; none of them may make a render cost the
// manager more than these, whatever the template does with them. The figures
// are in docs/security.md.
const (
	// MaxRenderBytes bounds what one render prints, values included.
	MaxRenderBytes = 2 << 20
	// MaxObjects bounds the objects one render makes.
	MaxObjects = 256
	// MaxIterations bounds the elements all ranges of one render go over,
	// added up (nested ranges multiply), and the length of a list until,
	// untilStep or seq may make.
	MaxIterations = 10_000
	// maxIndent bounds indent's and nindent's width.
	maxIndent = 1024
)

// ErrBudget is wrapped by every error a budget causes.
var ErrBudget = errors.New("over the render budget")

func overBudget(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBudget}, args...)...)
}

// bounded wraps sprig's functions that allocate in proportion to a number:
// the number is checked before anything is allocated.
func bounded(f template.FuncMap) {
	until := f["until"].(func(int) []int)
	untilStep := f["untilStep"].(func(int, int, int) []int)
	seq := f["seq"].(func(...int) string)
	repeat := f["repeat"].(func(int, string) string)
	indent := f["indent"].(func(int, string) string)
	nindent := f["nindent"].(func(int, string) string)
	f["until"] = func(n int) ([]int, error) {
		if err := countWithin("until", 0, n, 1); err != nil {
			return nil, err
		}
		return until(n), nil
	}
	f["untilStep"] = func(start, stop, step int) ([]int, error) {
		if err := countWithin("untilStep", start, stop, step); err != nil {
			return nil, err
		}
		return untilStep(start, stop, step), nil
	}
	f["seq"] = func(params ...int) (string, error) {
		var start, stop int
		switch len(params) {
		case 1:
			start, stop = 1, params[0]
		case 2, 3:
			start, stop = params[0], params[len(params)-1]
		}
		if err := countWithin("seq", start, stop, 1); err != nil {
			return "", err
		}
		return seq(params...), nil
	}
	f["repeat"] = func(count int, s string) (string, error) {
		if count > 0 && len(s) > 0 && count > MaxRenderBytes/len(s) {
			return "", overBudget("repeat: %d copies of %d bytes are more than %d bytes", count, len(s), MaxRenderBytes)
		}
		return repeat(count, s), nil
	}
	f["indent"] = func(spaces int, s string) (string, error) {
		if spaces > maxIndent {
			return "", overBudget("indent: a width of %d is more than %d", spaces, maxIndent)
		}
		return indent(spaces, s), nil
	}
	f["nindent"] = func(spaces int, s string) (string, error) {
		if spaces > maxIndent {
			return "", overBudget("nindent: a width of %d is more than %d", spaces, maxIndent)
		}
		return nindent(spaces, s), nil
	}
}

// countWithin checks that a list from start to stop by step (in either
// direction) has at most MaxIterations elements.
func countWithin(fn string, start, stop, step int) error {
	span := int64(stop) - int64(start)
	if span < 0 {
		span = -span
	}
	if step < 0 {
		step = -step
	}
	if step == 0 {
		step = 1
	}
	if span/int64(step) > MaxIterations {
		return overBudget("%s: a list of about %d elements is longer than %d", fn, span/int64(step), MaxIterations)
	}
	return nil
}

// lengthOf is the number of elements a range goes over.
func lengthOf(v any) (int, error) {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface {
		if rv.IsNil() {
			return 0, nil
		}
		rv = rv.Elem()
	}
	switch rv.Kind() {
	case reflect.Slice, reflect.Array, reflect.Map, reflect.String:
		return rv.Len(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return int(max(rv.Int(), 0)), nil
	case reflect.Invalid:
		return 0, nil
	}
	return 0, fmt.Errorf("range over %s is not allowed in a package template", rv.Kind())
}

// output is a render's output, which refuses to grow past MaxRenderBytes
// (values printed in slots are counted in through add).
type output struct {
	strings.Builder
	values int
}

func (o *output) Write(p []byte) (int, error) {
	if err := o.add(len(p)); err != nil {
		return 0, err
	}
	return o.Builder.Write(p)
}

func (o *output) add(n int) error {
	if o.Len()+o.values+n > MaxRenderBytes {
		return overBudget("the render prints more than %d bytes", MaxRenderBytes)
	}
	return nil
}
