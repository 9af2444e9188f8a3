package cli

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/crdgen"
	"operetta.dev/operetta/internal/reconcile/instance"
)

func (o *options) rolloutStatusCommand() *cobra.Command {
	var timeout time.Duration
	var selector string
	cmd := &cobra.Command{
		Use:   "status FRAMEWORK [-l SELECTOR] [--timeout D]",
		Short: "Wait until the revision rolling out has reached the instances, as kubectl rollout status does",
		Long: "status follows the rollout of the Framework's revision until every instance (in -n's namespace, else in all;\n" +
			"those -l selects, as for a canary) runs it with its plans done. Instances held by the operetta.dev/paused\n" +
			"annotation are named and not waited for. It fails when the rollout halts (spec.rollout.maxFailures or\n" +
			"progressDeadline), when an instance fails on the revision, or when the Framework is Stalled.",
		Example: "  kubectl operetta rollout status zookeeper\n  kubectl operetta rollout status zookeeper -n team-a -l track=canary --timeout=5m",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sel, err := labels.Parse(selector)
			if err != nil {
				return fmt.Errorf("-l %q: %w", selector, err)
			}
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			return o.rolloutStatus(ctx, args[0], sel)
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "give up waiting after this long (0: never)")
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "follow only the instances with these labels")
	return cmd
}

// rolloutStatus prints the rollout's progress whenever it changes, until
// it is done (nil), fails or halts (an error).
func (o *options) rolloutStatus(ctx context.Context, name string, sel labels.Selector) error {
	c, err := o.cluster()
	if err != nil {
		return err
	}
	last := ""
	for {
		done, line, err := o.rolloutStep(ctx, c, name, sel)
		if err != nil {
			return err
		}
		if line != last {
			fmt.Fprintln(o.streams.Out, line)
			last = line
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("the rollout of Framework %s is not done after the timeout: %s", name, line)
			}
			return ctx.Err()
		case <-time.After(o.poll):
		}
	}
}

// rolloutStep looks once: whether the rollout is done, and what to say.
func (o *options) rolloutStep(ctx context.Context, c *Cluster, name string, sel labels.Selector) (bool, string, error) {
	fw := &v1alpha1.Framework{}
	if err := c.Client.Get(ctx, client.ObjectKey{Name: name}, fw); err != nil {
		return false, "", err
	}
	if s := meta.FindStatusCondition(fw.Status.Conditions, v1alpha1.ConditionStalled); s != nil && s.Status == metav1.ConditionTrue {
		return false, "", fmt.Errorf("framework %s is Stalled (%s): %s", name, s.Reason, s.Message)
	}
	if fw.Status.ObservedGeneration < fw.Generation || fw.Status.Rollout == nil {
		return false, fmt.Sprintf("Waiting for the controller to take generation %d of Framework %s", fw.Generation, name), nil
	}
	rev := fw.Status.Rollout.Generation
	items, err := o.instancesOf(ctx, c, fw, sel)
	if err != nil {
		return false, "", err
	}
	var updated, failed, held []string
	for i := range items {
		inst := &items[i]
		st := instance.ReadStatus(inst)
		on := st.FrameworkRevision == v1alpha1.RevisionName(name, rev) && st.ObservedGeneration == inst.GetGeneration() && len(st.PlanQueue) == 0
		switch {
		case on && st.ActivePlanStatus == v1alpha1.Complete:
			updated = append(updated, inst.GetNamespace()+"/"+inst.GetName())
		case on && st.ActivePlanStatus == v1alpha1.FatalError:
			failed = append(failed, inst.GetNamespace()+"/"+inst.GetName())
		case inst.GetAnnotations()[v1alpha1.AnnotationPaused] == "true":
			held = append(held, inst.GetNamespace()+"/"+inst.GetName())
		}
	}
	if len(failed) > 0 {
		sort.Strings(failed)
		return false, "", fmt.Errorf("the rollout of revision %d of Framework %s failed on %d instances: %s", rev, name, len(failed), strings.Join(failed, ", "))
	}
	counted := fmt.Sprintf("%d of %d instances updated", len(updated), len(items))
	if len(held) > 0 {
		sort.Strings(held)
		counted += fmt.Sprintf(", %d held by %s (%s)", len(held), v1alpha1.AnnotationPaused, strings.Join(held, ", "))
	}
	if len(updated)+len(held) == len(items) {
		return true, fmt.Sprintf("revision %d of Framework %s rolled out: %s", rev, name, counted), nil
	}
	line := fmt.Sprintf("Waiting for revision %d of Framework %s: %s", rev, name, counted)
	if fw.Spec.Rollout.Paused {
		line += " (the rollout is paused)"
	}
	return false, line, nil
}

// instancesOf lists fw's instances that sel selects: in the namespace -n
// names, else in all.
func (o *options) instancesOf(ctx context.Context, c *Cluster, fw *v1alpha1.Framework, sel labels.Selector) ([]unstructured.Unstructured, error) {
	names := crdgen.NamesOf(fw)
	gvk := schema.GroupVersionKind{Group: names.Group, Version: names.Version, Kind: names.Kind}
	// InNamespace("") is every namespace.
	return instance.List(ctx, c.Client, gvk, client.MatchingLabelsSelector{Selector: sel}, client.InNamespace(o.namespaceFlag()))
}
