package main

import (
	"strings"
	"testing"

	"operetta.dev/operetta/internal/servingcert"
)

func TestWebhookFlags(t *testing.T) {
	w := webhookFlags{port: 9443, service: "operetta-system/operetta-webhook:443", certSecret: "operetta-system/operetta-webhook-cert"}
	cc, err := w.clientConfig()
	if err != nil || cc.Service == nil || cc.Service.Namespace != "operetta-system" || cc.Service.Name != "operetta-webhook" ||
		*cc.Service.Port != 443 || cc.URL != nil {
		t.Fatalf("a Service: %+v, %v", cc, err)
	}
	src, err := w.certificate(cc)
	if g, ok := src.(servingcert.Generated); err != nil || !ok || g.DNSName != "operetta-webhook.operetta-system.svc" ||
		g.Secret.String() != "operetta-system/operetta-webhook-cert" {
		t.Fatalf("a generated certificate for the Service: %+v, %v", src, err)
	}

	w = webhookFlags{port: 9443, url: "https://localhost:9443", certSecret: "kube-system/cert"}
	cc, err = w.clientConfig()
	if err != nil || *cc.URL != "https://localhost:9443" {
		t.Fatalf("a URL: %+v, %v", cc, err)
	}
	if src, err := w.certificate(cc); err != nil || src.(servingcert.Generated).DNSName != "localhost" {
		t.Fatalf("a generated certificate for the URL's host: %+v, %v", src, err)
	}

	w = webhookFlags{port: 9443, url: "https://localhost:9443", certDir: "/certs"}
	cc, _ = w.clientConfig()
	if src, err := w.certificate(cc); err != nil || src.(servingcert.Files).Dir != "/certs" {
		t.Fatalf("another issuer's files: %+v, %v", src, err)
	}
	if cc, err := (webhookFlags{}).clientConfig(); cc != nil || err != nil {
		t.Fatalf("no webhook: %+v, %v", cc, err)
	}

	for _, tc := range []struct {
		flags webhookFlags
		want  string
	}{
		{webhookFlags{service: "ns/name"}, "need --webhook-port"},
		{webhookFlags{certSecret: "ns/name"}, "need --webhook-port"},
		{webhookFlags{port: 9443}, "exactly one of --conversion-service and --conversion-url"},
		{webhookFlags{port: 9443, service: "ns/name", url: "https://x"}, "exactly one of"},
		{webhookFlags{port: 9443, service: "name"}, `--conversion-service "name": want NAMESPACE/NAME[:PORT]`},
		{webhookFlags{port: 9443, service: "ns/name:https"}, "port"},
		{webhookFlags{port: 9443, url: "http://127.0.0.1:9443"}, `--conversion-url "http://127.0.0.1:9443": want https://host[:port]`},
		{webhookFlags{port: 9443, url: "https://localhost:9443"}, "needs --webhook-cert-secret (the manager makes its certificate) or --webhook-cert-dir"},
		{webhookFlags{port: 9443, url: "https://localhost:9443", certSecret: "cert"}, `--webhook-cert-secret "cert": want NAMESPACE/NAME`},
		{webhookFlags{port: 9443, url: "https://localhost:9443", certSecret: "ns/cert", caFile: "ca.pem"}, "--conversion-ca-file is for a certificate another issuer makes"},
	} {
		cc, err := tc.flags.clientConfig()
		if err == nil {
			_, err = tc.flags.certificate(cc)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.flags, err, tc.want)
		}
	}
}
