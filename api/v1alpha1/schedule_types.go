package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Schedule runs a plan on every instance (or those its selector picks) at
// the times of a cron schedule, as a CronJob runs a Job.
type Schedule struct {
	// Name identifies the schedule in instances' status and events.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// Plan is the plan it runs.
	Plan string `json:"plan"`

	// Schedule is when, in a CronJob's syntax: five fields, or @hourly,
	// @daily, @every 6h...; CRON_TZ=<zone> in front sets its time zone. It
	// may be an expression over the instance, "${instance.spec.backupSchedule}":
	// each instance then has its own, and one whose value is "" has none.
	Schedule string `json:"schedule"`

	// TimeZone of the schedule, an IANA name such as Europe/Berlin; UTC
	// if unset.
	// +optional
	TimeZone string `json:"timeZone,omitempty"`

	// Selector picks the instances it runs on, by their labels; all if
	// unset.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`

	// ConcurrencyPolicy says what a run due while a plan runs on the
	// instance does. Forbid (the default) skips it, with an event. Replace
	// starts the plan again when it is this schedule's own run of it that
	// is still going; it is refused for a plan with a Pipe or Instance
	// task, which operetta cannot cut and start again safely.
	// +kubebuilder:validation:Enum=Forbid;Replace
	// +kubebuilder:default=Forbid
	// +optional
	ConcurrencyPolicy ConcurrencyPolicy `json:"concurrencyPolicy,omitempty"`

	// StartingDeadlineSeconds: a run that cannot start within that many
	// seconds of its time (the manager was down, say) is missed, with an
	// event, rather than started late. Unset: a late run starts whenever
	// it can; still at most one for all the times that passed.
	// +kubebuilder:validation:Minimum=0
	// +optional
	StartingDeadlineSeconds *int64 `json:"startingDeadlineSeconds,omitempty"`

	// Suspend stops new runs; one already started goes on.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// MinInterval bounds how often a schedule an instance gives itself
	// (an expression) may run: one whose times come closer than this is
	// refused for that instance (Invalid). 1m if unset: an instance's
	// author is not trusted with the manager's time.
	// +optional
	MinInterval *metav1.Duration `json:"minInterval,omitempty"`

	// Jitter spreads the instances' runs over a window after each time,
	// each instance at its own fixed place in it, so a fleet does not start
	// in the same second. It is capped at half the schedule's period.
	// +optional
	Jitter *metav1.Duration `json:"jitter,omitempty"`
}

// ConcurrencyPolicy is what a scheduled run due while a plan runs does.
type ConcurrencyPolicy string

// The concurrency policies.
const (
	ForbidConcurrent  ConcurrencyPolicy = "Forbid"
	ReplaceConcurrent ConcurrencyPolicy = "Replace"
)

// ScheduleStatus is where one schedule stands on an instance.
type ScheduleStatus struct {
	// Name of the schedule.
	Name string `json:"name"`
	// Schedule in effect on this instance (its own, if an expression).
	// +optional
	Schedule string `json:"schedule,omitempty"`
	// Since is when the instance first had the schedule: times before it
	// are not its to run.
	// +optional
	Since *metav1.Time `json:"since,omitempty"`
	// LastScheduleTime is the scheduled time of the last run started,
	// skipped or missed.
	// +optional
	LastScheduleTime *metav1.Time `json:"lastScheduleTime,omitempty"`
	// LastRunUID is the plan run the schedule last started; the plan's
	// status has its result while it is the plan's last run.
	// +optional
	LastRunUID types.UID `json:"lastRunUID,omitempty"`
	// LastOutcome of the last scheduled time: Started, Skipped, Missed or
	// Invalid.
	// +optional
	LastOutcome ScheduleOutcome `json:"lastOutcome,omitempty"`
	// Message says why it was skipped, missed or invalid.
	// +optional
	Message string `json:"message,omitempty"`
	// NextScheduleTime is when the next run is due, its jitter included.
	// +optional
	NextScheduleTime *metav1.Time `json:"nextScheduleTime,omitempty"`
}

// ScheduleOutcome is what became of a scheduled time.
type ScheduleOutcome string

// The outcomes of a scheduled time.
const (
	ScheduleStarted ScheduleOutcome = "Started"
	ScheduleSkipped ScheduleOutcome = "Skipped"
	ScheduleMissed  ScheduleOutcome = "Missed"
	ScheduleInvalid ScheduleOutcome = "Invalid"
)
