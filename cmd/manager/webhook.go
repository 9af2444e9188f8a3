package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrlmanager "sigs.k8s.io/controller-runtime/pkg/manager"

	"operetta.dev/operetta/internal/servingcert"
)

// webhookFlags say whether the manager serves the conversion webhook, how
// the API server reaches it, and where its certificate comes from.
type webhookFlags struct {
	port                 int
	certSecret, certDir  string
	service, url, caFile string
}

func (w *webhookFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&w.port, "webhook-port", 0, "port of the HTTPS webhook server that converts the kinds Frameworks serve in several versions; 0: none (such Frameworks are refused)")
	fs.StringVar(&w.certSecret, "webhook-cert-secret", "", "NAMESPACE/NAME of a Secret in which the manager makes and rotates the webhook's certificate and CA itself (created if missing)")
	fs.StringVar(&w.certDir, "webhook-cert-dir", "", "without --webhook-cert-secret: directory of tls.crt and tls.key another issuer keeps (cert-manager), read again as they change; with it: where the certificate's public halves are written")
	fs.StringVar(&w.service, "conversion-service", "", "NAMESPACE/NAME[:PORT] of the Service the API server reaches the webhook server through")
	fs.StringVar(&w.url, "conversion-url", "", "instead of --conversion-service: the URL the API server reaches the webhook server at, https://host:port")
	fs.StringVar(&w.caFile, "conversion-ca-file", "", "without --webhook-cert-secret: PEM file of the CA that signed the certificate, given to the API server (default: ca.crt in --webhook-cert-dir)")
}

// clientConfig is how the API server reaches the webhook, without its CA
// bundle, which the certificate's source gives; nil without --webhook-port.
func (w webhookFlags) clientConfig() (*apiextensionsv1.WebhookClientConfig, error) {
	if w.port <= 0 {
		if w.service != "" || w.url != "" || w.certSecret != "" {
			return nil, fmt.Errorf("--conversion-service, --conversion-url and --webhook-cert-secret need --webhook-port")
		}
		return nil, nil
	}
	cc := &apiextensionsv1.WebhookClientConfig{}
	switch {
	case (w.service == "") == (w.url == ""):
		return nil, fmt.Errorf("--webhook-port needs exactly one of --conversion-service and --conversion-url")
	case w.url != "":
		u, err := url.Parse(w.url)
		if err != nil || u.Scheme != "https" || u.Hostname() == "" {
			return nil, fmt.Errorf("--conversion-url %q: want https://host[:port]", w.url)
		}
		cc.URL = &w.url
	default:
		ns, rest, ok := strings.Cut(w.service, "/")
		name, portText, hasPort := strings.Cut(rest, ":")
		if !ok || ns == "" || name == "" {
			return nil, fmt.Errorf("--conversion-service %q: want NAMESPACE/NAME[:PORT]", w.service)
		}
		cc.Service = &apiextensionsv1.ServiceReference{Namespace: ns, Name: name}
		if hasPort {
			p, err := strconv.ParseInt(portText, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("--conversion-service %q: port: %w", w.service, err)
			}
			cc.Service.Port = ptr.To(int32(p))
		}
	}
	return cc, nil
}

// certificate is where the webhook's certificate comes from, given how the
// API server reaches it (cc, not nil).
func (w webhookFlags) certificate(cc *apiextensionsv1.WebhookClientConfig) (certificateSource, error) {
	if w.certSecret == "" {
		if w.certDir == "" {
			return nil, fmt.Errorf("--webhook-port needs --webhook-cert-secret (the manager makes its certificate) or --webhook-cert-dir (another issuer's)")
		}
		return servingcert.Files{Dir: w.certDir, CAFile: w.caFile}, nil
	}
	if w.caFile != "" {
		return nil, fmt.Errorf("--conversion-ca-file is for a certificate another issuer makes: with --webhook-cert-secret the manager makes the CA")
	}
	ns, name, ok := strings.Cut(w.certSecret, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return nil, fmt.Errorf("--webhook-cert-secret %q: want NAMESPACE/NAME", w.certSecret)
	}
	dns := ""
	if cc.Service != nil {
		dns = cc.Service.Name + "." + cc.Service.Namespace + ".svc"
	} else {
		u, _ := url.Parse(*cc.URL) // checked by clientConfig
		dns = u.Hostname()
	}
	return servingcert.Generated{Secret: types.NamespacedName{Namespace: ns, Name: name}, DNSName: dns, Dir: w.certDir}, nil
}

// certificateSource keeps a servingcert.Source up to date in a manager.
type certificateSource interface {
	AddTo(context.Context, ctrlmanager.Manager, *servingcert.Source) error
}
