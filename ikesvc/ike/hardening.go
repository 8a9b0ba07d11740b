package ike

import (
	"errors"
	"net/netip"

	"alixsec.dev/ikesvc/wire"
)

// badRequest answers, or drops, a request to sa that did not decode.
//
// An established SA answers what NotifyFor maps to a notify, as before.
// A half-open SA whose IKE_AUTH passed the integrity check but holds
// malformed payloads (wire.ProtectedError: the initiator has the keys, so
// it is the initiator's own mistake) answers INVALID_SYNTAX, or
// UNSUPPORTED_CRITICAL_PAYLOAD, and is deleted (RFC 7296 2.21.2: only
// AUTHENTICATION_FAILED and INVALID_SYNTAX delete an IKE SA without a
// Delete), instead of waiting for its half-open timeout unanswered.
// Anything else, above all a failed ICV, gets no answer (2.21).
func (sa *ikeSA) badRequest(h wire.Header, err error) {
	sa.e.log.Verbosef("ike: peer %s: bad %v request %d: %v", sa.peerName(), h.Exchange, h.MessageID, err)
	t, data, ok := wire.NotifyFor(err)
	if !ok {
		return
	}
	switch {
	case sa.state == StateEstablished:
		sa.respond(&wire.Message{Header: h}, []wire.Payload{notifyPayload(t, data)})
	case sa.state == StateInitReplied && h.Exchange == wire.ExchangeIKEAuth && wire.IsProtected(err):
		sa.e.malformed.note(sa.e, "IKE_AUTH with malformed protected payloads", sa.remote, err)
		sa.respond(&wire.Message{Header: h}, []wire.Payload{notifyPayload(t, data)})
		sa.close(false)
	}
}

// malformedLogs counts the malformed datagrams per reason and reports
// each reason once per LoadLogInterval with its count: a flood of bad
// packets must not become a flood of log lines.
type malformedLogs struct {
	byReason map[string]*rateLog
}

// note counts one malformed datagram from from of kind what (e.g.
// "IKE_SA_INIT"), failing with err, and logs it when its reason is due.
func (m *malformedLogs) note(e *Engine, what string, from netip.AddrPort, err error) {
	reason := what + ": " + malformedReason(err)
	if m.byReason == nil {
		m.byReason = map[string]*rateLog{}
	}
	r := m.byReason[reason]
	if r == nil {
		if len(m.byReason) >= maxMalformedReasons {
			reason = what + ": other"
			if r = m.byReason[reason]; r == nil {
				r = &rateLog{}
				m.byReason[reason] = r
			}
		} else {
			r = &rateLog{}
			m.byReason[reason] = r
		}
	}
	r.noteCounting(e, "like it", "ike: dropped %s from %v: %v", what, from, err)
}

// maxMalformedReasons bounds the reasons counted apart; the reasons are a
// fixed set of sentinels, so it is never reached in practice.
const maxMalformedReasons = 64

// malformedReason is the class of a decoding or validation error: the
// wire sentinel it wraps, or its text when it wraps none.
func malformedReason(err error) string {
	for _, s := range []error{
		wire.ErrTruncated, wire.ErrTrailingData, wire.ErrPayloadLength, wire.ErrInvalidMajorVersion,
		wire.ErrUnsupportedCriticalPayload, wire.ErrInvalidSyntax, wire.ErrIntegrity, wire.ErrNoCipher, wire.ErrTooLarge,
	} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	var r reasonError
	if errors.As(err, &r) {
		return r.reason
	}
	return err.Error()
}

// reasonError is a validation failure with a fixed reason (the class it is
// counted under) and a detail that may vary per packet.
type reasonError struct {
	reason, detail string
}

func (r reasonError) Error() string {
	if r.detail == "" {
		return r.reason
	}
	return r.reason + " (" + r.detail + ")"
}
