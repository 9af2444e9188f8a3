// Package importer turns a KUDO operator package (operator.yaml,
// params.yaml, templates/) into a Framework that runs it unmodified: its
// templates become goTemplate resources, its parameters the generated
// kind's fields, its tasks and plans operetta's. What it cannot carry over
// as is, it rewrites or refuses, and says so in notes.
package importer
