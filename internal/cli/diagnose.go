package cli

import (
	"context"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/spf13/cobra"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
)

func (o *options) diagnoseCommand() *cobra.Command {
	var kind string
	var events int
	cmd := &cobra.Command{
		Use:   "diagnose INSTANCE",
		Short: "What a bug report needs: the instance, its Framework, its children's health, recent events",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.cluster()
			if err != nil {
				return err
			}
			t, err := c.find(cmd.Context(), args[0], kind)
			if err != nil {
				return err
			}
			return o.diagnose(cmd.Context(), c, t, events)
		},
	}
	cmd.Flags().StringVarP(&kind, "kind", "k", "", "the instance's kind, when INSTANCE is a bare name")
	cmd.Flags().IntVar(&events, "events", 20, "how many recent events to show")
	return cmd
}

func (o *options) diagnose(ctx context.Context, c *Cluster, t target, maxEvents int) error {
	w := o.streams.Out
	st, err := t.status()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "== %s %s/%s (generation %d, observed %d)\n", t.gvk.Kind, t.instance.GetNamespace(), t.instance.GetName(), t.instance.GetGeneration(), st.ObservedGeneration)
	writeConditions(w, st.Conditions)
	PlanTree(w, t.ref(), st, o.now(), o.colour)

	fmt.Fprintln(w, "\n== Framework")
	if t.framework == nil {
		fmt.Fprintln(w, "  not found")
	} else {
		fmt.Fprintf(w, "%s (generation %d, observed %d, app version %q)\n", t.framework.Name, t.framework.Generation, t.framework.Status.ObservedGeneration, t.framework.Spec.AppVersion)
		writeConditions(w, t.framework.Status.Conditions)
	}

	fmt.Fprintln(w, "\n== Children")
	names := map[string]bool{t.gvk.Kind + "/" + t.instance.GetName(): true}
	for _, item := range st.Inventory {
		names[item.Kind+"/"+item.Name] = true
		fmt.Fprintf(w, "  %s %s: %s\n", item.Kind, item.Name, o.childHealth(ctx, c, t, item))
	}
	if len(st.Inventory) == 0 {
		fmt.Fprintln(w, "  none recorded")
	}

	fmt.Fprintln(w, "\n== Recent events")
	evs, err := recentEvents(ctx, c, t, names)
	if err != nil {
		fmt.Fprintf(w, "  cannot list events: %v\n", err)
		return nil
	}
	if len(evs) > maxEvents {
		evs = evs[len(evs)-maxEvents:]
	}
	for _, e := range evs {
		fmt.Fprintf(w, "  %s  %-7s  %s/%s  %s: %s\n", eventTime(e).UTC().Format(time.RFC3339), e.Type, e.Regarding.Kind, e.Regarding.Name, e.Reason, e.Note)
	}
	if len(evs) == 0 {
		fmt.Fprintln(w, "  none")
	}
	return nil
}

func writeConditions(w io.Writer, conds []metav1.Condition) {
	if len(conds) == 0 {
		fmt.Fprintln(w, "  no conditions")
	}
	for _, c := range conds {
		fmt.Fprintf(w, "  %s=%s %s: %s\n", c.Type, c.Status, c.Reason, c.Message)
	}
}

// childHealth reads a child and says what kstatus makes of it.
func (o *options) childHealth(ctx context.Context, c *Cluster, t target, item v1alpha1.InventoryItem) string {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(item.APIVersion)
	u.SetKind(item.Kind)
	ns := item.Namespace
	if ns == "" && !item.Cluster {
		ns = t.instance.GetNamespace()
	}
	if err := c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: item.Name}, u); err != nil {
		if apierrors.IsNotFound(err) {
			return "MISSING (operetta puts it back once the plan is done)"
		}
		return "cannot read: " + err.Error()
	}
	res, err := status.Compute(u)
	if err != nil {
		return "health unknown: " + err.Error()
	}
	if res.Message == "" {
		return string(res.Status)
	}
	return fmt.Sprintf("%s (%s)", res.Status, res.Message)
}

// recentEvents lists the events about the instance, its children in its
// namespace and its Framework, oldest first; names holds "Kind/name" keys.
func recentEvents(ctx context.Context, c *Cluster, t target, names map[string]bool) ([]eventsv1.Event, error) {
	var out []eventsv1.Event
	list := &eventsv1.EventList{}
	if err := c.Client.List(ctx, list, client.InNamespace(t.instance.GetNamespace())); err != nil {
		return nil, err
	}
	for _, e := range list.Items {
		if names[e.Regarding.Kind+"/"+e.Regarding.Name] {
			out = append(out, e)
		}
	}
	if t.framework != nil {
		// Events about cluster-scoped objects are kept in "default".
		fwEvents := &eventsv1.EventList{}
		if err := c.Client.List(ctx, fwEvents, client.InNamespace(metav1.NamespaceDefault)); err == nil {
			for _, e := range fwEvents.Items {
				if e.Regarding.Kind == "Framework" && e.Regarding.Name == t.framework.Name {
					out = append(out, e)
				}
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return eventTime(out[i]).Before(eventTime(out[j])) })
	return out, nil
}

func eventTime(e eventsv1.Event) time.Time {
	switch {
	case e.Series != nil:
		return e.Series.LastObservedTime.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	case !e.DeprecatedLastTimestamp.IsZero():
		return e.DeprecatedLastTimestamp.Time
	}
	return e.CreationTimestamp.Time
}
