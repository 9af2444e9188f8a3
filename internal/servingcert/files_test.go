package servingcert

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func write(t *testing.T, dir string, cert, key, ca []byte) {
	t.Helper()
	for name, data := range map[string][]byte{tlsCertKey: cert, tlsKeyKey: key, caCertKey: ca} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// Another issuer renews the files in place (as the kubelet updates a
// mounted Secret): the new certificate is served and the new CA told; a
// half-written pair changes nothing.
func TestFilesAreReadAgainAsTheyChange(t *testing.T) {
	dir := t.TempDir()
	cert, key, ca := issue(t)
	write(t, dir, cert, key, ca)
	src := &Source{}
	told := make(chan struct{}, 4)
	src.OnCAChange(func() { told <- struct{}{} })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := pollFiles{Files{Dir: dir, Every: 20 * time.Millisecond}, src}
	done := make(chan error)
	go func() { done <- p.Start(ctx) }()
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal(what)
			}
		}
	}
	waitFor("the first files read", func() bool { return string(src.CABundle()) == string(ca) })
	<-told

	// Half-written: a key of another certificate.
	_, otherKey, _ := issue(t)
	if err := os.WriteFile(filepath.Join(dir, tlsKeyKey), otherKey, 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if string(src.CABundle()) != string(ca) {
		t.Fatal("a mismatched pair replaced the served one")
	}

	cert2, key2, ca2 := issue(t)
	write(t, dir, cert2, key2, ca2)
	waitFor("the renewed files read", func() bool { return string(src.CABundle()) == string(ca2) })
	select {
	case <-told:
	case <-time.After(5 * time.Second):
		t.Fatal("the new CA was not told")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
