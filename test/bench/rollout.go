//go:build benchcluster

package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/cli"
)

// rolloutResult is a Framework change over n instances: previewed with
// kubectl operetta diff, then rolled out with spec.rollout.maxConcurrent.
type rolloutResult struct {
	n, maxConcurrent int
	// diff: how long kubectl operetta diff --summary took, its exit
	// status, the requests it sent by verb, and its writes that were not
	// dry runs (want none).
	diffTime     time.Duration
	diffExit     int
	diffRequests map[string]int
	diffWrites   int
	// rollout: applied → every instance on the new revision with its plan
	// done; the most instances seen moving at once (bounded by
	// maxConcurrent); the manager's requests and CPU meanwhile.
	rolloutTime time.Duration
	maxMoving   int
	requests    requests
	cpu         float64
}

// rollout creates n instances, previews a change of every child with
// kubectl operetta diff (in process, its requests counted at its
// transport), applies it with maxConcurrent and follows it to the end.
func (b *bench) rollout(ctx context.Context, kubeconfig string, n, maxConcurrent int, instGVR schema.GroupVersionResource) (rolloutResult, error) {
	r := rolloutResult{n: n, maxConcurrent: maxConcurrent}
	namespace := fmt.Sprintf("bench-rollout-%d-%d", n, time.Now().Unix()%100000)
	fmt.Printf("\n== a Framework change over %d instances: diff, then a rollout with maxConcurrent %d, namespace %s\n", n, maxConcurrent, namespace)
	p, deleteNamespace, err := b.fresh(ctx, namespace, n)
	if err != nil {
		return r, err
	}
	defer func() {
		deleteNamespace()
		// The next runs get the Framework as it was.
		if err := b.applyFramework(context.WithoutCancel(ctx), b.fw.manifest(), 2*time.Minute); err != nil {
			fmt.Printf("  WARNING: restoring Framework %s: %v\n", b.fw.name, err)
		}
	}()
	tr := newTracker(p.expected, p.instances)
	defer tr.close()
	if err := tr.watch(ctx, b.dyn, namespace, p.kinds, instGVR); err != nil {
		return r, err
	}
	if err := b.create(ctx, n, func(ctx context.Context, i int) error {
		return b.createInstance(ctx, tr, instGVR, b.fw.kind, namespace, p.instances[i])
	}); err != nil {
		return r, err
	}
	if timedOut, err := b.settle(ctx, tr); err != nil || timedOut != "" {
		return r, fmt.Errorf("the %d instances did not deploy: %v %s", n, err, timedOut)
	}
	fmt.Printf("  %d instances deployed\n", n)

	changed := b.fw.manifest()
	labelEveryTemplate(changed, "bench-rollout", "2")
	_ = unstructured.SetNestedField(changed.Object, int64(maxConcurrent), "spec", "rollout", "maxConcurrent")
	file := filepath.Join(os.TempDir(), fmt.Sprintf("bench-rollout-%d.yaml", os.Getpid()))
	data, err := yaml.Marshal(changed.Object)
	if err != nil {
		return r, err
	}
	if err := os.WriteFile(file, data, 0o644); err != nil {
		return r, err
	}
	defer os.Remove(file)

	if err := b.diff(ctx, kubeconfig, file, namespace, &r); err != nil {
		return r, err
	}

	before, err := b.sample(ctx, b.mgr)
	if err != nil {
		return r, err
	}
	start := time.Now()
	if _, err := b.dyn.Resource(frameworkGVR).Apply(ctx, changed.GetName(), changed, metav1.ApplyOptions{FieldManager: "bench", Force: true}); err != nil {
		return r, fmt.Errorf("applying the change: %w", err)
	}
	if r.maxMoving, err = b.followRollout(ctx, namespace, instGVR, n); err != nil {
		return r, err
	}
	r.rolloutTime = time.Since(start)
	after, err := b.sample(ctx, b.mgr)
	if err != nil {
		return r, err
	}
	r.requests, r.cpu = after.requests.minus(before.requests), after.cpu-before.cpu
	fmt.Printf("  rollout: %d instances on the new revision, plans done, in %s; at most %d seen moving at once, polled every 250 ms (maxConcurrent %d)\n",
		n, secs(r.rolloutTime), r.maxMoving, maxConcurrent)
	fmt.Printf("  manager meanwhile: %.0f requests (%.2f per instance%s), CPU %.2f s\n",
		r.requests.total(), r.requests.total()/float64(n), paren(r.requests.byMethod(1)), r.cpu)
	return r, nil
}

// labelEveryTemplate adds a label to every resource template of a
// Framework manifest, and to the pods of those that have a pod template: a
// change of every child, which replaces a Deployment's pods, so a plan
// waits for them as it would for a new image.
func labelEveryTemplate(fw *unstructured.Unstructured, key, value string) {
	resources, _, _ := unstructured.NestedSlice(fw.Object, "spec", "resources")
	for _, r := range resources {
		t, _ := r.(map[string]any)["template"].(map[string]any)
		if t == nil {
			continue
		}
		_ = unstructured.SetNestedField(t, value, "metadata", "labels", key)
		if _, ok, _ := unstructured.NestedMap(t, "spec", "template", "metadata"); ok {
			_ = unstructured.SetNestedField(t, value, "spec", "template", "metadata", "labels", key)
		}
	}
	_ = unstructured.SetNestedSlice(fw.Object, resources, "spec", "resources")
}

// diff runs kubectl operetta diff --summary on file for namespace's
// instances in this process, counting every request it sends.
func (b *bench) diff(ctx context.Context, kubeconfig, file, namespace string, r *rolloutResult) error {
	ctrllog.SetLogger(logr.Discard()) // the plugin's clients log nothing worth reading
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	count := &requestCount{byVerb: map[string]int{}}
	cfg.QPS = -1 // as the plugin runs
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return count.wrap(rt) })
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, v1alpha1.AddToScheme} {
		if err := add(scheme); err != nil {
			return err
		}
	}
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return err
	}
	mapper, err := apiutil.NewDynamicRESTMapper(cfg, httpClient)
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme, Mapper: mapper, HTTPClient: httpClient})
	if err != nil {
		return err
	}
	var out bytes.Buffer
	root := cli.NewRootWith(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &out}, &cli.Cluster{Client: c, Mapper: mapper, Namespace: namespace}, time.Now)
	root.SetArgs([]string{"diff", "-f", file, "-n", namespace, "--summary"})
	root.SetContext(ctx)
	start := time.Now()
	err = root.Execute()
	r.diffTime = time.Since(start)
	r.diffExit = 0
	if err != nil {
		r.diffExit = cli.ExitCode(err)
	}
	r.diffRequests, r.diffWrites = count.snapshot()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	fmt.Printf("  kubectl operetta diff --summary: %s, exit status %d, %d lines; %d requests (%s), %d writes that were not dry runs\n",
		secs(r.diffTime), r.diffExit, len(lines), total(r.diffRequests), verbs(r.diffRequests), r.diffWrites)
	for _, l := range lines[:min(4, len(lines))] {
		fmt.Printf("    %s\n", l)
	}
	if r.diffExit != 1 {
		return fmt.Errorf("diff exited %d, want 1 (changes): %v\n%s", r.diffExit, err, out.String())
	}
	return nil
}

// requestCount counts the requests through a transport by verb; a write
// without dryRun=All is a real write.
type requestCount struct {
	mu     sync.Mutex
	byVerb map[string]int
	writes int
}

func (c *requestCount) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		verb := req.Method
		dry := req.URL.Query().Get("dryRun") == "All"
		if dry {
			verb += " (dry run)"
		}
		c.mu.Lock()
		c.byVerb[verb]++
		if req.Method != http.MethodGet && !dry {
			c.writes++
		}
		c.mu.Unlock()
		return rt.RoundTrip(req)
	})
}

func (c *requestCount) snapshot() (map[string]int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.byVerb))
	for k, v := range c.byVerb {
		out[k] = v
	}
	return out, c.writes
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func verbs(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// followRollout polls namespace's instances until every one runs the
// Framework's current revision with its plans done, and returns the most
// seen on the way moved to it but not done.
func (b *bench) followRollout(ctx context.Context, namespace string, instGVR schema.GroupVersionResource, n int) (int, error) {
	maxMoving := 0
	err := poll(ctx, b.runTimeout, 250*time.Millisecond, func() (bool, error) {
		fw, err := b.dyn.Resource(frameworkGVR).Get(ctx, b.fw.name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		observed, _, _ := unstructured.NestedInt64(fw.Object, "status", "observedGeneration")
		rev, _, _ := unstructured.NestedInt64(fw.Object, "status", "rollout", "generation")
		if observed < fw.GetGeneration() {
			return false, nil
		}
		list, err := b.dyn.Resource(instGVR).Namespace(namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		want := v1alpha1.RevisionName(b.fw.name, rev)
		done, moving := 0, 0
		for i := range list.Items {
			st, _, _ := unstructured.NestedMap(list.Items[i].Object, "status")
			if st["frameworkRevision"] != want {
				continue
			}
			if st["activePlanStatus"] == string(v1alpha1.Complete) {
				done++
			} else {
				moving++
			}
		}
		maxMoving = max(maxMoving, moving)
		return done == n, nil
	}, "every instance on the new revision")
	return maxMoving, err
}
