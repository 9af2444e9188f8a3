// Package compile checks a Framework and turns it into what a running loop
// needs: the generated CRD, the compiled templates and conditions, and the
// plans with every reference resolved. Everything that can be wrong with a
// Framework is found here, once per generation, with the field path that is
// wrong, before anything is installed. It imports no client.
package compile
