package suite

import (
	"encoding/binary"
	"fmt"
	"io"

	"alixsec.dev/ikesvc/wire"
)

// IKEKeys are the seven secrets of RFC 7296 2.14, in prf+ order.
type IKEKeys struct {
	D      []byte // SK_d: derives CHILD_SA keys and the next IKE SA's SKEYSEED
	AI, AR []byte // SK_ai, SK_ar: integrity keys (empty for AEADs)
	EI, ER []byte // SK_ei, SK_er: encryption keys (with the 4-byte salt for AEADs)
	PI, PR []byte // SK_pi, SK_pr: used in the AUTH payload computation
}

// ikeSeed is Ni | Nr | SPIi | SPIr.
func ikeSeed(ni, nr []byte, spiI, spiR uint64) []byte {
	s := make([]byte, 0, len(ni)+len(nr)+16)
	s = append(append(s, ni...), nr...)
	s = binary.BigEndian.AppendUint64(s, spiI)
	return binary.BigEndian.AppendUint64(s, spiR)
}

// DeriveIKEKeys computes SKEYSEED = prf(Ni | Nr, g^ir) and splits
// prf+(SKEYSEED, Ni | Nr | SPIi | SPIr) into the seven keys for suite s
// (RFC 7296 2.14). sharedSecret is g^ir as KeyExchange returns it.
func DeriveIKEKeys(s Suite, ni, nr, sharedSecret []byte, spiI, spiR uint64) (IKEKeys, error) {
	prf, err := NewPRF(s.PRF)
	if err != nil {
		return IKEKeys{}, err
	}
	key := make([]byte, 0, len(ni)+len(nr))
	key = append(append(key, ni...), nr...)
	skeyseed := prf.Sum(nil, key, sharedSecret)
	return expandIKEKeys(s, prf, skeyseed, ikeSeed(ni, nr, spiI, spiR))
}

// DeriveRekeyedIKEKeys computes the keys of an IKE SA that replaces one
// whose PRF is oldPRF and whose SK_d is oldSKd (RFC 7296 2.18):
// SKEYSEED = prf_old(SK_d(old), g^ir(new) | Ni | Nr), then prf+ with the
// new suite's PRF over Ni | Nr | SPIi | SPIr of the new SA. The nonces
// are those of the CREATE_CHILD_SA exchange.
func DeriveRekeyedIKEKeys(s Suite, oldPRF PRFID, oldSKd, sharedSecret, ni, nr []byte, spiI, spiR uint64) (IKEKeys, error) {
	old, err := NewPRF(oldPRF)
	if err != nil {
		return IKEKeys{}, err
	}
	prf, err := NewPRF(s.PRF)
	if err != nil {
		return IKEKeys{}, err
	}
	skeyseed := old.Sum(nil, oldSKd, sharedSecret, ni, nr)
	return expandIKEKeys(s, prf, skeyseed, ikeSeed(ni, nr, spiI, spiR))
}

func expandIKEKeys(s Suite, prf PRF, skeyseed, seed []byte) (IKEKeys, error) {
	if s.Encr.KeyLen() == 0 {
		return IKEKeys{}, fmt.Errorf("suite: no key length for cipher %v", s.Encr.ID)
	}
	dLen, aLen, eLen := prf.Size(), s.Integ.KeyLen(), s.Encr.KeyLen()
	km, err := prf.Plus(skeyseed, seed, 3*dLen+2*aLen+2*eLen)
	if err != nil {
		return IKEKeys{}, err
	}
	var k IKEKeys
	take := func(n int) []byte {
		out := km[:n:n]
		km = km[n:]
		return out
	}
	k.D = take(dLen)
	k.AI, k.AR = take(aLen), take(aLen)
	k.EI, k.ER = take(eLen), take(eLen)
	k.PI, k.PR = take(dLen), take(dLen)
	return k, nil
}

// Ciphers returns the SK ciphers for one end of the IKE SA: out protects
// what we send, in opens what we receive. The original initiator sends
// with SK_ei/SK_ai (RFC 7296 2.14). random supplies CBC IVs.
func (k IKEKeys) Ciphers(s Suite, initiator bool, random io.Reader) (out, in wire.SKCipher, err error) {
	ei, ai, er, ar := k.EI, k.AI, k.ER, k.AR
	if !initiator {
		ei, ai, er, ar = er, ar, ei, ai
	}
	if out, err = NewSKCipher(s, ei, ai, random); err != nil {
		return nil, nil, err
	}
	if in, err = NewSKCipher(s, er, ar, random); err != nil {
		return nil, nil, err
	}
	return out, in, nil
}

// DirectionKeys are the ESP keys of one direction, as XFRM takes them:
// Encr is the cipher key (AEADs: key then 4-byte salt), Integ the HMAC key
// (empty for AEADs).
type DirectionKeys struct {
	Encr  []byte
	Integ []byte
}

// ChildKeys are a CHILD_SA's keys for both directions.
type ChildKeys struct {
	InitiatorToResponder DirectionKeys
	ResponderToInitiator DirectionKeys
}

// DeriveChildKeys computes KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr)
// (RFC 7296 2.17) with the IKE SA's PRF, and splits it: initiator-to-
// responder encryption key, its integrity key, then the same for the other
// direction. sharedSecret is nil without PFS; the nonces are those of the
// exchange creating the CHILD_SA (IKE_SA_INIT's for the first one).
func DeriveChildKeys(child Suite, ikePRF PRFID, skd, sharedSecret, ni, nr []byte) (ChildKeys, error) {
	prf, err := NewPRF(ikePRF)
	if err != nil {
		return ChildKeys{}, err
	}
	eLen, aLen := child.Encr.KeyLen(), child.Integ.KeyLen()
	if eLen == 0 {
		return ChildKeys{}, fmt.Errorf("suite: no key length for cipher %v", child.Encr.ID)
	}
	seed := make([]byte, 0, len(sharedSecret)+len(ni)+len(nr))
	seed = append(append(append(seed, sharedSecret...), ni...), nr...)
	km, err := prf.Plus(skd, seed, 2*(eLen+aLen))
	if err != nil {
		return ChildKeys{}, err
	}
	var c ChildKeys
	c.InitiatorToResponder.Encr = km[0:eLen:eLen]
	c.InitiatorToResponder.Integ = km[eLen : eLen+aLen : eLen+aLen]
	km = km[eLen+aLen:]
	c.ResponderToInitiator.Encr = km[0:eLen:eLen]
	c.ResponderToInitiator.Integ = km[eLen : eLen+aLen : eLen+aLen]
	return c, nil
}
