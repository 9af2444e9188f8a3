package servingcert

import (
	"crypto/tls"
	"crypto/x509"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
)

// issue makes a CA and a certificate for localhost with cert-controller's
// own functions, as the rotator does.
func issue(t *testing.T) (cert, key, ca []byte) {
	t.Helper()
	r := &rotator.CertRotator{CAName: "test-ca", DNSName: "localhost", ExtKeyUsages: &[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	now := time.Now()
	caPair, err := r.CreateCACert(now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err = r.CreateCertPEM(caPair, now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return cert, key, caPair.CertPEM
}

func TestASourceServesTheLastGoodPairAndTellsEachNewCA(t *testing.T) {
	src := &Source{}
	if _, err := src.GetCertificate(&tls.ClientHelloInfo{}); err == nil {
		t.Fatal("a certificate before any was set")
	}
	var told atomic.Int32
	src.OnCAChange(func() { told.Add(1) })
	waitTold := func(want int32) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); told.Load() != want; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("told %d times of a new CA, want %d", told.Load(), want)
			}
		}
	}

	cert, key, ca := issue(t)
	if err := src.set(cert, key, ca); err != nil {
		t.Fatal(err)
	}
	waitTold(1)
	first, err := src.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil || string(src.CABundle()) != string(ca) {
		t.Fatalf("after the first pair: %v, CA %q", err, src.CABundle())
	}
	// The same CA again (a renewed certificate): served, not told.
	cert2, key2, _ := issue(t)
	if err := src.set(cert2, key2, ca); err != nil {
		t.Fatal(err)
	}
	if second, _ := src.GetCertificate(&tls.ClientHelloInfo{}); second == first {
		t.Fatal("the renewed certificate is not served")
	}
	// A half-written pair (a key of another certificate) changes nothing.
	if err := src.set(cert, key2, []byte("other CA")); err == nil {
		t.Fatal("a mismatched pair was taken")
	}
	if string(src.CABundle()) != string(ca) {
		t.Fatal("a refused pair replaced the CA")
	}
	// A new CA is told.
	cert3, key3, ca3 := issue(t)
	if err := src.set(cert3, key3, ca3); err != nil {
		t.Fatal(err)
	}
	waitTold(2)
}
