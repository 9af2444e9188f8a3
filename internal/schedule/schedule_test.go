package schedule

import (
	"strings"
	"testing"
	"time"
)

func at(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		expr, tz, wantErr string
	}{
		{"0 2 * * *", "", ""},
		{"@daily", "Europe/Berlin", ""},
		{"@every 5s", "", ""},
		{"CRON_TZ=America/New_York 30 1 * * 1-5", "", ""},
		{"CRON_TZ=America/New_York 30 1 * * *", "UTC", "timeZone is set too"},
		{"0 2 * *", "", "expected exactly 5 fields"},
		{"0 25 * * *", "", "above maximum"},
		{"0 2 * * *", "Mars/Olympus", `time zone "Mars/Olympus"`},
		{"", "", "empty schedule"},
	} {
		_, err := Parse(tc.expr, tc.tz)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("Parse(%q, %q): %v", tc.expr, tc.tz, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("Parse(%q, %q) = %v, want an error with %q", tc.expr, tc.tz, err, tc.wantErr)
		}
	}
}

func TestDecide(t *testing.T) {
	nightly, err := Parse("0 2 * * *", "Europe/Berlin") // 01:00 UTC in winter, 00:00 UTC in summer
	if err != nil {
		t.Fatal(err)
	}
	since := at(t, "2026-01-10T12:00:00Z")
	for _, tc := range []struct {
		name              string
		last, now         string
		offset, deadline  time.Duration
		due, missed, next string
		dropped           int
	}{
		{name: "before the first scheduled time, nothing is due",
			now: "2026-01-11T00:59:00Z", next: "2026-01-11T01:00:00Z"},
		{name: "the first scheduled time counts from since",
			now: "2026-01-11T01:00:00Z", due: "2026-01-11T01:00:00Z", next: "2026-01-12T01:00:00Z"},
		{name: "after a run, the next is a day later",
			last: "2026-01-11T01:00:00Z", now: "2026-01-11T09:00:00Z", next: "2026-01-12T01:00:00Z"},
		{name: "an offset puts the instance later in the window",
			last: "2026-01-11T01:00:00Z", now: "2026-01-12T01:00:30Z", offset: time.Minute, next: "2026-01-12T01:01:00Z"},
		{name: "and it is due once its offset passed",
			last: "2026-01-11T01:00:00Z", now: "2026-01-12T01:01:00Z", offset: time.Minute, due: "2026-01-12T01:00:00Z", next: "2026-01-13T01:01:00Z"},
		{name: "three days down: one catch-up run, for the latest, two dropped",
			last: "2026-01-11T01:00:00Z", now: "2026-01-14T09:00:00Z", due: "2026-01-14T01:00:00Z", dropped: 2, next: "2026-01-15T01:00:00Z"},
		{name: "three days down past the starting deadline: missed, not run",
			last: "2026-01-11T01:00:00Z", now: "2026-01-14T09:00:00Z", deadline: time.Hour, missed: "2026-01-14T01:00:00Z", next: "2026-01-15T01:00:00Z"},
		{name: "within the starting deadline: run",
			last: "2026-01-11T01:00:00Z", now: "2026-01-14T01:59:00Z", deadline: time.Hour, due: "2026-01-14T01:00:00Z", dropped: 2, next: "2026-01-15T01:00:00Z"},
		{name: "the deadline counts from the instance's offset",
			last: "2026-01-11T01:00:00Z", now: "2026-01-12T01:59:00Z", offset: 30 * time.Minute, deadline: time.Hour, due: "2026-01-12T01:00:00Z", next: "2026-01-13T01:30:00Z"},
		{name: "summer time: 02:00 in Berlin is 00:00 UTC",
			last: "2026-07-01T00:00:00Z", now: "2026-07-02T00:00:00Z", due: "2026-07-02T00:00:00Z", next: "2026-07-03T00:00:00Z"},
		// On 2026-03-29 Berlin's clocks go from 02:00 to 03:00: that day has
		// no 02:00, and robfig/cron, so a CronJob too, skips it that day.
		{name: "the day clocks spring forward over 02:00, it does not run",
			last: "2026-03-28T01:00:00Z", now: "2026-03-29T06:00:00Z", next: "2026-03-30T00:00:00Z"},
		// On 2026-10-25 02:00-03:00 happens twice (00:00 and 01:00 UTC); it
		// runs at the first, and not again at the second.
		{name: "the day clocks fall back over 02:00, it runs at the first",
			last: "2026-10-24T00:00:00Z", now: "2026-10-25T00:30:00Z", due: "2026-10-25T00:00:00Z", next: "2026-10-26T01:00:00Z"},
		{name: "and not at the second",
			last: "2026-10-25T00:00:00Z", now: "2026-10-25T06:00:00Z", next: "2026-10-26T01:00:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var last time.Time
			if tc.last != "" {
				last = at(t, tc.last)
			}
			d := Decide(nightly, last, since, at(t, tc.now), tc.offset, tc.deadline)
			check := func(what string, got time.Time, want string) {
				t.Helper()
				if want == "" && !got.IsZero() || want != "" && !got.Equal(at(t, want)) {
					t.Errorf("%s = %s, want %q", what, got.UTC().Format(time.RFC3339), want)
				}
			}
			check("Due", d.Due, tc.due)
			check("Missed", d.Missed, tc.missed)
			check("Next", d.Next, tc.next)
			if d.Dropped != tc.dropped {
				t.Errorf("Dropped = %d, want %d", d.Dropped, tc.dropped)
			}
		})
	}
}

func TestDecideAfterAMonthOfASecondlySchedule(t *testing.T) {
	every, err := Parse("@every 1s", "")
	if err != nil {
		t.Fatal(err)
	}
	last := at(t, "2026-01-01T00:00:00Z")
	now := at(t, "2026-02-01T00:00:00.5Z")
	d := Decide(every, last, last, now, 0, 0)
	if want := at(t, "2026-02-01T00:00:00Z"); !d.Due.Equal(want) || d.Dropped < maxScan {
		t.Fatalf("Decide = due %s, %d dropped; want due %s and at least %d dropped", d.Due, d.Dropped, want, maxScan)
	}
}

func TestOffsetSpreadsAFleet(t *testing.T) {
	jitter := time.Minute
	seconds := map[int]bool{}
	for i := range 1000 {
		o := Offset(jitter, "ns/instance-"+string(rune('a'+i%26))+string(rune('0'+i/26%10))+string(rune('0'+i/260)), "nightly")
		if o < 0 || o >= jitter {
			t.Fatalf("offset %s outside [0, %s)", o, jitter)
		}
		seconds[int(o/time.Second)] = true
	}
	// 1,000 instances over 60 one-second slots: all of them used.
	if len(seconds) != 60 {
		t.Errorf("1000 instances' offsets fall in %d of the 60 seconds of the window", len(seconds))
	}
	if Offset(jitter, "ns/a", "nightly") != Offset(jitter, "ns/a", "nightly") {
		t.Error("an instance's offset changes")
	}
	if Offset(0, "ns/a", "nightly") != 0 {
		t.Error("no jitter, yet an offset")
	}
}

func TestJitterStaysUnderHalfThePeriod(t *testing.T) {
	now := at(t, "2026-12-05T10:00:00Z")
	for _, tc := range []struct {
		expr   string
		jitter time.Duration
		want   time.Duration
	}{
		{"0 2 * * *", 10 * time.Minute, 10 * time.Minute},
		{"@every 5s", 10 * time.Minute, 2500 * time.Millisecond},
		{"*/2 * * * *", time.Hour, time.Minute},
		{"0 2 * * *", 0, 0},
	} {
		s, err := Parse(tc.expr, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := Jitter(s, tc.jitter, now); got != tc.want {
			t.Errorf("Jitter(%q, %s) = %s, want %s", tc.expr, tc.jitter, got, tc.want)
		}
	}
}

// BenchmarkDecideForAFleet is what one tick costs the manager's CPU: every
// instance's reconcile decides once.
func BenchmarkDecideForAFleet(b *testing.B) {
	s, err := Parse("*/5 * * * *", "Europe/Berlin")
	if err != nil {
		b.Fatal(err)
	}
	since := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	last := time.Date(2026, 12, 5, 9, 55, 0, 0, time.UTC)
	now := time.Date(2026, 12, 5, 10, 0, 20, 0, time.UTC)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		off := Offset(Jitter(s, 30*time.Second, now), "ns/instance-"+string(rune('a'+i%26)), "backup")
		_ = Decide(s, last, since, now, off, time.Hour)
	}
}
