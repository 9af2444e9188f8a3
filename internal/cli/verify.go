package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/crdgen"
	"operetta.dev/operetta/internal/manifest"
)

// Check compiles fw as the Framework controller does, and returns the
// compiled Framework, or the reason and the field errors its Ready condition
// would carry (the condition's message is compile.Message of them).
func Check(fw *v1alpha1.Framework) (*compile.Framework, string, field.ErrorList) {
	compiled, errs := compile.Compile(fw)
	if len(errs) > 0 {
		return nil, string(compile.Reason(errs)), errs
	}
	return compiled, "", nil
}

func (o *options) verifyCommand() *cobra.Command {
	var existing bool
	cmd := &cobra.Command{
		Use:   "verify FILE...",
		Short: "Check Frameworks offline with the controller's own compiler",
		Long: "verify admits each Framework in the files as the API server would (unknown fields, the Framework CRD's\n" +
			"schema and defaults), then compiles it as the controller does: typed CEL against the generated schema, the\n" +
			"generated CRD's validation, plan checks. It prints every problem with its field path and exits non-zero if\n" +
			"any. With --existing it also compares each generated CRD with the cluster's, as the controller does before\n" +
			"applying it: another owner's CRD, or changes that would break existing instances.",
		Example: "  kubectl operetta verify examples/kafka/framework.yaml\n  kubectl operetta verify --existing operators/*.yaml",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var c *Cluster
			if existing {
				var err error
				if c, err = o.cluster(); err != nil {
					return err
				}
			}
			bad, total := 0, 0
			for _, file := range args {
				docs, err := readDocuments(file, o.streams.In)
				if err != nil {
					return err
				}
				for _, d := range docs {
					if !isFramework(d.obj) {
						continue
					}
					total++
					if !o.verifyOne(cmd.Context(), c, d) {
						bad++
					}
				}
			}
			switch {
			case total == 0:
				return fmt.Errorf("no Framework (operetta.dev/v1alpha1) in %s", strings.Join(args, ", "))
			case bad > 0:
				return fmt.Errorf("%d of %d Frameworks would not be served", bad, total)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&existing, "existing", false, "also compare with the CRDs on the cluster (breaking changes, other owners)")
	return cmd
}

// verifyOne prints what the controller would make of one Framework and
// reports whether it would serve it.
func (o *options) verifyOne(ctx context.Context, c *Cluster, d document) bool {
	out := o.streams.Out
	fw, err := admitFramework(d)
	if err != nil {
		fmt.Fprintf(out, "%v\n", err)
		return false
	}
	where := fmt.Sprintf("%s: Framework %s", d.file, fw.Name)
	compiled, reason, errs := Check(fw)
	if reason != "" {
		fmt.Fprintf(out, "%s: %s\n", where, reason)
		for _, e := range errs {
			// A CEL error runs over several lines: all stay indented.
			fmt.Fprintf(out, "  %s\n", strings.ReplaceAll(e.Error(), "\n", "\n  "))
		}
		return false
	}
	if c != nil {
		crd, err := liveCRD(ctx, c.Client, compiled.CRD.Name)
		if err != nil {
			fmt.Fprintf(out, "%s: %v\n", where, err)
			return false
		}
		if reason, msg := crdgen.Against(crd, compiled.CRD, fw); reason != "" {
			fmt.Fprintf(out, "%s: %s\n  %s\n", where, reason, msg)
			return false
		}
	}
	fmt.Fprintf(out, "%s: OK, serves %s as %s with plans %s\n", where, compiled.GVK.Kind, compiled.GVK.GroupVersion(), strings.Join(planNames(fw), ", "))
	for _, w := range sharedNames(fw) {
		fmt.Fprintf(out, "%s: warning: %s\n", where, w)
	}
	// A warning, not a refusal: etcd's limit is its --max-request-bytes,
	// which a cluster may have raised.
	for _, big := range []struct {
		what string
		obj  any
	}{{"the Framework", d.obj}, {"its generated CRD " + compiled.CRD.Name, compiled.CRD}} {
		if size := encodedSize(big.obj); size > manifest.MaxObjectBytes {
			fmt.Fprintf(out, "%s: warning: %s is %d bytes encoded, more than the %d an API server stores by default: it is likely refused at apply\n", where, big.what, size, manifest.MaxObjectBytes)
		}
	}
	return true
}

// liveCRD reads CRD name from the cluster; nil if there is none.
func liveCRD(ctx context.Context, c client.Client, name string) (*apiextensionsv1.CustomResourceDefinition, error) {
	crd := &apiextensionsv1.CustomResourceDefinition{}
	switch err := c.Get(ctx, client.ObjectKey{Name: name}, crd); {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading CRD %s: %w", name, err)
	}
	return crd, nil
}

// encodedSize is obj's size as JSON, or 0 if it cannot be encoded.
func encodedSize(obj any) int {
	b, err := json.Marshal(obj)
	if err != nil {
		return 0
	}
	return len(b)
}

// sharedNames lists the resources of fw that may render a cluster-scoped
// child whose name does not include the instance's namespace and name: two
// instances in two namespaces would render the same object, and the second
// would fail, since operetta never takes an object another instance owns.
func sharedNames(fw *v1alpha1.Framework) []string {
	allowed := map[string]bool{}
	for _, gk := range fw.Spec.Allow.ClusterScoped {
		allowed[gk.Group+"/"+gk.Kind] = true
	}
	var out []string
	for i, r := range fw.Spec.Resources {
		switch {
		case r.Template != nil:
			var t struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
				Metadata   struct {
					Name string `json:"name"`
				} `json:"metadata"`
			}
			if json.Unmarshal(r.Template.Raw, &t) != nil {
				continue
			}
			if allowed[groupOf(t.APIVersion)+"/"+t.Kind] && !(strings.Contains(t.Metadata.Name, "instance.metadata.namespace") && strings.Contains(t.Metadata.Name, "instance.metadata.name")) {
				out = append(out, fmt.Sprintf("spec.resources[%d] (%s): the name of cluster-scoped %s %q does not include ${instance.metadata.namespace} and ${instance.metadata.name}: instances in two namespaces would collide on it", i, r.ID, t.Kind, t.Metadata.Name))
			}
		case r.GoTemplate != nil:
			for _, k := range r.GoTemplate.Kinds {
				if allowed[groupOf(k.APIVersion)+"/"+k.Kind] && !(strings.Contains(r.GoTemplate.Text, ".Namespace") && strings.Contains(r.GoTemplate.Text, ".Name")) {
					out = append(out, fmt.Sprintf("spec.resources[%d] (%s): the template may render cluster-scoped %s but never reads .Namespace and .Name: instances in two namespaces would collide on its names", i, r.ID, k.Kind))
				}
			}
		}
	}
	return out
}

func groupOf(apiVersion string) string {
	gv, _ := schema.ParseGroupVersion(apiVersion)
	return gv.Group
}
