package servingcert

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
)

// Source holds the current key pair and CA bundle. Its zero value holds
// none: handshakes fail, and CABundle is empty, until the first pair is set.
type Source struct {
	mu       sync.RWMutex
	cert     *tls.Certificate
	ca       []byte
	onChange []func()
}

// GetCertificate is the webhook server's tls.Config.GetCertificate.
func (s *Source) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.cert == nil {
		return nil, errors.New("the conversion webhook has no certificate yet")
	}
	return s.cert, nil
}

// TLS sets the webhook server's config to serve from s.
func (s *Source) TLS(c *tls.Config) { c.GetCertificate = s.GetCertificate }

// CABundle is the PEM of the CA that signed the certificate served, for a
// CRD's conversion webhook; nil until there is one.
func (s *Source) CABundle() []byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.ca
}

// OnCAChange calls f, in its own goroutine, each time the CA bundle
// changes, the first time included.
func (s *Source) OnCAChange(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onChange = append(s.onChange, f)
}

// set replaces the key pair and CA; a pair that does not parse changes
// nothing, so a half-written Secret or file never stops the serving of the
// last good one.
func (s *Source) set(certPEM, keyPEM, caPEM []byte) error {
	if len(caPEM) == 0 {
		return errors.New("no CA certificate")
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("the key pair: %w", err)
	}
	s.mu.Lock()
	changed := !bytes.Equal(s.ca, caPEM)
	s.cert, s.ca = &pair, bytes.Clone(caPEM)
	callbacks := s.onChange
	s.mu.Unlock()
	if changed {
		for _, f := range callbacks {
			go f()
		}
	}
	return nil
}
