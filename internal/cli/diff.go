package cli

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"text/tabwriter"

	"github.com/pmezard/go-difflib/difflib"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"operetta.dev/operetta/internal/tasks"
)

// ExitError is an error that ends the command with its own exit code, as
// kubectl diff's do: 1 for differences found, more for an error.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode is the exit code err should end the command with.
func ExitCode(err error) int {
	var exit *ExitError
	if errors.As(err, &exit) {
		return exit.Code
	}
	return 1
}

// diffParallel is how many instances diff previews at once.
const diffParallel = 16

func (o *options) diffCommand() *cobra.Command {
	var file string
	var revision int64
	var summary bool
	cmd := &cobra.Command{
		Use:   "diff (-f FILE | FRAMEWORK --revision N) [--summary]",
		Short: "Preview what applying a Framework would do to every instance, against the live cluster, writing nothing",
		Long: "diff says what applying the Framework in FILE (or making a kept revision the Framework's spec again, as\n" +
			"rollout undo --to-revision N would) would do: whether the controller would refuse it (compile errors, the\n" +
			"breaking-change gate), the Framework's and its CRD's changes, and for every instance of its kind the plans it\n" +
			"would run and what they would do to each child: changed fields, children created, deleted or pruned, as the\n" +
			"API server answers server-side dry runs of the controller's applies. Waits and Pipe pods are named, not run.\n" +
			"Output is kubectl diff's: one unified diff per object, LIVE against MERGED; exit status 0 for no change, 1 for\n" +
			"changes, 2 for an error or a change the controller would refuse. --summary prints one line per instance instead.\n" +
			"It needs the rights a dry run needs: those of the writes it previews.",
		Example: "  kubectl operetta diff -f examples/zookeeper/framework.yaml\n" +
			"  kubectl operetta diff -f framework.yaml --summary\n" +
			"  kubectl operetta diff zookeeper --revision 1",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			err := o.diff(cmd, file, args, revision, summary)
			var exit *ExitError
			if errors.As(err, &exit) && exit.Code == 1 {
				cmd.SilenceErrors = true // differences are no error to print
			}
			return err
		},
	}
	cmd.Flags().StringVarP(&file, "filename", "f", "", "the file holding the Framework to preview")
	cmd.Flags().Int64Var(&revision, "revision", 0, "preview going back to this kept revision of FRAMEWORK instead")
	cmd.Flags().BoolVar(&summary, "summary", false, "one line per instance instead of the diffs")
	return cmd
}

func (o *options) diff(cmd *cobra.Command, file string, args []string, revision int64, summary bool) error {
	fail := func(err error) error { return &ExitError{Code: 2, Err: err} }
	var name string
	var write frameworkWrite
	switch {
	case file != "" && (revision != 0 || len(args) > 0):
		return fail(fmt.Errorf("-f and FRAMEWORK --revision: give one"))
	case file != "":
		// Checked offline first: its errors name the file.
		_, fw, err := o.compileFile(file)
		if err != nil {
			return fail(err)
		}
		docs, err := readDocuments(file, o.streams.In)
		if err != nil {
			return fail(err)
		}
		for _, d := range docs {
			if isFramework(d.obj) {
				name, write = fw.Name, applyFile(d.obj)
			}
		}
	case revision != 0 && len(args) == 1:
		_, live, revs, err := o.frameworkRevisions(cmd.Context(), args[0])
		if err != nil {
			return fail(err)
		}
		back, err := revisionSpec(live, revs, revision)
		if err != nil {
			return fail(err)
		}
		name, write = back.Name, updateTo(back)
	default:
		return fail(fmt.Errorf("name what to preview: -f FILE, or FRAMEWORK --revision N"))
	}
	c, err := o.cluster()
	if err != nil {
		return fail(err)
	}
	p, err := previewer{c: c, parallel: diffParallel, namespace: o.namespaceFlag()}.preview(cmd.Context(), name, write)
	if err != nil {
		return fail(err)
	}
	if len(p.refused) > 0 {
		return fail(errors.New(strings.Join(p.refused, "\n  ")))
	}
	out := o.streams.Out
	if summary {
		err = writeSummary(out, p)
	} else {
		err = writeDiffs(out, p)
	}
	if err != nil {
		return fail(err)
	}
	var failed []string
	for _, i := range p.instances {
		if i.err != nil {
			failed = append(failed, fmt.Sprintf("%s %s", i.key, i.problem()))
		}
	}
	switch {
	case len(failed) > 0:
		return fail(fmt.Errorf("%d of %d instances would fail or could not be previewed:\n  %s", len(failed), len(p.instances), strings.Join(failed, "\n  ")))
	case p.changed():
		return &ExitError{Code: 1}
	}
	return nil
}

// writeDiffs writes, for the Framework, its CRD and every child, a unified
// diff of the object as it is (LIVE) and as it would be (MERGED), as
// kubectl diff does, each instance's introduced by a comment line naming
// its plans.
func writeDiffs(w io.Writer, p *fleetPreview) error {
	fmt.Fprintf(w, "# %s\n", p.summary)
	for _, c := range p.objects {
		if err := writeDiff(w, c); err != nil {
			return err
		}
	}
	for _, i := range p.instances {
		if len(i.plans) == 0 && i.err == nil {
			continue
		}
		fmt.Fprintf(w, "# %s %s\n", i.key, i.headline())
		for _, n := range i.notes {
			fmt.Fprintf(w, "#   %s\n", n)
		}
		for _, c := range i.changes {
			if c.Refused != "" {
				fmt.Fprintf(w, "#   %s: refused: %s\n", c.By, c.Refused)
				continue
			}
			if err := writeDiff(w, c); err != nil {
				return err
			}
		}
	}
	return nil
}

// headline says what a change does to an instance, in a line.
func (i instancePreview) headline() string {
	if i.err != nil {
		return fmt.Sprintf("runs plan %s: %s", strings.Join(i.plans, ", then "), i.problem())
	}
	var b strings.Builder
	if i.from != 0 && i.from != i.to {
		fmt.Fprintf(&b, "revision %d -> %d: ", i.from, i.to)
	}
	fmt.Fprintf(&b, "runs plan %s", strings.Join(i.plans, ", then "))
	if i.waits != "" {
		fmt.Fprintf(&b, " once let through (%s)", i.waits)
	}
	return b.String()
}

// writeSummary writes one line per instance.
func writeSummary(w io.Writer, p *fleetPreview) error {
	fmt.Fprintf(w, "# %s\n", p.summary)
	t := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(t, "NAMESPACE\tNAME\tREVISION\tPLANS\tCREATED\tCHANGED\tDELETED\tPRUNED\tNOTE")
	for _, i := range p.instances {
		counts := i.counts()
		revision := fmt.Sprint(i.from)
		if i.from != i.to && len(i.plans) > 0 {
			revision = fmt.Sprintf("%d->%d", i.from, i.to)
		}
		note := i.waits
		switch {
		case i.err != nil:
			note = i.problem()
		case counts.refused > 0:
			note = strings.TrimPrefix(note+"; ", "; ") + fmt.Sprintf("%d children refused (another's)", counts.refused)
		}
		plans := strings.Join(i.plans, ",")
		if plans == "" {
			plans = "-"
		}
		fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", i.key.Namespace, i.key.Name, revision, plans, counts.created, counts.changed, counts.deleted, counts.pruned, note)
	}
	return t.Flush()
}

type changeCounts struct{ created, changed, deleted, pruned, refused int }

func (i instancePreview) counts() changeCounts {
	var n changeCounts
	for _, c := range i.changes {
		switch {
		case c.Refused != "":
			n.refused++
		case c.Before == nil:
			n.created++
		case c.After == nil && strings.HasPrefix(c.By, "pruned"):
			n.pruned++
		case c.After == nil:
			n.deleted++
		case differs(c):
			n.changed++
		}
	}
	return n
}

// differs says whether a change changes anything.
func differs(c tasks.Change) bool {
	if c.Before == nil || c.After == nil {
		return c.Before != c.After
	}
	return !reflect.DeepEqual(comparable(c.Before), comparable(c.After))
}

// comparable is obj as a diff compares it: without managed fields, which
// record who wrote when, and client-side apply's record of the last apply.
func comparable(obj *unstructured.Unstructured) map[string]any {
	if obj == nil {
		return nil
	}
	m := obj.DeepCopy().Object
	unstructured.RemoveNestedField(m, "metadata", "managedFields")
	// Client-side apply's record, which a server-side apply rewrites too.
	unstructured.RemoveNestedField(m, "metadata", "annotations", lastApplied)
	if a, _, _ := unstructured.NestedMap(m, "metadata", "annotations"); len(a) == 0 {
		unstructured.RemoveNestedField(m, "metadata", "annotations")
	}
	return m
}

const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// writeDiff writes the unified diff of one object, if it changes.
func writeDiff(w io.Writer, c tasks.Change) error {
	if !differs(c) {
		return nil
	}
	before, after := comparable(c.Before), comparable(c.After)
	if c.Before == nil {
		// A create's answer carries the create-only precondition sent.
		unstructured.RemoveNestedField(after, "metadata", "resourceVersion")
	}
	if isSecret(c) {
		maskSecret(before, after)
	}
	name := objectFileName(c)
	from, err := yamlLines(before)
	if err != nil {
		return err
	}
	to, err := yamlLines(after)
	if err != nil {
		return err
	}
	text, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{A: from, B: to, FromFile: "LIVE/" + name, ToFile: "MERGED/" + name, Context: 3})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "diff -u -N LIVE/%s MERGED/%s\n%s", name, name, text)
	return err
}

// objectFileName names an object as kubectl diff names its files:
// group.version.Kind.namespace.name.
func objectFileName(c tasks.Change) string {
	obj := changed(c)
	gvk := obj.GroupVersionKind()
	parts := []string{}
	if gvk.Group != "" {
		parts = append(parts, gvk.Group)
	}
	parts = append(parts, gvk.Version, gvk.Kind)
	if ns := obj.GetNamespace(); ns != "" {
		parts = append(parts, ns)
	}
	return strings.Join(append(parts, obj.GetName()), ".")
}

func yamlLines(m map[string]any) ([]string, error) {
	if m == nil {
		return nil, nil
	}
	b, err := yaml.Marshal(m)
	if err != nil {
		return nil, err
	}
	return difflib.SplitLines(strings.TrimSuffix(string(b), "\n")), nil
}

// changed is the object a change is of: as it will be, or as it was if it
// goes.
func changed(c tasks.Change) *unstructured.Unstructured {
	if c.After != nil {
		return c.After
	}
	return c.Before
}

func isSecret(c tasks.Change) bool {
	obj := changed(c)
	gvk := obj.GroupVersionKind()
	return gvk.Group == "" && gvk.Kind == "Secret"
}

// maskSecret replaces a Secret's values as kubectl diff does: "***" where
// before and after agree, "*** (before)" and "*** (after)" where they
// differ, so a diff never prints one.
func maskSecret(before, after map[string]any) {
	for _, field := range []string{"data", "stringData"} {
		b, _ := before[field].(map[string]any)
		a, _ := after[field].(map[string]any)
		for k, v := range b {
			if av, ok := a[k]; ok && reflect.DeepEqual(av, v) {
				b[k], a[k] = "***", "***"
				continue
			}
			b[k] = "*** (before)"
		}
		for k, v := range a {
			if v != "***" {
				a[k] = "*** (after)"
			}
		}
	}
}
