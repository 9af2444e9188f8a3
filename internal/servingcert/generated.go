package servingcert

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrl "sigs.k8s.io/controller-runtime/pkg/log"
	ctrlmanager "sigs.k8s.io/controller-runtime/pkg/manager"
)

// Generated makes the manager issue its own certificate: a CA and a serving
// certificate kept in Secret, renewed 90 days before they expire (the CA
// lasts 10 years, the certificate 1), by cert-controller's rotator.
type Generated struct {
	// Secret holds the CA and the key pair (ca.crt, ca.key, tls.crt,
	// tls.key). It is created empty if missing; the rotator fills it.
	Secret types.NamespacedName
	// DNSName is the name the API server reaches the webhook by:
	// <service>.<namespace>.svc, or a URL's host.
	DNSName string
	// Dir is where the public halves are written (tls.crt, ca.crt): the
	// rotator waits for a tls.crt there before it reports ready. The key
	// never leaves memory. A new temporary folder if "".
	Dir string
}

// Secret keys the rotator writes.
const (
	caCertKey  = "ca.crt"
	tlsCertKey = "tls.crt"
	tlsKeyKey  = "tls.key"
)

// AddTo runs the rotator and a watch of the Secret in mgr on every replica,
// and keeps src up to date from the Secret.
func (g Generated) AddTo(ctx context.Context, mgr ctrlmanager.Manager, src *Source) error {
	if g.Secret.Namespace == "" || g.Secret.Name == "" || g.DNSName == "" {
		return fmt.Errorf("a generated certificate needs a Secret's namespace and name, and a DNS name")
	}
	if g.Dir == "" {
		dir, err := os.MkdirTemp("", "operetta-webhook-")
		if err != nil {
			return err
		}
		g.Dir = dir
	}
	if err := g.ensureSecret(ctx, mgr); err != nil {
		return err
	}
	if err := rotator.AddRotator(mgr, &rotator.CertRotator{
		SecretKey:      g.Secret,
		CertDir:        g.Dir,
		CAName:         "operetta-webhook-ca",
		CAOrganization: "operetta",
		DNSName:        g.DNSName,
		IsReady:        make(chan struct{}),
		// Every replica answers conversions, so every replica must have
		// the certificate; concurrent writers of the Secret lose on its
		// resourceVersion and read the winner's.
		RequireLeaderElection: false,
		ControllerName:        "operetta-webhook-cert",
	}); err != nil {
		return fmt.Errorf("the certificate rotator: %w", err)
	}
	// A cache of this one Secret, apart from the rotator's (private) one.
	secrets, err := cache.New(mgr.GetConfig(), cache.Options{
		Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(), HTTPClient: mgr.GetHTTPClient(),
		DefaultNamespaces: map[string]cache.Config{g.Secret.Namespace: {}},
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {Field: fields.OneTermEqualSelector("metadata.name", g.Secret.Name)},
		},
	})
	if err != nil {
		return err
	}
	informer, err := secrets.GetInformer(ctx, &corev1.Secret{})
	if err != nil {
		return err
	}
	log := ctrl.Log.WithName("webhook-cert").WithValues("secret", g.Secret.String())
	take := func(obj any) {
		s, ok := obj.(*corev1.Secret)
		if !ok || len(s.Data[tlsCertKey]) == 0 {
			return // the rotator has not filled it yet
		}
		if err := src.set(s.Data[tlsCertKey], s.Data[tlsKeyKey], s.Data[caCertKey]); err != nil {
			log.Error(err, "the Secret does not hold a usable certificate; the last one stays served")
			return
		}
		if err := g.writePublic(s.Data[tlsCertKey], s.Data[caCertKey]); err != nil {
			log.Error(err, "writing the certificate's public halves", "dir", g.Dir)
		}
	}
	if _, err := informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    take,
		UpdateFunc: func(_, obj any) { take(obj) },
	}); err != nil {
		return err
	}
	return mgr.Add(everyReplica{secrets})
}

// ensureSecret creates the Secret if it is missing: the rotator only
// updates it.
func (g Generated) ensureSecret(ctx context.Context, mgr ctrlmanager.Manager) error {
	c, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme(), HTTPClient: mgr.GetHTTPClient(), Mapper: mgr.GetRESTMapper()})
	if err != nil {
		return err
	}
	s := &corev1.Secret{}
	s.Namespace, s.Name = g.Secret.Namespace, g.Secret.Name
	s.Labels = map[string]string{"app.kubernetes.io/managed-by": "operetta"}
	if err := c.Create(ctx, s); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating Secret %s for the webhook's certificate: %w", g.Secret, err)
	}
	return nil
}

func (g Generated) writePublic(cert, ca []byte) error {
	for name, data := range map[string][]byte{tlsCertKey: cert, caCertKey: ca} {
		tmp := filepath.Join(g.Dir, "."+name)
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(g.Dir, name)); err != nil {
			return err
		}
	}
	return nil
}

// everyReplica runs a cache whether or not this replica leads.
type everyReplica struct{ cache.Cache }

func (everyReplica) NeedLeaderElection() bool { return false }
