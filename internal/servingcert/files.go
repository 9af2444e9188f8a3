package servingcert

import (
	"context"
	"os"
	"path/filepath"
	"time"

	ctrl "sigs.k8s.io/controller-runtime/pkg/log"
	ctrlmanager "sigs.k8s.io/controller-runtime/pkg/manager"
)

// Files serves a certificate another issuer keeps in files, such as a
// cert-manager Certificate's Secret mounted into the pod: the kubelet
// replaces them in place when the issuer renews it, and they are read again
// every Poll.
type Files struct {
	// Dir holds tls.crt and tls.key.
	Dir string
	// CAFile is the CA bundle's PEM; ca.crt in Dir if "".
	CAFile string
	// Every is how often the files are read again; Poll if 0.
	Every time.Duration
}

// Poll is how often Files reads its files again.
const Poll = 10 * time.Second

// AddTo reads the files into src now, so an error names the missing or bad
// file before the manager starts, and again every Poll on every replica.
func (f Files) AddTo(_ context.Context, mgr ctrlmanager.Manager, src *Source) error {
	cert, key, ca, err := f.read()
	if err != nil {
		return err
	}
	if err := src.set(cert, key, ca); err != nil {
		return err
	}
	return mgr.Add(pollFiles{f, src})
}

type pollFiles struct {
	Files
	src *Source
}

func (pollFiles) NeedLeaderElection() bool { return false }

// Start reads the files into src every Poll until ctx ends. Only a new CA
// is told (Source.set), so reading unchanged files again changes nothing.
func (p pollFiles) Start(ctx context.Context) error {
	f, src := p.Files, p.src
	log := ctrl.FromContext(ctx).WithName("webhook-cert").WithValues("dir", f.Dir)
	every := f.Every
	if every <= 0 {
		every = Poll
	}
	for {
		cert, key, ca, err := f.read()
		if err == nil {
			err = src.set(cert, key, ca)
		}
		if err != nil {
			log.Error(err, "reading the webhook's certificate; the last one stays served")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(every):
		}
	}
}

func (f Files) read() (cert, key, ca []byte, err error) {
	caFile := f.CAFile
	if caFile == "" {
		caFile = filepath.Join(f.Dir, caCertKey)
	}
	if cert, err = os.ReadFile(filepath.Join(f.Dir, tlsCertKey)); err != nil {
		return nil, nil, nil, err
	}
	if key, err = os.ReadFile(filepath.Join(f.Dir, tlsKeyKey)); err != nil {
		return nil, nil, nil, err
	}
	if ca, err = os.ReadFile(caFile); err != nil {
		return nil, nil, nil, err
	}
	return cert, key, ca, nil
}
