//go:build benchcluster

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/shard"
	"operetta.dev/operetta/internal/testutil"
)

// The scale mode (issue 27): k Frameworks, each its own kind of a ConfigMap
// and a headless Service without selector (no pod, no endpoint, no IP, so
// the cluster's own machinery does not bound the run), and instances spread
// over them, grown to each size in turn.
const (
	scaleShard = "scale"
	scaleGroup = "scale.bench.operetta.dev"
	floorGroup = "floor.bench.operetta.dev"
	// installGroup holds the install floor's CRDs: what operetta writes
	// for a scale Framework, written directly.
	installGroup = "install.bench.operetta.dev"
	// generatedGroup holds the generated CRDs' floor, without the roles.
	generatedGroup = "generated.bench.operetta.dev"
	// scaleNamespace holds every instance of the scale mode.
	scaleNamespace = "bench-scale"
)

// scaleBatch is one growth of the fleet: from the previous size to n.
type scaleBatch struct {
	n, added int
	// lags are created → Ready of each instance added, sorted.
	lags     []time.Duration
	took     time.Duration // the first create → the last Ready
	requests requests      // the manager's, over the batch
	fwWrites int           // writes of the Frameworks (their rollout reports) among them
	cpu      float64       // the manager's, over the batch
	// queueWait and reconcileTime are the instances' loops' histograms
	// over the batch: how long a request waited in a loop's queue, and
	// how long its reconcile took.
	queueWait, reconcileTime histogram
	settled                  mem     // the manager's RSS once settled, after a GC
	heap                     float64 // its heap in use then
	profile                  string  // the heap profile saved then
}

// scaleRestart is a manager restarted over the whole fleet.
type scaleRestart struct {
	n          int
	steady     time.Duration // start → every instance reconciled once and the queues empty
	reconciles float64
	requests   requests
	readyLost  int // instances whose Ready turned False meanwhile
	timedOut   bool
}

type scaleResult struct {
	k int
	// floor is the API server establishing k CRDs created at once;
	// generatedFloor the same for the CRDs operetta generates for them;
	// installFloor for all operetta writes to install k Frameworks
	// (generated CRDs, two aggregated ClusterRoles each), written
	// directly; installed is k Frameworks applied at once → all
	// Ready.
	floor, generatedFloor, installFloor, installed time.Duration
	// installRequests are the manager's requests while installing them.
	installRequests requests
	// Manager memory before the Frameworks and with them Ready, settled.
	before, withFrameworks mem
	// Goroutines and informers: before the Frameworks, with them, after
	// they are deleted.
	goroutines, informers [3]float64
	// goroutinesLeft are the goroutines more after deleting the
	// Frameworks than before them, connectionsLeft those of them that
	// serve a connection (to the API server, or the benchmark's scrapes).
	goroutinesLeft, connectionsLeft int
	batches                         []scaleBatch
	restart                         *scaleRestart
}

// scale runs the scale mode with k Frameworks over the given sizes.
func (b *bench) scale(ctx context.Context, k int, sizes []int, rate float64) (scaleResult, error) {
	res := scaleResult{k: k}
	pprofPort, err := testutil.FreePort()
	if err != nil {
		return res, err
	}
	pprof := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof", pprofPort)
	args := []string{"--leader-elect=false", "--shard=" + scaleShard, fmt.Sprintf("--pprof-bind-address=127.0.0.1:%d", pprofPort)}
	mgr, err := b.launch.start(ctx, scaleShard, args...)
	if err != nil {
		return res, err
	}
	defer func() { mgr.stop() }()

	fmt.Printf("\n== the API server alone: %d CRDs created at once → all established\n", k)
	if res.floor, err = b.crdFloor(ctx, k); err != nil {
		return res, err
	}
	fmt.Printf("  %s\n", secs(res.floor))
	fmt.Printf("\n== the API server alone: %d CRDs as operetta generates them, created at once → all established\n", k)
	if res.generatedFloor, err = b.installFloor(ctx, k, generatedGroup, false); err != nil {
		return res, err
	}
	fmt.Printf("  %s\n", secs(res.generatedFloor))
	fmt.Printf("\n== the API server alone: what operetta writes to install %d Frameworks (generated CRDs, 2 aggregated ClusterRoles each), created at once → all established\n", k)
	if res.installFloor, err = b.installFloor(ctx, k, installGroup, true); err != nil {
		return res, err
	}
	fmt.Printf("  %s\n", secs(res.installFloor))

	fmt.Printf("\n== %d Frameworks applied at once, then deleted, then applied again for the fleet\n", k)
	// One Framework served and deleted first: what the manager starts
	// once, on its first Framework and for good (informers of its own
	// cache, the CEL planning environment), is in the figures before, not
	// counted as the 200's or as left behind by them.
	if _, err := b.applyScaleFrameworks(ctx, 1); err != nil {
		return res, err
	}
	if err := b.deleteScaleFrameworks(ctx, 1); err != nil {
		return res, err
	}
	time.Sleep(5 * time.Second) // the stopped loop's goroutines end
	if res.before, err = settledMemory(ctx, mgr, pprof); err != nil {
		return res, err
	}
	if res.goroutines[0], res.informers[0], err = b.threads(ctx, mgr); err != nil {
		return res, err
	}
	goroutinesBefore, err := fetch(ctx, pprof+"/goroutine?debug=1", time.Minute)
	if err != nil {
		return res, err
	}
	beforeInstall, err := b.sample(ctx, mgr)
	if err != nil {
		return res, err
	}
	profiles := b.profileChurn(ctx, pprof, 30*time.Second)
	if res.installed, err = b.applyScaleFrameworks(ctx, k); err != nil {
		return res, err
	}
	time.Sleep(2 * time.Second) // the last status writes
	afterInstall, err := b.sample(ctx, mgr)
	if err != nil {
		return res, err
	}
	res.installRequests = afterInstall.requests.minus(beforeInstall.requests)
	fmt.Printf("  manager requests per Framework installed: %.1f (%s)\n", res.installRequests.total()/float64(k), res.installRequests.byMethod(k))
	profiles()
	if res.withFrameworks, err = settledMemory(ctx, mgr, pprof); err != nil {
		return res, err
	}
	b.saveProfile(ctx, pprof+"/heap", fmt.Sprintf("bench-scale-heap-%dframeworks.pprof", k), "inuse_space")
	b.saveProfile(ctx, pprof+"/goroutine", fmt.Sprintf("bench-scale-goroutines-%dframeworks.pprof", k), "")
	if res.goroutines[1], res.informers[1], err = b.threads(ctx, mgr); err != nil {
		return res, err
	}
	fmt.Printf("  applied → all Ready %s (%.2f× the API server's floor); manager private RSS %.1f → %.1f MB, %.3f MB per Framework\n",
		secs(res.installed), ratio(res.installed, res.floor), res.before.anon/1e6, res.withFrameworks.anon/1e6,
		(res.withFrameworks.anon-res.before.anon)/1e6/float64(k))
	if err := b.deleteScaleFrameworks(ctx, k); err != nil {
		return res, err
	}
	time.Sleep(5 * time.Second) // stopped loops' goroutines end
	if res.goroutines[2], res.informers[2], err = b.threads(ctx, mgr); err != nil {
		return res, err
	}
	fmt.Printf("  goroutines %.0f → %.0f → %.0f after deleting them; informers %.0f → %.0f → %.0f\n",
		res.goroutines[0], res.goroutines[1], res.goroutines[2], res.informers[0], res.informers[1], res.informers[2])
	if res.goroutinesLeft, res.connectionsLeft, err = b.goroutinesLeft(ctx, pprof, goroutinesBefore); err != nil {
		return res, err
	}
	if _, err := b.applyScaleFrameworks(ctx, k); err != nil {
		return res, err
	}

	gvrs := make([]schema.GroupVersionResource, k)
	for i := range k {
		gvrs[i] = schema.GroupVersionResource{Group: scaleGroup, Version: "v1", Resource: fmt.Sprintf("scale%03ds", i)}
	}
	if _, err := b.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: scaleNamespace}}, metav1.CreateOptions{}); err != nil {
		return res, err
	}
	tr := newReadyTracker()
	stop, err := tr.watch(ctx, b, gvrs)
	if err != nil {
		return res, err
	}
	defer stop()
	have := 0
	for _, n := range sizes {
		if n <= have {
			continue
		}
		batch, err := b.scaleTo(ctx, mgr, pprof, tr, gvrs, have, n, rate)
		if err != nil {
			return res, err
		}
		res.batches = append(res.batches, batch)
		have = n
	}

	fmt.Printf("\n== the manager restarted over %d instances\n", have)
	mgr.stop()
	again, err := b.restartOver(ctx, tr, have, args)
	if again != nil {
		mgr = again.managerProc
		res.restart = again.result
	}
	return res, err
}

// crdFloor creates k CRDs at once, as a Framework would generate them, and
// returns how long until the API server establishes all; it deletes them
// again.
func (b *bench) crdFloor(ctx context.Context, k int) (time.Duration, error) {
	c := b.dyn.Resource(apiextensionsv1.SchemeGroupVersion.WithResource("customresourcedefinitions"))
	names := make([]string, k)
	start := time.Now()
	if err := b.create(ctx, k, func(ctx context.Context, i int) error {
		kind := fmt.Sprintf("Floor%03d", i)
		plural := strings.ToLower(kind) + "s"
		names[i] = plural + "." + floorGroup
		crd := &apiextensionsv1.CustomResourceDefinition{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition"},
			ObjectMeta: metav1.ObjectMeta{Name: names[i]},
			Spec: apiextensionsv1.CustomResourceDefinitionSpec{
				Group: floorGroup, Scope: apiextensionsv1.NamespaceScoped,
				Names: apiextensionsv1.CustomResourceDefinitionNames{Kind: kind, Plural: plural, ListKind: kind + "List", Singular: strings.ToLower(kind)},
				Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{Name: "v1", Served: true, Storage: true,
					Subresources: &apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}},
					Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
						Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
							"spec":   {Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{"value": {Type: "string"}}},
							"status": {Type: "object", XPreserveUnknownFields: ptrTo(true)},
						}}}}},
			},
		}
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(crd)
		if err != nil {
			return err
		}
		_, err = c.Create(ctx, &unstructured.Unstructured{Object: m}, metav1.CreateOptions{})
		return err
	}); err != nil {
		return 0, fmt.Errorf("creating the floor's CRDs: %w", err)
	}
	err := b.waitEstablished(ctx, k, floorGroup)
	took := time.Since(start)
	for _, name := range names {
		_ = c.Delete(context.WithoutCancel(ctx), name, metav1.DeleteOptions{})
	}
	return took, err
}

// installFloor creates at once what operetta writes to install the k scale
// Frameworks, in a group of its own: each generated CRD and, with roles,
// the two ClusterRoles its kind is granted through, aggregated into the
// built-in roles. It returns how long until the API server establishes
// every CRD, and deletes them all again.
func (b *bench) installFloor(ctx context.Context, k int, group string, roles bool) (time.Duration, error) {
	crds := b.dyn.Resource(apiextensionsv1.SchemeGroupVersion.WithResource("customresourcedefinitions"))
	names := make([]string, k)
	start := time.Now()
	if err := b.create(ctx, k, func(ctx context.Context, i int) error {
		fw := &v1alpha1.Framework{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(scaleFramework(i).Object, fw); err != nil {
			return err
		}
		fw.Spec.Names.Group = group
		compiled, errs := compile.Compile(fw)
		if len(errs) > 0 {
			return errs.ToAggregate()
		}
		crd := compiled.CRD.DeepCopy()
		crd.TypeMeta = metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition"}
		names[i] = crd.Name
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(crd)
		if err != nil {
			return err
		}
		delete(m, "status")
		if _, err := crds.Create(ctx, &unstructured.Unstructured{Object: m}, metav1.CreateOptions{}); err != nil {
			return err
		}
		for _, role := range installFloorRoles(fw.Name, crd.Spec.Names.Plural) {
			if !roles {
				break
			}
			if _, err := b.kube.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return 0, fmt.Errorf("creating the install floor's objects: %w", err)
	}
	err := b.waitEstablished(ctx, k, group)
	took := time.Since(start)
	for i, name := range names {
		_ = crds.Delete(context.WithoutCancel(ctx), name, metav1.DeleteOptions{})
		for _, role := range installFloorRoles(fmt.Sprintf("scale-%03d", i), "") {
			if !roles {
				break
			}
			_ = b.kube.RbacV1().ClusterRoles().Delete(context.WithoutCancel(ctx), role.Name, metav1.DeleteOptions{})
		}
	}
	return took, err
}

// installFloorRoles are ClusterRoles shaped as operetta's user roles of a
// kind: view and edit, aggregated into the built-in view, edit and admin.
func installFloorRoles(framework, plural string) []*rbacv1.ClusterRole {
	rule := func(verbs ...string) []rbacv1.PolicyRule {
		return []rbacv1.PolicyRule{
			{APIGroups: []string{installGroup}, Resources: []string{plural}, Verbs: verbs},
			{APIGroups: []string{installGroup}, Resources: []string{plural + "/status"}, Verbs: []string{"get", "list", "watch"}},
		}
	}
	return []*rbacv1.ClusterRole{
		{ObjectMeta: metav1.ObjectMeta{Name: "bench-install-floor:" + framework + ":view",
			Labels: map[string]string{"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
			Rules: rule("get", "list", "watch")},
		{ObjectMeta: metav1.ObjectMeta{Name: "bench-install-floor:" + framework + ":edit",
			Labels: map[string]string{"rbac.authorization.k8s.io/aggregate-to-edit": "true", "rbac.authorization.k8s.io/aggregate-to-admin": "true"}},
			Rules: rule("get", "list", "watch", "create", "update", "patch", "delete")},
	}
}

// waitEstablished waits until the API server has established k CRDs of
// group.
func (b *bench) waitEstablished(ctx context.Context, k int, group string) error {
	crds := b.dyn.Resource(apiextensionsv1.SchemeGroupVersion.WithResource("customresourcedefinitions"))
	return poll(ctx, 5*time.Minute, 100*time.Millisecond, func() (bool, error) {
		list, err := crds.List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		established := 0
		for _, u := range list.Items {
			if strings.HasSuffix(u.GetName(), "."+group) && crdEstablished(&u) {
				established++
			}
		}
		return established == k, nil
	}, fmt.Sprintf("%d CRDs of %s established", k, group))
}

func crdEstablished(u *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if m, _ := c.(map[string]any); m["type"] == "Established" && m["status"] == "True" {
			return true
		}
	}
	return false
}

func ptrTo[T any](v T) *T { return &v }

// scaleFramework is Framework i of the scale mode: kind Scale<i>, whose
// deploy applies a ConfigMap and a headless Service without selector.
func scaleFramework(i int) *unstructured.Unstructured {
	fw := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "operetta.dev/v1alpha1", "kind": "Framework",
		"metadata": map[string]any{"name": fmt.Sprintf("scale-%03d", i)},
		"spec": map[string]any{
			"names":      map[string]any{"group": scaleGroup, "kind": fmt.Sprintf("Scale%03d", i), "version": "v1"},
			"parameters": []any{map[string]any{"name": "value", "type": "string", "default": "x"}},
			"resources": []any{
				map[string]any{"id": "config", "template": map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
					"metadata": map[string]any{"name": "${instance.metadata.name}"},
					"data":     map[string]any{"value": "${instance.spec.value}"}}},
				map[string]any{"id": "service", "template": map[string]any{"apiVersion": "v1", "kind": "Service",
					"metadata": map[string]any{"name": "${instance.metadata.name}"},
					"spec":     map[string]any{"clusterIP": "None", "ports": []any{map[string]any{"name": "app", "port": int64(80)}}}}},
			},
			"tasks": []any{map[string]any{"name": "apply", "kind": "Apply", "resources": []any{"config", "service"}}},
			"plans": map[string]any{"deploy": map[string]any{"phases": []any{map[string]any{"name": "main",
				"steps": []any{map[string]any{"name": "apply", "tasks": []any{"apply"}}}}}}},
		},
	}}
	shard.Label(fw, scaleShard)
	return fw
}

// applyScaleFrameworks applies the k Frameworks at once and returns how
// long until all are Ready.
func (b *bench) applyScaleFrameworks(ctx context.Context, k int) (time.Duration, error) {
	c := b.dyn.Resource(frameworkGVR)
	start := time.Now()
	if err := b.create(ctx, k, func(ctx context.Context, i int) error {
		fw := scaleFramework(i)
		_, err := c.Apply(ctx, fw.GetName(), fw, metav1.ApplyOptions{FieldManager: "bench", Force: true})
		return err
	}); err != nil {
		return 0, fmt.Errorf("applying the Frameworks: %w", err)
	}
	err := poll(ctx, 10*time.Minute, 200*time.Millisecond, func() (bool, error) {
		list, err := c.List(ctx, metav1.ListOptions{LabelSelector: v1alpha1.LabelShard + "=" + scaleShard})
		if err != nil {
			return false, err
		}
		ready := 0
		for i := range list.Items {
			if readyCondition(&list.Items[i]) {
				ready++
			}
		}
		return ready == k, nil
	}, fmt.Sprintf("%d Frameworks Ready", k))
	return time.Since(start), err
}

// deleteScaleFrameworks deletes the k Frameworks (their kinds and instances
// stay: deletionPolicy Retain) and waits until they are gone.
func (b *bench) deleteScaleFrameworks(ctx context.Context, k int) error {
	c := b.dyn.Resource(frameworkGVR)
	for i := range k {
		if err := c.Delete(ctx, fmt.Sprintf("scale-%03d", i), metav1.DeleteOptions{}); err != nil {
			return err
		}
	}
	return poll(ctx, 5*time.Minute, 200*time.Millisecond, func() (bool, error) {
		list, err := c.List(ctx, metav1.ListOptions{LabelSelector: v1alpha1.LabelShard + "=" + scaleShard})
		return err == nil && len(list.Items) == 0, err
	}, "the Frameworks deleted")
}

// threads reads the manager's goroutines and informers from its metrics.
func (b *bench) threads(ctx context.Context, mgr *managerProc) (goroutines, informers float64, err error) {
	if goroutines, err = metricSum(ctx, mgr.metrics, "go_goroutines", nil); err != nil {
		return 0, 0, err
	}
	informers, err = metricSum(ctx, mgr.metrics, "operetta_informers", nil)
	return goroutines, informers, err
}

// settledMemory collects the manager's garbage (its heap profile with gc=1),
// waits for the runtime to return freed pages, and reads its RSS.
func settledMemory(ctx context.Context, mgr *managerProc, pprof string) (mem, error) {
	if _, err := fetch(ctx, pprof+"/heap?gc=1", time.Minute); err != nil {
		return mem{}, err
	}
	time.Sleep(3 * time.Second)
	return residentMemory(mgr.pid())
}

// scaleTo grows the fleet from have to n instances, created at rate per
// second round-robin over the kinds, and measures the batch.
func (b *bench) scaleTo(ctx context.Context, mgr *managerProc, pprof string, tr *readyTracker, gvrs []schema.GroupVersionResource, have, n int, rate float64) (scaleBatch, error) {
	batch := scaleBatch{n: n, added: n - have}
	fmt.Printf("\n== the fleet grown from %d to %d instances over %d kinds, %.0f created per second\n", have, n, len(gvrs), rate)
	fwWrites, err := countFrameworkWrites(ctx, b, scaleShard)
	if err != nil {
		return batch, err
	}
	defer fwWrites.stop()
	before, err := b.sample(ctx, mgr)
	if err != nil {
		return batch, err
	}
	waitBefore, err := scrapeHistogram(ctx, mgr.metrics, "workqueue_queue_duration_seconds", scaleGroup)
	if err != nil {
		return batch, err
	}
	reconcileBefore, err := scrapeHistogram(ctx, mgr.metrics, "controller_runtime_reconcile_time_seconds", scaleGroup)
	if err != nil {
		return batch, err
	}
	start := time.Now()
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	next := make(chan int)
	errs := make(chan error, b.workers)
	var wg sync.WaitGroup
	for range b.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				gvr := gvrs[i%len(gvrs)]
				name := fmt.Sprintf("i-%05d", i)
				u := &unstructured.Unstructured{Object: map[string]any{
					"apiVersion": gvr.GroupVersion().String(), "kind": fmt.Sprintf("Scale%03d", i%len(gvrs)),
					"metadata": map[string]any{"name": name, "namespace": scaleNamespace},
					"spec":     map[string]any{"value": name},
				}}
				tr.created(gvr.Resource + "/" + name)
				if _, err := b.dyn.Resource(gvr).Namespace(scaleNamespace).Apply(ctx, name, u, metav1.ApplyOptions{FieldManager: "bench", Force: true}); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	for i := have; i < n; i++ {
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return batch, fmt.Errorf("creating instances: %w", err)
	default:
	}
	fmt.Printf("  created in %s\n", secs(time.Since(start)))
	if err := tr.waitReady(ctx, n, b.runTimeout); err != nil {
		return batch, err
	}
	batch.took = time.Since(start)
	time.Sleep(2 * time.Second) // the last status writes' events, the rollout reports
	after, err := b.sample(ctx, mgr)
	if err != nil {
		return batch, err
	}
	batch.requests, batch.cpu = after.requests.minus(before.requests), after.cpu-before.cpu
	waitAfter, err := scrapeHistogram(ctx, mgr.metrics, "workqueue_queue_duration_seconds", scaleGroup)
	if err != nil {
		return batch, err
	}
	reconcileAfter, err := scrapeHistogram(ctx, mgr.metrics, "controller_runtime_reconcile_time_seconds", scaleGroup)
	if err != nil {
		return batch, err
	}
	batch.queueWait, batch.reconcileTime = waitAfter.minus(waitBefore), reconcileAfter.minus(reconcileBefore)
	batch.fwWrites = fwWrites.count()
	batch.lags = tr.lags(have, n)
	if batch.settled, err = settledMemory(ctx, mgr, pprof); err != nil {
		return batch, err
	}
	if batch.heap, err = metricSum(ctx, mgr.metrics, "go_memstats_heap_inuse_bytes", nil); err != nil {
		return batch, err
	}
	profile, err := fetch(ctx, pprof+"/heap", time.Minute)
	if err != nil {
		return batch, err
	}
	batch.profile = filepath.Join(b.launch.logDir, fmt.Sprintf("bench-scale-heap-%d.pprof", n))
	if err := os.WriteFile(batch.profile, profile, 0o644); err != nil {
		return batch, err
	}
	fmt.Printf("  all Ready after %s; created → Ready p50 %s p99 %s; manager %.2f requests per instance (%s), %.2f ms CPU per instance, %d Framework writes\n",
		secs(batch.took), secs(percentile(batch.lags, 50)), secs(percentile(batch.lags, 99)),
		batch.requests.total()/float64(batch.added), batch.requests.byMethod(batch.added), batch.cpu*1000/float64(batch.added), batch.fwWrites)
	fmt.Printf("  the manager's share: queue wait p50 %s p99 %s; reconcile p50 %s p99 %s\n",
		secs(batch.queueWait.quantile(0.5)), secs(batch.queueWait.quantile(0.99)),
		secs(batch.reconcileTime.quantile(0.5)), secs(batch.reconcileTime.quantile(0.99)))
	fmt.Printf("  settled: manager RSS %.1f MB, private %.1f MB, heap in use %.1f MB; heap profile %s\n",
		batch.settled.rss/1e6, batch.settled.anon/1e6, batch.heap/1e6, batch.profile)
	if top, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=12", "-sample_index=inuse_space", b.launch.bin, batch.profile).Output(); err == nil {
		fmt.Printf("%s\n", indent(string(top)))
	}
	return batch, nil
}

// profileChurn takes CPU profiles of the manager and of the API server
// over the next d, while the Frameworks are applied, and returns a func
// that waits for them and saves them beside the figures: where the time of
// a churn goes, on both sides.
func (b *bench) profileChurn(ctx context.Context, pprof string, d time.Duration) (wait func()) {
	var wg sync.WaitGroup
	secs := fmt.Sprint(int(d.Seconds()))
	wg.Add(2)
	go func() {
		defer wg.Done()
		b.saveProfile(ctx, pprof+"/profile?seconds="+secs, "bench-scale-churn-manager.pprof", "")
	}()
	go func() {
		defer wg.Done()
		raw, err := b.kube.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/profile").Param("seconds", secs).
			Timeout(d + time.Minute).DoRaw(ctx)
		if err != nil {
			fmt.Printf("  (no profile of the API server: %v)\n", err)
			return
		}
		b.writeProfile(ctx, raw, "bench-scale-churn-apiserver.pprof", "")
	}()
	return wg.Wait
}

// saveProfile fetches a profile of the manager and saves it as name.
func (b *bench) saveProfile(ctx context.Context, url, name, index string) {
	raw, err := fetch(ctx, url, 2*time.Minute)
	if err != nil {
		fmt.Printf("  (no profile %s: %v)\n", name, err)
		return
	}
	b.writeProfile(ctx, raw, name, index)
}

// writeProfile saves raw as name in the log folder and prints its top
// entries (of sample index, if given) by cumulative and by own share.
func (b *bench) writeProfile(ctx context.Context, raw []byte, name, index string) {
	path := filepath.Join(b.launch.logDir, name)
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		fmt.Printf("  (profile %s not saved: %v)\n", name, err)
		return
	}
	args := []string{"tool", "pprof", "-top", "-nodecount=15"}
	if index != "" {
		args = append(args, "-sample_index="+index)
	}
	fmt.Printf("  profile %s:\n", path)
	if top, err := exec.CommandContext(ctx, "go", append(args, path)...).Output(); err == nil {
		fmt.Printf("%s\n", indent(string(top)))
	}
}

// goroutinesLeft compares the manager's goroutines now with before (a
// profile taken before the Frameworks), stack by stack, and returns how
// many more there are, those of connections apart: the manager's client
// opens another HTTP/2 connection to the API server when one carries as
// many streams (watches) as the API server allows, and keeps it; its
// metrics server keeps the benchmark's own scrapes' connections. Both
// profiles are saved, and the stacks there are more of printed.
func (b *bench) goroutinesLeft(ctx context.Context, pprof string, before []byte) (left, connections int, err error) {
	after, err := fetch(ctx, pprof+"/goroutine?debug=1", time.Minute)
	if err != nil {
		return 0, 0, err
	}
	for name, profile := range map[string][]byte{"before": before, "deleted": after} {
		if err := os.WriteFile(filepath.Join(b.launch.logDir, "bench-scale-goroutines-"+name+".txt"), profile, 0o644); err != nil {
			return 0, 0, err
		}
	}
	was, is := goroutineStacks(before), goroutineStacks(after)
	for stack, n := range is {
		more := n - was[stack]
		if more <= 0 {
			continue
		}
		if strings.Contains(stack, "http2.(*ClientConn).readLoop") || strings.Contains(stack, "net/http.(*conn") {
			connections += more
			continue
		}
		left += more
		fmt.Printf("  %d more goroutines at:\n%s\n", more, indent(stack))
	}
	return left, connections, nil
}

// goroutineStacks counts goroutines by stack (its functions, without
// addresses) in a goroutine profile of debug=1.
func goroutineStacks(profile []byte) map[string]int {
	out := map[string]int{}
	for _, block := range strings.Split(string(profile), "\n\n") {
		lines := strings.Split(strings.TrimSpace(block), "\n")
		if strings.HasPrefix(lines[0], "goroutine profile:") {
			lines = lines[1:] // the header, before the first stack
		}
		if len(lines) == 0 {
			continue
		}
		countText, _, found := strings.Cut(lines[0], " @ ")
		if !found {
			continue
		}
		var n int
		if _, err := fmt.Sscan(countText, &n); err != nil {
			continue
		}
		var funcs []string
		for _, l := range lines[1:] {
			if f := strings.Fields(l); len(f) >= 3 && f[0] == "#" {
				fn, _, _ := strings.Cut(f[2], "+")
				funcs = append(funcs, fn)
			}
		}
		if len(funcs) == 0 {
			continue // a goroutine starting or exiting: an address, no frame
		}
		out[strings.Join(funcs, "\n")] += n
	}
	return out
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = "    " + lines[i]
	}
	return strings.Join(lines, "\n")
}

// restarted is a manager started over the fleet, and what it did.
type restarted struct {
	*managerProc
	result *scaleRestart
}

// restartOver starts a manager (args) over n Ready instances and measures
// until every instance was reconciled once and its queues are empty.
func (b *bench) restartOver(ctx context.Context, tr *readyTracker, n int, args []string) (*restarted, error) {
	r := &scaleRestart{n: n}
	lostBefore := tr.lost()
	start := time.Now()
	mgr, err := b.launch.start(ctx, scaleShard+"-restarted", args...)
	if err != nil {
		return nil, err
	}
	out := &restarted{managerProc: mgr, result: r}
	err = poll(ctx, 5*time.Minute, 100*time.Millisecond, func() (bool, error) {
		reconciles, err := metricSum(ctx, mgr.metrics, "controller_runtime_reconcile_total", controllerPrefix("Scale"))
		if err != nil {
			return false, err
		}
		depth, err := metricSum(ctx, mgr.metrics, "workqueue_depth", controllerPrefix("Scale"))
		if err != nil {
			return false, err
		}
		r.reconciles = reconciles
		return reconciles >= float64(n) && depth == 0, nil
	}, fmt.Sprintf("%d instances reconciled", n))
	r.steady = time.Since(start)
	if err != nil {
		r.timedOut = true
		fmt.Printf("  TIMED OUT: %v\n", err)
	}
	time.Sleep(2 * time.Second)
	s, err := b.sample(ctx, mgr)
	if err != nil {
		return out, err
	}
	r.requests = s.requests
	r.readyLost = tr.lost() - lostBefore
	writes := 0.0
	for k, v := range r.requests {
		if k[0] != "GET" {
			writes += v
		}
	}
	fmt.Printf("  start → every instance reconciled once, queues empty: %s (%.0f reconciles); requests %s (%.0f writes); %d instances lost Ready\n",
		secs(r.steady), r.reconciles, r.requests.byMethod(1), writes, r.readyLost)
	return out, nil
}

// readyTracker records, per instance, when it was created and when it was
// first seen Ready, and counts Ready turning False.
type readyTracker struct {
	mu      sync.Mutex
	order   []string
	started map[string]time.Time
	ready   map[string]time.Time
	isReady map[string]bool
	lostN   int
	cond    *sync.Cond
}

func newReadyTracker() *readyTracker {
	t := &readyTracker{started: map[string]time.Time{}, ready: map[string]time.Time{}, isReady: map[string]bool{}}
	t.cond = sync.NewCond(&t.mu)
	return t
}

// created records that the client is about to create key.
func (t *readyTracker) created(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.order = append(t.order, key)
	t.started[key] = time.Now()
}

func (t *readyTracker) observe(key string, ready bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	was := t.isReady[key]
	t.isReady[key] = ready
	switch {
	case ready && !was:
		if _, seen := t.ready[key]; !seen {
			t.ready[key] = time.Now()
		}
		t.cond.Broadcast()
	case !ready && was:
		t.lostN++
	}
}

func (t *readyTracker) lost() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lostN
}

// lags are created → Ready of the instances created from index from to to,
// sorted.
func (t *readyTracker) lags(from, to int) []time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []time.Duration
	for _, key := range t.order[from:min(to, len(t.order))] {
		if r, ok := t.ready[key]; ok {
			out = append(out, r.Sub(t.started[key]))
		}
	}
	slices.Sort(out)
	return out
}

// waitReady waits until n instances were seen Ready.
func (t *readyTracker) waitReady(ctx context.Context, n int, timeout time.Duration) error {
	return poll(ctx, timeout, 200*time.Millisecond, func() (bool, error) {
		t.mu.Lock()
		defer t.mu.Unlock()
		return len(t.ready) >= n, nil
	}, fmt.Sprintf("%d instances Ready", n))
}

// watch watches the instances of every kind; stop ends the watches.
func (t *readyTracker) watch(ctx context.Context, b *bench, gvrs []schema.GroupVersionResource) (stop func(), err error) {
	ctx, cancel := context.WithCancel(ctx)
	for _, gvr := range gvrs {
		go t.follow(ctx, b, gvr)
	}
	return cancel, nil
}

// follow keeps a watch of one kind's instances, started again when the API
// server ends it.
func (t *readyTracker) follow(ctx context.Context, b *bench, gvr schema.GroupVersionResource) {
	rv := ""
	for ctx.Err() == nil {
		w, err := b.dyn.Resource(gvr).Namespace(scaleNamespace).Watch(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
		if err != nil {
			time.Sleep(time.Second)
			continue
		}
		for ev := range w.ResultChan() {
			u, ok := ev.Object.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			rv = u.GetResourceVersion()
			if ev.Type == watch.Bookmark {
				continue
			}
			t.observe(gvr.Resource+"/"+u.GetName(), ev.Type != watch.Deleted && readyCondition(u))
		}
	}
}

// frameworkWrites counts writes of the Frameworks of a shard.
type frameworkWrites struct {
	mu     sync.Mutex
	writes int
	cancel func()
}

func countFrameworkWrites(ctx context.Context, b *bench, shardName string) (*frameworkWrites, error) {
	ctx, cancel := context.WithCancel(ctx)
	w, err := b.dyn.Resource(frameworkGVR).Watch(ctx, metav1.ListOptions{LabelSelector: v1alpha1.LabelShard + "=" + shardName})
	if err != nil {
		cancel()
		return nil, err
	}
	fw := &frameworkWrites{cancel: cancel}
	go func() {
		for ev := range w.ResultChan() {
			if ev.Type == watch.Modified {
				fw.mu.Lock()
				fw.writes++
				fw.mu.Unlock()
			}
		}
	}()
	return fw, nil
}

func (f *frameworkWrites) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writes
}

func (f *frameworkWrites) stop() { f.cancel() }

// print writes the scale mode's figures beside issue 27's targets.
func (r scaleResult) print(w io.Writer) {
	fmt.Fprintf(w, "\n== Scale (issue 27): %d Frameworks, sizes %v\n\n", r.k, r.sizes())
	fmt.Fprintln(w, "| figure | result | target | |")
	fmt.Fprintln(w, "| --- | --- | --- | --- |")
	perFw := (r.withFrameworks.anon - r.before.anon) / 1e6 / float64(r.k)
	fmt.Fprintf(w, "| private RSS per Framework | %.3f MB (%.1f → %.1f MB) | ≤ 0.3 MB | %s |\n", perFw, r.before.anon/1e6, r.withFrameworks.anon/1e6, verdict(perFw <= 0.3))
	if n := len(r.batches); n >= 2 {
		a, b := r.batches[n-2], r.batches[n-1]
		slope := (b.settled.anon - a.settled.anon) / float64(b.n-a.n) / 1e3
		fmt.Fprintf(w, "| private RSS per instance, %d → %d | %.1f kB (%.1f → %.1f MB) | ≤ 20 kB | %s |\n", a.n, b.n, slope, a.settled.anon/1e6, b.settled.anon/1e6, verdict(slope <= 20))
		heapSlope := (b.heap - a.heap) / float64(b.n-a.n) / 1e3
		fmt.Fprintf(w, "| heap in use per instance, %d → %d | %.1f kB | – | |\n", a.n, b.n, heapSlope)
	}
	if n := len(r.batches); n > 0 {
		last := r.batches[n-1]
		const limit = 512 << 20
		fmt.Fprintf(w, "| RSS at %d instances, %d Frameworks | %.1f MB | the chart's limit, 512 MiB | %s |\n", last.n, r.k, last.settled.rss/1e6, verdict(last.settled.rss <= limit))
		first := r.batches[0]
		within := func(a, b float64) bool { return b <= a*1.1 }
		p99a, p99b := percentile(first.lags, 99), percentile(last.lags, 99)
		fmt.Fprintf(w, "| created → Ready p99, batch to %d vs to %d | %s vs %s | within 10 %% | %s |\n", first.n, last.n, secs(p99a), secs(p99b), verdict(within(p99a.Seconds(), p99b.Seconds())))
		fmt.Fprintf(w, "| the manager's share of it: queue wait p99, reconcile p99, batch to %d vs to %d | %s, %s vs %s, %s | – | |\n", first.n, last.n,
			secs(first.queueWait.quantile(0.99)), secs(first.reconcileTime.quantile(0.99)), secs(last.queueWait.quantile(0.99)), secs(last.reconcileTime.quantile(0.99)))
		ra, rb := first.perInstance(), last.perInstance()
		fmt.Fprintf(w, "| requests per instance (Framework writes apart) | %.2f vs %.2f | within 10 %% | %s |\n", ra, rb, verdict(within(ra, rb)))
		ca, cb := first.cpu/float64(first.added)*1000, last.cpu/float64(last.added)*1000
		fmt.Fprintf(w, "| manager CPU per instance | %.2f ms vs %.2f ms | within 10 %% | %s |\n", ca, cb, verdict(within(ca, cb)))
		for _, b := range r.batches {
			fmt.Fprintf(w, "| batch to %d: created → Ready p50 / p99; requests per instance; Framework writes (rollout reports) | %s / %s; %s; %d, %.1f per Framework over %s | – | |\n",
				b.n, secs(percentile(b.lags, 50)), secs(percentile(b.lags, 99)), b.requests.byMethod(b.added), b.fwWrites,
				float64(b.fwWrites)/float64(r.k), secs(b.took))
		}
	}
	if s := r.restart; s != nil {
		writes, gets := 0.0, 0.0
		for k, v := range s.requests {
			if k[0] == "GET" {
				gets += v
			} else {
				writes += v
			}
		}
		fmt.Fprintf(w, "| restart over %d: writes | %.0f | 0 | %s |\n", s.n, writes, verdict(writes == 0))
		perKind := gets / float64(r.k)
		fmt.Fprintf(w, "| restart: GETs (LISTs and WATCHes included) | %.0f, %.1f per kind | no GET per object: a LIST, a WATCH and discovery per kind (≤ 5) | %s |\n", gets, perKind, verdict(perKind <= 5))
		fmt.Fprintf(w, "| restart → every instance reconciled, queues empty | %s | ≤ 60 s | %s |\n", secs(s.steady), verdict(!s.timedOut && s.steady <= time.Minute))
		fmt.Fprintf(w, "| instances that lost Ready over the restart | %d | 0 | %s |\n", s.readyLost, verdict(s.readyLost == 0))
	}
	fmt.Fprintf(w, "| %d Frameworks applied → all Ready | %s (the API server's floor for %d CRDs: %s; %.2f×) | ≤ 2× the floor | %s |\n",
		r.k, secs(r.installed), r.k, secs(r.floor), ratio(r.installed, r.floor), verdict(r.installed <= 2*r.floor))
	fmt.Fprintf(w, "| the same against the API server's time for the CRDs as operetta generates them, created directly | %s; %.2f× | – | |\n",
		secs(r.generatedFloor), ratio(r.installed, r.generatedFloor))
	fmt.Fprintf(w, "| the same against what operetta writes to install them, created directly (generated CRDs, 2 aggregated ClusterRoles each) | %s; %.2f× | – | |\n",
		secs(r.installFloor), ratio(r.installed, r.installFloor))
	fmt.Fprintf(w, "| manager requests per Framework installed | %.1f (%s) | – | |\n", r.installRequests.total()/float64(r.k), r.installRequests.byMethod(r.k))
	fmt.Fprintf(w, "| goroutines before, with, after deleting them | %.0f, %.0f, %.0f: %d left behind, and %d serving connections opened meanwhile | none left behind | %s |\n",
		r.goroutines[0], r.goroutines[1], r.goroutines[2], r.goroutinesLeft, r.connectionsLeft, verdict(r.goroutinesLeft == 0))
	fmt.Fprintf(w, "| informers before, with, after deleting them | %.0f, %.0f, %.0f | none left behind | %s |\n",
		r.informers[0], r.informers[1], r.informers[2], verdict(r.informers[2] <= r.informers[0]))
}

func (r scaleResult) sizes() []int {
	var out []int
	for _, b := range r.batches {
		out = append(out, b.n)
	}
	return out
}

// perInstance is the batch's requests per instance added, without the
// Frameworks' own writes.
func (b scaleBatch) perInstance() float64 {
	return (b.requests.total() - float64(b.fwWrites)) / float64(b.added)
}
