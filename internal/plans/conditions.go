package plans

import (
	"fmt"
	"strings"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/conditions"
)

// ChildHealth is what the children of an instance whose plans are done show
// now: each child that is not healthy, and each that failed for good,
// described with its kind and name.
type ChildHealth struct {
	NotReady, Failed []string
}

// SetConditions derives Ready, Reconciling and Stalled from the active plan
// and, once it is complete, from the children's health, the way kstatus
// reads them: Reconciling and Stalled are present only while true. Messages
// depend only on the status and on which children are unhealthy, never on
// how far they got, so they do not flap.
func SetConditions(st *v1alpha1.InstanceStatus, generation int64, children ChildHealth) {
	plan := st.Plans[st.ActivePlan]
	set := func(state conditions.State, reason conditions.Reason, msg string) {
		conditions.Set(&st.Conditions, generation, state, reason, msg)
	}
	what := fmt.Sprintf("plan %s", st.ActivePlan)
	detail := func(state string) string {
		if plan.Message == "" {
			return what + " " + state
		}
		return what + " " + state + ": " + plan.Message
	}
	switch plan.Status {
	case v1alpha1.Complete:
		switch {
		case len(children.Failed) > 0:
			msg := what + " is complete, but a child failed: " + strings.Join(children.Failed, "; ")
			if len(children.NotReady) > 0 {
				msg += "; not ready: " + strings.Join(children.NotReady, "; ")
			}
			set(conditions.Stalled, conditions.ChildFailed, msg)
		case len(children.NotReady) > 0:
			set(conditions.Working, conditions.ChildNotReady, what+" is complete, but not every child is ready: "+strings.Join(children.NotReady, "; "))
		default:
			set(conditions.Ready, conditions.Succeeded, what+" is complete")
		}
	case v1alpha1.FatalError:
		msg := detail("failed")
		if st.ActivePlan == v1alpha1.PlanCleanup {
			msg += "; to delete the instance without cleanup, annotate it " + v1alpha1.AnnotationSkipCleanup + `="true"`
		}
		set(conditions.Stalled, conditions.Failed, msg)
	case v1alpha1.Error:
		set(conditions.Working, conditions.Retrying, detail("is retrying"))
	default:
		set(conditions.Working, conditions.Progressing, detail("is in progress"))
	}
}
