package framework

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/crdgen"
	"operetta.dev/operetta/internal/engine"
	"operetta.dev/operetta/internal/kube"
	"operetta.dev/operetta/internal/reconcile/finalizer"
	"operetta.dev/operetta/internal/reconcile/instance"
	"operetta.dev/operetta/internal/reconcile/stale"
	"operetta.dev/operetta/internal/reconcile/statuspatch"
	"operetta.dev/operetta/internal/shard"
)

// deletionPoll is how often a Framework being deleted looks again at what it
// waits for: instances going, a CRD going.
const deletionPoll = 2 * time.Second

// Reconciler installs the CRD a Framework generates and keeps the loop of its
// kind running with the current generation. An invalid generation changes
// nothing: the previous one keeps running. A Framework whose generation and
// CRD did not change costs no request: it is compiled and installed once per
// generation.
type Reconciler struct {
	Client    client.Client
	APIReader client.Reader // uncached: to see CRDs operetta did not create
	Engine    *engine.Engine[*instance.Reconciler]
	Config    *rest.Config
	// HTTPClient is the manager's, which the Config's requests go through.
	HTTPClient *http.Client
	Recorder   recorder.EventRecorder
	// RequireServiceAccount refuses Frameworks without serviceAccountName.
	RequireServiceAccount bool
	// MigrationBatch is how many instances a reconcile rewrites during a
	// storage migration; DefaultMigrationBatch if 0.
	MigrationBatch int
	// Conversion is how the API server reaches this manager's conversion
	// webhook, which a kind of several versions is installed with; nil:
	// the manager serves none, and a Framework with spec.versions is
	// refused.
	Conversion *apiextensionsv1.WebhookClientConfig
	// CABundle, if set, gives the CA bundle of the webhook's current
	// certificate in place of Conversion's; empty until there is one.
	CABundle func() []byte
	// UserRoles grants each generated kind to namespace users through
	// ClusterRoles aggregated into the built-in admin, edit and view.
	UserRoles bool
	// Resync is how long an instance plan that waits goes without an event
	// before it looks again.
	Resync time.Duration
	// Shard this manager runs: its children are labelled with it.
	Shard string
	// PipeImage is the image of the container Pipe tasks read files out of.
	PipeImage string
	// Compiled is shared with the Warmer: a generation is compiled once on
	// a replica.
	Compiled *Compiled

	queue atomic.Pointer[workqueue.TypedRateLimitingInterface[reconcile.Request]]

	// announced holds, per Framework, the conditions of its last status
	// write: transitions are told from them, since a reconcile may still
	// read the status from before that write.
	announced sync.Map

	// written tells a reconcile whose cache lacks the last status write of
	// the Framework.
	written stale.Guard[string]

	// crdApplied is, per Framework, what the API server answered
	// operetta's last apply of its CRD with (appliedCRD).
	crdApplied sync.Map

	mu        sync.Mutex
	installed map[string]installation
	writers   map[types.NamespacedName]client.Client
	// readySeen is, per Framework, the generation last seen Ready, for
	// which the instances depending on it were woken.
	readySeen map[string]int64
}

// installation is what was installed for a Framework, to tell when nothing
// changed since.
type installation struct {
	generation    int64
	crdGeneration int64
}

// SetupWithManager watches Frameworks, the CRDs they generated, and the
// rollout progress their loops report.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.installed = map[string]installation{}
	if r.Compiled == nil {
		r.Compiled = &Compiled{}
	}
	r.writers = map[types.NamespacedName]client.Client{}
	r.readySeen = map[string]int64{}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.Framework{}).
		// Only their names: a revision holds a whole spec, which only a
		// loop that starts on an old generation reads, from the API server.
		Owns(&v1alpha1.FrameworkRevision{}, builder.OnlyMetadata).
		Watches(&apiextensionsv1.CustomResourceDefinition{},
			handler.EnqueueRequestsFromMapFunc(frameworkOfCRD),
			builder.OnlyMetadata).
		WatchesRawSource(source.TypedFunc[reconcile.Request](func(_ context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
			r.queue.Store(&q)
			return nil
		})).
		Named("framework").
		// Frameworks install independently; a few at a time, so 200
		// applied at once do not wait on each other's CRD and first list.
		WithOptions(controller.Options{MaxConcurrentReconciles: FrameworkWorkers}).
		Complete(r)
}

// FrameworkWorkers is how many Frameworks are reconciled at once.
const FrameworkWorkers = 4

// While instances are still on their way, their progress is gathered into
// one status write of the Framework every rolloutReportDelay: a rollout of
// hundreds of instances writes its Framework a few times, not once per
// instance. Once every instance has settled, the report follows within
// rolloutSettledDelay, so "the rollout is done" is never late.
const (
	rolloutReportDelay  = 5 * time.Second
	rolloutSettledDelay = 100 * time.Millisecond
)

// rolloutChanged asks for Framework name to be reconciled, its loop's
// report having changed: soon if the rollout settled, else after a while, so
// a busy rollout is reported every few seconds, not on every instance. A
// queue holding the request already keeps the earlier time.
func (r *Reconciler) rolloutChanged(name string, report instance.Report) {
	q := r.queue.Load()
	if q == nil {
		return
	}
	delay := rolloutReportDelay
	if report.Settled() {
		delay = rolloutSettledDelay
	}
	(*q).AddAfter(reconcile.Request{NamespacedName: types.NamespacedName{Name: name}}, delay)
}

// LoopFailed hears that the loop of Framework name stopped on its own: the
// Framework is installed again.
func (r *Reconciler) LoopFailed(name string) {
	r.forget(name)
	if q := r.queue.Load(); q != nil {
		(*q).AddRateLimited(reconcile.Request{NamespacedName: types.NamespacedName{Name: name}})
	}
}

// CAChanged installs again every Framework of several versions, their CRDs
// to trust the webhook's new CA.
func (r *Reconciler) CAChanged() {
	q := r.queue.Load()
	if q == nil {
		return // not leading: a leader installs every Framework as it starts
	}
	list := &v1alpha1.FrameworkList{}
	if err := r.Client.List(context.Background(), list); err != nil {
		return
	}
	for _, fw := range list.Items {
		if len(fw.Spec.Versions) == 0 {
			continue
		}
		r.mu.Lock()
		delete(r.installed, fw.Name)
		r.mu.Unlock()
		(*q).Add(reconcile.Request{NamespacedName: types.NamespacedName{Name: fw.Name}})
	}
}

// frameworkOfCRD maps a generated CRD to its Framework by label.
func frameworkOfCRD(_ context.Context, o client.Object) []reconcile.Request {
	name := o.GetLabels()[v1alpha1.LabelFramework]
	if name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: name}}}
}

func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, err error) {
	log := ctrl.LoggerFrom(ctx).WithValues("framework", req.Name)
	ctx = ctrl.LoggerInto(ctx, log)

	fw := &v1alpha1.Framework{}
	err = r.Client.Get(ctx, req.NamespacedName, fw)
	if err == nil {
		// Whichever shard runs it, instances here may wait for it.
		r.wakeDependents(fw)
	}
	if kube.Gone(err) {
		r.forgetReady(req.Name)
	}
	if kube.Gone(err) || err == nil && !shard.Owns(r.Shard, fw) {
		// Gone, or another shard's (relabelled away): this manager lets
		// go of it and writes nothing; the other shard takes it over.
		r.Engine.Stop(req.Name)
		r.forget(req.Name)
		return ctrl.Result{}, nil
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	if r.written.Behind(req.Name, fw.ResourceVersion) {
		// Working from it would write and announce again what the last
		// reconcile did.
		return ctrl.Result{RequeueAfter: stale.Retry}, nil
	}
	old := fw.Status.DeepCopy()
	var waits deletionWait
	defer func() {
		// What this reconcile wrote before (a finalizer) is part of what
		// the status was computed from.
		readVersion := fw.ResourceVersion
		computed := fw.Status.DeepCopy()
		wrote, perr := r.patchStatus(ctx, fw, old)
		if perr != nil && err == nil {
			// A conflict is quiet: retried, as the instance loop does.
			result, err = kube.ResultOf(perr)
		}
		if wrote {
			r.written.Wrote(req.Name, readVersion, fw.ResourceVersion)
			r.announce(fw, *old, *computed, waits.blocked())
		}
	}()
	if fw.DeletionTimestamp != nil {
		result, waits, err = r.delete(ctx, fw)
		return result, err
	}
	// First, before anything exists that deleting the Framework must take
	// care of.
	if err := finalizer.Set(ctx, r.Client, fw, v1alpha1.FinalizerFramework, true); err != nil {
		return kube.ResultOf(err)
	}
	if r.unchanged(ctx, fw) {
		report := r.reportRollout(fw)
		// Instances that moved on free their old revisions. The list is
		// the cache's: nothing to delete costs no request.
		names := crdgen.NamesOf(fw)
		if err := r.pruneRevisions(ctx, fw, schema.GroupVersionKind{Group: names.Group, Version: names.Version, Kind: names.Kind}); err != nil {
			return ctrl.Result{}, err
		}
		return untilDeadline(report), nil
	}
	return r.install(ctx, fw)
}

// unchanged says whether what runs for fw is what it asks for: the same
// generation installed, its CRD as operetta left it, its loop running. It
// reads only caches.
func (r *Reconciler) unchanged(ctx context.Context, fw *v1alpha1.Framework) bool {
	r.mu.Lock()
	done, ok := r.installed[fw.Name]
	r.mu.Unlock()
	if !ok || done.generation != fw.Generation || !r.Engine.IsRunning(fw.Name) {
		return false
	}
	// Its status says so too: a status write that failed is written again.
	if !readyNow(fw) {
		return false
	}
	crd, ok := r.cachedCRD(ctx, fw.Status.CRDName)
	if !ok {
		return false
	}
	return crd.Generation == done.crdGeneration && crd.DeletionTimestamp == nil
}

func (r *Reconciler) remember(name string, done installation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.installed[name] = done
}

func (r *Reconciler) forget(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Compiled.Forget(name)
	delete(r.installed, name)
	r.crdApplied.Delete(name)
	r.written.Forget(name)
	r.announced.Delete(name)
}

// reportRollout records how far the running generation has reached the
// instances, as the loop counted them, and says whether it is rolling out.
func (r *Reconciler) reportRollout(fw *v1alpha1.Framework) instance.Report {
	rec, ok := r.Engine.Reconciler(fw.Name)
	if !ok {
		return instance.Report{}
	}
	report := rec.Report()
	if !report.Primed {
		// A loop just started has not seen every instance yet: the status
		// keeps what it says until it has, so a restart over settled
		// instances writes nothing (the loop tells again once primed).
		report.RollingOut = rollingOutNow(fw)
		return report
	}
	fw.Status.Rollout = &report.Rollout
	fw.Status.Instances = &report.Instances
	rolloutCondition(fw, report.RollingOut)
	rolloutGates(fw, report)
	return report
}

// untilDeadline looks again when a rollout's progress deadline passes: no
// event of an instance that is merely slow says so.
func untilDeadline(report instance.Report) ctrl.Result {
	if report.Deadline.IsZero() || report.Halted || !report.RollingOut {
		return ctrl.Result{}
	}
	return ctrl.Result{RequeueAfter: time.Until(report.Deadline) + 10*time.Millisecond}
}

// patchStatus writes fw's status once per reconcile, and only if it changed,
// through statuspatch, and reports whether it wrote it. The write names the
// resourceVersion it was computed from: a status computed from a Framework
// that changed since (relabelled to another shard, say) is refused, and the
// next event brings the Framework as it is.
func (r *Reconciler) patchStatus(ctx context.Context, fw *v1alpha1.Framework, old *v1alpha1.FrameworkStatus) (bool, error) {
	if equality.Semantic.DeepEqual(*old, fw.Status) {
		return false, nil
	}
	// Only the status goes out and only metadata comes back: a Framework,
	// with its templates and schemas, is large, and its rollout is reported
	// every few seconds while instances change.
	was, err := runtime.DefaultUnstructuredConverter.ToUnstructured(old)
	if err != nil {
		return false, fmt.Errorf("encoding the status of Framework %s: %w", fw.Name, err)
	}
	now, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&fw.Status)
	if err != nil {
		return false, fmt.Errorf("encoding the status of Framework %s: %w", fw.Name, err)
	}
	written, err := statuspatch.Write(ctx, r.Client, v1alpha1.GroupVersion.WithKind("Framework"), fw, was, now)
	if err != nil {
		return false, fmt.Errorf("patching status of Framework %s: %w", fw.Name, err)
	}
	fw.ResourceVersion = written
	return true, nil
}
