package ike

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"net/netip"
	"time"

	"alixsec.dev/ikesvc/wire"
)

// Responder COOKIEs (RFC 7296 2.6). Under load (Config.CookieThreshold
// half-open responder SAs) an IKE_SA_INIT request without a valid COOKIE
// gets a response with a COOKIE notify only and creates no state: a
// spoofed source address never sees the cookie, so it cannot make us run
// Diffie-Hellman or hold an SA. The cookie is the RFC's suggestion,
//
//	VersionID | HMAC-SHA256(secret, Ni | IPi | SPIi)
//
// where VersionID names the secret. Secrets rotate every
// CookieSecretLifetime; the previous one is still accepted for one more
// lifetime. Rotation is lazy: whenever a cookie is made or checked, the
// secret's epoch (lifetimes since the first secret) is compared with the
// clock, so no timer runs while the engine is not under load.

// cookieSecret is one HMAC key and the VersionID of the cookies it makes.
type cookieSecret struct {
	version uint32 // the epoch it was made in
	key     []byte
}

// cookieSecrets is the engine's current and previous secret.
type cookieSecrets struct {
	start     time.Time // when the first secret was made: epoch 0
	cur, prev *cookieSecret
}

const cookieLen = 4 + sha256.Size

// rotateCookieSecret makes cur the secret of now's epoch: after one epoch the old
// secret becomes prev, after two or more nothing old is kept.
func (e *Engine) rotateCookieSecret() error {
	c := &e.cookies
	now := e.now()
	var epoch int64
	if c.cur != nil {
		epoch = int64(now.Sub(c.start) / CookieSecretLifetime)
		if epoch <= int64(c.cur.version) {
			return nil // same epoch, or a clock that went back
		}
	}
	key, err := e.randomBytes(sha256.Size)
	if err != nil {
		return err
	}
	next := &cookieSecret{version: uint32(epoch), key: key}
	switch {
	case c.cur == nil:
		c.start = now
	case epoch == int64(c.cur.version)+1:
		c.prev = c.cur
	default:
		c.prev = nil
	}
	c.cur = next
	return nil
}

// make is the cookie for an initiator's nonce, address and SPI.
func (s *cookieSecret) make(ni []byte, ip netip.Addr, spiI uint64) []byte {
	mac := hmac.New(sha256.New, s.key)
	mac.Write(ni)
	mac.Write(ip.Unmap().AsSlice())
	mac.Write(binary.BigEndian.AppendUint64(nil, spiI))
	return mac.Sum(binary.BigEndian.AppendUint32(make([]byte, 0, cookieLen), s.version))
}

// valid reports whether cookie was made by the current or the previous
// secret for these inputs.
func (c *cookieSecrets) valid(cookie, ni []byte, ip netip.Addr, spiI uint64) bool {
	if len(cookie) != cookieLen {
		return false
	}
	v := binary.BigEndian.Uint32(cookie)
	for _, s := range []*cookieSecret{c.cur, c.prev} {
		if s != nil && s.version == v {
			return hmac.Equal(cookie, s.make(ni, ip, spiI))
		}
	}
	return false
}

// halfOpenCount is the number of responder SAs still waiting for IKE_AUTH.
func (e *Engine) halfOpenCount() int {
	n := 0
	for _, sa := range e.halfOpen {
		if isHalfOpen(sa) {
			n++
		}
	}
	return n
}

// admitCookie decides whether an IKE_SA_INIT request may create state:
// always while neither the engine nor its source is under load
// (cookieNeeded), and otherwise only with a valid COOKIE. A request that
// may not is answered with a fresh COOKIE (RFC 7296 2.6).
func (e *Engine) admitCookie(l halfOpenLoad, h wire.Header, m *wire.Message, ni []byte, from, to netip.AddrPort) bool {
	if !e.cookieNeeded(l) {
		return true // not under load: a cookie, if any, is ignored
	}
	if err := e.rotateCookieSecret(); err != nil {
		e.log.Errorf("ike: IKE_SA_INIT from %v: making a COOKIE secret: %v", from, err)
		return false
	}
	if n := m.FindNotify(wire.NotifyCookie); n != nil && e.cookies.valid(n.Data, ni, from.Addr(), h.InitiatorSPI) {
		return true
	}
	if e.underLoad(l) {
		e.cookieLog.note(e, "ike: %d half-open IKE SAs: answering IKE_SA_INIT requests without a valid COOKIE with one", l.total)
	} else {
		e.loadLog.cookieIP.note(e, "ike: %v holds %d half-open IKE SAs: answering its IKE_SA_INIT requests without a valid COOKIE with one", from.Addr(), l.source)
	}
	e.initError(h, wire.NotifyCookie, e.cookies.cur.make(ni, from.Addr(), h.InitiatorSPI), from, to)
	return false
}

// rateLog reports a recurring condition once per LoadLogInterval, with how
// often it happened since the last report, instead of once per packet.
type rateLog struct {
	last  time.Time
	count int
}

func (r *rateLog) note(e *Engine, format string, args ...any) {
	r.noteCounting(e, "requests", format, args...)
}

// noteCounting is note with the counted thing named (requests, SAs, datagrams).
func (r *rateLog) noteCounting(e *Engine, what, format string, args ...any) {
	r.count++
	now := e.now()
	if !r.last.IsZero() && now.Sub(r.last) < LoadLogInterval {
		return
	}
	e.log.Errorf(format+" (%d %s since the last report)", append(args, r.count, what)...)
	r.last, r.count = now, 0
}
