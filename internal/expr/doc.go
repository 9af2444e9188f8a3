// Package expr is operetta's use of CEL: the environment every Framework
// expression is compiled in, the ${...} template syntax, and rendering.
// Expressions are compiled once per Framework generation and evaluated with a
// cost limit, so no expression can hang the controller. It imports no client.
package expr
