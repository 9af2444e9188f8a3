package cli

import (
	"context"
	"fmt"
	"sort"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	utilduration "k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
)

func (o *options) rolloutCommand() *cobra.Command {
	rollout := &cobra.Command{
		Use:   "rollout",
		Short: "Pause, resume, list and undo the rollout of a Framework's revisions, as kubectl rollout does for a Deployment",
	}
	gate := func(use, short string, paused bool) *cobra.Command {
		return &cobra.Command{
			Use: use + " FRAMEWORK", Short: short, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := o.cluster()
				if err != nil {
					return err
				}
				patch := fmt.Sprintf(`{"spec":{"rollout":{"paused":%t}}}`, paused)
				fw := &v1alpha1.Framework{}
				fw.Name = args[0]
				if err := c.Client.Patch(cmd.Context(), fw, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
					return err
				}
				fmt.Fprintf(o.streams.Out, "framework/%s %sd\n", args[0], use)
				return nil
			},
		}
	}
	history := &cobra.Command{
		Use: "history FRAMEWORK", Short: "The revisions kept of a Framework, the one rolling out marked", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.rolloutHistory(cmd.Context(), args[0])
		},
	}
	var to int64
	undo := &cobra.Command{
		Use:   "undo FRAMEWORK [--to-revision N]",
		Short: "Make a kept revision the Framework's spec again (default: the one before the revision rolling out)",
		Long: "undo writes the chosen revision's spec back to the Framework, keeping its spec.rollout, revisionHistoryLimit and\n" +
			"deletionPolicy: a new generation, rolled out as any change. A GitOps tool that manages the Framework sees it drift\n" +
			"from its source (docs/gitops.md).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.rolloutUndo(cmd.Context(), args[0], to)
		},
	}
	undo.Flags().Int64Var(&to, "to-revision", 0, "the revision to go back to (kubectl operetta rollout history lists them)")
	rollout.AddCommand(gate("pause", "Admit no instance to a newer revision (spec.rollout.paused)", true),
		gate("resume", "Let the rollout go on", false), o.rolloutStatusCommand(), history, undo)
	return rollout
}

// frameworkRevisions reads Framework name and its revisions, oldest first.
func (o *options) frameworkRevisions(ctx context.Context, name string) (*Cluster, *v1alpha1.Framework, []v1alpha1.FrameworkRevision, error) {
	c, err := o.cluster()
	if err != nil {
		return nil, nil, nil, err
	}
	fw := &v1alpha1.Framework{}
	if err := c.Client.Get(ctx, client.ObjectKey{Name: name}, fw); err != nil {
		return nil, nil, nil, err
	}
	list := &v1alpha1.FrameworkRevisionList{}
	if err := c.Client.List(ctx, list, client.MatchingLabels{v1alpha1.LabelFramework: name}); err != nil {
		return nil, nil, nil, err
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Revision < list.Items[j].Revision })
	return c, fw, list.Items, nil
}

func (o *options) rolloutHistory(ctx context.Context, name string) error {
	_, fw, revs, err := o.frameworkRevisions(ctx, name)
	if err != nil {
		return err
	}
	running := int64(0)
	if fw.Status.Rollout != nil {
		running = fw.Status.Rollout.Generation
	}
	w := tabwriter.NewWriter(o.streams.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "REVISION\tAPP VERSION\tAGE\t")
	for _, r := range revs {
		mark := ""
		if r.Revision == running {
			mark = "rolling out"
			if ro := fw.Status.Rollout; ro != nil && ro.Updated+ro.Failed == ro.Total {
				mark = "current"
			}
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\n", r.Revision, r.Spec.AppVersion, utilduration.HumanDuration(o.now().Sub(r.CreationTimestamp.Time)), mark)
	}
	return w.Flush()
}

func (o *options) rolloutUndo(ctx context.Context, name string, to int64) error {
	c, fw, revs, err := o.frameworkRevisions(ctx, name)
	if err != nil {
		return err
	}
	running := fw.Generation
	if fw.Status.Rollout != nil {
		running = fw.Status.Rollout.Generation
	}
	if to == 0 {
		for _, r := range revs {
			if r.Revision < running {
				to = r.Revision // the newest before the running one
			}
		}
		if to == 0 {
			return fmt.Errorf("framework %s has no revision kept before %d to go back to", name, running)
		}
	}
	back, err := revisionSpec(fw, revs, to)
	if err != nil {
		return err
	}
	// The resourceVersion read: a Framework changed since is not
	// overwritten.
	if err := c.Client.Update(ctx, back); err != nil {
		return err
	}
	fmt.Fprintf(o.streams.Out, "framework/%s rolled back to revision %d (generation %d)\n", name, to, back.Generation)
	return nil
}

// revisionSpec is Framework fw with the spec of its kept revision n again,
// but its own spec.rollout, revisionHistoryLimit and deletionPolicy: how
// the change rolls out and what is kept stay as they are now.
func revisionSpec(fw *v1alpha1.Framework, revs []v1alpha1.FrameworkRevision, n int64) (*v1alpha1.Framework, error) {
	for _, r := range revs {
		if r.Revision != n {
			continue
		}
		back := fw.DeepCopy()
		back.Spec = *r.Spec.DeepCopy()
		back.Spec.Rollout, back.Spec.RevisionHistoryLimit, back.Spec.DeletionPolicy = fw.Spec.Rollout, fw.Spec.RevisionHistoryLimit, fw.Spec.DeletionPolicy
		return back, nil
	}
	return nil, fmt.Errorf("framework %s has no revision %d kept; kubectl operetta rollout history %s lists them", fw.Name, n, fw.Name)
}
