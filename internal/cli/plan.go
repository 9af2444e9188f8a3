package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/plans"
)

func (o *options) planCommand() *cobra.Command {
	var kind string
	plan := &cobra.Command{
		Use:   "plan",
		Short: "Show and trigger the plans of an instance",
	}
	plan.PersistentFlags().StringVarP(&kind, "kind", "k", "", "the instance's kind, when INSTANCE is a bare name")

	var output string
	status := &cobra.Command{
		Use:     "status INSTANCE",
		Short:   "The active and last plans of an instance, with their phases and steps",
		Example: "  kubectl operetta plan status kafka/events\n  kubectl operetta plan status events -k kafka -o yaml",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, st, err := o.instanceStatus(cmd.Context(), args[0], kind)
			if err != nil {
				return err
			}
			switch output {
			case "":
				PlanTree(o.streams.Out, t.ref(), st, o.now(), o.colour)
				return nil
			case "yaml", "json":
				return printPlans(o, output, st)
			}
			return fmt.Errorf("-o %q: want yaml or json, or nothing for the tree", output)
		},
	}
	status.Flags().StringVarP(&output, "output", "o", "", "yaml or json instead of the tree")

	history := &cobra.Command{
		Use:   "history INSTANCE",
		Short: "Every plan the instance ran: its last status, when, how long",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, st, err := o.instanceStatus(cmd.Context(), args[0], kind)
			if err != nil {
				return err
			}
			PlanHistory(o.streams.Out, st, o.now(), o.colour)
			return nil
		},
	}

	var wait bool
	var timeout time.Duration
	trigger := &cobra.Command{
		Use:     "trigger PLAN INSTANCE",
		Short:   "Run a plan of an instance now, through the operetta.dev/run-plan annotation",
		Example: "  kubectl operetta plan trigger backup kafka/events --wait",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			return o.trigger(ctx, args[0], args[1], kind, wait)
		},
	}
	trigger.Flags().BoolVar(&wait, "wait", false, "follow the plan until it completes; exit non-zero if it fails")
	trigger.Flags().DurationVar(&timeout, "timeout", 0, "give up waiting after this long (0: never)")

	plan.AddCommand(status, history, trigger)
	return plan
}

// instanceStatus finds the instance arg names and reads its status.
func (o *options) instanceStatus(ctx context.Context, arg, kind string) (target, v1alpha1.InstanceStatus, error) {
	c, err := o.cluster()
	if err != nil {
		return target{}, v1alpha1.InstanceStatus{}, err
	}
	t, err := c.find(ctx, arg, kind)
	if err != nil {
		return target{}, v1alpha1.InstanceStatus{}, err
	}
	st, err := t.status()
	return t, st, err
}

// printPlans prints the plan part of the status as YAML or JSON.
func printPlans(o *options, format string, st v1alpha1.InstanceStatus) error {
	view := struct {
		ActivePlan       string                         `json:"activePlan,omitempty"`
		ActivePlanStatus v1alpha1.ExecutionStatus       `json:"activePlanStatus,omitempty"`
		PlanQueue        []string                       `json:"planQueue,omitempty"`
		Plans            map[string]v1alpha1.PlanStatus `json:"plans,omitempty"`
	}{st.ActivePlan, st.ActivePlanStatus, st.PlanQueue, st.Plans}
	var b []byte
	var err error
	if format == "json" {
		b, err = json.MarshalIndent(view, "", "  ")
		b = append(b, '\n')
	} else {
		b, err = yaml.Marshal(view)
	}
	if err != nil {
		return err
	}
	_, err = o.streams.Out.Write(b)
	return err
}

// trigger writes the run-plan annotation with a fresh suffix, after checking
// the Framework has the plan, and with wait follows the run it starts.
func (o *options) trigger(ctx context.Context, plan, arg, kind string, wait bool) error {
	c, err := o.cluster()
	if err != nil {
		return err
	}
	t, err := c.find(ctx, arg, kind)
	if err != nil {
		return err
	}
	if t.framework == nil {
		// A namespace user may not read Frameworks: operetta checks the
		// plan instead, and --wait reports what it says.
		fmt.Fprintf(o.streams.ErrOut, "the Framework of %s cannot be read here, so operetta checks that it has plan %q\n", t.ref(), plan)
	} else if _, ok := t.framework.Spec.Plans[plan]; !ok {
		return fmt.Errorf("Framework %s has no plan %q; its plans are: %s", t.framework.Name, plan, strings.Join(planNames(t.framework), ", "))
	}
	before, err := t.status()
	if err != nil {
		return err
	}
	value := plan + "@" + o.now().UTC().Format("20060102T150405.000Z")
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{v1alpha1.AnnotationRunPlan: value}}})
	if err := c.Client.Patch(ctx, t.instance, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("annotating %s: %w", t.ref(), err)
	}
	fmt.Fprintf(o.streams.Out, "%s: plan %s triggered (%s=%s)\n", t.ref(), plan, v1alpha1.AnnotationRunPlan, value)
	if !wait {
		return nil
	}
	return o.follow(ctx, c, t, plan, value, before.Plans[plan].UID)
}

// follow prints the progress of the run of plan that value started, until
// it completes (nil) or fails for good, or operetta ran nothing for the
// request (an error).
func (o *options) follow(ctx context.Context, c *Cluster, t target, plan, value string, previous types.UID) error {
	p := &progress{plan: plan, value: value, previous: previous}
	last := ""
	for {
		if err := c.Client.Get(ctx, client.ObjectKeyFromObject(t.instance), t.instance); err != nil {
			return fmt.Errorf("reading %s: %w", t.ref(), err)
		}
		st, err := t.status()
		if err != nil {
			return err
		}
		run, line, err := p.next(st)
		if err != nil {
			return fmt.Errorf("%s: %w", t.ref(), err)
		}
		if line != last {
			fmt.Fprintf(o.streams.Out, "%s: %s\n", t.ref(), line)
			last = line
		}
		switch run.Status {
		case v1alpha1.Complete:
			return nil
		case v1alpha1.FatalError:
			return fmt.Errorf("plan %s of %s failed: %s", plan, t.ref(), run.Message)
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("plan %s of %s is not done after the timeout: %s", plan, t.ref(), line)
			}
			return ctx.Err()
		case <-time.After(o.poll):
		}
	}
}

// progress is what --wait knows of the run its request started. Once
// operetta has acted on the request it follows that run by its UID, so a
// later request (another trigger) cannot make it lose the run.
type progress struct {
	plan, value string
	previous    types.UID // the plan's last run before the request
	acted       bool      // operetta took the request
	run         types.UID // the run it started, once seen
}

// next reads a status: the run's status once it has started, the line to
// print, and an error when the request cannot lead to a run.
func (p *progress) next(st v1alpha1.InstanceStatus) (v1alpha1.PlanStatus, string, error) {
	if !p.acted {
		if st.LastRunPlan != p.value {
			return v1alpha1.PlanStatus{}, "waiting for operetta to act on the request", nil
		}
		p.acted = true
		if st.RunPlanError != "" {
			return v1alpha1.PlanStatus{}, "", fmt.Errorf("operetta ran nothing: %s", st.RunPlanError)
		}
	}
	current := st.Plans[p.plan]
	if p.run == "" {
		for i, q := range st.PlanQueue {
			if q == p.plan {
				return v1alpha1.PlanStatus{}, fmt.Sprintf("plan %s is queued (position %d) behind %s", p.plan, i+1, st.ActivePlan), nil
			}
		}
		if current.UID == "" || current.UID == p.previous {
			// The request was taken in the same write that starts or queues
			// its run: neither happened.
			return v1alpha1.PlanStatus{}, "", fmt.Errorf("operetta took the request and started no run of plan %s (the active plan %s %s)", p.plan, st.ActivePlan, st.ActivePlanStatus)
		}
		p.run = current.UID
	}
	if current.UID != p.run {
		return v1alpha1.PlanStatus{}, "", fmt.Errorf("run %s of plan %s was replaced by run %s before --wait saw it finish", p.run, p.plan, current.UID)
	}
	line := fmt.Sprintf("plan %s %s", p.plan, current.Status)
	for _, ph := range current.Phases {
		for _, s := range ph.Steps {
			if s.Status != v1alpha1.Complete {
				line += fmt.Sprintf(", phase %s, step %s %s", ph.Name, s.Name, s.Status)
				if s.Message != "" {
					line += ": " + s.Message
				}
				return current, line, nil
			}
		}
	}
	if current.Message != "" {
		line += ": " + current.Message
	}
	return current, line, nil
}

func planNames(fw *v1alpha1.Framework) []string {
	names := make([]string, 0, len(fw.Spec.Plans))
	for n := range fw.Spec.Plans {
		names = append(names, n)
	}
	sort.Strings(names)
	return plans.Order(names)
}
