// Package framework is the Framework controller: it compiles a Framework,
// installs the CRD it generates, runs the loop of its kind through the
// engine, reports how far a new generation has reached the instances, and
// takes it all away in order when the Framework is deleted.
package framework
