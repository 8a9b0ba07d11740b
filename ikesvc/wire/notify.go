package wire

import "fmt"

// NotifyType is the type of a Notify payload (RFC 7296 3.10.1, 7383, 7427).
// Types below 16384 report errors, the others carry status.
type NotifyType uint16

// Error types.
const (
	NotifyUnsupportedCriticalPayload NotifyType = 1
	NotifyInvalidIKESPI              NotifyType = 4
	NotifyInvalidMajorVersion        NotifyType = 5
	NotifyInvalidSyntax              NotifyType = 7
	NotifyInvalidMessageID           NotifyType = 9
	NotifyInvalidSPI                 NotifyType = 11
	NotifyNoProposalChosen           NotifyType = 14
	NotifyInvalidKEPayload           NotifyType = 17
	NotifyAuthenticationFailed       NotifyType = 24
	NotifySinglePairRequired         NotifyType = 34
	NotifyNoAdditionalSAs            NotifyType = 35
	NotifyInternalAddressFailure     NotifyType = 36
	NotifyFailedCPRequired           NotifyType = 37
	NotifyTSUnacceptable             NotifyType = 38
	NotifyInvalidSelectors           NotifyType = 39
	NotifyTemporaryFailure           NotifyType = 43
	NotifyChildSANotFound            NotifyType = 44
)

// Status types.
const (
	NotifyInitialContact              NotifyType = 16384
	NotifySetWindowSize               NotifyType = 16385
	NotifyAdditionalTSPossible        NotifyType = 16386
	NotifyIPCompSupported             NotifyType = 16387
	NotifyNATDetectionSourceIP        NotifyType = 16388
	NotifyNATDetectionDestinationIP   NotifyType = 16389
	NotifyCookie                      NotifyType = 16390
	NotifyUseTransportMode            NotifyType = 16391
	NotifyHTTPCertLookupSupported     NotifyType = 16392
	NotifyRekeySA                     NotifyType = 16393
	NotifyESPTFCPaddingNotSupported   NotifyType = 16394
	NotifyNonFirstFragmentsAlso       NotifyType = 16395
	NotifyIKEv2FragmentationSupported NotifyType = 16430 // RFC 7383
	NotifySignatureHashAlgorithms     NotifyType = 16431 // RFC 7427
)

// IsError reports whether t is an error type (RFC 7296 3.10.1: 0-16383).
func (t NotifyType) IsError() bool { return t < 16384 }

var notifyNames = map[NotifyType]string{
	NotifyUnsupportedCriticalPayload:  "UNSUPPORTED_CRITICAL_PAYLOAD",
	NotifyInvalidIKESPI:               "INVALID_IKE_SPI",
	NotifyInvalidMajorVersion:         "INVALID_MAJOR_VERSION",
	NotifyInvalidSyntax:               "INVALID_SYNTAX",
	NotifyInvalidMessageID:            "INVALID_MESSAGE_ID",
	NotifyInvalidSPI:                  "INVALID_SPI",
	NotifyNoProposalChosen:            "NO_PROPOSAL_CHOSEN",
	NotifyInvalidKEPayload:            "INVALID_KE_PAYLOAD",
	NotifyAuthenticationFailed:        "AUTHENTICATION_FAILED",
	NotifySinglePairRequired:          "SINGLE_PAIR_REQUIRED",
	NotifyNoAdditionalSAs:             "NO_ADDITIONAL_SAS",
	NotifyInternalAddressFailure:      "INTERNAL_ADDRESS_FAILURE",
	NotifyFailedCPRequired:            "FAILED_CP_REQUIRED",
	NotifyTSUnacceptable:              "TS_UNACCEPTABLE",
	NotifyInvalidSelectors:            "INVALID_SELECTORS",
	NotifyTemporaryFailure:            "TEMPORARY_FAILURE",
	NotifyChildSANotFound:             "CHILD_SA_NOT_FOUND",
	NotifyInitialContact:              "INITIAL_CONTACT",
	NotifySetWindowSize:               "SET_WINDOW_SIZE",
	NotifyAdditionalTSPossible:        "ADDITIONAL_TS_POSSIBLE",
	NotifyIPCompSupported:             "IPCOMP_SUPPORTED",
	NotifyNATDetectionSourceIP:        "NAT_DETECTION_SOURCE_IP",
	NotifyNATDetectionDestinationIP:   "NAT_DETECTION_DESTINATION_IP",
	NotifyCookie:                      "COOKIE",
	NotifyUseTransportMode:            "USE_TRANSPORT_MODE",
	NotifyHTTPCertLookupSupported:     "HTTP_CERT_LOOKUP_SUPPORTED",
	NotifyRekeySA:                     "REKEY_SA",
	NotifyESPTFCPaddingNotSupported:   "ESP_TFC_PADDING_NOT_SUPPORTED",
	NotifyNonFirstFragmentsAlso:       "NON_FIRST_FRAGMENTS_ALSO",
	NotifyIKEv2FragmentationSupported: "IKEV2_FRAGMENTATION_SUPPORTED",
	NotifySignatureHashAlgorithms:     "SIGNATURE_HASH_ALGORITHMS",
}

func (t NotifyType) String() string {
	if s, ok := notifyNames[t]; ok {
		return s
	}
	return fmt.Sprintf("NOTIFY(%d)", uint16(t))
}
