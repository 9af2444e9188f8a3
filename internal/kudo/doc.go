// Package kudo renders KUDO operator packages' templates the way KUDO did, so
// an unmodified package runs on operetta: Go text/template with
// missingkey=error, sprig's functions minus those that read the manager's
// environment, the file system, the clock or randomness, plus toYaml; every
// scalar parameter a string; KUDO's variables; the output parsed as YAML into
// zero or more objects. It is pure: no client, no cluster.
package kudo
