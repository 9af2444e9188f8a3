//go:build benchcluster

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"operetta.dev/operetta/internal/shard"
)

// frameworksResult is what k Frameworks cost before any instance: each is a
// CRD in the API server and a loop with an instance informer in the
// manager.
type frameworksResult struct {
	k                     int
	installed             time.Duration // the first apply → all k Ready
	manager, apiserver    [2]float64    // RSS before and after
	requests              requests      // the manager's, applying until Ready
	cpu                   float64       // the manager's
	idleRequests, idleCPU float64       // the manager's requests and CPU in the 10 s after
}

// frameworksShard is the shard the Frameworks without instances are
// labelled for: a manager of their own measures them, so that what they
// leave in a manager's memory stays out of the other runs' figures.
const frameworksShard = "frameworks"

// frameworks applies k copies of the Framework, each its own kind, waits
// until all are Ready, measures, and deletes them.
func (b *bench) frameworks(ctx context.Context, k int) (frameworksResult, error) {
	res := frameworksResult{k: k}
	fmt.Printf("\n== %d Frameworks without instances, run by a manager of their own\n", k)
	mgr, err := b.launch.start(ctx, frameworksShard, "--leader-elect=false", "--shard="+frameworksShard)
	if err != nil {
		return res, err
	}
	defer mgr.stop() // after the Frameworks are deleted
	before, err := b.sample(ctx, mgr)
	if err != nil {
		return res, err
	}
	res.apiserver[0] = b.apiserverRSS()
	var names []string
	defer func() {
		ctx := context.WithoutCancel(ctx)
		for _, n := range names { // all at once, then wait for each
			_ = b.dyn.Resource(frameworkGVR).Delete(ctx, n, metav1.DeleteOptions{})
		}
		for _, n := range names {
			b.deleteFramework(ctx, n)
		}
	}()
	start := time.Now()
	c := b.dyn.Resource(frameworkGVR)
	for i := range k {
		fw, _ := b.fw.variant(fmt.Sprintf("%s-k%02d", b.fw.name, i), fmt.Sprintf("%sK%02d", b.fw.kind, i))
		shard.Label(fw, frameworksShard)
		if _, err := c.Apply(ctx, fw.GetName(), fw, metav1.ApplyOptions{FieldManager: "bench", Force: true}); err != nil {
			return res, fmt.Errorf("applying Framework %s: %w", fw.GetName(), err)
		}
		names = append(names, fw.GetName())
	}
	if err := poll(ctx, 2*time.Minute, 100*time.Millisecond, func() (bool, error) {
		list, err := c.List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		ready := 0
		for i := range list.Items {
			if slices.Contains(names, list.Items[i].GetName()) && readyCondition(&list.Items[i]) {
				ready++
			}
		}
		return ready == k, nil
	}, fmt.Sprintf("%d Frameworks Ready", k)); err != nil {
		return res, err
	}
	res.installed = time.Since(start)
	after, err := b.sample(ctx, mgr)
	if err != nil {
		return res, err
	}
	res.requests, res.cpu = after.requests.minus(before.requests), after.cpu-before.cpu
	select {
	case <-ctx.Done():
		return res, ctx.Err()
	case <-time.After(10 * time.Second): // let the caches and the API server's memory settle
	}
	settled, err := b.sample(ctx, mgr)
	if err != nil {
		return res, err
	}
	res.manager = [2]float64{before.rss[0], settled.rss[0]}
	res.apiserver[1] = b.apiserverRSS()
	res.idleRequests, res.idleCPU = settled.requests.minus(after.requests).total(), settled.cpu-after.cpu
	res.print(os.Stdout)
	return res, nil
}

// apiserverRSS is the API server's RSS, 0 if its process is not known.
func (b *bench) apiserverRSS() float64 {
	if b.apiserverPID == 0 {
		return 0
	}
	rss, err := rssBytes(b.apiserverPID)
	if err != nil {
		fmt.Printf("  WARNING: the API server's RSS: %v\n", err)
	}
	return rss
}

func (f frameworksResult) print(w io.Writer) {
	per := func(x [2]float64) string {
		if x[0] == 0 {
			return "not measured"
		}
		return fmt.Sprintf("%.1f → %.1f MB, %+.2f MB per Framework", x[0]/1e6, x[1]/1e6, (x[1]-x[0])/1e6/float64(f.k))
	}
	fmt.Fprintf(w, "  applied → all Ready     %s\n", secs(f.installed))
	fmt.Fprintf(w, "  manager requests        %.0f = %.1f per Framework%s\n", f.requests.total(), f.requests.total()/float64(f.k), paren(f.requests.byMethod(f.k)))
	fmt.Fprintf(w, "  manager CPU             %.2f s installing; %.0f requests and %.2f s CPU in the 10 s after\n", f.cpu, f.idleRequests, f.idleCPU)
	fmt.Fprintf(w, "  manager RSS             %s\n", per(f.manager))
	fmt.Fprintf(w, "  API server RSS          %s\n", per(f.apiserver))
}
