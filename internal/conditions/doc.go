// Package conditions is operetta's one condition vocabulary, for Frameworks
// and instances alike: the three kstatus conditions (Ready, Reconciling,
// Stalled), the typed reasons they carry (reasons.go), the one way they are
// written (Set) and the one way "is it Ready" is decided (ReadyAt). Events
// take their reasons from here too, so an event is chosen by a typed reason,
// never by reading a message. It is pure: no client.
package conditions
