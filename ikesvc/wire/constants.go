// Package wire encodes and decodes IKEv2 messages (RFC 7296 section 3) and
// the fragments of RFC 7383. It knows nothing about keys or algorithms: the
// SK payload is sealed and opened through the SKCipher interface, which the
// suite package implements.
//
// Decoded payloads alias the input buffer (no copies), and decoding an SK
// payload decrypts it in place, so the caller hands the buffer over to the
// returned Message.
package wire

import "fmt"

// Sizes fixed by RFC 7296 section 3.1 and 3.2.
const (
	HeaderLen        = 28 // IKE header
	GenericHeaderLen = 4  // generic payload header
	// MaxMessageLen bounds what Decode accepts; the header's length field is
	// 32 bits but nothing a UDP datagram carries comes close.
	MaxMessageLen = 65535
)

// ExchangeType is the IKE header's exchange type (RFC 7296 3.1).
type ExchangeType uint8

const (
	ExchangeIKESAInit     ExchangeType = 34
	ExchangeIKEAuth       ExchangeType = 35
	ExchangeCreateChildSA ExchangeType = 36
	ExchangeInformational ExchangeType = 37
)

func (e ExchangeType) String() string {
	switch e {
	case ExchangeIKESAInit:
		return "IKE_SA_INIT"
	case ExchangeIKEAuth:
		return "IKE_AUTH"
	case ExchangeCreateChildSA:
		return "CREATE_CHILD_SA"
	case ExchangeInformational:
		return "INFORMATIONAL"
	}
	return fmt.Sprintf("EXCHANGE(%d)", uint8(e))
}

// Flags are the IKE header flags (RFC 7296 3.1).
type Flags uint8

const (
	FlagInitiator Flags = 0x08 // sent by the original initiator of the IKE SA
	FlagVersion   Flags = 0x10 // sender could speak a higher major version
	FlagResponse  Flags = 0x20 // this message is a response
)

// PayloadType identifies a payload in the next-payload chain (RFC 7296 3.2).
type PayloadType uint8

const (
	PayloadNone     PayloadType = 0
	PayloadSA       PayloadType = 33
	PayloadKE       PayloadType = 34
	PayloadIDi      PayloadType = 35
	PayloadIDr      PayloadType = 36
	PayloadCERT     PayloadType = 37
	PayloadCERTREQ  PayloadType = 38
	PayloadAUTH     PayloadType = 39
	PayloadNonce    PayloadType = 40
	PayloadNotify   PayloadType = 41
	PayloadDelete   PayloadType = 42
	PayloadVendorID PayloadType = 43
	PayloadTSi      PayloadType = 44
	PayloadTSr      PayloadType = 45
	PayloadSK       PayloadType = 46
	PayloadCP       PayloadType = 47
	PayloadEAP      PayloadType = 48
	PayloadSKF      PayloadType = 53 // RFC 7383
)

func (p PayloadType) String() string {
	switch p {
	case PayloadNone:
		return "NONE"
	case PayloadSA:
		return "SA"
	case PayloadKE:
		return "KE"
	case PayloadIDi:
		return "IDi"
	case PayloadIDr:
		return "IDr"
	case PayloadCERT:
		return "CERT"
	case PayloadCERTREQ:
		return "CERTREQ"
	case PayloadAUTH:
		return "AUTH"
	case PayloadNonce:
		return "Nonce"
	case PayloadNotify:
		return "N"
	case PayloadDelete:
		return "D"
	case PayloadVendorID:
		return "V"
	case PayloadTSi:
		return "TSi"
	case PayloadTSr:
		return "TSr"
	case PayloadSK:
		return "SK"
	case PayloadCP:
		return "CP"
	case PayloadEAP:
		return "EAP"
	case PayloadSKF:
		return "SKF"
	}
	return fmt.Sprintf("PAYLOAD(%d)", uint8(p))
}

// ProtocolID names the protocol of a proposal, notify or delete (RFC 7296 3.3.1).
type ProtocolID uint8

const (
	ProtocolNone ProtocolID = 0
	ProtocolIKE  ProtocolID = 1
	ProtocolAH   ProtocolID = 2
	ProtocolESP  ProtocolID = 3
)

func (p ProtocolID) String() string {
	switch p {
	case ProtocolNone:
		return "none"
	case ProtocolIKE:
		return "IKE"
	case ProtocolAH:
		return "AH"
	case ProtocolESP:
		return "ESP"
	}
	return fmt.Sprintf("PROTOCOL(%d)", uint8(p))
}

// TransformType is the type of an SA transform (RFC 7296 3.3.2).
type TransformType uint8

const (
	TransformENCR  TransformType = 1
	TransformPRF   TransformType = 2
	TransformINTEG TransformType = 3
	TransformDH    TransformType = 4 // "Key Exchange Method" in newer registries
	TransformESN   TransformType = 5
)

func (t TransformType) String() string {
	switch t {
	case TransformENCR:
		return "ENCR"
	case TransformPRF:
		return "PRF"
	case TransformINTEG:
		return "INTEG"
	case TransformDH:
		return "DH"
	case TransformESN:
		return "ESN"
	}
	return fmt.Sprintf("TRANSFORM(%d)", uint8(t))
}

// AttributeKeyLength is the only transform attribute RFC 7296 defines (3.3.5).
const AttributeKeyLength uint16 = 14

// IDType is the type of an IDi/IDr payload (RFC 7296 3.5).
type IDType uint8

const (
	IDIPv4      IDType = 1
	IDFQDN      IDType = 2
	IDRFC822    IDType = 3
	IDIPv6      IDType = 5
	IDDERASN1DN IDType = 9
	IDDERASN1GN IDType = 10
	IDKeyID     IDType = 11
)

func (t IDType) String() string {
	switch t {
	case IDIPv4:
		return "ID_IPV4_ADDR"
	case IDFQDN:
		return "ID_FQDN"
	case IDRFC822:
		return "ID_RFC822_ADDR"
	case IDIPv6:
		return "ID_IPV6_ADDR"
	case IDDERASN1DN:
		return "ID_DER_ASN1_DN"
	case IDDERASN1GN:
		return "ID_DER_ASN1_GN"
	case IDKeyID:
		return "ID_KEY_ID"
	}
	return fmt.Sprintf("ID(%d)", uint8(t))
}

// CertEncoding is the encoding of a CERT or CERTREQ payload (RFC 7296 3.6).
type CertEncoding uint8

// CertX509Signature is "X.509 Certificate - Signature": a DER certificate in
// CERT, and concatenated SHA-1 hashes of CA SubjectPublicKeyInfos in CERTREQ.
const CertX509Signature CertEncoding = 4

// AuthMethod is the method of an AUTH payload (RFC 7296 3.8, RFC 7427).
type AuthMethod uint8

const (
	AuthRSASignature     AuthMethod = 1
	AuthSharedKeyMIC     AuthMethod = 2
	AuthDSSSignature     AuthMethod = 3
	AuthDigitalSignature AuthMethod = 14 // RFC 7427
)

func (m AuthMethod) String() string {
	switch m {
	case AuthRSASignature:
		return "RSA signature"
	case AuthSharedKeyMIC:
		return "shared key MIC"
	case AuthDSSSignature:
		return "DSS signature"
	case AuthDigitalSignature:
		return "digital signature"
	}
	return fmt.Sprintf("AUTH(%d)", uint8(m))
}

// TSType is the type of a traffic selector (RFC 7296 3.13.1).
type TSType uint8

const (
	TSIPv4Range TSType = 7
	TSIPv6Range TSType = 8
)

// CPType is the type of a configuration payload (RFC 7296 3.15).
type CPType uint8

const (
	CPRequest CPType = 1
	CPReply   CPType = 2
	CPSet     CPType = 3
	CPAck     CPType = 4
)
