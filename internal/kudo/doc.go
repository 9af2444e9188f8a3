// Package kudo renders KUDO operator packages' templates the way KUDO did, so
// an unmodified package runs on operetta: Go text/template with
// missingkey=error, sprig's functions minus those that read the manager's
// environment, the file system, the clock or randomness, plus toYaml; every
// scalar parameter a string; KUDO's variables; the output parsed as YAML into
// zero or more objects. It is pure: no client, no cluster.
//
// Unlike KUDO, a render is safe for values a tenant wrote: every value a
// template prints fills the one YAML node the template gives it and nothing
// else (slots.go, fit.go), and a render stays within budgets of output,
// objects and iterations (budget.go).
package kudo
