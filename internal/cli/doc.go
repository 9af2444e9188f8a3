// Package cli is kubectl-operetta, the kubectl plugin: an instance's plans at
// a glance (plan status, history, trigger), Frameworks checked before they
// reach a cluster with the controller's own compiler (verify, render, crd),
// a scaffold that verify accepts (new), and what a bug report needs
// (diagnose). The offline commands use the same pure packages as the
// controller (compile, crdgen, expr), so they give its errors.
package cli
