// Package tasks executes the tasks of a plan's steps for one instance:
// render, own, apply once, delete, judge health from the children cache, and
// keep the inventory. It is also the one place where an error becomes a
// result: waiting, transient or terminal.
package tasks
