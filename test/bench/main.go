//go:build benchcluster

// Command bench-cluster measures operetta against a baseline on a real local
// cluster: the same children created by operetta from instances of a
// Framework, and applied directly by the same client. It reports how long
// each takes until the children exist and are ready, how late operetta says
// Ready, what it costs the API server (the manager's own request counter),
// its CPU and memory, what it does while idle, and how soon a new Framework
// serves its first instance; each figure beside its target in issue 7. Then
// the same instances split over two shards, each run by a manager of its
// own, and a leader killed with instances in flight, its standby finishing
// their plans (issue 11).
//
// It measures; it is not a test: it exits 0 whatever the figures are, and
// non-zero only when it could not measure. It starts the managers it
// measures; hack/bench-cluster.sh starts the cluster and runs it
// (`make bench-cluster`); see docs/performance.md. The build tag keeps it
// out of `go test ./...`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"

	"operetta.dev/operetta/internal/testutil"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "bench-cluster:", err)
		os.Exit(1)
	}
}

// bench holds the clients and settings of one benchmark run.
type bench struct {
	dyn          dynamic.Interface
	kube         kubernetes.Interface
	mapper       *restmapper.DeferredDiscoveryRESTMapper
	fw           *framework
	spec         map[string]any // the spec of every instance the benchmark creates
	launch       *launcher
	mgr          *managerProc // the unsharded manager, without leader election
	apiserverPID int
	workers      int
	idle         time.Duration
	runTimeout   time.Duration
	nsTimeout    time.Duration
	// webhookURL is the unsharded manager's conversion webhook, if it runs
	// one.
	webhookURL string
}

func run(ctx context.Context) error {
	var (
		kubeconfig, fwPath, instPath, sizes, managerFlags    string
		firstRepeats, shards, failoverN, frameworks          int
		rolloutN, rolloutConcurrent, scheduledN, collectionN int
		conversionN, scaleFrameworks                         int
		scale                                                bool
		scaleRate                                            float64
		versionsPath                                         string
		scheduleJitter                                       time.Duration
		b                                                    bench
		l                                                    launcher
	)
	// controller-runtime's config package, which the plugin's code
	// imports, defines its own -kubeconfig on the default set.
	flag.CommandLine = flag.NewFlagSet(os.Args[0], flag.ExitOnError)
	flag.StringVar(&kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster")
	flag.StringVar(&fwPath, "framework", "examples/webapp/framework.yaml", "the Framework to measure")
	flag.StringVar(&instPath, "instance", "examples/webapp/instance.yaml", "an instance; every instance created gets its spec")
	flag.StringVar(&sizes, "sizes", "200 500", "numbers of instances, one run of each mode per number")
	flag.DurationVar(&b.idle, "idle", 60*time.Second, "how long to count the manager's requests once everything is ready")
	flag.IntVar(&b.workers, "workers", 16, "concurrent client workers creating instances or children")
	flag.StringVar(&l.bin, "manager", "bin/manager", "the manager binary to start and measure")
	flag.StringVar(&managerFlags, "manager-flags", "", "extra flags for every manager started")
	flag.StringVar(&l.goMemLimit, "gomemlimit", "", "GOMEMLIMIT of every manager started (the chart sets 90 % of its memory limit: 460MiB)")
	flag.StringVar(&l.logDir, "log-dir", ".work", "where the managers' logs go, one file each")
	flag.IntVar(&l.port, "port", 18480, "the first of the local ports the managers' metrics and probes take, two each")
	flag.IntVar(&shards, "shards", 2, "split each size over this many shards, a manager each, against one manager (below 2: not measured)")
	flag.IntVar(&failoverN, "failover", 200, "instances in flight when a shard's leader is killed (0: not measured)")
	flag.IntVar(&rolloutN, "rollout", 500, "instances a Framework change is previewed (kubectl operetta diff) and rolled out over (0: not measured)")
	flag.IntVar(&rolloutConcurrent, "rollout-max-concurrent", 50, "spec.rollout.maxConcurrent of that rollout")
	flag.IntVar(&scheduledN, "schedules", 1000, "instances on one per-minute schedule (0: not measured)")
	flag.DurationVar(&scheduleJitter, "schedule-jitter", 30*time.Second, "that schedule's jitter")
	flag.IntVar(&collectionN, "collection", 100, "elements of one instance's collection (0: not measured)")
	flag.IntVar(&conversionN, "conversion", 500, "instances of a kind in two versions, read in the one they are not stored in (0: not measured)")
	flag.StringVar(&versionsPath, "versions-framework", "examples/versions/framework.yaml", "the Framework of two versions the conversion is measured with")
	flag.BoolVar(&scale, "scale", false, "the scale mode only (issue 27): --scale-frameworks Frameworks, the fleet grown to each of --sizes")
	flag.IntVar(&scaleFrameworks, "scale-frameworks", 200, "Frameworks of the scale mode")
	flag.Float64Var(&scaleRate, "scale-rate", 100, "instances created per second in the scale mode")
	flag.IntVar(&frameworks, "frameworks", 20, "Frameworks without instances, for what each costs (0: not measured)")
	flag.IntVar(&b.apiserverPID, "apiserver-pid", 0, "process id of the API server, for its RSS as Frameworks are added (0: not measured)")
	flag.DurationVar(&b.runTimeout, "run-timeout", 20*time.Minute, "longest a run may take until everything is ready")
	flag.DurationVar(&b.nsTimeout, "namespace-timeout", 10*time.Minute, "longest to wait for a run's namespace to be deleted")
	flag.IntVar(&firstRepeats, "first-repeats", 3, "how often to measure Framework applied → first children, each with a fresh Framework")
	flag.Parse()

	ns, err := parseSizes(sizes)
	if err != nil {
		return err
	}
	if b.fw, err = loadFramework(fwPath); err != nil {
		return err
	}
	inst, err := readYAML(instPath)
	if err != nil {
		return err
	}
	b.spec, _, _ = unstructured.NestedMap(inst, "spec")
	if b.spec == nil {
		b.spec = map[string]any{}
	}

	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	// The client must not be what limits the run: 16 workers, no throttling.
	cfg.QPS, cfg.Burst = 5000, 10000
	// A deprecated version's warning, on each of hundreds of requests, is
	// not a figure.
	cfg.WarningHandler = rest.NoWarnings{}
	if b.dyn, err = dynamic.NewForConfig(cfg); err != nil {
		return err
	}
	if b.kube, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	b.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	l.kubeconfig, l.extra = kubeconfig, strings.Fields(managerFlags)
	b.launch = &l
	defer l.stopAll()
	if scale {
		res, err := b.scale(ctx, scaleFrameworks, ns, scaleRate)
		res.print(os.Stdout)
		return err
	}
	unsharded := []string{"--leader-elect=false"}
	if conversionN > 0 {
		// The conversion webhook as beside a local cluster: by URL, with
		// the manager's own certificate.
		port, err := testutil.FreePort()
		if err != nil {
			return err
		}
		b.webhookURL = fmt.Sprintf("https://localhost:%d", port)
		unsharded = append(unsharded, fmt.Sprintf("--webhook-port=%d", port), "--conversion-url="+b.webhookURL,
			"--webhook-cert-secret="+webhookSecret.String())
	}
	if b.mgr, err = l.start(ctx, "unsharded", unsharded...); err != nil {
		return err
	}
	idle, err := b.sample(ctx, b.mgr)
	if err != nil {
		return err
	}

	fmt.Printf("operetta cluster benchmark: sizes %v, %d client workers, idle window %s, Framework %s (kind %s)\n",
		ns, b.workers, b.idle, b.fw.name, b.fw.kind)
	fmt.Printf("manager RSS before any instance: %s (what the RSS figures below start from)\n", private(idle.rss, idle.anon))

	var rep report
	if firstRepeats > 0 {
		fmt.Printf("\n== Framework applied → first children (%d fresh Frameworks, instance applied; then one created)\n", firstRepeats)
	}
	for i := range firstRepeats + min(firstRepeats, 1) {
		// The last one creates its instance instead of applying it: what a
		// user of kubectl create or client-side kubectl apply gets.
		create := i == firstRepeats
		f, err := b.first(ctx, i, create)
		if err != nil {
			return fmt.Errorf("measuring Framework applied → first children: %w", err)
		}
		fmt.Printf("  %s: %s (CRD established after %s; instance %s → first child %s, of which the API server's answer to the %s %s)\n",
			f.kind, secs(f.total), secs(f.established), f.verb(), secs(f.manager), f.verb(), secs(f.writeCall))
		if create {
			rep.firstCreated = &f
		} else {
			rep.first = append(rep.first, f)
		}
	}

	if frameworks > 0 {
		f, err := b.frameworks(ctx, frameworks)
		if err != nil {
			return fmt.Errorf("measuring %d Frameworks: %w", frameworks, err)
		}
		rep.frameworks = &f
	}

	if err := b.applyFramework(ctx, b.fw.manifest(), 2*time.Minute); err != nil {
		return err
	}
	instGVR, err := b.resource(schema.GroupKind{Group: b.fw.group, Kind: b.fw.kind}, b.fw.version)
	if err != nil {
		return err
	}
	for i, n := range ns {
		// Interleaved: operetta first for the first size, direct first for
		// the next, so neither mode always runs on a cluster just emptied.
		modes := []string{"operetta", "direct"}
		if i%2 == 1 {
			modes[0], modes[1] = modes[1], modes[0]
		}
		for _, mode := range modes {
			r, err := b.measure(ctx, mode, n, instGVR)
			if err != nil {
				return fmt.Errorf("%s run of %d: %w", mode, n, err)
			}
			rep.runs = append(rep.runs, r)
		}
		if shards >= 2 {
			r, err := b.measureShards(ctx, n, shards)
			if err != nil {
				return fmt.Errorf("%d shards, run of %d: %w", shards, n, err)
			}
			rep.runs = append(rep.runs, r)
		}
	}
	if rolloutN > 0 {
		r, err := b.rollout(ctx, kubeconfig, rolloutN, rolloutConcurrent, instGVR)
		if err != nil {
			return fmt.Errorf("a rollout over %d instances: %w", rolloutN, err)
		}
		rep.rollout = &r
	}
	if scheduledN > 0 {
		r, err := b.schedules(ctx, scheduledN, scheduleJitter)
		if err != nil {
			return fmt.Errorf("%d instances on a schedule: %w", scheduledN, err)
		}
		rep.schedules = &r
	}
	if collectionN > 0 {
		r, err := b.collection(ctx, collectionN)
		if err != nil {
			return fmt.Errorf("a collection of %d: %w", collectionN, err)
		}
		rep.collection = &r
	}
	if conversionN > 0 {
		r, err := b.conversion(ctx, versionsPath, conversionN, 20, 200)
		if err != nil {
			return fmt.Errorf("%d instances in two versions: %w", conversionN, err)
		}
		rep.conversion = &r
	}
	if failoverN > 0 {
		f, err := b.failover(ctx, failoverN)
		if err != nil {
			return fmt.Errorf("failover with %d instances: %w", failoverN, err)
		}
		rep.failover = &f
	}
	rep.print(os.Stdout, b.idle)
	return nil
}

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Fields(strings.ReplaceAll(s, ",", " ")) {
		var n int
		if _, err := fmt.Sscanf(f, "%d", &n); err != nil || n < 1 {
			return nil, fmt.Errorf("size %q: want a positive number", f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("no sizes")
	}
	return out, nil
}

func (b *bench) resource(gk schema.GroupKind, version string) (schema.GroupVersionResource, error) {
	m, err := b.mapper.RESTMapping(gk, version)
	if meta.IsNoMatchError(err) {
		b.mapper.Reset()
		m, err = b.mapper.RESTMapping(gk, version)
	}
	if err != nil {
		return schema.GroupVersionResource{}, fmt.Errorf("finding the resource of %s: %w", gk, err)
	}
	return m.Resource, nil
}

var frameworkGVR = schema.GroupVersionResource{Group: "operetta.dev", Version: "v1alpha1", Resource: "frameworks"}

// applyFramework applies fw and waits until its Ready condition is True for
// its generation.
func (b *bench) applyFramework(ctx context.Context, fw *unstructured.Unstructured, timeout time.Duration) error {
	c := b.dyn.Resource(frameworkGVR)
	if _, err := c.Apply(ctx, fw.GetName(), fw, metav1.ApplyOptions{FieldManager: "bench", Force: true}); err != nil {
		return fmt.Errorf("applying Framework %s: %w", fw.GetName(), err)
	}
	return poll(ctx, timeout, 100*time.Millisecond, func() (bool, error) {
		u, err := c.Get(ctx, fw.GetName(), metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return readyCondition(u), nil
	}, "Framework "+fw.GetName()+" Ready")
}

// poll calls check every interval until it says done, fails or timeout.
func poll(ctx context.Context, timeout, interval time.Duration, check func() (bool, error), what string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		done, err := check()
		if done {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("waiting %s for %s: %w", timeout, what, last)
			}
			return fmt.Errorf("waiting %s for %s: timed out", timeout, what)
		case <-time.After(interval):
		}
	}
}

// plan is what one run creates: for each instance its rendered children.
type plan struct {
	instances []string
	children  map[string][]*unstructured.Unstructured
	expected  map[childKey]string
	kinds     map[schema.GroupVersionResource]string
	gvrs      map[string]schema.GroupVersionResource // kind → resource
}

func (b *bench) plan(namespace, prefix string, n int) (*plan, error) {
	p := &plan{children: map[string][]*unstructured.Unstructured{}, expected: map[childKey]string{},
		kinds: map[schema.GroupVersionResource]string{}, gvrs: map[string]schema.GroupVersionResource{}}
	for i := range n {
		name := fmt.Sprintf("%s-%04d", prefix, i)
		objs, err := b.fw.render(name, namespace, b.spec)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			gvk := o.GroupVersionKind()
			if _, ok := p.gvrs[gvk.Kind]; !ok {
				gvr, err := b.resource(gvk.GroupKind(), gvk.Version)
				if err != nil {
					return nil, err
				}
				p.gvrs[gvk.Kind], p.kinds[gvr] = gvr, gvk.Kind
			}
			p.expected[childKey{gvk.Kind, o.GetName()}] = name
		}
		p.instances = append(p.instances, name)
		p.children[name] = objs
	}
	return p, nil
}

// result is one run of one mode.
type result struct {
	mode     string
	n        int
	created  time.Duration // the client's work: all creates answered
	t        timings
	timedOut string // what was missing, if the run timed out
	requests requests
	// frameworkWrites are the manager's writes to the Framework during the
	// run (its status: the rollout reports), part of requests.
	frameworkWrites int
	reconciles      float64
	cpu             float64
	rss, anon       []float64
	idle            requests
	idleCPU         float64
}

// record keeps a run's timings and what its managers did between before
// and after, and prints them.
func (r *result) record(t timings, before, after sample) {
	r.t = t
	r.requests = after.requests.minus(before.requests)
	r.reconciles = after.reconciles - before.reconciles
	r.cpu, r.rss, r.anon = after.cpu-before.cpu, after.rss, after.anon
	r.print(os.Stdout)
}

// measure runs one mode with n instances in a fresh namespace and deletes
// the namespace afterwards.
func (b *bench) measure(ctx context.Context, mode string, n int, instGVR schema.GroupVersionResource) (result, error) {
	r := result{mode: mode, n: n}
	namespace := fmt.Sprintf("bench-%s-%d-%d", mode, n, time.Now().Unix()%100000)
	fmt.Printf("\n== %s, N=%d, namespace %s\n", mode, n, namespace)
	p, deleteNamespace, err := b.fresh(ctx, namespace, n)
	if err != nil {
		return r, err
	}
	defer deleteNamespace()

	var tr *tracker
	if mode == "operetta" {
		tr = newTracker(p.expected, p.instances)
		err = tr.watch(ctx, b.dyn, namespace, p.kinds, instGVR)
	} else {
		tr = newTracker(p.expected, nil)
		err = tr.watch(ctx, b.dyn, namespace, p.kinds)
	}
	defer tr.close()
	if err != nil {
		return r, err
	}

	var fwWrites *writeCounter
	if mode == "operetta" {
		if fwWrites, err = countWrites(ctx, b.dyn, frameworkGVR, b.fw.name); err != nil {
			return r, err
		}
		defer fwWrites.stop()
	}
	before, err := b.sample(ctx, b.mgr)
	if err != nil {
		return r, err
	}
	start := time.Now()
	err = b.create(ctx, n, func(ctx context.Context, i int) error {
		name := p.instances[i]
		if mode == "operetta" {
			return b.createInstance(ctx, tr, instGVR, b.fw.kind, namespace, name)
		}
		for _, o := range p.children[name] {
			gvr := p.gvrs[o.GetKind()]
			if _, err := b.dyn.Resource(gvr).Namespace(namespace).Apply(ctx, o.GetName(), o, metav1.ApplyOptions{FieldManager: "bench", Force: true}); err != nil {
				return err
			}
		}
		return nil
	})
	r.created = time.Since(start)
	if err != nil {
		return r, err
	}
	fmt.Printf("  client: %d %s created in %s by %d workers\n", n, map[string]string{"operetta": b.fw.kind + "s", "direct": "× 3 children"}[mode], secs(r.created), b.workers)

	if r.timedOut, err = b.settle(ctx, tr); err != nil {
		return r, err
	}
	if mode == "operetta" && r.timedOut == "" {
		// Settled includes the Framework reporting the rollout: its status
		// write is part of the run, not of the idle window.
		if err := b.rolloutReported(ctx, b.fw.name, int64(n)); err != nil {
			fmt.Printf("  WARNING: %v\n", err)
		}
	}
	if fwWrites != nil {
		// Counted before the manager's requests are: a write between the
		// two would count for the instances, never against them.
		if r.frameworkWrites, err = fwWrites.count(ctx); err != nil {
			fmt.Printf("  WARNING: counting the Framework's writes: %v\n", err)
		}
		fwWrites.stop()
	}
	after, err := b.sample(ctx, b.mgr)
	if err != nil {
		return r, err
	}
	r.record(tr.timings(start), before, after)

	if mode == "operetta" && r.timedOut == "" && b.idle > 0 {
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(b.idle):
		}
		end, err := b.sample(ctx, b.mgr)
		if err != nil {
			return r, err
		}
		r.idle, r.idleCPU = end.requests.minus(after.requests), end.cpu-after.cpu
		fmt.Printf("  idle %s: %.0f manager requests%s, CPU %.2f s, RSS %s\n", b.idle, r.idle.total(), paren(r.idle.byMethod(1)), r.idleCPU, mb(end.rss))
	}
	return r, nil
}

// fresh creates namespace and the plan of a run of n instances in it; done
// deletes it again.
func (b *bench) fresh(ctx context.Context, namespace string, n int) (p *plan, done func(), err error) {
	if p, err = b.plan(namespace, "app", n); err != nil {
		return nil, nil, err
	}
	done, err = b.inNamespace(ctx, namespace)
	return p, done, err
}

// inNamespace creates namespace and returns what deletes it again and
// waits until it is gone (it prints how long that took).
func (b *bench) inNamespace(ctx context.Context, namespace string) (func(), error) {
	if _, err := b.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("creating namespace %s: %w", namespace, err)
	}
	return func() {
		if err := b.deleteNamespace(context.WithoutCancel(ctx), namespace); err != nil {
			fmt.Printf("  WARNING: %v\n", err)
		}
	}, nil
}

// settle waits until tr has seen everything, and returns what was missing
// if the run's timeout came first; an error only if ctx ended.
func (b *bench) settle(ctx context.Context, tr *tracker) (timedOut string, err error) {
	prog, err := tr.wait(ctx, b.runTimeout)
	if err == nil {
		return "", nil
	}
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	fmt.Printf("  TIMED OUT: %v\n", err)
	return prog.String(), nil
}

// createInstance applies an instance of kind with the benchmark's spec and
// tells tr when it did.
func (b *bench) createInstance(ctx context.Context, tr *tracker, gvr schema.GroupVersionResource, kind, namespace, name string) error {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": gvr.GroupVersion().String(), "kind": kind,
		"metadata": map[string]any{"name": name, "namespace": namespace},
		"spec":     b.spec,
	}}
	tr.creating(name)
	_, err := b.dyn.Resource(gvr).Namespace(namespace).Apply(ctx, name, u, metav1.ApplyOptions{FieldManager: "bench", Force: true})
	return err
}

// create runs do for 0..n-1 on b.workers workers; the first error stops it.
func (b *bench) create(ctx context.Context, n int, do func(context.Context, int) error) error {
	ctx, cancel := context.WithTimeout(ctx, b.runTimeout)
	defer cancel()
	next := make(chan int)
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for range b.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := do(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		}()
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first != nil {
		return fmt.Errorf("creating: %w", first)
	}
	return ctx.Err()
}

func (b *bench) deleteNamespace(ctx context.Context, namespace string) error {
	start := time.Now()
	err := b.kube.CoreV1().Namespaces().Delete(ctx, namespace, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting namespace %s: %w", namespace, err)
	}
	err = poll(ctx, b.nsTimeout, 500*time.Millisecond, func() (bool, error) {
		_, err := b.kube.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
		return apierrors.IsNotFound(err), err
	}, "namespace "+namespace+" to be deleted")
	if err == nil {
		fmt.Printf("  namespace %s deleted in %s\n", namespace, secs(time.Since(start)))
	}
	return err
}

// firstResult is one measurement of Framework applied → first children.
// How the instance is written matters: kube-apiserver holds a create of a
// custom resource for 2 s when its CRD was established less than 2 s ago
// (apiextensions-apiserver's customresource_handler.go, for HA API servers
// that may not have seen the CRD yet); a server-side apply, which GitOps
// tools and kubectl apply --server-side send, is a PATCH and is not held.
type firstResult struct {
	kind        string
	total       time.Duration // Framework applied → first child seen
	established time.Duration // Framework applied → CRD established
	manager     time.Duration // instance written → first child seen
	writeCall   time.Duration // how long the API server took to answer the instance's write
	created     bool          // the instance was created (POST), not applied (PATCH)
}

func (f firstResult) verb() string {
	if f.created {
		return "create"
	}
	return "apply"
}

// first applies a fresh copy of the Framework (its own name and kind, so
// nothing of it exists yet), applies an instance (or creates it, if
// create) as soon as the bench's watch sees the generated CRD established,
// and measures until the bench's watch sees the instance's first child.
// The copy has deletionPolicy Delete and is deleted again.
func (b *bench) first(ctx context.Context, i int, create bool) (firstResult, error) {
	suffix := string(rune('A' + i%26))
	if i >= 26 {
		suffix += string(rune('A' + i/26 - 1))
	}
	kind := b.fw.kind + "First" + suffix
	fw, instGVR := b.fw.variant(b.fw.name+"-first-"+strings.ToLower(suffix), kind)
	crdName := instGVR.Resource + "." + b.fw.group
	res := firstResult{kind: kind, created: create}
	namespace := "bench-first"
	if _, err := b.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return res, err
	}
	instName := "first-" + strings.ToLower(suffix)

	p, err := b.plan(namespace, instName, 1)
	if err != nil {
		return res, err
	}
	tr := newTracker(p.expected, nil)
	defer tr.close()
	if err := tr.watch(ctx, b.dyn, namespace, p.kinds); err != nil {
		return res, err
	}
	established := make(chan time.Time, 1)
	crds := newCRDWatch(crdName, established)
	defer crds.close()
	if err := crds.watch(ctx, b.dyn); err != nil {
		return res, err
	}

	start := time.Now()
	if _, err := b.dyn.Resource(frameworkGVR).Apply(ctx, fw.GetName(), fw, metav1.ApplyOptions{FieldManager: "bench", Force: true}); err != nil {
		return res, fmt.Errorf("applying Framework %s: %w", fw.GetName(), err)
	}
	defer b.deleteFramework(context.WithoutCancel(ctx), fw.GetName())
	select {
	case at := <-established:
		res.established = at.Sub(start)
	case <-time.After(time.Minute):
		return res, fmt.Errorf("CRD %s not established within a minute", crdName)
	case <-ctx.Done():
		return res, ctx.Err()
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": instGVR.GroupVersion().String(), "kind": kind,
		"metadata": map[string]any{"name": p.instances[0], "namespace": namespace},
		"spec":     b.spec,
	}}
	written := time.Now()
	instances := b.dyn.Resource(instGVR).Namespace(namespace)
	if create {
		_, err = instances.Create(ctx, u, metav1.CreateOptions{FieldManager: "bench"})
	} else {
		_, err = instances.Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: "bench", Force: true})
	}
	if err != nil {
		return res, fmt.Errorf("writing %s %s (%s): %w", kind, u.GetName(), res.verb(), err)
	}
	res.writeCall = time.Since(written)
	err = poll(ctx, time.Minute, 5*time.Millisecond, func() (bool, error) { return !tr.firstSeen().IsZero(), nil }, "the first child of "+u.GetName())
	if err != nil {
		return res, err
	}
	seen := tr.firstSeen()
	res.total, res.manager = seen.Sub(start), seen.Sub(written)
	return res, nil
}

func (b *bench) deleteFramework(ctx context.Context, name string) {
	c := b.dyn.Resource(frameworkGVR)
	if err := c.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		fmt.Printf("  WARNING: deleting Framework %s: %v\n", name, err)
		return
	}
	err := poll(ctx, 2*time.Minute, 200*time.Millisecond, func() (bool, error) {
		_, err := c.Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), err
	}, "Framework "+name+" to be deleted")
	if err != nil {
		fmt.Printf("  WARNING: %v\n", err)
	}
}

// rolloutReported waits until Framework name's status counts n instances,
// all updated.
func (b *bench) rolloutReported(ctx context.Context, name string, n int64) error {
	return poll(ctx, 30*time.Second, 100*time.Millisecond, func() (bool, error) {
		fw, err := b.dyn.Resource(frameworkGVR).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		updated, _, _ := unstructured.NestedInt64(fw.Object, "status", "rollout", "updated")
		total, _, _ := unstructured.NestedInt64(fw.Object, "status", "rollout", "total")
		return updated == n && total == n, nil
	}, fmt.Sprintf("Framework %s to report %d instances updated", name, n))
}
