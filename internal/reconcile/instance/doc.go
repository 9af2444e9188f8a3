// Package instance is the controller of one generated kind: it drives each
// instance through its Framework's plans in a short, linear reconcile —
// schedule, advance, maintain, project, one status patch, events — with the
// task executor doing the work on children.
package instance
