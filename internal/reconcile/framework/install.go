package framework

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/conditions"
	"operetta.dev/operetta/internal/crdgen"
	"operetta.dev/operetta/internal/kube"
	"operetta.dev/operetta/internal/reconcile/instance"
	"operetta.dev/operetta/internal/revisions"
)

// install compiles fw, applies its CRD, waits until the CRD is established and
// runs its loop, recording in fw's status where it stopped.
func (r *Reconciler) install(ctx context.Context, fw *v1alpha1.Framework) (ctrl.Result, error) {
	compiled, errs := r.Compiled.Of(fw)
	if len(errs) > 0 {
		refused(fw, compile.Reason(errs), compile.Message(errs))
		return ctrl.Result{}, nil // only a change of the Framework can help
	}
	fw.Status.CRDName = compiled.CRD.Name
	if r.RequireServiceAccount && compiled.ServiceAccount.Name == "" {
		refused(fw, conditions.ServiceAccountRequired,
			"this operetta applies children only as a Framework's own service account: set spec.serviceAccountName and spec.serviceAccountNamespace")
		return ctrl.Result{}, nil
	}

	crdWanted := compiled.CRD
	if len(compiled.Versions) > 0 {
		if r.Conversion == nil {
			refused(fw, conditions.ConversionNotServed,
				"spec.versions: a kind served in several versions needs the manager's conversion webhook, which this manager does not run; the kind stays as it is")
			return ctrl.Result{}, nil
		}
		cc := r.Conversion
		if r.CABundle != nil {
			ca := r.CABundle()
			if len(ca) == 0 {
				if readyNow(fw) {
					// Installed with the CA of before; the certificate is
					// being read as the manager starts. Nothing to say.
					return ctrl.Result{RequeueAfter: deletionPoll}, nil
				}
				working(fw, conditions.WaitingForCertificate, "waiting for the conversion webhook's certificate, which the API server is to trust")
				return ctrl.Result{RequeueAfter: deletionPoll}, nil
			}
			cc = cc.DeepCopy()
			cc.CABundle = ca
		}
		crdWanted = withConversion(crdWanted, cc)
	}

	crdWanted, err := crdgen.WithDigest(crdWanted)
	if err != nil {
		return ctrl.Result{}, err
	}
	crd, recalled := r.recall(ctx, fw, crdWanted)
	if !recalled {
		var (
			done bool
			err  error
		)
		if crd, done, err = r.installCRD(ctx, fw, compiled, crdWanted); done || err != nil {
			return ctrl.Result{}, err
		}
	}
	fw.Status.CRDGeneration = crd.GetGeneration()

	revision, err := r.keepRevision(ctx, fw)
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := r.startLoop(ctx, compiled, revision); err != nil {
		var refusedTrigger *triggerError
		switch {
		case errors.As(err, &refusedTrigger) && kube.Classify(err) == kube.Terminal:
			refused(fw, conditions.TriggerNotAllowed, err.Error())
			return ctrl.Result{RequeueAfter: time.Minute}, nil // a grant needs no change of the Framework
		case errors.As(err, &refusedTrigger) && kube.Classify(err) == kube.Waiting:
			working(fw, conditions.WaitingForWatchedKind, err.Error())
			return ctrl.Result{RequeueAfter: deletionPoll}, nil
		case kube.Classify(err) == kube.Waiting:
			working(fw, conditions.NotLeading, err.Error())
			return ctrl.Result{RequeueAfter: deletionPoll}, nil
		}
		return ctrl.Result{}, err
	}
	report := r.reportRollout(fw)
	serving(fw, fmt.Sprintf("%s is served as %s and its instances are reconciled", compiled.GVK.Kind, compiled.GVK.GroupVersion()),
		report.RollingOut)
	if report.Primed {
		rolloutGates(fw, report)
	}
	// The kind is served whether or not its user roles could be applied;
	// until they are, the generation is not remembered as installed, so
	// the next reconcile tries again.
	if r.UserRoles && !recalled {
		if err := r.applyRoles(ctx, fw, compiled); err != nil {
			if r.Recorder != nil {
				r.Recorder.Eventf(fw, nil, corev1.EventTypeWarning, EventUserRolesFailed, "Install", "granting %s to namespace users: %v", compiled.GVK.Kind, err)
			}
			return ctrl.Result{}, err
		}
	}
	if err := r.pruneRevisions(ctx, fw, compiled.GVK); err != nil {
		return ctrl.Result{}, err
	}
	// Not remembered as installed until every instance is stored in the
	// stored version: the next reconcile comes back here and goes on.
	if done, err := r.migrateStorage(ctx, fw, crd, compiled); err != nil || !done {
		if err == nil {
			conditions.SetReconciling(&fw.Status.Conditions, fw.Generation, true, conditions.MigratingStorage,
				fmt.Sprintf("rewriting instances in %s; status.storageMigration counts them", compiled.GVK.Version))
		}
		return ctrl.Result{RequeueAfter: migrationPace}, err
	}
	r.remember(fw.Name, installation{generation: fw.Generation, crdGeneration: crd.GetGeneration()})
	return untilDeadline(report), nil
}

// installCRD checks crdWanted against the CRD there is, applies it and says
// whether it is established; done means fw's status says why not, and this
// reconcile ends.
func (r *Reconciler) installCRD(ctx context.Context, fw *v1alpha1.Framework, compiled *compile.Framework, crdWanted *apiextensionsv1.CustomResourceDefinition) (crd *unstructured.Unstructured, done bool, err error) {
	existing, err := r.existingCRD(ctx, compiled.CRD.Name)
	if err != nil {
		return nil, true, err
	}
	if reason, msg := crdgen.Against(existing, crdWanted, fw); reason != "" {
		refused(fw, reason, msg)
		return nil, true, nil
	}

	if crd, err = r.asApplied(fw.Name, existing, crdWanted); err != nil {
		return nil, true, err
	}
	if crd == nil {
		if crd, err = r.applyCRD(ctx, crdWanted); err != nil {
			if kube.Classify(err) == kube.Terminal {
				refused(fw, conditions.InstallFailed, fmt.Sprintf("the API server refused CRD %s: %v", compiled.CRD.Name, err))
				return nil, true, nil
			}
			return nil, true, err
		}
		r.crdApplied.Store(fw.Name, appliedCRD{crd.GetName(), crd.GetAnnotations()[v1alpha1.AnnotationCRDDigest], crd.GetGeneration()})
	}
	if msg, no := namesRefused(crd); no {
		refused(fw, conditions.CRDNotAccepted, fmt.Sprintf(
			"the API server does not accept the names of CRD %s: %s; change spec.names", crd.GetName(), msg))
		return nil, true, nil // the CRD's watch event brings us back
	}
	if !established(crd) {
		working(fw, conditions.WaitingForCRD, fmt.Sprintf("waiting for CRD %s to be established", crd.GetName()))
		return nil, true, nil // the CRD's watch event brings us back
	}
	return crd, false, nil
}

// appliedCRD is what the API server answered an apply of a Framework's
// CRD with: its name, the digest applied and the generation it made.
type appliedCRD struct {
	name, digest string
	generation   int64
}

// asApplied returns existing, unstructured, if it is what this manager
// last applied of wanted and nobody changed its spec since (its generation
// is the one that apply made): the reconcile that follows the CRD's
// establishment then reads it once and does not apply it again. Else nil.
func (r *Reconciler) asApplied(framework string, existing, wanted *apiextensionsv1.CustomResourceDefinition) (*unstructured.Unstructured, error) {
	if existing == nil || existing.DeletionTimestamp != nil {
		return nil, nil
	}
	last, ok := r.crdApplied.Load(framework)
	digest := wanted.Annotations[v1alpha1.AnnotationCRDDigest]
	if !ok || last != (appliedCRD{existing.Name, digest, existing.Generation}) || existing.Annotations[v1alpha1.AnnotationCRDDigest] != digest {
		return nil, nil
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(existing)
	if err != nil {
		return nil, fmt.Errorf("reading CRD %s: %w", existing.Name, err)
	}
	return &unstructured.Unstructured{Object: m}, nil
}

// recall says whether fw's status shows its generation installed, on a CRD
// the cache shows as operetta left it and whose digest is that of what
// would be applied now (the webhook's current CA, this operetta's
// generator): a manager that starts over a settled fleet then starts the
// loops and writes nothing.
func (r *Reconciler) recall(ctx context.Context, fw *v1alpha1.Framework, wanted *apiextensionsv1.CustomResourceDefinition) (*unstructured.Unstructured, bool) {
	if !readyNow(fw) || fw.Status.StorageMigration != nil || fw.Status.CRDGeneration == 0 {
		return nil, false
	}
	meta, ok := r.cachedCRD(ctx, wanted.Name)
	if !ok {
		return nil, false
	}
	if meta.Generation != fw.Status.CRDGeneration || meta.DeletionTimestamp != nil ||
		meta.Annotations[v1alpha1.AnnotationCRDDigest] != wanted.Annotations[v1alpha1.AnnotationCRDDigest] {
		return nil, false
	}
	crd := &unstructured.Unstructured{}
	crd.SetName(meta.Name)
	crd.SetGeneration(meta.Generation)
	return crd, true
}

// cachedCRD is the metadata of CRD name as the cache holds it: its
// generation, deletion and annotations, without a request.
func (r *Reconciler) cachedCRD(ctx context.Context, name string) (*metav1.PartialObjectMetadata, bool) {
	crd := &metav1.PartialObjectMetadata{}
	crd.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"))
	if err := r.Client.Get(ctx, client.ObjectKey{Name: name}, crd); err != nil {
		return nil, false
	}
	return crd, true
}

// migrationPace is the pause between two batches of a storage migration.
const migrationPace = time.Second

// withConversion is crd converted by the manager's webhook, which cc
// reaches.
func withConversion(crd *apiextensionsv1.CustomResourceDefinition, cc *apiextensionsv1.WebhookClientConfig) *apiextensionsv1.CustomResourceDefinition {
	out := crd.DeepCopy()
	out.Spec.Conversion = &apiextensionsv1.CustomResourceConversion{
		Strategy: apiextensionsv1.WebhookConverter,
		Webhook:  &apiextensionsv1.WebhookConversion{ClientConfig: cc.DeepCopy(), ConversionReviewVersions: []string{"v1"}},
	}
	return out
}

// startLoop starts the loop of compiled's kind, or hands the running one the new
// generation, which its instances run as revision rev.
func (r *Reconciler) startLoop(ctx context.Context, compiled *compile.Framework, rev revisions.RunsAs) error {
	asRevision := *compiled
	asRevision.Generation, asRevision.ReturnsTo = rev.N, rev.ReturnsTo
	compiled = &asRevision
	writer, err := r.writer(compiled.ServiceAccount)
	if err != nil {
		return err
	}
	name := compiled.Name
	// The triggers' watches have their first lists in before the loop
	// starts: an instance's first reconcile records what it watches, so a
	// change after it is a change.
	if err := r.watch(ctx, compiled); err != nil {
		return err
	}
	fresh := !r.Engine.IsRunning(name)
	rec, err := r.Engine.Start(name, compiled.GVK, compiled.ChildKinds, func() *instance.Reconciler {
		// The reconciler has its generation before its loop's first
		// reconcile, which may come before Start returns.
		return instance.New(compiled, writer, instance.Config{
			GVK:            compiled.GVK,
			Instances:      r.Engine.Cache(),
			Client:         r.Client,
			Children:       r.Engine.Children(),
			Frameworks:     r.Client,
			Recorder:       r.Recorder,
			Enqueue:        func(key types.NamespacedName) { r.Engine.Enqueue(name, key) },
			RolloutChanged: func(report instance.Report) { r.rolloutChanged(name, report) },
			Resync:         r.Resync,
			Shard:          r.Shard,
			PipeImage:      r.PipeImage,
			WriterFor:      r.writer,
			Revisions:      r.APIReader,
			Watched:        r.Engine.Watched().For(name),
		})
	})
	if err != nil {
		return err
	}
	if fresh {
		go r.adopt(compiled, writer)
	}
	return rec.RollOut(ctx, compiled, writer)
}

// triggerError is why the kinds a Framework's triggers watch cannot be
// watched: a wait or a refusal, as kube classifies it.
type triggerError struct{ err error }

func (e *triggerError) Error() string { return e.err.Error() }
func (e *triggerError) Unwrap() error { return e.err }

// watch makes the loop of compiled watch what its triggers watch and read
// what its externalRefs read, as the Framework's own account, once that
// account may.
func (r *Reconciler) watch(ctx context.Context, compiled *compile.Framework) error {
	kinds := append(append([]schema.GroupVersionKind(nil), compiled.WatchedKinds...), compiled.ReferencedKinds...)
	if len(kinds) == 0 {
		r.Engine.Watched().Release(compiled.Name)
		return nil
	}
	cfg, who, err := r.configFor(compiled.ServiceAccount)
	if err != nil {
		return err
	}
	if err := r.Engine.Watched().Allowed(ctx, cfg, who, kinds); err != nil {
		if c := kube.Classify(err); c == kube.Terminal || c == kube.Waiting {
			return &triggerError{err}
		}
		return err
	}
	return r.Engine.Watched().Watch(ctx, compiled.Name, who, cfg, compiled.WatchedKinds, compiled.ReferencedKinds)
}

// configFor is the rest.Config requests as service account sa are made
// with (the manager's own for none), and who that is, for messages.
func (r *Reconciler) configFor(sa types.NamespacedName) (*rest.Config, string, error) {
	if r.Config == nil {
		return nil, "", fmt.Errorf("no rest.Config to make requests as %s with", sa)
	}
	if sa.Name == "" {
		return r.Config, "operetta's own account", nil
	}
	cfg := rest.CopyConfig(r.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: serviceAccountUser(sa)}
	return cfg, "service account " + sa.String(), nil
}

func serviceAccountUser(sa types.NamespacedName) string {
	return "system:serviceaccount:" + sa.Namespace + ":" + sa.Name
}

// writer returns the client a Framework's children are written with: the
// manager's own, or one impersonating the service account the Framework
// names, so every request is authorized as that account. Either answers
// applies of built-in kinds as their Go types (kube.Writer).
func (r *Reconciler) writer(sa types.NamespacedName) (client.Client, error) {
	if r.Config == nil {
		// Unit tests: a fake client, nothing to talk to. Never the
		// manager's own rights for a Framework that names an account.
		if sa.Name != "" {
			return nil, fmt.Errorf("no rest.Config to impersonate %s with", sa)
		}
		return r.Client, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.writers[sa]; ok {
		return c, nil
	}
	w, err := r.newWriter(sa)
	if err != nil {
		return nil, err
	}
	r.writers[sa] = w
	return w, nil
}

// newWriter makes the Writer of service account sa, the manager's own for
// none, with the HTTP client its requests go through.
func (r *Reconciler) newWriter(sa types.NamespacedName) (*kube.Writer, error) {
	if sa.Name == "" {
		hc := r.HTTPClient
		if hc == nil {
			var err error
			if hc, err = rest.HTTPClientFor(r.Config); err != nil {
				return nil, fmt.Errorf("an HTTP client for the manager: %w", err)
			}
		}
		return kube.NewWriter(r.Client, r.Config, hc), nil
	}
	cfg, _, err := r.configFor(sa)
	if err != nil {
		return nil, err
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("an HTTP client impersonating %s: %w", sa, err)
	}
	c, err := client.New(cfg, client.Options{HTTPClient: hc, Scheme: r.Client.Scheme(), Mapper: r.Client.RESTMapper()})
	if err != nil {
		return nil, fmt.Errorf("a client impersonating %s: %w", sa, err)
	}
	return kube.NewWriter(c, cfg, hc), nil
}

// existingCRD reads the CRD name from the API server, not the cache: the
// cache holds only CRDs operetta made, and one it did not make matters most.
// It returns nil if there is none.
func (r *Reconciler) existingCRD(ctx context.Context, name string) (*apiextensionsv1.CustomResourceDefinition, error) {
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := r.APIReader.Get(ctx, client.ObjectKey{Name: name}, crd); err != nil {
		if kube.Gone(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading CRD %s: %w", name, err)
	}
	return crd, nil
}

func (r *Reconciler) applyCRD(ctx context.Context, crd *apiextensionsv1.CustomResourceDefinition) (*unstructured.Unstructured, error) {
	return r.apply(ctx, crd, "CRD "+crd.Name)
}

// apply server-side applies obj, named what in errors, as operetta, which
// owns every field it sends, and returns what the API server answered.
func (r *Reconciler) apply(ctx context.Context, obj runtime.Object, what string) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", what, err)
	}
	// Only what operetta means to own: no empty status, no null timestamp.
	delete(m, "status")
	unstructured.RemoveNestedField(m, "metadata", "creationTimestamp")
	u := &unstructured.Unstructured{Object: m}
	if err := r.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
		client.FieldOwner(v1alpha1.FieldManager), client.ForceOwnership); err != nil {
		return nil, fmt.Errorf("applying %s: %w", what, err)
	}
	return u, nil
}

func established(crd *unstructured.Unstructured) bool {
	status, _ := crdCondition(crd, apiextensionsv1.Established)
	return status == string(apiextensionsv1.ConditionTrue)
}

// namesRefused says whether the API server refused the CRD's names (a
// short name or plural another CRD uses), which no wait fixes.
func namesRefused(crd *unstructured.Unstructured) (string, bool) {
	status, msg := crdCondition(crd, apiextensionsv1.NamesAccepted)
	return msg, status == string(apiextensionsv1.ConditionFalse)
}

func crdCondition(crd *unstructured.Unstructured, t apiextensionsv1.CustomResourceDefinitionConditionType) (status, message string) {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == string(t) {
			status, _ = m["status"].(string)
			message, _ = m["message"].(string)
			return status, message
		}
	}
	return "", ""
}
