//go:build benchcluster

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"operetta.dev/operetta/internal/shard"
)

// failoverResult is what a failover measured.
type failoverResult struct {
	n, readyAtKill int
	killToLead     time.Duration // the leader killed → the standby holds the Lease
	leadToReady    time.Duration // the standby holds the Lease → every instance Ready
	createdToReady time.Duration // the first create → every instance Ready
	inFlight       []time.Duration
	startedAgain   int // instances whose plan the standby started over
	planComplete   map[string]int
	requests       requests // the standby's, from the kill until every instance is Ready
	timedOut       string
}

// failoverShard is the shard the failover runs in, so that its Lease is its
// own and the unsharded manager stays out of it.
const failoverShard = "failover"

// failover runs a shard as the chart does, a leader and a warm standby with
// a 15 s Lease, creates n instances, kills the leader with SIGKILL once a
// quarter of them are Ready (its Lease is not released, as on a node
// failure) and measures how the standby takes over: how long until it
// leads and until every instance is Ready, whether it started any plan over,
// and how many PlanComplete events each instance got.
func (b *bench) failover(ctx context.Context, n int) (failoverResult, error) {
	res := failoverResult{n: n}
	fmt.Printf("\n== failover: a shard's leader killed with %d instances in flight\n", n)
	part := b.shardFramework(failoverShard)
	args := []string{"--shard=" + failoverShard, "--leader-elect=true", "--leader-election-namespace=kube-system"}
	lease := shard.LeaderElectionID(failoverShard)

	leader, err := b.launch.start(ctx, "failover-leader", args...)
	if err != nil {
		return res, err
	}
	var holder string
	if err := poll(ctx, time.Minute, 50*time.Millisecond, func() (bool, error) {
		holder, err = b.leaseHolder(ctx, lease)
		return holder != "", err
	}, "the first replica to lead"); err != nil {
		return res, err
	}
	standby, err := b.launch.start(ctx, "failover-standby", args...)
	if err != nil {
		return res, err
	}
	defer standby.stop() // after the Framework is deleted
	defer b.deleteFramework(context.WithoutCancel(ctx), part.fw.GetName())
	if err := b.applyFramework(ctx, part.fw, 2*time.Minute); err != nil {
		return res, err
	}

	namespace := fmt.Sprintf("bench-failover-%d", time.Now().Unix()%100000)
	p, err := b.plan(namespace, "app", n)
	if err != nil {
		return res, err
	}
	deleteNamespace, err := b.inNamespace(ctx, namespace)
	if err != nil {
		return res, err
	}
	defer deleteNamespace()
	tr := newTracker(p.expected, p.instances)
	defer tr.close()
	if err := tr.watch(ctx, b.dyn, namespace, p.kinds, part.gvr); err != nil {
		return res, err
	}

	start := time.Now()
	if err := b.create(ctx, n, func(ctx context.Context, i int) error {
		return b.createInstance(ctx, tr, part.gvr, part.kind, namespace, p.instances[i])
	}); err != nil {
		return res, err
	}
	if err := poll(ctx, b.runTimeout, 20*time.Millisecond, func() (bool, error) {
		return tr.progress().ready >= n/4, nil
	}, "a quarter of the instances to be Ready"); err != nil {
		return res, err
	}
	before, err := b.sample(ctx, standby)
	if err != nil {
		return res, err
	}
	pending := tr.pending()
	leader.kill()
	killed := time.Now()
	res.readyAtKill = n - len(pending)
	fmt.Printf("  killed the leader %s after the first create, with %d of %d instances Ready\n", secs(killed.Sub(start)), res.readyAtKill, n)

	if err := poll(ctx, 2*time.Minute, 50*time.Millisecond, func() (bool, error) {
		h, err := b.leaseHolder(ctx, lease)
		return h != "" && h != holder, err
	}, "the standby to lead"); err != nil {
		return res, err
	}
	res.killToLead = time.Since(killed)
	if res.timedOut, err = b.settle(ctx, tr); err != nil {
		return res, err
	}
	after, err := b.sample(ctx, standby)
	if err != nil {
		return res, err
	}
	t := tr.timings(start)
	res.createdToReady = t.allReady
	res.leadToReady = t.allReady - killed.Sub(start) - res.killToLead
	res.inFlight = tr.latencyOf(pending)
	res.startedAgain = tr.runsStartedAgain()
	res.requests = after.requests.minus(before.requests)
	if res.planComplete, err = b.eventsPer(ctx, namespace, "PlanComplete"); err != nil {
		return res, err
	}
	res.print(os.Stdout)
	return res, nil
}

// leaseHolder is the holder of Lease name in kube-system, "" if none.
func (b *bench) leaseHolder(ctx context.Context, name string) (string, error) {
	l, err := b.kube.CoordinationV1().Leases("kube-system").Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil || l.Spec.HolderIdentity == nil {
		return "", err
	}
	return *l.Spec.HolderIdentity, nil
}

// eventsPer counts, per object, the occurrences of events with reason in
// namespace, a series counted as its occurrences.
func (b *bench) eventsPer(ctx context.Context, namespace, reason string) (map[string]int, error) {
	list, err := b.kube.EventsV1().Events(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing the events in %s: %w", namespace, err)
	}
	out := map[string]int{}
	for _, e := range list.Items {
		if e.Reason != reason {
			continue
		}
		c := 1
		if e.Series != nil {
			c = int(e.Series.Count)
		}
		out[e.Regarding.Name] += c
	}
	return out, nil
}

func (f failoverResult) print(w io.Writer) {
	if f.timedOut != "" {
		fmt.Fprintf(w, "  at the timeout: %s\n", f.timedOut)
	}
	fmt.Fprintf(w, "  kill → standby leads    %s (Lease 15 s)\n", secs(f.killToLead))
	fmt.Fprintf(w, "  standby leads → all Ready %s\n", secs(f.leadToReady))
	fmt.Fprintf(w, "  created → all Ready     %s\n", secs(f.createdToReady))
	inFlight := f.n - f.readyAtKill
	fmt.Fprintf(w, "  in flight at the kill   %d instances; of those Ready, created → Ready p50 %s, p99 %s\n",
		inFlight, secs(percentile(f.inFlight, 50)), secs(percentile(f.inFlight, 99)))
	fmt.Fprintf(w, "  plans started over      %d of %d instances\n", f.startedAgain, f.n)
	fmt.Fprintf(w, "  PlanComplete events     %s\n", f.events())
	fmt.Fprintf(w, "  standby's requests      %.0f after the kill = %.2f per instance in flight%s\n",
		f.requests.total(), f.requests.total()/float64(max(1, inFlight)), paren(f.requests.byMethod(max(1, inFlight))))
}

// events says how many instances got no PlanComplete, one, or more.
func (f failoverResult) events() string {
	var one, more, total int
	for _, c := range f.planComplete {
		total += c
		if c == 1 {
			one++
		} else if c > 1 {
			more++
		}
	}
	return fmt.Sprintf("%d for %d instances: %d with one, %d with none, %d with more", total, f.n, one, f.n-one-more, more)
}
