package cli

import (
	"context"
	"fmt"
	"sort"
	"sync"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/crdgen"
	"operetta.dev/operetta/internal/kube"
	"operetta.dev/operetta/internal/plans"
	"operetta.dev/operetta/internal/reconcile/instance"
	"operetta.dev/operetta/internal/revisions"
	"operetta.dev/operetta/internal/tasks"
)

// fleetPreview is what applying a Framework would do, read from the
// cluster without writing to it.
type fleetPreview struct {
	framework string
	// refused says why the controller would not serve it, with the field
	// errors or the breaking changes, one per line; nothing else is
	// previewed then.
	refused []string
	// summary says what becomes of the Framework: a new revision, the
	// same one, going back to an older one.
	summary string
	// objects are the Framework and its generated CRD, before and after.
	objects   []tasks.Change
	instances []instancePreview
}

// instancePreview is what the change does to one instance.
type instancePreview struct {
	key types.NamespacedName
	// from is the revision the instance runs now, to the one it would.
	from, to int64
	plans    []string
	// waits says why the rollout would hold it back, if it would.
	waits   string
	changes []tasks.Change
	notes   []string
	// err is why it could not be previewed, or why it would fail: the
	// API server refused a dry run, as it would refuse the write
	// (wouldFail), or the instance is no longer valid.
	err       error
	wouldFail bool
}

// problem says what err is about.
func (i instancePreview) problem() string {
	if i.wouldFail {
		return "would fail: " + i.err.Error()
	}
	return "cannot be previewed: " + i.err.Error()
}

// changed says whether a preview found anything that would change.
func (p *fleetPreview) changed() bool {
	for _, c := range p.objects {
		if differs(c) {
			return true
		}
	}
	for _, i := range p.instances {
		if len(i.plans) > 0 {
			return true
		}
	}
	return false
}

// previewer computes a fleetPreview; its only writes are dry runs.
type previewer struct {
	c *Cluster
	// parallel is how many instances are previewed at once: the requests in
	// flight, each a read or a dry run.
	parallel int
	// namespace is the one instances are previewed in; "": all.
	namespace string
}

// frameworkWrite is the write a preview is of, sent through dry, a client
// that only dry-runs: it returns the Framework as the API server would
// store it. live is the Framework as it is, nil if there is none.
type frameworkWrite func(ctx context.Context, dry client.Client, live *v1alpha1.Framework) (*v1alpha1.Framework, error)

// applyFile is the write of kubectl apply --server-side of a Framework
// read from a file: the fields the file sets become its, the others stay
// (a spec.rollout set by kubectl operetta rollout pause, say).
func applyFile(obj map[string]any) frameworkWrite {
	return func(ctx context.Context, dry client.Client, _ *v1alpha1.Framework) (*v1alpha1.Framework, error) {
		u := &unstructured.Unstructured{Object: runtime.DeepCopyJSON(obj)}
		// A file saved from kubectl get: what the API server keeps is
		// not the file's to say.
		u.SetManagedFields(nil)
		u.SetResourceVersion("")
		u.SetUID("")
		delete(u.Object, "status")
		if err := dry.Patch(ctx, u, client.Apply, client.FieldOwner("kubectl"), client.ForceOwnership); err != nil {
			return nil, fmt.Errorf("a dry run of applying Framework %s: %w", u.GetName(), err)
		}
		fw := &v1alpha1.Framework{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, fw); err != nil {
			return nil, err
		}
		return fw, nil
	}
}

// updateTo is the write of rollout undo: Framework fw as it is to be.
func updateTo(fw *v1alpha1.Framework) frameworkWrite {
	return func(ctx context.Context, dry client.Client, _ *v1alpha1.Framework) (*v1alpha1.Framework, error) {
		after := fw.DeepCopy()
		if err := dry.Update(ctx, after); err != nil {
			return nil, fmt.Errorf("a dry run of updating Framework %s: %w", fw.Name, err)
		}
		return after, nil
	}
}

// preview previews write, a change of Framework name.
func (p previewer) preview(ctx context.Context, name string, write frameworkWrite) (*fleetPreview, error) {
	out := &fleetPreview{framework: name}
	var live *v1alpha1.Framework
	existing := &v1alpha1.Framework{}
	switch err := p.c.Client.Get(ctx, client.ObjectKey{Name: name}, existing); {
	case err == nil:
		live = existing
	case !apierrors.IsNotFound(err):
		return nil, fmt.Errorf("reading Framework %s: %w", name, err)
	}
	fw, err := write(ctx, client.NewDryRunClient(p.c.Client), live)
	if err != nil {
		return nil, err
	}
	compiled, reason, errs := Check(fw)
	if reason != "" {
		out.refused = []string{fmt.Sprintf("Framework %s would not be served: %s", name, reason), compile.Message(errs)}
		return out, nil
	}
	crd, err := liveCRD(ctx, p.c.Client, compiled.CRD.Name)
	if err != nil {
		return nil, err
	}
	if live == nil {
		out.summary = fmt.Sprintf("Framework %s does not exist: applying it creates it, its CRD %s, and revision 1; no instance exists yet", name, compiled.CRD.Name)
		return out, p.objectChanges(ctx, out, nil, fw, compiled, crd)
	}
	if reason, msg := crdgen.Against(crd, compiled.CRD, fw); reason != "" {
		out.refused = []string{fmt.Sprintf("Framework %s would not be served: %s", name, reason), msg}
		return out, nil
	}
	if err := p.objectChanges(ctx, out, live, fw, compiled, crd); err != nil {
		return nil, err
	}
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("FrameworkRevisionList"))
	if err := p.c.Client.List(ctx, list, client.MatchingLabels{v1alpha1.LabelFramework: name}); err != nil {
		return nil, fmt.Errorf("listing the revisions of %s: %w", name, err)
	}
	rev, recorded := revisions.Decide(revisions.Of(name, list.Items), fw.Generation, revisions.SpecHash(fw.Spec))
	switch {
	case fw.Generation == live.Generation:
		out.summary = fmt.Sprintf("Framework %s: no change; its revision is %d", name, rev.N)
	case recorded:
		out.summary = fmt.Sprintf("Framework %s: generation %d, still revision %d: the change does not reach instances (rollout, revisionHistoryLimit or deletionPolicy)", name, fw.Generation, rev.N)
	case rev.ReturnsTo > 0:
		out.summary = fmt.Sprintf("Framework %s: generation %d, new revision %d, going back to revision %d's spec", name, fw.Generation, rev.N, rev.ReturnsTo)
	default:
		out.summary = fmt.Sprintf("Framework %s: generation %d, new revision %d", name, fw.Generation, rev.N)
	}
	compiled.Generation, compiled.ReturnsTo = rev.N, rev.ReturnsTo
	out.instances, err = p.instances(ctx, fw, compiled)
	return out, err
}

// objectChanges records the Framework's change, live to fw, and its CRD's,
// existing (nil: none) to what a dry run of the controller's apply of the
// CRD answers.
func (p previewer) objectChanges(ctx context.Context, out *fleetPreview, live, fw *v1alpha1.Framework, compiled *compile.Framework, existing *apiextensionsv1.CustomResourceDefinition) error {
	change := tasks.Change{Resource: "Framework"}
	var err error
	if change.Before, change.After, err = beforeAfter(live, fw, v1alpha1.GroupVersion.WithKind("Framework")); err != nil {
		return err
	}
	out.objects = append(out.objects, change)

	crdKind := apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition")
	crd := compiled.CRD.DeepCopy()
	if len(compiled.Versions) > 0 && existing != nil && existing.Spec.Conversion != nil {
		// The manager's webhook and CA, as it installed them: the plugin
		// knows neither.
		crd.Spec.Conversion = existing.Spec.Conversion.DeepCopy()
	}
	crd, err = crdgen.WithDigest(crd)
	if err != nil {
		return err
	}
	crd.SetGroupVersionKind(crdKind)
	change = tasks.Change{Resource: "CRD"}
	if err := client.NewDryRunClient(p.c.Client).Patch(ctx, crd, client.Apply, client.FieldOwner(v1alpha1.FieldManager), client.ForceOwnership); err != nil {
		return fmt.Errorf("a dry run of applying CRD %s: %w", crd.Name, err)
	}
	if change.Before, change.After, err = beforeAfter(existing, crd, crdKind); err != nil {
		return err
	}
	out.objects = append(out.objects, change)
	return nil
}

// beforeAfter converts typed objects of kind gvk; before is nil if there
// is none.
func beforeAfter[T any](before, after *T, gvk schema.GroupVersionKind) (*unstructured.Unstructured, *unstructured.Unstructured, error) {
	var out [2]*unstructured.Unstructured
	for i, obj := range []*T{before, after} {
		if obj == nil {
			continue
		}
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			return nil, nil, fmt.Errorf("converting %s: %w", gvk.Kind, err)
		}
		out[i] = &unstructured.Unstructured{Object: m}
		out[i].SetGroupVersionKind(gvk)
	}
	return out[0], out[1], nil
}

// instances previews every instance of fw's kind, in every namespace, under
// compiled (the revision they would move to), in parallel.
func (p previewer) instances(ctx context.Context, fw *v1alpha1.Framework, compiled *compile.Framework) ([]instancePreview, error) {
	items, err := instance.List(ctx, p.c.Client, compiled.GVK, client.InNamespace(p.namespace))
	if err != nil {
		return nil, err
	}
	s, err := schemaOf(compiled.CRD)
	if err != nil {
		return nil, err
	}
	children := &liveChildren{c: p.c.Client, framework: fw.Name, listed: map[schema.GroupVersionKind]*childList{}}
	out := make([]instancePreview, len(items))
	work := make(chan int)
	var wg sync.WaitGroup
	for range max(1, p.parallel) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				out[i] = p.instance(ctx, compiled, s, children, &items[i])
			}
		}()
	}
	for i := range items {
		work <- i
	}
	close(work)
	wg.Wait()
	sort.Slice(out, func(i, j int) bool { return out[i].key.String() < out[j].key.String() })
	return out, nil
}

// instance previews one instance: the plans it would run, and what they
// and the pruning after them would do to its children.
func (p previewer) instance(ctx context.Context, compiled *compile.Framework, s *crdSchema, children tasks.ChildCache, inst *unstructured.Unstructured) instancePreview {
	out := instancePreview{key: client.ObjectKeyFromObject(inst), to: compiled.Generation}
	st := instance.ReadStatus(inst)
	out.from = st.FrameworkGeneration
	// The instance as the new CRD's defaults make it.
	inst = inst.DeepCopy()
	if err := s.admit(inst.Object); err != nil {
		out.err, out.wouldFail = fmt.Errorf("it would not be valid under the new schema: %w", err), true
		return out
	}
	spec, _, _ := unstructured.NestedMap(inst.Object, "spec")
	runPlan := inst.GetAnnotations()[v1alpha1.AnnotationRunPlan]
	out.plans = plans.Names(plans.Triggered(compiled.Triggers, plans.Observed{
		ParameterDigests:    plans.ParameterDigests(spec, compiled.Parameters),
		FrameworkGeneration: compiled.Generation,
		GoingBack:           compiled.ReturnsTo > 0 && st.FrameworkGeneration > compiled.ReturnsTo,
		RunPlan:             runPlan,
		Status:              st,
	}))
	if len(out.plans) == 0 {
		return out
	}
	out.waits = waitsFor(compiled, inst, st)
	exec := tasks.NewExecutor(tasks.Clients{Writer: client.NewDryRunClient(p.c.Client), Children: children, Frameworks: p.c.Client}, compiled, inst, &st)
	if err := exec.Observe(ctx); err != nil {
		out.err = err
		return out
	}
	for _, plan := range out.plans {
		changes, notes, err := exec.Preview(ctx, plan)
		out.changes, out.notes = append(out.changes, changes...), append(out.notes, notes...)
		if err != nil {
			// Refused, as the write would be: the plan fails there.
			out.err, out.wouldFail = err, kube.Classify(err) == kube.Terminal
			return out
		}
	}
	pruned, err := exec.PreviewPrune(ctx)
	out.changes, out.err = append(out.changes, pruned...), err
	return out
}

// waitsFor says why the rollout would hold an instance back from a new
// revision, if it would: what the instance reconciler's gates say.
func waitsFor(compiled *compile.Framework, inst *unstructured.Unstructured, st v1alpha1.InstanceStatus) string {
	switch {
	case inst.GetAnnotations()[v1alpha1.AnnotationPaused] == "true":
		return "held by its " + v1alpha1.AnnotationPaused + " annotation"
	case st.FrameworkGeneration == 0 || st.FrameworkGeneration == compiled.Generation:
		return ""
	}
	return instance.GateOf(compiled, inst)
}

// liveChildren reads children from lists of every kind, made once per kind
// for the whole preview: the objects labelled as the Framework's children,
// as the controller's children cache holds them.
type liveChildren struct {
	c         client.Client
	framework string
	mu        sync.Mutex
	listed    map[schema.GroupVersionKind]*childList
}

type childList struct {
	once    sync.Once
	objects map[client.ObjectKey]*unstructured.Unstructured
	err     error
}

func (l *liveChildren) Get(ctx context.Context, gvk schema.GroupVersionKind, key client.ObjectKey) (client.Object, bool, error) {
	l.mu.Lock()
	list, ok := l.listed[gvk]
	if !ok {
		list = &childList{}
		l.listed[gvk] = list
	}
	l.mu.Unlock()
	list.once.Do(func() {
		items := &unstructured.UnstructuredList{}
		items.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if list.err = l.c.List(ctx, items, client.MatchingLabels{v1alpha1.LabelFramework: l.framework}); list.err != nil {
			list.err = fmt.Errorf("listing %s: %w", gvk.Kind, list.err)
			return
		}
		list.objects = make(map[client.ObjectKey]*unstructured.Unstructured, len(items.Items))
		for i := range items.Items {
			items.Items[i].SetGroupVersionKind(gvk)
			list.objects[client.ObjectKeyFromObject(&items.Items[i])] = &items.Items[i]
		}
	})
	if list.err != nil {
		return nil, false, list.err
	}
	obj, found := list.objects[key]
	if !found {
		return nil, false, nil
	}
	return obj.DeepCopy(), true, nil
}

// Ensure is nothing to do: every kind is listed when first read.
func (l *liveChildren) Ensure(context.Context, string, schema.GroupVersionKind) error { return nil }
