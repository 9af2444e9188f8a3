// Package servingcert is the certificate the manager's conversion webhook
// serves, and the CA bundle the API server is given to trust it: either
// generated and rotated by the manager in a Secret of its own namespace
// (open-policy-agent/cert-controller's rotator, run by every replica, so
// every replica serves whether or not it leads), or read from files another
// issuer keeps up to date, such as a cert-manager Certificate's Secret
// mounted into the pod. Either way the webhook server takes the certificate
// from memory at each handshake, and a change of the CA is told to whoever
// writes the bundle into the generated CRDs.
package servingcert
