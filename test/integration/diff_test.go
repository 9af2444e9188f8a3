package integration

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/cli"
)

// previewFramework deploys a ConfigMap, a Secret and a second ConfigMap;
// it has an upgrade and a rollback plan that apply the first two.
func previewFramework() *v1alpha1.Framework {
	secret := v1alpha1.Resource{ID: "secret", Template: &runtime.RawExtension{Raw: []byte(
		`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"${instance.metadata.name}-secret"},"stringData":{"password":"first-${instance.metadata.name}"}}`)}}
	main := func(names ...string) v1alpha1.Plan {
		return v1alpha1.Plan{Phases: []v1alpha1.Phase{{Name: "main", Steps: steps(names...)}}}
	}
	return framework("preview", "preview.test.operetta.dev", nil,
		[]v1alpha1.Resource{configMap("config", ""), secret, configMap("extra", "")},
		[]v1alpha1.Task{apply("config", "config", "secret"), apply("extra", "extra")},
		map[string]v1alpha1.Plan{"deploy": main("config", "extra"), "upgrade": main("config"), "rollback": main("config")})
}

// TestDiffPreviewsAChangeAndWritesNothing: kubectl operetta diff says, for
// every instance, the plan a change runs and what it does to each child
// (changed, created, pruned), in kubectl diff's format and exit codes,
// masks Secrets, names held instances, previews going back to a kept
// revision, refuses a breaking change, and changes no object on the way.
func TestDiffPreviewsAChangeAndWritesNothing(t *testing.T) {
	startManager(t)
	ns := namespace(t, "preview")
	gvk := thingGVK("preview.test.operetta.dev")
	fw := previewFramework()
	createFramework(t, fw)
	frameworkReady(t, "preview", metav1.ConditionTrue)
	deployInstances(t, gvk, ns, "a", "b", "c")
	held, err := get(t, gvk, ns, "c")
	if err != nil {
		t.Fatal(err)
	}
	held.SetAnnotations(map[string]string{v1alpha1.AnnotationPaused: "true"})
	if err := k8s.Update(ctx(t), held); err != nil {
		t.Fatal(err)
	}
	// Its status says so before anything is compared.
	eventually(t, 30*time.Second, func() error {
		if c := meta.FindStatusCondition(instanceStatus(t, gvk, ns, "c").Conditions, v1alpha1.ConditionPaused); c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("c's Paused condition: %+v", c)
		}
		return nil
	})
	unchanged := frameworkFile(t, fw)

	// Revision 2: config and the Secret change, extra goes, added comes.
	next := previewFramework()
	next.Spec.Resources[0].Template = &runtime.RawExtension{Raw: []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"${instance.metadata.name}-config"},"data":{"v":"two"}}`)}
	next.Spec.Resources[1].Template = &runtime.RawExtension{Raw: []byte(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"${instance.metadata.name}-secret"},"stringData":{"password":"second-${instance.metadata.name}"}}`)}
	next.Spec.Resources[2] = configMap("added", "")
	next.Spec.Tasks[0].Resources = []string{"config", "secret", "added"}
	next.Spec.Tasks[1].Resources = []string{"added"}
	changed := frameworkFile(t, next)

	before := versionsIn(t, ns, "preview")
	out, err := plugin(t, ns, "diff", "-f", changed)
	if cli.ExitCode(err) != 1 {
		t.Fatalf("diff of a change: exit %d (%v), want 1\n%s", cli.ExitCode(err), err, out)
	}
	t.Logf("kubectl operetta diff -f framework.yaml:\n%s", out)
	mustContain(t, out,
		"# Framework preview: generation 2, new revision 2\n",
		"diff -u -N LIVE/operetta.dev.v1alpha1.Framework.preview MERGED/operetta.dev.v1alpha1.Framework.preview",
		"# "+ns+"/a revision 1 -> 2: runs plan upgrade\n",
		"# "+ns+"/c revision 1 -> 2: runs plan upgrade once let through (held by its operetta.dev/paused annotation)\n",
		// changed: the ConfigMap's value
		"diff -u -N LIVE/v1.ConfigMap."+ns+".a-config MERGED/v1.ConfigMap."+ns+".a-config\n--- LIVE/v1.ConfigMap."+ns+".a-config\n+++ MERGED/v1.ConfigMap."+ns+".a-config\n",
		"-  v: \"1\"\n+  v: two\n",
		// created: all of it new
		"diff -u -N LIVE/v1.ConfigMap."+ns+".b-added MERGED/v1.ConfigMap."+ns+".b-added\n--- LIVE/v1.ConfigMap."+ns+".b-added\n+++ MERGED/v1.ConfigMap."+ns+".b-added\n@@ -0,0 +1,",
		// pruned: all of it gone
		"diff -u -N LIVE/v1.ConfigMap."+ns+".b-extra MERGED/v1.ConfigMap."+ns+".b-extra\n--- LIVE/v1.ConfigMap."+ns+".b-extra\n+++ MERGED/v1.ConfigMap."+ns+".b-extra\n@@ -1,",
		// a Secret's values are masked
		"-  password: '*** (before)'\n+  password: '*** (after)'\n",
	)
	for _, secret := range []string{"first-a", "second-a"} {
		if enc := base64.StdEncoding.EncodeToString([]byte(secret)); strings.Contains(out, enc) || strings.Contains(out, secret) {
			t.Errorf("the diff shows the Secret's value %q", secret)
		}
	}

	summary, err := plugin(t, ns, "diff", "-f", changed, "--summary")
	if cli.ExitCode(err) != 1 {
		t.Fatalf("diff --summary: exit %d (%v)\n%s", cli.ExitCode(err), err, summary)
	}
	t.Logf("kubectl operetta diff --summary:\n%s", summary)
	mustContain(t, squeeze(summary),
		"NAMESPACE NAME REVISION PLANS CREATED CHANGED DELETED PRUNED NOTE",
		ns+" a 1->2 upgrade 1 2 0 1\n",
		ns+" c 1->2 upgrade 1 2 0 1 held by its operetta.dev/paused annotation")

	// Nothing was written: every object has the version it had.
	if after := versionsIn(t, ns, "preview"); !equalVersions(before, after) {
		t.Fatalf("diff wrote:\nbefore %v\nafter  %v", before, after)
	}

	// The Framework as it is: no change, exit 0.
	if out, err := plugin(t, ns, "diff", "-f", unchanged); err != nil || !strings.Contains(out, "# Framework preview: no change; its revision is 1") {
		t.Fatalf("diff of the Framework as it is: %v\n%s", err, out)
	}

	// Applied, then previewed going back to revision 1: the rollback plan.
	editFramework(t, "preview", fw, func() { fw.Spec = *next.Spec.DeepCopy() })
	for _, n := range []string{"a", "b"} {
		waitForPlan(t, gvk, ns, n, "upgrade", "COMPLETE")
	}
	out, err = plugin(t, ns, "diff", "preview", "--revision", "1", "--summary")
	if cli.ExitCode(err) != 1 {
		t.Fatalf("diff --revision 1: exit %d (%v)\n%s", cli.ExitCode(err), err, out)
	}
	mustContain(t, squeeze(out),
		"# Framework preview: generation 3, new revision 3, going back to revision 1's spec",
		ns+" a 2->3 rollback 0 2 0 1\n",
		// c, held, still runs revision 1, whose spec 3 has again: its
		// upgrade would change nothing.
		ns+" c 1->3 upgrade 0 0 0 0 held by")

	// A breaking change is refused, with the gate's list: exit 2.
	broken := previewFramework()
	broken.Spec.Parameters[0].Type = v1alpha1.TypeString
	broken.Spec.Parameters[0].Default = &apiextensionsv1.JSON{Raw: []byte(`"one"`)}
	out, err = plugin(t, ns, "diff", "-f", frameworkFile(t, broken))
	if cli.ExitCode(err) != 2 || !strings.Contains(err.Error(), "BreakingChange") || !strings.Contains(err.Error(), "spec.value: type changes from integer to string") {
		t.Fatalf("diff of a breaking change: exit %d, %v\n%s", cli.ExitCode(err), err, out)
	}

	// The file is merged as kubectl apply --server-side merges it: a pause
	// it does not mention stays, so applying it again changes nothing but
	// c, still held on revision 1, which moves once released.
	if out, err := plugin(t, ns, "rollout", "pause", "preview"); err != nil {
		t.Fatalf("rollout pause: %v\n%s", err, out)
	}
	out, err = plugin(t, ns, "diff", "-f", changed)
	if cli.ExitCode(err) != 1 || !strings.Contains(out, "# Framework preview: no change; its revision is 2\n# "+ns+"/c revision 1 -> 2: runs plan upgrade once let through (held by") ||
		strings.Contains(out, ns+"/a ") || strings.Contains(out, "Framework.preview") {
		t.Fatalf("diff of the applied file after a pause: exit %d, %v\n%s", cli.ExitCode(err), err, out)
	}
}

// versionsIn maps every object a diff could touch to its resourceVersion:
// the Framework, its revisions and CRD, the instances and the children in ns.
func versionsIn(t *testing.T, ns, framework string) map[string]string {
	t.Helper()
	out := map[string]string{}
	add := func(list client.ObjectList, opts ...client.ListOption) {
		if err := k8s.List(ctx(t), list, opts...); err != nil {
			t.Fatal(err)
		}
		items, err := metaItems(list)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range items {
			out[fmt.Sprintf("%T %s/%s", list, o.GetNamespace(), o.GetName())] = o.GetResourceVersion()
		}
	}
	fw := &v1alpha1.Framework{}
	if err := k8s.Get(ctx(t), client.ObjectKey{Name: framework}, fw); err != nil {
		t.Fatal(err)
	}
	out["framework"] = fw.ResourceVersion
	add(&v1alpha1.FrameworkRevisionList{}, client.MatchingLabels{v1alpha1.LabelFramework: framework})
	add(&apiextensionsv1.CustomResourceDefinitionList{})
	things := &unstructured.UnstructuredList{}
	things.SetGroupVersionKind(thingGVK("preview.test.operetta.dev").GroupVersion().WithKind("ThingList"))
	add(things, client.InNamespace(ns))
	for _, kind := range []string{"ConfigMapList", "SecretList"} {
		l := &unstructured.UnstructuredList{}
		l.SetAPIVersion("v1")
		l.SetKind(kind)
		add(l, client.InNamespace(ns))
	}
	return out
}

func metaItems(list client.ObjectList) ([]metav1.Object, error) {
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil, err
	}
	objs := make([]metav1.Object, 0, len(items))
	for _, item := range items {
		o, err := meta.Accessor(item)
		if err != nil {
			return nil, err
		}
		objs = append(objs, o)
	}
	return objs, nil
}

func equalVersions(a, b map[string]string) bool {
	if len(a) != len(b) || len(a) == 0 {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// squeeze makes a table's columns one space apart, with no space at a
// line's end.
func squeeze(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return strings.Join(lines, "\n")
}

// TestDiffSaysWhichPlanWouldFail: a change the API server would refuse for
// a child (an immutable ConfigMap's data) is foreseen by the dry run: the
// instance "would fail", exit status 2, and nothing is written.
func TestDiffSaysWhichPlanWouldFail(t *testing.T) {
	startManager(t)
	ns := namespace(t, "would-fail")
	gvk := thingGVK("wouldfail.test.operetta.dev")
	frozen := func(v string) v1alpha1.Resource {
		return v1alpha1.Resource{ID: "frozen", Template: &runtime.RawExtension{Raw: []byte(
			`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"${instance.metadata.name}-frozen"},"immutable":true,"data":{"v":"` + v + `"}}`)}}
	}
	fw := framework("would-fail", "wouldfail.test.operetta.dev", nil, []v1alpha1.Resource{frozen("one")},
		[]v1alpha1.Task{apply("frozen", "frozen")},
		map[string]v1alpha1.Plan{"deploy": {Phases: []v1alpha1.Phase{{Name: "main", Steps: steps("frozen")}}}})
	createFramework(t, fw)
	frameworkReady(t, "would-fail", metav1.ConditionTrue)
	deployInstances(t, gvk, ns, "f")
	next := fw.DeepCopy()
	next.Spec.Resources[0] = frozen("two")
	before := configMapData(t, ns, "f-frozen")
	out, err := plugin(t, ns, "diff", "-f", frameworkFile(t, next), "--summary")
	if cli.ExitCode(err) != 2 || !strings.Contains(squeeze(out), ns+" f 1->2 deploy 0 0 0 0 would fail: plan deploy, phase main, step frozen, task frozen: applying ConfigMap f-frozen:") ||
		!strings.Contains(err.Error(), "1 of 1 instances would fail") {
		t.Fatalf("diff of a change the API server refuses: exit %d, %v\n%s", cli.ExitCode(err), err, out)
	}
	if after := configMapData(t, ns, "f-frozen"); after["v"] != before["v"] {
		t.Fatalf("the ConfigMap changed: %v -> %v", before, after)
	}
}
