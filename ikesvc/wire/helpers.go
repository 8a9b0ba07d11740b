package wire

import (
	"crypto/sha1"
	"encoding/binary"
	"net/netip"
	"strconv"
)

// NATDetectionHash is the data of NAT_DETECTION_SOURCE_IP and
// NAT_DETECTION_DESTINATION_IP (RFC 7296 2.23): SHA-1 of the SPIs, the
// IP address (4 or 16 bytes) and the UDP port. In IKE_SA_INIT requests the
// responder SPI is zero.
func NATDetectionHash(initiatorSPI, responderSPI uint64, addr netip.AddrPort) [sha1.Size]byte {
	var buf [8 + 8 + 16 + 2]byte
	binary.BigEndian.PutUint64(buf[0:], initiatorSPI)
	binary.BigEndian.PutUint64(buf[8:], responderSPI)
	n := 16
	if ip := addr.Addr().Unmap(); ip.Is4() {
		a := ip.As4()
		n += copy(buf[n:], a[:])
	} else {
		a := ip.As16()
		n += copy(buf[n:], a[:])
	}
	binary.BigEndian.PutUint16(buf[n:], addr.Port())
	return sha1.Sum(buf[:n+2])
}

// CAHash is the CERTREQ entry for a CA: SHA-1 of its DER SubjectPublicKeyInfo
// (RFC 7296 3.7).
func CAHash(subjectPublicKeyInfo []byte) [sha1.Size]byte {
	return sha1.Sum(subjectPublicKeyInfo)
}

// NewCertRequest builds an X.509 CERTREQ from CA hashes (see CAHash).
func NewCertRequest(hashes ...[sha1.Size]byte) *CertRequest {
	data := make([]byte, 0, len(hashes)*sha1.Size)
	for _, h := range hashes {
		data = append(data, h[:]...)
	}
	return &CertRequest{Encoding: CertX509Signature, Data: data}
}

// Authorities splits an X.509 CERTREQ into its 20-byte CA hashes (aliasing Data).
func (p *CertRequest) Authorities() ([][]byte, error) {
	if p.Encoding != CertX509Signature {
		return nil, errAt(ErrInvalidSyntax, "CERTREQ", 0, "encoding "+strconv.Itoa(int(p.Encoding))+" holds no CA hashes")
	}
	if len(p.Data)%sha1.Size != 0 {
		return nil, errAt(ErrInvalidSyntax, "CERTREQ", 0, strconv.Itoa(len(p.Data))+" bytes is not a list of SHA-1 hashes")
	}
	out := make([][]byte, 0, len(p.Data)/sha1.Size)
	for i := 0; i < len(p.Data); i += sha1.Size {
		out = append(out, p.Data[i:i+sha1.Size:i+sha1.Size])
	}
	return out, nil
}

// AppendSignatureAuth builds the data of an AUTH payload with method
// AuthDigitalSignature (RFC 7427 3): a one-byte length, the DER
// AlgorithmIdentifier, then the signature.
func AppendSignatureAuth(dst, algorithmID, signature []byte) ([]byte, error) {
	if len(algorithmID) == 0 || len(algorithmID) > 255 {
		return dst, errAt(ErrInvalidSyntax, "signature AUTH", 0, "AlgorithmIdentifier of "+strconv.Itoa(len(algorithmID))+" bytes")
	}
	dst = append(dst, byte(len(algorithmID)))
	dst = append(dst, algorithmID...)
	return append(dst, signature...), nil
}

// ParseSignatureAuth splits AuthDigitalSignature data into the DER
// AlgorithmIdentifier and the signature (both aliasing data).
func ParseSignatureAuth(data []byte) (algorithmID, signature []byte, err error) {
	if len(data) < 1 {
		return nil, nil, errAt(ErrTruncated, "signature AUTH", 0, "")
	}
	n := int(data[0])
	if n == 0 || 1+n > len(data) {
		return nil, nil, errAt(ErrInvalidSyntax, "signature AUTH", 0, "AlgorithmIdentifier length "+strconv.Itoa(n)+" in "+strconv.Itoa(len(data))+" bytes")
	}
	return data[1 : 1+n], data[1+n:], nil
}

// Hash algorithm identifiers of SIGNATURE_HASH_ALGORITHMS (RFC 7427 7, RFC 8420).
const (
	HashSHA1     uint16 = 1
	HashSHA256   uint16 = 2
	HashSHA384   uint16 = 3
	HashSHA512   uint16 = 4
	HashIdentity uint16 = 5
)

// AppendHashAlgorithms builds SIGNATURE_HASH_ALGORITHMS notify data.
func AppendHashAlgorithms(dst []byte, algs ...uint16) []byte {
	for _, a := range algs {
		dst = binary.BigEndian.AppendUint16(dst, a)
	}
	return dst
}

// ParseHashAlgorithms decodes SIGNATURE_HASH_ALGORITHMS notify data.
func ParseHashAlgorithms(data []byte) ([]uint16, error) {
	if len(data)%2 != 0 {
		return nil, errAt(ErrInvalidSyntax, "SIGNATURE_HASH_ALGORITHMS", 0, "odd length "+strconv.Itoa(len(data)))
	}
	out := make([]uint16, len(data)/2)
	for i := range out {
		out[i] = binary.BigEndian.Uint16(data[2*i:])
	}
	return out, nil
}
