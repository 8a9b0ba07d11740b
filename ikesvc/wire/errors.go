package wire

import (
	"errors"
	"fmt"
)

// Decoding errors. Decode wraps them with the offset and payload that failed;
// test with errors.Is, and map to a notify with NotifyFor.
var (
	// ErrTruncated: the message, a payload or a field ends before its length says.
	ErrTruncated = errors.New("ike: truncated")
	// ErrTrailingData: bytes left over after the header's length, the payload
	// chain, or a substructure.
	ErrTrailingData = errors.New("ike: trailing data")
	// ErrPayloadLength: a payload or substructure length field is impossible
	// (shorter than its fixed part, or longer than what contains it).
	ErrPayloadLength = errors.New("ike: bad payload length")
	// ErrInvalidMajorVersion: the header's major version is not 2.
	ErrInvalidMajorVersion = errors.New("ike: invalid major version")
	// ErrInvalidSyntax: a field holds a value the RFC forbids.
	ErrInvalidSyntax = errors.New("ike: invalid syntax")
	// ErrUnsupportedCriticalPayload: an unknown payload had the critical bit
	// set; the error is a *CriticalPayloadError carrying the type.
	ErrUnsupportedCriticalPayload = errors.New("ike: unsupported critical payload")
	// ErrIntegrity: the SK payload's ICV did not verify or its padding was
	// wrong. SKCipher implementations wrap it.
	ErrIntegrity = errors.New("ike: integrity check failed")
	// ErrNoCipher: the message holds an SK or SKF payload and Decode got no SKCipher.
	ErrNoCipher = errors.New("ike: encrypted payload but no cipher")
	// ErrTooLarge: an encoded message would exceed MaxMessageLen or a size limit.
	ErrTooLarge = errors.New("ike: message too large")
)

// CriticalPayloadError reports an unknown payload with the critical bit set
// (RFC 7296 2.5). The responder answers UNSUPPORTED_CRITICAL_PAYLOAD with
// the one-byte type as notification data.
type CriticalPayloadError struct {
	Type PayloadType
}

func (e *CriticalPayloadError) Error() string {
	return fmt.Sprintf("ike: unsupported critical payload type %d", uint8(e.Type))
}

// Is makes errors.Is(err, ErrUnsupportedCriticalPayload) true.
func (e *CriticalPayloadError) Is(target error) bool {
	return target == ErrUnsupportedCriticalPayload
}

// ProtectedError is a decoding error behind a passed integrity check:
// inside an SK payload whose ICV verified, or in the payloads of a
// reassembled message whose fragments all verified. Its sender holds the
// SA's keys, so, unlike a bad cleartext packet, it may be answered (RFC
// 7296 2.21.2: INVALID_SYNTAX, and a half-open IKE SA is deleted).
type ProtectedError struct {
	Err error
}

func (e *ProtectedError) Error() string { return e.Err.Error() }

// Unwrap makes errors.Is see the sentinel inside.
func (e *ProtectedError) Unwrap() error { return e.Err }

// IsProtected reports whether err is, or wraps, a ProtectedError.
func IsProtected(err error) bool {
	var pe *ProtectedError
	return errors.As(err, &pe)
}

// ErrFragmentsPending: the fragments of a message are all in but do not
// join into one that decodes, and a conflicting fragment may still come
// (Reassembler.Add). Nothing is answered yet.
var ErrFragmentsPending = errors.New("ike: reassembled fragments do not decode yet")

// NotifyFor maps a Decode error to the error notify a responder may send,
// with its notification data. ok is false for errors that must only be
// logged and dropped (RFC 7296 2.21: integrity failures and anything the
// sender cannot be trusted about get no answer).
func NotifyFor(err error) (t NotifyType, data []byte, ok bool) {
	var crit *CriticalPayloadError
	switch {
	case errors.Is(err, ErrFragmentsPending):
		return 0, nil, false
	case errors.As(err, &crit):
		return NotifyUnsupportedCriticalPayload, []byte{byte(crit.Type)}, true
	case errors.Is(err, ErrInvalidMajorVersion):
		return NotifyInvalidMajorVersion, nil, true
	case errors.Is(err, ErrIntegrity), errors.Is(err, ErrNoCipher):
		return 0, nil, false
	case errors.Is(err, ErrTruncated), errors.Is(err, ErrTrailingData),
		errors.Is(err, ErrPayloadLength), errors.Is(err, ErrInvalidSyntax):
		return NotifyInvalidSyntax, nil, true
	}
	return 0, nil, false
}

// errAt wraps a sentinel with where it happened.
func errAt(sentinel error, where string, off int, detail string) error {
	if detail == "" {
		return fmt.Errorf("%s at offset %d: %w", where, off, sentinel)
	}
	return fmt.Errorf("%s at offset %d: %s: %w", where, off, detail, sentinel)
}
