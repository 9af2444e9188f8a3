package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/importer"
)

func (o *options) importCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Write a Framework from another tool's operator package",
	}
	cmd.AddCommand(o.importKUDOCommand())
	return cmd
}

func (o *options) importKUDOCommand() *cobra.Command {
	var opts importer.Options
	var out string
	var check bool
	cmd := &cobra.Command{
		Use:   "kudo DIR [--name N] [--group G] [--kind K] [-o FILE] [--check] [--allow-cluster-scoped]",
		Short: "Write a Framework that runs a KUDO operator package unmodified",
		Long: "kudo reads a KUDO package directory (operator.yaml, params.yaml, templates/) and writes a Framework:\n" +
			"templates become goTemplate resources rendered as KUDO rendered them, parameters the generated kind's\n" +
			"fields (untyped KUDO parameters stay strings), tasks and plans are copied. API versions Kubernetes removed\n" +
			"are rewritten, each with a note on standard error. Apply the Framework with kubectl apply --server-side:\n" +
			"it is too large for the annotation client-side apply keeps. Only regular files inside DIR are read: a\n" +
			"symbolic link, FIFO or device, a file over 1 MiB or a package over 8 MiB is refused, naming the path.\n\n" +
			"--check renders every template of every plan with the default parameters, as KUDO's package verify did,\n" +
			"and fails naming each one that does not render.\n\n" +
			"A Pipe task becomes a Pipe task: its pod runs, and the files its init container wrote are copied into\n" +
			"the Secrets or ConfigMaps KUDO named (docs/kudo.md).\n\n" +
			"A package whose templates render cluster-scoped objects (ClusterRole, ClusterRoleBinding, webhook\n" +
			"configurations, CRDs, ...) is refused, naming each file and kind: every instance would create them outside\n" +
			"its namespace. Read those templates; --allow-cluster-scoped imports it with the kinds listed in\n" +
			"spec.allow.clusterScoped.",
		Example: "  kubectl operetta import kudo ./zookeeper -o zookeeper.yaml --check\n" +
			"  kubectl apply --server-side -f zookeeper.yaml",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			res, err := importer.KUDO(dir, opts)
			if err != nil {
				return fmt.Errorf("%s: %w", dir, err)
			}
			for _, n := range res.Notes {
				fmt.Fprintf(o.streams.ErrOut, "note: %s\n", n)
			}
			compiled, reason, errs := Check(res.Framework)
			if reason != "" {
				return fmt.Errorf("%s: the imported Framework does not compile: %s: %s", dir, reason, compile.Message(errs))
			}
			if check {
				if err := checkRenders(o, compiled, res.Framework); err != nil {
					return err
				}
			}
			b, err := res.YAML(filepath.Base(filepath.Clean(dir)))
			if err != nil {
				return err
			}
			if out == "" || out == "-" {
				_, err = o.streams.Out.Write(b)
				return err
			}
			if err := os.WriteFile(out, b, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(o.streams.ErrOut, "wrote %s: Framework %s, kind %s in %s\n", out, res.Framework.Name, res.Framework.Spec.Names.Kind, res.Framework.Spec.Names.Group)
			return nil
		},
	}
	cmd.Flags().StringVar(&opts.Name, "name", "", "the Framework's name (default the operator's name, lower case)")
	cmd.Flags().StringVar(&opts.Group, "group", "", "the generated kind's API group (default "+importer.DefaultGroup+")")
	cmd.Flags().StringVar(&opts.Kind, "kind", "", "the generated kind (default the operator's name in CamelCase)")
	cmd.Flags().StringVarP(&out, "output", "o", "", "the file to write (default standard output)")
	cmd.Flags().BoolVar(&opts.AllowClusterScoped, "allow-cluster-scoped", false, "list the cluster-scoped kinds the templates render in spec.allow.clusterScoped instead of refusing the package (read those templates first)")
	cmd.Flags().BoolVar(&check, "check", false, "render every template with the default parameters and fail on any that does not render")
	return cmd
}

// checkRenders renders, for an instance with the default parameters, every
// resource every plan's steps apply, toggle or delete, as the controller
// would, and fails naming each that does not render. A required parameter
// without a default gets a value of its type ("check", 0, false, [], {}).
func checkRenders(o *options, compiled *compile.Framework, fw *v1alpha1.Framework) error {
	inst := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{}}}
	inst.SetGroupVersionKind(compiled.GVK)
	inst.SetName("check")
	inst.SetNamespace("default")
	for _, p := range fw.Spec.Parameters {
		if p.Required && p.Default == nil {
			inst.Object["spec"].(map[string]any)[p.Name] = placeholderValue(p.Type)
		}
	}
	s, err := schemaOf(compiled.CRD)
	if err != nil {
		return err
	}
	if err := s.admit(inst.Object); err != nil {
		return fmt.Errorf("an instance with the default parameters is refused: %w", err)
	}
	var failed []string
	renders := 0
	for _, plan := range planNames(fw) {
		for _, phase := range compiled.Plans[plan].Phases {
			for _, step := range phase.Steps {
				vars := offlineVars(compiled, inst, plan, "check")
				vars.Plan["phase"], vars.Plan["step"] = phase.Name, step.Name
				for _, name := range step.Tasks {
					for _, id := range compiled.Tasks[name].Resources {
						renders++
						at := fmt.Sprintf("plan %s, phase %s, step %s, task %s, resource %s", plan, phase.Name, step.Name, name, id)
						if g := compiled.Resources[id].Go; g != nil {
							at += " (" + fileOf(fw, id) + ")"
						}
						objs, err := renderOffline(compiled, id, inst, vars)
						if err == nil {
							for _, obj := range objs {
								if err = placeOffline(compiled, id, obj, "default"); err != nil {
									break
								}
							}
						}
						if err != nil {
							failed = append(failed, at+": "+err.Error())
						}
					}
				}
			}
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d renders failed:\n  %s", len(failed), renders, strings.Join(failed, "\n  "))
	}
	fmt.Fprintf(o.streams.ErrOut, "check: %d renders of %d resources in %d plans, all rendered with the default parameters\n", renders, len(compiled.Resources), len(compiled.Plans))
	return nil
}

func fileOf(fw *v1alpha1.Framework, id string) string {
	for _, r := range fw.Spec.Resources {
		if r.ID == id && r.GoTemplate != nil {
			return r.GoTemplate.File
		}
	}
	return ""
}

// placeholderValue is a value of type t for a required parameter --check
// has no value for.
func placeholderValue(t v1alpha1.ParameterType) any {
	switch t {
	case v1alpha1.TypeInteger, v1alpha1.TypeNumber:
		return int64(0)
	case v1alpha1.TypeBoolean:
		return false
	case v1alpha1.TypeArray:
		return []any{}
	case v1alpha1.TypeObject:
		return map[string]any{}
	}
	return "check"
}
