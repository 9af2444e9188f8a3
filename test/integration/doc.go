// Package integration runs the manager in this process against a real etcd
// and kube-apiserver (envtest): Frameworks, instances, plans, the engine's
// loops and the API server's answers, with the requests the manager sends
// counted. `make test` runs it; docs/development.md says how the API server
// is built.
package integration
