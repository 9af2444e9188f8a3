// Package revisions decides, without a client, which FrameworkRevision a
// Framework generation runs as: a new one, the latest again (a change that
// does not reach instances), or a new one that goes back to an older spec.
// The Framework controller records revisions by it, and kubectl operetta
// diff previews a change by it.
package revisions
