package cli

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apiextensions-apiserver/pkg/apihelpers"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/crdgen"
)

// target is an instance of a generated kind, and the Framework behind it.
type target struct {
	gvk       schema.GroupVersionKind
	instance  *unstructured.Unstructured
	framework *v1alpha1.Framework // nil if it cannot be read
}

func (t target) ref() string {
	return fmt.Sprintf("%s/%s", strings.ToLower(t.gvk.Kind), t.instance.GetName())
}

func (t target) status() (v1alpha1.InstanceStatus, error) {
	var st v1alpha1.InstanceStatus
	if m, ok := t.instance.Object["status"].(map[string]any); ok {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &st); err != nil {
			return st, fmt.Errorf("reading the status of %s: %w", t.ref(), err)
		}
	}
	return st, nil
}

// find reads the instance arg names: KIND/NAME, or NAME with kind, where KIND
// is what kubectl takes (kafka, kafkas, kafka.apps.example.com, a short
// name). The kind must be one a Framework generated.
func (c *Cluster) find(ctx context.Context, arg, kind string) (target, error) {
	name := arg
	if k, n, ok := strings.Cut(arg, "/"); ok {
		kind, name = k, n
	}
	if kind == "" || name == "" {
		return target{}, fmt.Errorf("%q: name the instance as KIND/NAME (kafka/events), or give its kind with -k", arg)
	}
	gvk, err := c.kindOf(kind)
	if err != nil {
		return target{}, err
	}
	// A namespace user (the built-in edit or view role) may read the
	// instance but not CRDs or Frameworks: then the kind is taken as
	// operetta's, and its Framework stays unknown.
	owner := ""
	crd, err := c.crdOf(ctx, gvk)
	switch {
	case apierrors.IsForbidden(err):
	case err != nil:
		return target{}, err
	default:
		if owner = crdgen.Owner(crd, ""); owner == "" {
			return target{}, fmt.Errorf("%s is not a kind an operetta Framework generated (its CRD %s has no %s label)", gvk.Kind, crd.Name, v1alpha1.LabelFramework)
		}
		// In the stored version, which templates and plans are written
		// against, whatever version kubectl prefers.
		if stored, err := apihelpers.GetCRDStorageVersion(crd); err == nil {
			gvk.Version = stored
		}
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	if err := c.Client.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: name}, u); err != nil {
		return target{}, fmt.Errorf("reading %s %s/%s: %w", gvk.Kind, c.Namespace, name, err)
	}
	t := target{gvk: gvk, instance: u}
	if owner == "" {
		return t, nil
	}
	fw := &v1alpha1.Framework{}
	err = c.Client.Get(ctx, client.ObjectKey{Name: owner}, fw)
	switch {
	case err == nil:
		t.framework = fw
	case !apierrors.IsNotFound(err) && !apierrors.IsForbidden(err):
		return target{}, fmt.Errorf("reading Framework %s: %w", owner, err)
	}
	return t, nil
}

// kindOf resolves what a user calls a kind, as kubectl does.
func (c *Cluster) kindOf(kind string) (schema.GroupVersionKind, error) {
	gvr, gr := schema.ParseResourceArg(strings.ToLower(kind))
	if gvr != nil {
		if gvk, err := c.Mapper.KindFor(*gvr); err == nil {
			return gvk, nil
		}
	}
	gvk, err := c.Mapper.KindFor(gr.WithVersion(""))
	if err != nil {
		return schema.GroupVersionKind{}, fmt.Errorf("kind %q: %w", kind, err)
	}
	return gvk, nil
}

// crdOf reads the CRD that serves gvk.
func (c *Cluster) crdOf(ctx context.Context, gvk schema.GroupVersionKind) (*apiextensionsv1.CustomResourceDefinition, error) {
	m, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, fmt.Errorf("kind %s: %w", gvk.Kind, err)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	name := m.Resource.Resource + "." + m.Resource.Group
	if err := c.Client.Get(ctx, client.ObjectKey{Name: name}, crd); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("%s is not a custom resource, so no operetta Framework generated it", gvk.Kind)
		}
		return nil, fmt.Errorf("reading CRD %s: %w", name, err)
	}
	return crd, nil
}
