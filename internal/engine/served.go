package engine

import (
	"context"
	"fmt"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"operetta.dev/operetta/internal/kube"
)

// watchCRDs calls served with the group of every CRD that appears or
// changes, while this manager leads. Only names are kept (metadata, managed
// fields dropped): the manager's own cache holds operetta's CRDs alone, and
// a child kind a Framework needs before its CRD is installed (a
// ServiceMonitor before Prometheus) is someone else's.
func watchCRDs(mgr manager.Manager, served func(group string)) error {
	client, err := metadata.NewForConfig(mgr.GetConfig())
	if err != nil {
		return fmt.Errorf("a metadata client for CRDs: %w", err)
	}
	informers := metadatainformer.NewSharedInformerFactory(client, 0)
	informer := informers.ForResource(apiextensionsv1.SchemeGroupVersion.WithResource("customresourcedefinitions")).Informer()
	if err := informer.SetTransform(kube.StripUnread); err != nil {
		return err
	}
	on := func(obj any) {
		if m, ok := obj.(*metav1.PartialObjectMetadata); ok {
			// A CRD is named <plural>.<group>.
			if _, group, found := strings.Cut(m.Name, "."); found {
				served(group)
			}
		}
	}
	if _, err := informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: on, UpdateFunc: func(_, obj any) { on(obj) },
	}); err != nil {
		return err
	}
	// A RunnableFunc needs leader election: a standby has no loop to wake.
	return mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		informers.Start(ctx.Done())
		<-ctx.Done()
		informers.Shutdown()
		return nil
	}))
}
