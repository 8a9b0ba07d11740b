package crlfetch

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"time"

	"alixsec.dev/ikesvc/pki"
)

// Errors of a fetch, wrapped with the URL and details.
var (
	ErrTooLarge   = errors.New("CRL response exceeds the size limit")
	ErrHTTPStatus = errors.New("CRL server answered with an error status")
	ErrNoIssuer   = errors.New("CRL issuer is neither a configured CA nor a CA certified by one")
)

// download GETs url with a timeout and reads at most maxSize bytes.
func download(ctx context.Context, client Doer, url string, timeout time.Duration, maxSize int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch CRL from %s: %w", url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		// *url.Error repeats the method and URL; the prefix names the URL.
		var uerr *neturl.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("fetch CRL from %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch CRL from %s: %w: %s", url, ErrHTTPStatus, resp.Status)
	}
	if resp.ContentLength > maxSize {
		return nil, fmt.Errorf("fetch CRL from %s: %w: Content-Length %d > %d", url, ErrTooLarge, resp.ContentLength, maxSize)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("fetch CRL from %s: reading body: %w", url, err)
	}
	if int64(len(data)) > maxSize {
		return nil, fmt.Errorf("fetch CRL from %s: %w: more than %d bytes", url, ErrTooLarge, maxSize)
	}
	return data, nil
}

// parseCRL reads a DER CRL (RFC 5280 says a CDP serves DER) or, as some
// CAs publish, a PEM one.
func parseCRL(data []byte) (*x509.RevocationList, error) {
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN")) {
		block, _ := pem.Decode(data)
		if block == nil || block.Type != "X509 CRL" {
			return nil, errors.New("PEM response holds no X509 CRL block")
		}
		data = block.Bytes
	}
	crl, err := x509.ParseRevocationList(data)
	if err != nil {
		return nil, fmt.Errorf("parsing CRL (%d bytes): %w", len(data), err)
	}
	return crl, nil
}

// verifiedIssuer finds the CA whose key signed crl: a configured CA, or one
// of candidates (certificates a peer sent) that chains to a configured root
// at now. A candidate is vouched for by that path, not by the peer.
func verifiedIssuer(ts *pki.TrustStore, crl *x509.RevocationList, candidates []*x509.Certificate, now time.Time) (*x509.Certificate, error) {
	configured := append(append([]*x509.Certificate(nil), ts.Roots()...), ts.Intermediates()...)
	var sigErr error
	for _, ca := range configured {
		if !bytes.Equal(ca.RawSubject, crl.RawIssuer) {
			continue
		}
		if err := crl.CheckSignatureFrom(ca); err != nil {
			sigErr = err
			continue
		}
		return ca, nil
	}
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	for _, c := range ts.Roots() {
		roots.AddCert(c)
	}
	for _, c := range append(ts.Intermediates(), candidates...) {
		inters.AddCert(c)
	}
	for _, ca := range candidates {
		if !bytes.Equal(ca.RawSubject, crl.RawIssuer) {
			continue
		}
		if err := crl.CheckSignatureFrom(ca); err != nil {
			sigErr = err
			continue
		}
		if _, err := ca.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			return nil, fmt.Errorf("CRL of %q: %w: %v", pki.DNString(crl.RawIssuer), ErrNoIssuer, err)
		}
		return ca, nil
	}
	if sigErr != nil {
		return nil, fmt.Errorf("CRL of %q: %w: %v", pki.DNString(crl.RawIssuer), pki.ErrCRLSignature, sigErr)
	}
	return nil, fmt.Errorf("CRL of %q: %w", pki.DNString(crl.RawIssuer), ErrNoIssuer)
}
