package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
)

// watchingFramework deploys a ConfigMap; its rotate plan applies another
// that records the run, and runs when the Secret the instance names in
// spec.tlsSecret changes; its reload plan runs when a ConfigMap labelled
// shared=settings in the instance's namespace changes.
func watchingFramework(name, group string) *v1alpha1.Framework {
	record := func(id string) v1alpha1.Resource {
		return resource(id, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"${instance.metadata.name}-`+id+`"},"data":{"run":"${plan.uid}"}}`)
	}
	main := func(names ...string) v1alpha1.Plan {
		return v1alpha1.Plan{Phases: []v1alpha1.Phase{{Name: "main", Steps: steps(names...)}}}
	}
	fw := framework(name, group, []v1alpha1.Parameter{{Name: "tlsSecret", Type: v1alpha1.TypeString, Default: &apiextensionsv1.JSON{Raw: []byte(`""`)}}},
		[]v1alpha1.Resource{configMap("config", ""), record("rotated"), record("reloaded")},
		[]v1alpha1.Task{apply("config", "config"), apply("rotated", "rotated"), apply("reloaded", "reloaded")},
		map[string]v1alpha1.Plan{"deploy": main("config"), "rotate": main("rotated"), "reload": main("reloaded"), "noop": main("config")})
	fw.Spec.Triggers = []v1alpha1.Trigger{
		{Name: "tls", Plan: "rotate", Watch: v1alpha1.Watch{APIVersion: "v1", Kind: "Secret", Name: "${instance.spec.tlsSecret}"}},
		{Name: "settings", Plan: "reload", Watch: v1alpha1.Watch{APIVersion: "v1", Kind: "ConfigMap",
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"shared": "settings"}}}},
	}
	return fw
}

// triggerStatus is trigger name's entry in the instance's status.
func triggerStatus(t *testing.T, gvk schema.GroupVersionKind, ns, name, trigger string) (v1alpha1.TriggerStatus, bool) {
	t.Helper()
	for _, s := range instanceStatus(t, gvk, ns, name).Triggers {
		if s.Name == trigger {
			return s, true
		}
	}
	return v1alpha1.TriggerStatus{}, false
}

// eventCount counts the events of reason about the object name in ns.
func eventCount(t *testing.T, ns, name, reason string) int {
	t.Helper()
	list := &eventsv1.EventList{}
	if err := k8s.List(ctx(t), list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range list.Items {
		if e.Regarding.Name == name && e.Reason == reason {
			n++
		}
	}
	return n
}

// TestTriggersRunOnceForEachDataChange: the Secret an instance names is
// recorded when first seen, not run for; a label or annotation change of
// it runs nothing; each change of its data runs rotate once, with its
// cause; a ConfigMap a selector picks appearing runs reload; the watches
// go with the Framework.
func TestTriggersRunOnceForEachDataChange(t *testing.T) {
	m := startManager(t)
	ns := namespace(t, "watch-triggers")
	group := "watchtriggers.test.operetta.dev"
	gvk := thingGVK(group)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "w-tls"}, Data: map[string][]byte{"tls.crt": []byte("one")}}
	if err := k8s.Create(ctx(t), secret); err != nil {
		t.Fatal(err)
	}
	createFramework(t, watchingFramework("watchtriggers", group))
	frameworkReady(t, "watchtriggers", metav1.ConditionTrue)
	if got := m.registry.Watched().Kinds()["operetta's own account"]; strings.Join(got, ",") != "/v1, Kind=ConfigMap,/v1, Kind=Secret" {
		t.Fatalf("watched kinds %v", m.registry.Watched().Kinds())
	}
	// Its instances', its children's kinds' and the two watched kinds'.
	if n := m.registry.Informers(); n < 4 {
		t.Fatalf("%d informers for a running loop", n)
	}
	if err := k8s.Create(ctx(t), instance(gvk, ns, "w", map[string]any{"tlsSecret": "w-tls"})); err != nil {
		t.Fatal(err)
	}
	waitForPlan(t, gvk, ns, "w", "deploy", "COMPLETE")
	var first v1alpha1.TriggerStatus
	eventually(t, 30*time.Second, func() error {
		var ok bool
		if first, ok = triggerStatus(t, gvk, ns, "w", "tls"); !ok || first.Digest == "" || first.Watching != "Secret w-tls" {
			return fmt.Errorf("trigger tls: %+v", first)
		}
		return nil
	})
	if first.LastTriggerTime != nil || instanceStatus(t, gvk, ns, "w").Plans["rotate"].UID != "" {
		t.Fatalf("first sight ran the plan: %+v", first)
	}

	// Metadata only: a label and an annotation. The instance then runs a
	// plan of its own to its end, so it was reconciled after they came.
	edit(t, secret, func() {
		secret.Labels = map[string]string{"rotated-by": "hand"}
		secret.Annotations = map[string]string{"note": "x"}
	})
	triggerPlan(t, gvk, ns, "w", "noop@1")
	waitForPlan(t, gvk, ns, "w", "noop", "COMPLETE")
	if st, _ := triggerStatus(t, gvk, ns, "w", "tls"); st.LastTriggerTime != nil || st.Digest != first.Digest || eventCount(t, ns, "w", "TriggeredRun") != 0 {
		t.Fatalf("a change of metadata triggered: %+v", st)
	}

	for i, data := range []string{"two", "three"} {
		edit(t, secret, func() { secret.Data["tls.crt"] = []byte(data) })
		var st v1alpha1.TriggerStatus
		eventually(t, 30*time.Second, func() error {
			var ok bool
			if st, ok = triggerStatus(t, gvk, ns, "w", "tls"); !ok || st.LastOutcome != v1alpha1.TriggerStarted || eventCount(t, ns, "w", "TriggeredRun") != i+1 {
				return fmt.Errorf("change %d: %+v", i+1, st)
			}
			return nil
		})
		u := waitForPlan(t, gvk, ns, "w", "rotate", "COMPLETE")
		run, _, _ := unstructuredString(u, "status", "plans", "rotate", "uid")
		cause, _, _ := unstructuredString(u, "status", "plans", "rotate", "cause")
		if run != string(st.LastRunUID) || cause != "trigger tls" {
			t.Fatalf("change %d: rotate run %s cause %q; the trigger says %s", i+1, run, cause, st.LastRunUID)
		}
	}

	// A ConfigMap the selector picks appearing is a change of what it picks.
	if _, ok := triggerStatus(t, gvk, ns, "w", "settings"); !ok {
		t.Fatal("the selector trigger is not in the status")
	}
	settings := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "settings", Labels: map[string]string{"shared": "settings"}}, Data: map[string]string{"a": "1"}}
	if err := k8s.Create(ctx(t), settings); err != nil {
		t.Fatal(err)
	}
	u := waitForPlan(t, gvk, ns, "w", "reload", "COMPLETE")
	if cause, _, _ := unstructuredString(u, "status", "plans", "reload", "cause"); cause != "trigger settings" {
		t.Fatalf("reload's cause %q", cause)
	}

	if err := k8s.Delete(ctx(t), &v1alpha1.Framework{ObjectMeta: metav1.ObjectMeta{Name: "watchtriggers"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		if k := m.registry.Watched().Kinds(); len(k) != 0 {
			return fmt.Errorf("still watched after the Framework went: %v", k)
		}
		if n := m.registry.Informers(); n != 0 {
			return fmt.Errorf("%d informers left after the only Framework went (children: %v)", n, m.registry.Children().Watched())
		}
		return nil
	})
}

// TestATriggerReadsOnlyWhatItsAccountMay: a Framework whose account may
// not list Secrets everywhere is refused with a condition naming the
// account and the grant, and nothing is watched for it.
func TestATriggerReadsOnlyWhatItsAccountMay(t *testing.T) {
	m := startManager(t)
	ns := namespace(t, "watch-forbidden")
	if err := k8s.Create(ctx(t), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "watcher"}}); err != nil {
		t.Fatal(err)
	}
	grant(t, ns, "watcher", "secrets") // in its namespace only: not enough for a shared watch
	fw := watchingFramework("watchforbidden", "watchforbidden.test.operetta.dev")
	fw.Spec.ServiceAccountName, fw.Spec.ServiceAccountNamespace = "watcher", ns
	createFramework(t, fw)
	eventually(t, 30*time.Second, func() error {
		c := frameworkReady(t, "watchforbidden", metav1.ConditionFalse)
		if c.Reason != "TriggerNotAllowed" || !strings.Contains(c.Message, "service account "+ns+"/watcher may not list secrets in every namespace") {
			return fmt.Errorf("ready is false for %s: %s", c.Reason, c.Message)
		}
		return nil
	})
	if k := m.registry.Watched().Kinds(); len(k) != 0 {
		t.Fatalf("watched although refused: %v", k)
	}
}

// edit changes obj with change and updates it, reading it again on a
// conflict.
func edit(t *testing.T, obj client.Object, change func()) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8s.Get(ctx(t), client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		change()
		return k8s.Update(ctx(t), obj)
	})
	if err != nil {
		t.Fatalf("editing %s: %v", obj.GetName(), err)
	}
}
