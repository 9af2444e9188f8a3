// Package schedule is the arithmetic of scheduled plans, pure: given a cron
// schedule, the scheduled time an instance's last run stood for, and now,
// it says whether a run is due, for which scheduled time, whether one was
// missed, and when the next one is due. It reads no clock: callers pass
// now, so tests drive it with any time, zone and daylight-saving change.
//
// Runs behave as a CronJob's: a run is due for the latest scheduled time
// that passed; earlier ones that passed unrun are dropped (never a burst),
// and with a starting deadline a run that can no longer start within it is
// missed rather than started late.
package schedule
