package cli

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"operetta.dev/operetta/api/v1alpha1"
)

// Colours of execution statuses on a terminal.
const (
	green  = "\x1b[32m"
	yellow = "\x1b[33m"
	red    = "\x1b[31m"
	reset  = "\x1b[0m"
)

// painter colours statuses, or leaves them plain when output is piped.
type painter bool

func (p painter) status(s v1alpha1.ExecutionStatus) string {
	if s == "" {
		s = v1alpha1.NeverRun
	}
	if !p {
		return string(s)
	}
	c := yellow
	switch s {
	case v1alpha1.Complete:
		c = green
	case v1alpha1.Error, v1alpha1.FatalError:
		c = red
	case v1alpha1.NeverRun:
		return string(s)
	}
	return c + string(s) + reset
}

// PlanTree writes the plans of an instance as a tree: the active plan first,
// then the others by when they last started; each with its phases and
// steps, their status, start, duration and message. now is when "running
// for" is counted to.
func PlanTree(w io.Writer, ref string, st v1alpha1.InstanceStatus, now time.Time, colour bool) {
	p := painter(colour)
	fmt.Fprintf(w, "%s", ref)
	if st.ActivePlan != "" {
		fmt.Fprintf(w, " (active plan: %s %s)", st.ActivePlan, p.status(st.ActivePlanStatus))
	}
	if c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionPaused); c != nil && c.Status == metav1.ConditionTrue {
		fmt.Fprintf(w, " PAUSED: %s", c.Message)
	}
	fmt.Fprintln(w)
	names := planOrder(st)
	if len(names) == 0 {
		fmt.Fprintln(w, "└── no plan has run yet")
		return
	}
	for i, name := range names {
		run := st.Plans[name]
		last := i == len(names)-1 && len(st.PlanQueue) == 0
		branch, indent := branches(last, "")
		fmt.Fprintf(w, "%sPlan %s %s%s%s%s\n", branch, name, p.status(run.Status), cause(run.Cause), timing(run.StartedAt, run.FinishedAt, now), message(run.Message))
		for j, phase := range run.Phases {
			pb, pi := branches(j == len(run.Phases)-1, indent)
			fmt.Fprintf(w, "%sPhase %s %s%s\n", pb, phase.Name, p.status(phase.Status), message(phase.Message))
			for k, step := range phase.Steps {
				sb, _ := branches(k == len(phase.Steps)-1, pi)
				fmt.Fprintf(w, "%sStep %s %s%s%s\n", sb, step.Name, p.status(step.Status), timing(step.StartedAt, step.FinishedAt, now), message(step.Message))
			}
		}
	}
	if len(st.PlanQueue) > 0 {
		fmt.Fprintf(w, "└── queued: %s\n", strings.Join(st.PlanQueue, ", "))
	}
	for _, s := range st.Schedules {
		fmt.Fprintf(w, "Schedule %s (%s): %s\n", s.Name, s.Schedule, scheduleLine(s, now))
	}
	for _, t := range st.Triggers {
		fmt.Fprintf(w, "Trigger %s (%s): %s\n", t.Name, t.Watching, triggerLine(t))
	}
}

// triggerLine says what a trigger last did: the change it last acted on,
// or that it has seen none since it first looked.
func triggerLine(t v1alpha1.TriggerStatus) string {
	switch {
	case t.LastOutcome == v1alpha1.TriggerInvalid:
		return "invalid; " + t.Message
	case t.LastTriggerTime == nil:
		return "no change seen yet"
	}
	last := fmt.Sprintf("last change %s %s", t.LastTriggerTime.UTC().Format(time.RFC3339), strings.ToLower(string(t.LastOutcome)))
	if t.LastOutcome == v1alpha1.TriggerStarted {
		last += " run " + string(t.LastRunUID)
	}
	if t.Message != "" {
		last += "; " + t.Message
	}
	return last
}

// scheduleLine says where a schedule stands: its last time and outcome,
// and its next time.
func scheduleLine(s v1alpha1.ScheduleStatus, now time.Time) string {
	var parts []string
	if s.LastScheduleTime != nil {
		last := fmt.Sprintf("last %s %s", s.LastScheduleTime.UTC().Format(time.RFC3339), strings.ToLower(string(s.LastOutcome)))
		if s.LastOutcome == v1alpha1.ScheduleStarted {
			last += " run " + string(s.LastRunUID)
		}
		parts = append(parts, last)
	} else if s.LastOutcome == v1alpha1.ScheduleInvalid {
		parts = append(parts, "invalid")
	}
	if s.Message != "" {
		parts = append(parts, s.Message)
	}
	switch {
	case s.NextScheduleTime != nil:
		parts = append(parts, fmt.Sprintf("next %s (in %s)", s.NextScheduleTime.UTC().Format(time.RFC3339), s.NextScheduleTime.Sub(now).Round(time.Second)))
	case s.LastOutcome != v1alpha1.ScheduleInvalid:
		parts = append(parts, "suspended")
	}
	return strings.Join(parts, "; ")
}

// cause says what started a run, if its status says.
func cause(c string) string {
	if c == "" {
		return ""
	}
	return " (" + c + ")"
}

// PlanHistory writes one line per plan the instance ran: its last run's
// status, when it started and how long it took.
func PlanHistory(w io.Writer, st v1alpha1.InstanceStatus, now time.Time, colour bool) {
	p := painter(colour)
	rows := [][]string{{"PLAN", "STATUS", "STARTED", "DURATION", "RUN", "CAUSE", "MESSAGE"}}
	for _, name := range planOrder(st) {
		run := st.Plans[name]
		started, took := "-", "-"
		if run.StartedAt != nil {
			started = run.StartedAt.UTC().Format(time.RFC3339)
			took = duration(run.StartedAt, run.FinishedAt, now)
		}
		rows = append(rows, []string{name, p.status(run.Status), started, took, string(run.UID), orDash(run.Cause), run.Message})
	}
	for _, q := range st.PlanQueue {
		rows = append(rows, []string{q, "QUEUED", "-", "-", "-", orDash(st.QueuedCauses[q]), ""})
	}
	table(w, rows)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// planOrder is the active plan, then the others, latest start first.
func planOrder(st v1alpha1.InstanceStatus) []string {
	var names []string
	for name := range st.Plans {
		if name != st.ActivePlan {
			names = append(names, name)
		}
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := st.Plans[names[i]].StartedAt, st.Plans[names[j]].StartedAt
		if a == nil || b == nil || a.Equal(b) {
			return names[i] < names[j]
		}
		return b.Before(a)
	})
	if _, ok := st.Plans[st.ActivePlan]; ok {
		names = append([]string{st.ActivePlan}, names...)
	}
	return names
}

func branches(last bool, indent string) (branch, next string) {
	if last {
		return indent + "└── ", indent + "    "
	}
	return indent + "├── ", indent + "│   "
}

func timing(start, finish *metav1.Time, now time.Time) string {
	if start == nil {
		return ""
	}
	s := ", started " + start.UTC().Format(time.RFC3339)
	if finish != nil {
		return s + ", took " + duration(start, finish, now)
	}
	return s + ", running for " + duration(start, nil, now)
}

func duration(start, finish *metav1.Time, now time.Time) string {
	end := now
	if finish != nil {
		end = finish.Time
	}
	return end.Sub(start.Time).Round(time.Second).String()
}

func message(m string) string {
	if m == "" {
		return ""
	}
	return ": " + m
}

// table writes rows in aligned columns, the way kubectl get does.
func table(w io.Writer, rows [][]string) {
	widths := map[int]int{}
	for _, r := range rows {
		for i, c := range r {
			if n := visibleLen(c); n > widths[i] {
				widths[i] = n
			}
		}
	}
	for _, r := range rows {
		var b strings.Builder
		for i, c := range r {
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-visibleLen(c)+3))
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

// visibleLen is a cell's width without its colour codes.
func visibleLen(s string) int {
	for _, c := range []string{green, yellow, red, reset} {
		s = strings.ReplaceAll(s, c, "")
	}
	return len([]rune(s))
}
