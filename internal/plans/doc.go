// Package plans is operetta's plan state machine, pure: given a
// plan's spec, its recorded status and what running a step found, it returns
// the new status. It never talks to the API server; the caller runs steps and
// persists the status, so a plan resumes wherever the status says it stood.
package plans
