package framework

import (
	"context"
	"fmt"
	"sort"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/reconcile/instance"
)

// DefaultMigrationBatch is how many instances one reconcile rewrites
// during a storage migration, about a second apart: the pace.
const DefaultMigrationBatch = 100

// migrateStorage rewrites, once the stored version of compiled's kind
// changed, every instance in it (an empty merge patch, which the API server
// stores again in the stored version), a batch per reconcile, in
// namespace/name order from where fw's status says it got to, so a
// restart goes on; then it trims the CRD's storedVersions to the stored
// version. It says whether it is done.
func (r *Reconciler) migrateStorage(ctx context.Context, fw *v1alpha1.Framework, crd *unstructured.Unstructured, compiled *compile.Framework) (bool, error) {
	storedVersions, _, _ := unstructured.NestedStringSlice(crd.Object, "status", "storedVersions")
	storage := compiled.GVK.Version
	var others []string
	for _, v := range storedVersions {
		if v != storage {
			others = append(others, v)
		}
	}
	if len(others) == 0 {
		fw.Status.StorageMigration = nil
		return true, nil
	}
	m := fw.Status.StorageMigration
	if m == nil || m.To != storage {
		m = &v1alpha1.StorageMigration{To: storage}
	}
	m.From = others
	fw.Status.StorageMigration = m
	items, err := instance.List(ctx, r.Engine.Cache(), compiled.GVK)
	if err != nil {
		return false, err
	}
	keys := make([]string, 0, len(items))
	for i := range items {
		keys = append(keys, types.NamespacedName{Namespace: items[i].GetNamespace(), Name: items[i].GetName()}.String())
	}
	sort.Strings(keys)
	batch := r.MigrationBatch
	if batch <= 0 {
		batch = DefaultMigrationBatch
	}
	for _, key := range keys {
		if key <= m.After {
			continue
		}
		if batch == 0 {
			return false, nil
		}
		if err := r.rewrite(ctx, compiled, key); err != nil {
			return false, err
		}
		m.After, m.Migrated, batch = key, m.Migrated+1, batch-1
	}
	// Every instance is stored in the stored version now: the others can go
	// from storedVersions, and so from the CRD later.
	trimmed := &apiextensionsv1.CustomResourceDefinition{}
	trimmed.SetName(crd.GetName())
	patch := []byte(fmt.Sprintf(`{"status":{"storedVersions":[%q]}}`, storage))
	if err := r.Client.Status().Patch(ctx, trimmed, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return false, fmt.Errorf("trimming storedVersions of CRD %s to %s: %w", crd.GetName(), storage, err)
	}
	fw.Status.StorageMigration = nil
	return true, nil
}

// rewrite makes the API server store instance key again, in the stored
// version: an empty merge patch changes nothing but the encoding.
func (r *Reconciler) rewrite(ctx context.Context, compiled *compile.Framework, key string) error {
	ns, name, _ := strings.Cut(key, "/")
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(compiled.GVK)
	u.SetNamespace(ns)
	u.SetName(name)
	err := r.Client.Patch(ctx, u, client.RawPatch(types.MergePatchType, []byte(`{}`)))
	if client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("rewriting %s %s in %s: %w", compiled.GVK.Kind, key, compiled.GVK.Version, err)
	}
	return nil
}
