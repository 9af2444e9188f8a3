package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/crdgen"
	"operetta.dev/operetta/internal/plans"
)

// rolloutInterval is how often a Framework's rollout progress is refreshed
// while instances have not all caught up.
const rolloutInterval = 5 * time.Second

// Reasons of a Framework's Ready condition.
const (
	ReasonServing                = "Serving"
	ReasonCRDConflict            = "CRDConflict"
	ReasonInstallFailed          = "InstallFailed"
	ReasonWaitingForCRD          = "WaitingForCRD"
	ReasonDeleting               = "Deleting"
	ReasonBreakingChange         = "BreakingChange"
	ReasonServiceAccountRequired = "ServiceAccountRequired"
)

// FrameworkReconciler installs the CRD a Framework generates and keeps the
// loop of its kind running with the current generation. An invalid
// generation changes nothing: the previous one keeps running.
type FrameworkReconciler struct {
	Client    client.Client
	APIReader client.Reader // uncached: to see CRDs operetta did not create
	Registry  *Registry
	// RequireServiceAccount refuses Frameworks without serviceAccountName.
	RequireServiceAccount bool
}

// SetupWithManager watches Frameworks and the CRDs they generated.
func (r *FrameworkReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.Framework{}).
		Watches(&apiextensionsv1.CustomResourceDefinition{},
			handler.EnqueueRequestsFromMapFunc(frameworkOfCRD),
			builder.OnlyMetadata).
		Named("framework").
		Complete(r)
}

// frameworkOfCRD maps a generated CRD to its Framework by label.
func frameworkOfCRD(_ context.Context, o client.Object) []reconcile.Request {
	name := o.GetLabels()[v1alpha1.LabelFramework]
	if name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: name}}}
}

func (r *FrameworkReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, err error) {
	log := ctrl.LoggerFrom(ctx).WithValues("framework", req.Name)
	ctx = ctrl.LoggerInto(ctx, log)

	fw := &v1alpha1.Framework{}
	if err := r.Client.Get(ctx, req.NamespacedName, fw); err != nil {
		if apierrors.IsNotFound(err) {
			r.Registry.Stop(req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	old := fw.Status.DeepCopy()
	defer func() {
		if perr := r.patchStatus(ctx, fw, old); perr != nil && err == nil {
			err = perr
		}
	}()
	if fw.DeletionTimestamp != nil {
		return r.delete(ctx, fw)
	}
	// First, before anything exists that deleting the Framework must take
	// care of.
	if err := setFinalizer(ctx, r.Client, fw, v1alpha1.FinalizerFramework, true); err != nil {
		return retryOrFail(err)
	}
	return r.install(ctx, fw)
}

// install compiles fw, applies its CRD, waits until the CRD is established and
// runs its loop, recording in fw's status where it stopped.
func (r *FrameworkReconciler) install(ctx context.Context, fw *v1alpha1.Framework) (ctrl.Result, error) {
	compiled, errs := compile.Compile(fw)
	if len(errs) > 0 {
		setReady(fw, metav1.ConditionFalse, compile.Reason(errs), compile.Message(errs))
		return ctrl.Result{}, nil // only a change of the Framework can help
	}
	fw.Status.CRDName = compiled.CRD.Name
	if r.RequireServiceAccount && compiled.ServiceAccount.Name == "" {
		setReady(fw, metav1.ConditionFalse, ReasonServiceAccountRequired,
			"this operetta applies children only as a Framework's own service account: set spec.serviceAccountName and spec.serviceAccountNamespace")
		return ctrl.Result{}, nil
	}

	existing, err := r.existingCRD(ctx, compiled.CRD.Name)
	if err != nil {
		return ctrl.Result{}, err
	}
	if owner := ownerOf(existing, fw.Name); owner != fw.Name {
		setReady(fw, metav1.ConditionFalse, ReasonCRDConflict, conflictMessage(compiled.CRD.Name, owner))
		return ctrl.Result{}, nil
	}
	if existing != nil && fw.Annotations[v1alpha1.AnnotationAllowBreakingChanges] != "true" {
		if changes := crdgen.BreakingChanges(existing, compiled.CRD); len(changes) > 0 {
			setReady(fw, metav1.ConditionFalse, ReasonBreakingChange, fmt.Sprintf(
				"this generation would break existing instances, so the previous one keeps running: %s; to apply it anyway, annotate the Framework %s=\"true\"",
				strings.Join(changes, "; "), v1alpha1.AnnotationAllowBreakingChanges))
			return ctrl.Result{}, nil
		}
	}

	crd, err := r.applyCRD(ctx, compiled.CRD)
	if err != nil {
		if classify(err) == plans.Fatal {
			setReady(fw, metav1.ConditionFalse, ReasonInstallFailed, fmt.Sprintf("the API server refused CRD %s: %v", compiled.CRD.Name, err))
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if !established(crd) {
		setReady(fw, metav1.ConditionFalse, ReasonWaitingForCRD, fmt.Sprintf("waiting for CRD %s to be established", crd.GetName()))
		return ctrl.Result{}, nil // the CRD's watch event brings us back
	}

	if err := r.Registry.Start(fw.Name, compiled); err != nil {
		if errors.Is(err, errNotLeading) {
			return ctrl.Result{RequeueAfter: pollInterval}, nil
		}
		return ctrl.Result{}, err
	}
	setReady(fw, metav1.ConditionTrue, ReasonServing,
		fmt.Sprintf("%s is served as %s and its instances are reconciled", compiled.GVK.Kind, compiled.GVK.GroupVersion()))
	return r.reportRollout(ctx, fw)
}

// reportRollout records how far the running generation has reached the
// instances, and looks again while it has not reached them all.
func (r *FrameworkReconciler) reportRollout(ctx context.Context, fw *v1alpha1.Framework) (ctrl.Result, error) {
	generation, updated, total, err := r.Registry.Progress(ctx, fw.Name)
	if err != nil {
		return ctrl.Result{RequeueAfter: pollInterval}, nil // the loop's cache is still syncing
	}
	fw.Status.Rollout = &v1alpha1.RolloutStatus{Generation: generation, Updated: updated, Total: total}
	if updated < total {
		return ctrl.Result{RequeueAfter: rolloutInterval}, nil
	}
	return ctrl.Result{}, nil
}

// existingCRD reads the CRD name from the API server, not the cache: the
// cache holds only CRDs operetta made, and one it did not make matters most.
// It returns nil if there is none.
func (r *FrameworkReconciler) existingCRD(ctx context.Context, name string) (*apiextensionsv1.CustomResourceDefinition, error) {
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := r.APIReader.Get(ctx, client.ObjectKey{Name: name}, crd); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading CRD %s: %w", name, err)
	}
	return crd, nil
}

// ownerOf returns the Framework that generated crd, "" for a CRD operetta did
// not create, and ifNone when there is no CRD.
func ownerOf(crd *apiextensionsv1.CustomResourceDefinition, ifNone string) string {
	switch {
	case crd == nil:
		return ifNone
	case crd.Labels[v1alpha1.LabelManagedBy] != v1alpha1.ManagedByValue:
		return ""
	default:
		return crd.Labels[v1alpha1.LabelFramework]
	}
}

func conflictMessage(crd, owner string) string {
	if owner == "" {
		return fmt.Sprintf("CRD %s exists and was not created by operetta; operetta never adopts or changes it: rename the kind or group", crd)
	}
	return fmt.Sprintf("CRD %s belongs to Framework %q; two Frameworks cannot generate the same kind", crd, owner)
}

func (r *FrameworkReconciler) applyCRD(ctx context.Context, crd *apiextensionsv1.CustomResourceDefinition) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(crd)
	if err != nil {
		return nil, fmt.Errorf("encoding CRD %s: %w", crd.Name, err)
	}
	// Only what operetta means to own: no empty status, no null timestamp.
	delete(m, "status")
	unstructured.RemoveNestedField(m, "metadata", "creationTimestamp")
	u := &unstructured.Unstructured{Object: m}
	if err := r.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
		client.FieldOwner(v1alpha1.FieldManager), client.ForceOwnership); err != nil {
		return nil, fmt.Errorf("applying CRD %s: %w", crd.Name, err)
	}
	return u, nil
}

func established(crd *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == string(apiextensionsv1.Established) && m["status"] == string(apiextensionsv1.ConditionTrue) {
			return true
		}
	}
	return false
}

func setReady(fw *v1alpha1.Framework, status metav1.ConditionStatus, reason, msg string) {
	fw.Status.ObservedGeneration = fw.Generation
	meta.SetStatusCondition(&fw.Status.Conditions, metav1.Condition{
		Type: v1alpha1.ConditionReady, Status: status, Reason: reason, Message: msg, ObservedGeneration: fw.Generation,
	})
}

// patchStatus writes fw's status once per reconcile, and only if it changed.
func (r *FrameworkReconciler) patchStatus(ctx context.Context, fw *v1alpha1.Framework, old *v1alpha1.FrameworkStatus) error {
	if equality.Semantic.DeepEqual(*old, fw.Status) {
		return nil
	}
	orig := fw.DeepCopy()
	orig.Status = *old
	if err := r.Client.Status().Patch(ctx, fw, client.MergeFrom(orig), client.FieldOwner(v1alpha1.FieldManager)); err != nil {
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			return nil // the next event reconciles again
		}
		return fmt.Errorf("patching status of Framework %s: %w", fw.Name, err)
	}
	return nil
}
