package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/expr"
	"operetta.dev/operetta/internal/tasks"
)

func (o *options) crdCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "crd FRAMEWORK-FILE",
		Short:   "Print the CRD a Framework generates",
		Example: "  kubectl operetta crd examples/zookeeper/framework.yaml",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			compiled, _, err := o.compileFile(args[0])
			if err != nil {
				return err
			}
			m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(compiled.CRD)
			if err != nil {
				return err
			}
			delete(m, "status")
			unstructured.RemoveNestedField(m, "metadata", "creationTimestamp")
			return writeYAML(o.streams.Out, m)
		},
	}
}

func (o *options) renderCommand() *cobra.Command {
	var instanceFile, plan string
	var externalFiles []string
	cmd := &cobra.Command{
		Use:   "render FRAMEWORK-FILE --instance FILE [--plan PLAN]",
		Short: "Print the children an instance would get from a plan, without a cluster",
		Long: "render admits the instance as the API server would (the generated CRD's schema and defaults; CEL\n" +
			"validation rules are not run), then renders the resources the plan's tasks apply, in the order they run,\n" +
			"with the labels operetta adds. A template that reads what only a cluster has (another child's status) is\n" +
			"named and skipped. Owner references need the instance's UID and are left out. The objects externalRefs\n" +
			"read come from --external files; one not given leaves what reads it unrendered, named.",
		Example: "  kubectl operetta render examples/zookeeper/framework.yaml --instance examples/zookeeper/instance.yaml\n" +
			"  kubectl operetta render examples/collections/framework.yaml --instance examples/collections/instance.yaml --external examples/collections/external.yaml",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if instanceFile == "" {
				return fmt.Errorf("--instance: the instance to render for is required")
			}
			compiled, fw, err := o.compileFile(args[0])
			if err != nil {
				return err
			}
			inst, err := o.admitInstance(compiled, instanceFile)
			if err != nil {
				return err
			}
			var externals []*unstructured.Unstructured
			for _, f := range externalFiles {
				docs, err := readDocuments(f, o.streams.In)
				if err != nil {
					return err
				}
				for _, d := range docs {
					externals = append(externals, &unstructured.Unstructured{Object: d.obj})
				}
			}
			return Render(o.streams.Out, compiled, fw, inst, plan, externals...)
		},
	}
	cmd.Flags().StringVar(&instanceFile, "instance", "", "a file holding the instance")
	cmd.Flags().StringArrayVar(&externalFiles, "external", nil, "a file holding objects externalRefs read (repeatable)")
	cmd.Flags().StringVar(&plan, "plan", v1alpha1.PlanDeploy, "the plan whose tasks to render")
	return cmd
}

// compileFile reads the one Framework in file and compiles it, failing with
// the errors verify would print.
func (o *options) compileFile(file string) (*compile.Framework, *v1alpha1.Framework, error) {
	docs, err := readDocuments(file, o.streams.In)
	if err != nil {
		return nil, nil, err
	}
	var found []document
	for _, d := range docs {
		if isFramework(d.obj) {
			found = append(found, d)
		}
	}
	if len(found) != 1 {
		return nil, nil, fmt.Errorf("%s holds %d Frameworks, want one", file, len(found))
	}
	fw, err := admitFramework(found[0])
	if err != nil {
		return nil, nil, err
	}
	compiled, reason, errs := Check(fw)
	if reason != "" {
		return nil, nil, fmt.Errorf("%s: Framework %s: %s: %s", file, fw.Name, reason, compile.Message(errs))
	}
	return compiled, fw, nil
}

// admitInstance reads the instance in file as the API server would admit
// it: of the Framework's kind, defaults applied, checked against the schema.
func (o *options) admitInstance(compiled *compile.Framework, file string) (*unstructured.Unstructured, error) {
	docs, err := readDocuments(file, o.streams.In)
	if err != nil {
		return nil, err
	}
	if len(docs) != 1 {
		return nil, fmt.Errorf("%s holds %d objects, want one instance", file, len(docs))
	}
	inst := &unstructured.Unstructured{Object: docs[0].obj}
	gvk := inst.GroupVersionKind()
	if gvk.GroupKind() != compiled.GVK.GroupKind() || !compiled.Serves(gvk.Version) {
		return nil, fmt.Errorf("%s: a %s, but the Framework serves %s", file, gvk, compiled.GVK)
	}
	if inst.GetName() == "" {
		return nil, fmt.Errorf("%s: metadata.name: Required value", file)
	}
	if inst.GetNamespace() == "" {
		// As kubectl apply would put it: -n, else the kubeconfig context's.
		ns, _, err := o.flags.ToRawKubeConfigLoader().Namespace()
		if err != nil || ns == "" {
			ns = "default"
		}
		if flag := o.namespaceFlag(); flag != "" {
			ns = flag
		}
		inst.SetNamespace(ns)
	}
	if gvk.Version != compiled.GVK.Version {
		// As the API server stores it: admitted in its version, converted
		// by the Framework's mappings to the stored one.
		s, err := versionSchemaOf(compiled.CRD, gvk.Version)
		if err != nil {
			return nil, err
		}
		if err := s.admit(inst.Object); err != nil {
			return nil, fmt.Errorf("%s: the API server would refuse %s %s: %w", file, gvk.GroupVersion().WithKind(gvk.Kind), inst.GetName(), err)
		}
		spec, _ := inst.Object["spec"].(map[string]any)
		converted, err := compiled.ConvertSpec(spec, gvk.Version, compiled.GVK.Version)
		if err != nil {
			return nil, fmt.Errorf("%s: converting %s %s to %s: %w", file, gvk.Kind, inst.GetName(), compiled.GVK.Version, err)
		}
		inst.Object["spec"] = converted
		inst.SetAPIVersion(compiled.GVK.GroupVersion().String())
	}
	s, err := schemaOf(compiled.CRD)
	if err != nil {
		return nil, err
	}
	if err := s.admit(inst.Object); err != nil {
		return nil, fmt.Errorf("%s: the API server would refuse %s %s: %w", file, compiled.GVK.Kind, inst.GetName(), err)
	}
	return inst, nil
}

// Render writes, as YAML documents, the children the tasks of plan would
// apply for instance inst, in the order they run; externals are the
// objects its externalRefs may read.
func Render(w io.Writer, compiled *compile.Framework, fw *v1alpha1.Framework, inst *unstructured.Unstructured, plan string, externals ...*unstructured.Unstructured) error {
	spec, ok := compiled.Plans[plan]
	if !ok {
		return fmt.Errorf("--plan %q: Framework %s has no such plan; its plans are: %s", plan, fw.Name, strings.Join(planNames(fw), ", "))
	}
	vars := offlineVars(compiled, inst, plan, "rendered-offline")
	for id, res := range compiled.Resources {
		if res.External != nil {
			if got, _ := findExternal(res.External, vars, inst.GetNamespace(), externals); got != nil {
				vars.Resources[id] = got
			}
		}
	}
	for _, phase := range spec.Phases {
		for _, step := range phase.Steps {
			vars.Plan["phase"], vars.Plan["step"] = phase.Name, step.Name
			for _, name := range step.Tasks {
				at := fmt.Sprintf("plan %s, phase %s, step %s, task %s", plan, phase.Name, step.Name, name)
				if err := renderTask(w, compiled, inst, vars, compiled.Tasks[name], at); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func renderTask(w io.Writer, compiled *compile.Framework, inst *unstructured.Unstructured, vars expr.Vars, t *compile.Task, at string) error {
	ids := t.Resources
	switch t.Kind {
	case v1alpha1.TaskApply:
	case v1alpha1.TaskToggle:
		on, err := t.WhenExpr.EvalBool(vars)
		if err != nil {
			fmt.Fprintf(w, "# %s: when cannot be evaluated offline: %v\n", at, err)
			return nil
		}
		if !on {
			fmt.Fprintf(w, "# %s: toggled off, deletes resources %s\n", at, strings.Join(ids, ", "))
			return nil
		}
	case v1alpha1.TaskDelete:
		fmt.Fprintf(w, "# %s: deletes resources %s\n", at, strings.Join(ids, ", "))
		return nil
	case v1alpha1.TaskWait:
		fmt.Fprintf(w, "# %s: waits until %s\n", at, strings.TrimSpace(t.Condition))
		return nil
	case v1alpha1.TaskDummy:
		if t.Done {
			fmt.Fprintf(w, "# %s: does nothing\n", at)
		} else {
			fmt.Fprintf(w, "# %s: never finishes (a Dummy that is not done)\n", at)
		}
		return nil
	case v1alpha1.TaskPipe:
		files := make([]string, 0, len(t.Pipe))
		for _, f := range t.Pipe {
			files = append(files, fmt.Sprintf("%s into a %s (.Pipes.%s)", f.File, f.Kind, f.Key))
		}
		fmt.Fprintf(w, "# %s: runs the pod below, copies %s, then deletes the pod\n", at, strings.Join(files, ", "))
		ids = []string{t.Pod}
	default:
		fmt.Fprintf(w, "# %s: creates an instance of Framework %s (render that Framework to see its children)\n", at, t.Framework)
		return nil
	}
	for _, id := range compiled.Ordered(ids) {
		if ext := compiled.Resources[id].External; ext != nil {
			_, what := findExternal(ext, vars, inst.GetNamespace(), nil)
			if _, given := vars.Resources[id]; given {
				fmt.Fprintf(w, "# %s: reads %s (externalRef %s, from --external)\n", at, what, id)
			} else {
				fmt.Fprintf(w, "# %s: reads %s (externalRef %s), not given with --external: what reads it is not rendered\n", at, what, id)
			}
			continue
		}
		objs, err := renderOffline(compiled, id, inst, vars)
		if err != nil {
			fmt.Fprintf(w, "# %s: resource %s is not rendered offline: %v\n", at, id, err)
			continue
		}
		for _, obj := range objs {
			if err := writeChild(w, compiled, inst, vars, id, obj, at); err != nil {
				return err
			}
		}
	}
	return nil
}

// findExternal is what ext reads among externals, as the controller would
// read it from the cluster (nil when not there), and how messages name it.
func findExternal(ext *compile.External, vars expr.Vars, instanceNS string, externals []*unstructured.Unstructured) (any, string) {
	ns, name, err := ext.Target(vars, instanceNS)
	if err != nil {
		return nil, fmt.Sprintf("%s (%v)", ext.GVK.Kind, err)
	}
	what := ext.Describe(ns, name)
	var picked []any
	for _, u := range externals {
		objNS := u.GetNamespace()
		if objNS == "" {
			objNS = instanceNS
		}
		if u.GroupVersionKind() != ext.GVK || objNS != ns {
			continue
		}
		switch {
		case ext.Selector == nil && u.GetName() == name:
			return u.Object, what
		case ext.Selector != nil && ext.Selector.Matches(labels.Set(u.GetLabels())):
			picked = append(picked, u.Object)
		}
	}
	if ext.Selector != nil && len(externals) > 0 {
		return picked, what
	}
	return nil, what
}

// offlineVars are the variables the controller's expressions would see for
// inst in a run of plan, before any child exists.
func offlineVars(compiled *compile.Framework, inst *unstructured.Unstructured, plan, uid string) expr.Vars {
	vars := tasks.NewVars(compiled, inst)
	vars.Plan["name"], vars.Plan["uid"] = plan, uid
	return vars
}

// placeOffline places obj as the controller would. Offline there is no
// discovery to say a kind's scope: a kind the Framework allows
// cluster-scoped is taken as such, any other as namespaced.
func placeOffline(compiled *compile.Framework, id string, obj *unstructured.Unstructured, ns string) error {
	return tasks.Place(compiled, id, obj, !compiled.AllowsClusterScoped(obj.GroupVersionKind().GroupKind()), ns)
}

// renderOffline renders resource id's objects as the controller would.
func renderOffline(compiled *compile.Framework, id string, inst *unstructured.Unstructured, vars expr.Vars) ([]*unstructured.Unstructured, error) {
	if compiled.Resources[id].Go != nil {
		phase, _ := vars.Plan["phase"].(string)
		step, _ := vars.Plan["step"].(string)
		plan, _ := vars.Plan["name"].(string)
		uid, _ := vars.Plan["uid"].(string)
		return tasks.RenderGo(compiled, id, inst, tasks.Where{Plan: plan, Phase: phase, Step: step, PlanUID: uid})
	}
	if res := compiled.Resources[id]; len(res.ForEach) > 0 {
		objs, _, err := tasks.RenderEach(res, id, vars)
		return objs, err
	}
	m, err := compiled.Resources[id].Template.RenderObject(vars)
	if err != nil {
		return nil, err
	}
	return []*unstructured.Unstructured{{Object: m}}, nil
}

// writeChild writes one rendered child, placed and labelled as the
// controller would, or why the controller would refuse it.
func writeChild(w io.Writer, compiled *compile.Framework, inst *unstructured.Unstructured, vars expr.Vars, id string, obj *unstructured.Unstructured, at string) error {
	if err := placeOffline(compiled, id, obj, inst.GetNamespace()); err != nil {
		fmt.Fprintf(w, "# %s: the controller would refuse it: %v\n", at, err)
		return nil
	}
	tasks.Label(obj, compiled.Name, inst.GetName(), inst.GetNamespace())
	if len(compiled.Resources[id].ForEach) > 0 {
		list, _ := vars.Resources[id].([]any)
		vars.Resources[id] = append(list, obj.Object)
	} else {
		vars.Resources[id] = obj.Object
	}
	fmt.Fprintf(w, "---\n# %s: resource %s\n", at, id)
	return writeYAML(w, obj.Object)
}

func writeYAML(w io.Writer, obj any) error {
	b, err := yaml.Marshal(obj)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
