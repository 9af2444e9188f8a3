package integration

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/metrics"
)

var zkGVK = schema.GroupVersionKind{Group: "deploy.test.operetta.dev", Version: "v1", Kind: "ZooKeeper"}

// TestDeployPlanCompletes runs the ZooKeeper example's deploy plan. envtest
// has no controller-manager, so the test plays the StatefulSet controller and
// writes the StatefulSet's status itself.
func TestDeployPlanCompletes(t *testing.T) {
	m := startManager(t)
	ns := namespace(t, "deploy")
	createFramework(t, loadExample(t, "zookeeper/framework.yaml", "zk-deploy", zkGVK.Group))
	frameworkReady(t, "zk-deploy", metav1.ConditionTrue)

	zk := instance(zkGVK, ns, "zk", map[string]any{"replicas": int64(3)})
	if err := k8s.Create(ctx(t), zk); err != nil {
		t.Fatal(err)
	}

	// The prepare phase completes at once; the ensemble step waits for the
	// StatefulSet, whose readyWhen wants 3 ready replicas.
	eventually(t, 30*time.Second, func() error {
		u, err := get(t, zkGVK, ns, "zk")
		if err != nil {
			return err
		}
		msg, _, _ := unstructured.NestedString(u.Object, "status", "plans", "deploy", "message")
		want := "ensemble: servers: waiting for StatefulSet zk: readyWhen"
		if planStatus(u, "deploy") != "IN_PROGRESS" || len(msg) < len(want) || msg[:len(want)] != want {
			return fmt.Errorf("deploy is %s %q, want IN_PROGRESS waiting for the StatefulSet", planStatus(u, "deploy"), msg)
		}
		return nil
	})
	sts := &appsv1.StatefulSet{}
	if err := k8s.Get(ctx(t), client.ObjectKey{Namespace: ns, Name: "zk"}, sts); err != nil {
		t.Fatal(err)
	}
	if *sts.Spec.Replicas != 3 || sts.Spec.Template.Spec.Containers[0].Image != "zookeeper:3.9.2" {
		t.Fatalf("StatefulSet rendered with replicas %d image %s", *sts.Spec.Replicas, sts.Spec.Template.Spec.Containers[0].Image)
	}
	sts.Status = appsv1.StatefulSetStatus{
		ObservedGeneration: sts.Generation, Replicas: 3, ReadyReplicas: 3, AvailableReplicas: 3,
		CurrentReplicas: 3, UpdatedReplicas: 3, CurrentRevision: "r1", UpdateRevision: "r1",
	}
	if err := k8s.Status().Update(ctx(t), sts); err != nil {
		t.Fatal(err)
	}

	u := waitForPlan(t, zkGVK, ns, "zk", "deploy", "COMPLETE")

	t.Run("status shows the plan tree", func(t *testing.T) {
		var st v1alpha1.InstanceStatus
		if err := fromUnstructured(u.Object["status"], &st); err != nil {
			t.Fatal(err)
		}
		plan := st.Plans["deploy"]
		var tree []string
		for _, ph := range plan.Phases {
			tree = append(tree, fmt.Sprintf("%s=%s", ph.Name, ph.Status))
			for _, s := range ph.Steps {
				tree = append(tree, fmt.Sprintf("%s/%s=%s", ph.Name, s.Name, s.Status))
			}
		}
		want := []string{"prepare=COMPLETE", "prepare/config=COMPLETE", "prepare/services=COMPLETE", "ensemble=COMPLETE", "ensemble/servers=COMPLETE"}
		if !reflect.DeepEqual(tree, want) {
			t.Fatalf("plan tree %v, want %v", tree, want)
		}
		if plan.UID == "" || plan.StartedAt == nil || plan.FinishedAt == nil {
			t.Fatalf("plan run has uid %q started %v finished %v", plan.UID, plan.StartedAt, plan.FinishedAt)
		}
		if st.ActivePlan != "deploy" || st.ActivePlanStatus != v1alpha1.Complete {
			t.Fatalf("active plan %s %s", st.ActivePlan, st.ActivePlanStatus)
		}
		if st.ObservedGeneration != u.GetGeneration() {
			t.Fatalf("observedGeneration %d, generation %d", st.ObservedGeneration, u.GetGeneration())
		}
		ready := meta.FindStatusCondition(st.Conditions, "Ready")
		if ready == nil || ready.Status != metav1.ConditionTrue || ready.ObservedGeneration != u.GetGeneration() {
			t.Fatalf("Ready is %+v", ready)
		}
		if meta.FindStatusCondition(st.Conditions, "Reconciling") != nil || meta.FindStatusCondition(st.Conditions, "Stalled") != nil {
			t.Fatalf("conditions %+v: a complete plan is neither reconciling nor stalled", st.Conditions)
		}
	})

	t.Run("status projections are typed and current", func(t *testing.T) {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := k8s.Get(ctx(t), client.ObjectKey{Name: "zookeepers." + zkGVK.Group}, crd); err != nil {
			t.Fatal(err)
		}
		status := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["status"]
		if typ := status.Properties["connectionString"].Type; typ != "string" {
			t.Fatalf("connectionString has schema type %q", typ)
		}
		eventually(t, 30*time.Second, func() error {
			u, err := get(t, zkGVK, ns, "zk")
			if err != nil {
				return err
			}
			conn, _, _ := unstructured.NestedString(u.Object, "status", "connectionString")
			ready, _, _ := unstructured.NestedInt64(u.Object, "status", "readyServers")
			if conn != "zk-0.zk-hs:2181,zk-1.zk-hs:2181,zk-2.zk-hs:2181" || ready != 3 {
				return fmt.Errorf("connectionString %q readyServers %d", conn, ready)
			}
			return nil
		})
	})

	t.Run("children carry owner references and labels", func(t *testing.T) {
		children := []client.Object{
			&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "zk-config"}},
			&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "zk-hs"}},
			&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "zk"}},
			&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "zk"}},
		}
		for _, child := range children {
			if err := k8s.Get(ctx(t), client.ObjectKey{Namespace: ns, Name: child.GetName()}, child); err != nil {
				t.Fatal(err)
			}
			owner := metav1.GetControllerOf(child)
			if owner == nil || owner.UID != u.GetUID() || owner.Kind != "ZooKeeper" {
				t.Errorf("%T %s: controller %+v, want the ZooKeeper zk", child, child.GetName(), owner)
			}
			want := map[string]string{"app.kubernetes.io/managed-by": "operetta", "operetta.dev/framework": "zk-deploy", "operetta.dev/instance": "zk"}
			for k, v := range want {
				if child.GetLabels()[k] != v {
					t.Errorf("%T %s: label %s=%q, want %q", child, child.GetName(), k, child.GetLabels()[k], v)
				}
			}
		}
		cm := children[0].(*corev1.ConfigMap)
		mustContain(t, cm.Data["start.sh"], "server.$((i + 1))=zk-$i.zk-hs:2888:3888", "ord=${HOSTNAME##*-}")
		mustContain(t, cm.Data["zoo.cfg"], "clientPort=2181")
	})

	t.Run("events and metrics tell the plan's story", func(t *testing.T) {
		eventually(t, 30*time.Second, func() error {
			reasons, err := eventReasons(t, ns, "zk")
			if err != nil {
				return err
			}
			// Outcomes are announced, starts are not: the status has them.
			if !reasons["PlanComplete"] || reasons["PlanStarted"] {
				return fmt.Errorf("events %v, want PlanComplete and no PlanStarted", reasons)
			}
			return nil
		})
		if n := testutil.ToFloat64(metrics.PlanRuns.WithLabelValues("zk-deploy", "deploy", "complete", "created")); n != 1 {
			t.Fatalf("operetta_plan_runs_total{framework=zk-deploy,plan=deploy,result=complete,cause=created} = %v, want 1", n)
		}
		if n := testutil.CollectAndCount(metrics.PlanDuration); n == 0 {
			t.Fatal("no plan duration observed")
		}
		// The state gauges, computed when scraped.
		complete := map[string]string{"framework": "zk-deploy", "ready": "true", "plan_status": "COMPLETE"}
		if n := gathered(t, "operetta_instances", complete); n != 1 {
			t.Fatalf("operetta_instances%v = %v, want 1", complete, n)
		}
		if n := gathered(t, "operetta_frameworks", map[string]string{"condition": "Ready", "status": "True"}); n < 1 {
			t.Fatalf("operetta_frameworks{condition=Ready,status=True} = %v, want the serving Framework counted", n)
		}
	})

	t.Run("the controller never writes spec", func(t *testing.T) {
		for _, mf := range u.GetManagedFields() {
			if mf.Manager == v1alpha1.FieldManager && mf.Subresource != "status" {
				t.Fatalf("operetta manages %s fields of the instance outside status", mf.Operation)
			}
		}
	})

	t.Run("a finished plan sends no writes", func(t *testing.T) {
		// The Framework reports the instance Ready in its status a moment
		// after the plan completes: that write is due, so wait for it.
		eventually(t, 30*time.Second, func() error {
			fw := &v1alpha1.Framework{}
			if err := k8s.Get(ctx(t), client.ObjectKey{Name: "zk-deploy"}, fw); err != nil {
				return err
			}
			if c := fw.Status.Instances; c == nil || c.Ready != 1 || meta.FindStatusCondition(fw.Status.Conditions, v1alpha1.ConditionReconciling) != nil {
				return fmt.Errorf("the Framework reports instances %+v, conditions %+v", c, fw.Status.Conditions)
			}
			return nil
		})
		controller := zkGVK.GroupKind().String()
		mark, before := m.requests.mark(), reconciles(t, controller)
		patchInstance(t, zkGVK, ns, "zk", `{"metadata":{"annotations":{"unrelated":"x"}}}`)
		eventually(t, 10*time.Second, func() error {
			if reconciles(t, controller) <= before {
				return fmt.Errorf("the annotation change did not wake the instance")
			}
			return nil
		})
		if sent := m.requests.since(mark); len(sent) > 0 {
			t.Fatalf("a reconcile with nothing to do sent %v", sent)
		}
	})
}
