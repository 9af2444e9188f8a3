package compile

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/expr"
	"operetta.dev/operetta/internal/schedule"
)

// Schedule is a compiled schedule: its cron schedule parsed once, or the
// expression each instance's is rendered from.
type Schedule struct {
	Name, Plan string
	// Text and Cron are the schedule, when the same for every instance;
	// Expr renders each instance's otherwise (a string, "" for none).
	Text     string
	Cron     cron.Schedule
	Expr     *expr.Template
	TimeZone string
	// Selector picks the instances it runs on (nil: all).
	Selector labels.Selector
	// Replace: a run due while this schedule's own run of the plan goes on
	// starts the plan again; otherwise it is skipped.
	Replace  bool
	Deadline time.Duration
	Suspend  bool
	Jitter   time.Duration
	// MinInterval is the shortest period an instance's own schedule may
	// have.
	MinInterval time.Duration
}

// defaultMinInterval bounds an instance's own schedule when the Framework
// does not say.
const defaultMinInterval = time.Minute

// compileSchedules checks spec.schedules and compiles them into out.
func compileSchedules(schedules []v1alpha1.Schedule, env *expr.Env, out *Framework, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, s := range schedules {
		sp := path.Index(i)
		errs = append(errs, uniqueName(seen, s.Name, sp.Child("name"), "schedule")...)
		for _, msg := range validation.IsDNS1123Label(s.Name) {
			errs = append(errs, field.Invalid(sp.Child("name"), s.Name, msg))
		}
		c := &Schedule{Name: s.Name, Plan: s.Plan, TimeZone: s.TimeZone, Suspend: s.Suspend,
			Replace: s.ConcurrencyPolicy == v1alpha1.ReplaceConcurrent}
		plan, ok := out.Plans[s.Plan]
		if !ok {
			errs = append(errs, field.NotFound(sp.Child("plan"), s.Plan))
		}
		if c.Replace && ok {
			if t := uncuttable(plan, out); t != "" {
				errs = append(errs, field.Invalid(sp.Child("concurrencyPolicy"), s.ConcurrencyPolicy,
					fmt.Sprintf("plan %s has task %s, which runs a pod or an instance that operetta cannot cut and start again safely: use Forbid", s.Plan, t)))
			}
		}
		if s.TimeZone != "" {
			if _, err := time.LoadLocation(s.TimeZone); err != nil {
				errs = append(errs, field.Invalid(sp.Child("timeZone"), s.TimeZone, "not a time zone: "+err.Error()))
			}
		}
		switch {
		case strings.TrimSpace(s.Schedule) == "":
			errs = append(errs, field.Required(sp.Child("schedule"), `a cron schedule, for example "0 2 * * *", or an expression over the instance, "${instance.spec.backupSchedule}"`))
		case strings.Contains(s.Schedule, "${"):
			tpl, schema, terrs := env.CompileValue(s.Schedule, sp.Child("schedule"))
			errs = append(errs, expressionErrors(terrs)...)
			if len(terrs) == 0 && schema.Type != "string" {
				errs = append(errs, field.Invalid(sp.Child("schedule"), s.Schedule, fmt.Sprintf("the expression's type is %s; it must give the schedule as a string", schema.Type)))
			}
			c.Expr = tpl
		default:
			cs, err := schedule.Parse(s.Schedule, s.TimeZone)
			if err != nil {
				errs = append(errs, field.Invalid(sp.Child("schedule"), s.Schedule, err.Error()))
			}
			c.Text, c.Cron = s.Schedule, cs
		}
		if s.Selector != nil {
			sel, err := metav1.LabelSelectorAsSelector(s.Selector)
			if err != nil {
				errs = append(errs, field.Invalid(sp.Child("selector"), s.Selector.String(), err.Error()))
			}
			c.Selector = sel
		}
		if d := s.StartingDeadlineSeconds; d != nil {
			c.Deadline = time.Duration(*d) * time.Second
		}
		c.MinInterval = defaultMinInterval
		if m := s.MinInterval; m != nil {
			if m.Duration <= 0 {
				errs = append(errs, field.Invalid(sp.Child("minInterval"), m.Duration.String(), "must be positive, for example 1m"))
			}
			c.MinInterval = m.Duration
		}
		if j := s.Jitter; j != nil {
			if j.Duration < 0 {
				errs = append(errs, field.Invalid(sp.Child("jitter"), j.Duration.String(), "must not be negative"))
			}
			c.Jitter = j.Duration
		}
		out.Schedules = append(out.Schedules, c)
	}
	return errs
}

// uncuttable names a task of plan that cannot be cut and started again
// safely: a Pipe task's pod, or an Instance task's instance, would be left
// half done. "" if every task re-applies or deletes what it names, from
// the start, idempotently.
func uncuttable(plan v1alpha1.Plan, out *Framework) string {
	for _, phase := range plan.Phases {
		for _, step := range phase.Steps {
			for _, name := range step.Tasks {
				if t, ok := out.Tasks[name]; ok && (t.Kind == v1alpha1.TaskPipe || t.Kind == v1alpha1.TaskInstance) {
					return name
				}
			}
		}
	}
	return ""
}
