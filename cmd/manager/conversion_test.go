package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConversionFlags(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(ca, []byte("PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	cc, err := conversionConfig(9443, "operetta-system/operetta-webhook:443", "", ca)
	if err != nil || cc.Service == nil || cc.Service.Namespace != "operetta-system" || cc.Service.Name != "operetta-webhook" ||
		*cc.Service.Port != 443 || string(cc.CABundle) != "PEM" || cc.URL != nil {
		t.Fatalf("a Service: %+v, %v", cc, err)
	}
	if cc, err := conversionConfig(0, "", "", ""); cc != nil || err != nil {
		t.Fatalf("no webhook: %+v, %v", cc, err)
	}
	for _, tc := range []struct {
		port                 int
		service, url, caFile string
		want                 string
	}{
		{0, "ns/name", "", "", "need --webhook-port"},
		{9443, "", "", ca, "exactly one of --conversion-service and --conversion-url"},
		{9443, "ns/name", "https://x", ca, "exactly one of"},
		{9443, "name", "", ca, `--conversion-service "name": want NAMESPACE/NAME[:PORT]`},
		{9443, "ns/name:https", "", ca, "port"},
		{9443, "", "https://127.0.0.1:9443", "", "needs --conversion-ca-file"},
		{9443, "", "https://127.0.0.1:9443", "/nonexistent", "--conversion-ca-file"},
	} {
		if _, err := conversionConfig(tc.port, tc.service, tc.url, tc.caFile); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc, err, tc.want)
		}
	}
}
