package schedule

import (
	"fmt"
	"hash/fnv"
	"strings"
	"time"
	_ "time/tzdata" // time zones on images without /usr/share/zoneinfo

	"github.com/robfig/cron/v3"
)

// parser reads what a CronJob's schedule takes: five fields, or a
// descriptor (@daily, @every 1h), with an optional CRON_TZ= or TZ= prefix.
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Parse parses a schedule in time zone tz (an IANA name; "" is UTC). A
// schedule that names its own zone (CRON_TZ=...) cannot be given one too,
// as a CronJob's cannot.
func Parse(expr, tz string) (cron.Schedule, error) {
	expr = strings.TrimSpace(expr)
	if expr == "" {
		return nil, fmt.Errorf("empty schedule")
	}
	ownZone := strings.HasPrefix(expr, "CRON_TZ=") || strings.HasPrefix(expr, "TZ=")
	switch {
	case ownZone && tz != "":
		return nil, fmt.Errorf("the schedule names its time zone (%s) and timeZone is set too: give one", strings.Fields(expr)[0])
	case !ownZone:
		if tz == "" {
			tz = "UTC"
		}
		if _, err := time.LoadLocation(tz); err != nil {
			return nil, fmt.Errorf("time zone %q: %w", tz, err)
		}
		expr = "CRON_TZ=" + tz + " " + expr
	}
	s, err := parser.Parse(expr)
	if err != nil {
		return nil, err
	}
	if spec, ok := s.(*cron.SpecSchedule); ok {
		return onceAWallTime{spec}, nil
	}
	return s, nil
}

// onceAWallTime is a schedule that fires once for a wall-clock time its
// zone has twice (the hour clocks fall back over): robfig/cron fires at
// both. A time the zone skips (the hour clocks spring forward over) is
// skipped that day, as robfig/cron, and so a CronJob, does.
type onceAWallTime struct{ *cron.SpecSchedule }

func (s onceAWallTime) Next(t time.Time) time.Time {
	n := s.SpecSchedule.Next(t)
	if !n.IsZero() && n.Sub(t) <= time.Hour && wall(n, s.Location) == wall(t, s.Location) {
		return s.SpecSchedule.Next(n)
	}
	return n
}

func wall(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("2006-01-02T15:04")
}

// Offset is where in [0, jitter) instance's runs of schedule name start
// after each scheduled time: fixed per instance and schedule, so a fleet's
// runs spread over the window and each instance keeps its own place.
func Offset(jitter time.Duration, instance, name string) time.Duration {
	if jitter <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(instance))
	h.Write([]byte{0})
	h.Write([]byte(name))
	return time.Duration(h.Sum64() % uint64(jitter))
}

// Jitter is the window a fleet's runs of s spread over: jitter, but at
// most half of s's period around now, so an instance's run never slides
// past the next time (an instance's own "@every 5s" under a Framework's
// ten-minute jitter still runs every 5 s).
func Jitter(s cron.Schedule, jitter time.Duration, now time.Time) time.Duration {
	if jitter <= 0 {
		return 0
	}
	if p := Period(s, now); p > 0 {
		return min(jitter, p/2)
	}
	return jitter
}

// Period is how long after its next time s fires again, from now: a
// schedule's period, for one that has a steady one.
func Period(s cron.Schedule, now time.Time) time.Duration {
	next := s.Next(now)
	if next.IsZero() {
		return 0
	}
	return s.Next(next).Sub(next)
}

// Decision is what to do about one schedule now.
type Decision struct {
	// Due is the scheduled time a run is due for now (zero: none). Only the
	// latest that passed is run; Dropped counts earlier ones that passed
	// unrun since the last.
	Due     time.Time
	Dropped int
	// Missed is a scheduled time that passed too long ago to start within
	// the starting deadline (zero: none): recorded, not run.
	Missed time.Time
	// Next is when the next run is due, its offset included.
	Next time.Time
}

// Decide says what to do now about schedule s whose last run (started,
// skipped or missed) stood for scheduled time last, zero if it never ran:
// then scheduled times count from since (when the instance first had the
// schedule). offset is the instance's place in the jitter window;
// deadline, if not zero, how late after its time (and offset) a run may
// still start.
func Decide(s cron.Schedule, last, since, now time.Time, offset, deadline time.Duration) Decision {
	from := last
	if from.IsZero() {
		from = since
	}
	latest, dropped := latestBefore(s, from, now.Add(-offset))
	d := Decision{}
	switch {
	case latest.IsZero():
		d.Next = s.Next(from).Add(offset)
		return d
	case deadline > 0 && now.Sub(latest.Add(offset)) > deadline:
		d.Missed = latest
	default:
		d.Due, d.Dropped = latest, dropped
	}
	d.Next = s.Next(latest).Add(offset)
	return d
}

// maxScan bounds how many scheduled times latestBefore steps through
// before it jumps ahead (a per-second schedule after a month down).
const maxScan = 100

// latestBefore returns the latest scheduled time of s after from and not
// after until, and how many others passed between (at least maxScan if it
// jumped).
func latestBefore(s cron.Schedule, from, until time.Time) (time.Time, int) {
	var latest time.Time
	n := 0
	for t := s.Next(from); !t.After(until); t = s.Next(t) {
		if n == maxScan {
			return jumpTo(s, t, until), n
		}
		latest = t
		n++
	}
	return latest, max(n-1, 0)
}

// jumpTo finds the latest scheduled time of s not after until, knowing one
// at or after at is: it looks back from until over windows that double
// until one holds a scheduled time.
func jumpTo(s cron.Schedule, at, until time.Time) time.Time {
	for window := time.Minute; ; window *= 2 {
		start := until.Add(-window)
		if start.Before(at) {
			start = at.Add(-time.Nanosecond)
		}
		var latest time.Time
		for t := s.Next(start); !t.After(until); t = s.Next(t) {
			latest = t
		}
		if !latest.IsZero() {
			return latest
		}
	}
}
