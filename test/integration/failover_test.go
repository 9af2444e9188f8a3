package integration

import (
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	operetta "operetta.dev/operetta/internal/manager"
	"operetta.dev/operetta/internal/shard"
)

// TestAStandbyCompletesThePlanOfAKilledLeader: two replicas of one shard;
// the standby keeps the loop's caches warm; the leader is killed (its Lease
// not released) while a plan waits; the standby takes the Lease once it
// expires and completes the same plan run.
func TestAStandbyCompletesThePlanOfAKilledLeader(t *testing.T) {
	lease, renew, retry := 3*time.Second, 2*time.Second, 500*time.Millisecond
	elect := func(o *ctrl.Options) {
		o.LeaderElection = true
		o.LeaderElectionID = shard.LeaderElectionID("failover")
		o.LeaderElectionNamespace = "default"
		o.LeaderElectionReleaseOnCancel = false // killed, not shut down
		o.LeaseDuration, o.RenewDeadline, o.RetryPeriod = &lease, &renew, &retry
	}
	opts := operetta.Options{WorkersPerKind: 2, Shard: "failover"}
	leader := startManagerElecting(t, opts, nil, elect)
	select {
	case <-leader.Elected():
	case <-time.After(30 * time.Second):
		t.Fatal("the first replica was not elected")
	}
	standby := startManagerElecting(t, opts, nil, elect)

	ns := namespace(t, "failover")
	group := "failover.test.operetta.dev"
	fw := framework("failover", group, nil, []v1alpha1.Resource{gated("held")}, []v1alpha1.Task{apply("held", "held")},
		map[string]v1alpha1.Plan{"deploy": {Phases: []v1alpha1.Phase{{Name: "main", Steps: steps("held")}}}})
	fw.Labels = map[string]string{v1alpha1.LabelShard: "failover"}
	createFramework(t, fw)
	frameworkReady(t, "failover", metav1.ConditionTrue)
	if err := k8s.Create(ctx(t), instance(thingGVK(group), ns, "i", map[string]any{})); err != nil {
		t.Fatal(err)
	}
	waitForPlan(t, thingGVK(group), ns, "i", "deploy", "IN_PROGRESS")
	eventually(t, 10*time.Second, func() error {
		if !exists(t, &corev1.ConfigMap{}, ns, "i-held") {
			return fmt.Errorf("the step applied nothing yet")
		}
		return nil
	})
	if _, ok := loopGeneration(standby, "failover"); ok {
		t.Fatal("the standby runs the loop while the leader lives")
	}
	// Warm: the standby's caches already hold the instance and its child,
	// so once elected it lists nothing before its first reconcile.
	eventually(t, 10*time.Second, func() error {
		if !slices.Contains(standby.registry.Warmed(), "failover") {
			return fmt.Errorf("the standby warmed %v", standby.registry.Warmed())
		}
		inst := instance(thingGVK(group), ns, "i", nil)
		if err := standby.GetCache().Get(ctx(t), client.ObjectKey{Namespace: ns, Name: "i"}, inst); err != nil {
			return fmt.Errorf("the standby's cache lacks the instance: %w", err)
		}
		if _, found, err := standby.registry.Children().Get(ctx(t), corev1.SchemeGroupVersion.WithKind("ConfigMap"), client.ObjectKey{Namespace: ns, Name: "i-held"}); err != nil || !found {
			return fmt.Errorf("the standby's children cache lacks the child: found %v, %v", found, err)
		}
		return nil
	})
	run := instanceStatus(t, thingGVK(group), ns, "i").Plans["deploy"].UID

	killed := time.Now()
	leader.stop()
	select {
	case <-standby.Elected():
	case <-time.After(30 * time.Second):
		t.Fatal("the standby was not elected after the leader was killed")
	}
	elected := time.Since(killed)
	openGateOf(t, ns, "i-held")
	st := waitForPlan(t, thingGVK(group), ns, "i", "deploy", "COMPLETE")
	t.Logf("leader killed → standby elected %.2fs (lease %s) → plan COMPLETE %.2fs", elected.Seconds(), lease, time.Since(killed).Seconds())
	if uid, _, _ := unstructuredString(st, "status", "plans", "deploy", "uid"); uid != string(run) {
		t.Fatalf("the plan run changed from %s to %s", run, uid)
	}
	expectPlanCompletes(t, ns, "i", group+"/v1", 1)
}
