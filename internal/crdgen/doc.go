// Package crdgen turns a Framework into the CustomResourceDefinition of its
// generated kind. It is a pure function: no client, no cluster. The result is
// checked with the API server's own CRD validation before anyone installs it,
// and its errors are reported against the Framework's fields, not the CRD's.
package crdgen
