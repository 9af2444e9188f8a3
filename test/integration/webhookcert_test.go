package integration

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	operetta "operetta.dev/operetta/internal/manager"
	"operetta.dev/operetta/internal/servingcert"
)

// The manager makes its own CA and certificate in a Secret (cert-controller's
// rotator), writes the CA into the CRD it converts for, and when the CA is
// replaced, writes the new one: conversions work before and after.
func TestTheManagersOwnCertificateIsTrustedAndItsNewCAWritten(t *testing.T) {
	wio := &envtest.WebhookInstallOptions{} // for a free port only
	if err := wio.PrepWithoutInstalling(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = wio.Cleanup() })
	home := namespace(t, "webhook-cert")
	secret := types.NamespacedName{Namespace: home, Name: "operetta-webhook-cert"}
	src := &servingcert.Source{}
	url := "https://localhost:" + strconv.Itoa(wio.LocalServingPort)
	startManagerAdding(t, operetta.Options{WorkersPerKind: 2,
		Conversion: &apiextensionsv1.WebhookClientConfig{URL: ptr.To(url)}, Certificate: src},
		nil, func(o *ctrl.Options) {
			o.WebhookServer = webhook.NewServer(webhook.Options{Port: wio.LocalServingPort, TLSOpts: []func(*tls.Config){src.TLS}})
		}, func(mgr ctrl.Manager) error {
			return servingcert.Generated{Secret: secret, DNSName: "localhost", Dir: t.TempDir()}.AddTo(context.Background(), mgr, src)
		})

	ns := namespace(t, "webhook-cert-instances")
	group := "webhookcert.test.operetta.dev"
	createFramework(t, versionedFramework("webhookcert", group))
	frameworkReady(t, "webhookcert", metav1.ConditionTrue)
	v1 := schema.GroupVersionKind{Group: group, Version: "v1", Kind: "Thing"}
	if err := k8s.Create(ctx(t), instance(v1, ns, "t", map[string]any{"size": int64(3)})); err != nil {
		t.Fatal(err)
	}
	caOf := func() ([]byte, []byte) {
		s := &corev1.Secret{}
		if err := k8s.Get(ctx(t), secret, s); err != nil {
			t.Fatal(err)
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := k8s.Get(ctx(t), types.NamespacedName{Name: "things." + group}, crd); err != nil {
			t.Fatal(err)
		}
		return s.Data["ca.crt"], crd.Spec.Conversion.Webhook.ClientConfig.CABundle
	}
	first, inCRD := caOf()
	if len(first) == 0 || !bytes.Equal(first, inCRD) {
		t.Fatalf("the CRD trusts %q, the Secret holds CA %q", inCRD, first)
	}
	readAs := func(version string, want string) {
		t.Helper()
		gvk := v1
		gvk.Version = version
		if _, spec := specOf(t, gvk, ns, "t"); spec != want {
			t.Fatalf("read as %s: %s", version, spec)
		}
	}
	readAs("v2", `{"replicas":3}`)

	// A new CA: emptied, the Secret is filled again by the rotator.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s := &corev1.Secret{}
		if err := k8s.Get(ctx(t), secret, s); err != nil {
			return err
		}
		s.Data = nil
		return k8s.Update(ctx(t), s)
	}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, func() error {
		now, inCRD := caOf()
		switch {
		case len(now) == 0 || bytes.Equal(now, first):
			return fmt.Errorf("the Secret holds no new CA yet")
		case !bytes.Equal(now, inCRD):
			return fmt.Errorf("the CRD trusts the CA of before")
		}
		return nil
	})
	// The API server trusts the new certificate: a conversion, in both
	// directions, goes through.
	eventually(t, 30*time.Second, func() error {
		u, err := get(t, v1, ns, "t")
		if err != nil {
			return err
		}
		u.Object["spec"] = map[string]any{"size": int64(4)}
		return k8s.Update(ctx(t), u)
	})
	readAs("v2", `{"replicas":4}`)
}
