package ike

import (
	"bytes"
	"fmt"
	"slices"

	"alixsec.dev/ikesvc/kernel"
	"alixsec.dev/ikesvc/suite"
)

// IKESAKeys is the key material of one IKE SA, for decrypting its messages
// in a capture (Wireshark's ikev2_decryption_table, package savekeys).
// It is secret: nothing logs it, and its String shows only the SPIs.
type IKESAKeys struct {
	SPIi, SPIr     uint64
	Suite          suite.Suite
	EI, ER, AI, AR []byte // SK_ei, SK_er (with the AEAD salt), SK_ai, SK_ar
}

func (k IKESAKeys) String() string {
	return fmt.Sprintf("IKE SA %016x_i %016x_r %v (keys not shown)", k.SPIi, k.SPIr, k.Suite)
}

// ESPSAKeys is one ESP SA as installed in the kernel, keys included, for
// decrypting its packets in a capture (Wireshark's esp_sa). It is secret
// like IKESAKeys.
type ESPSAKeys kernel.SA

func (k ESPSAKeys) String() string {
	return fmt.Sprintf("ESP SA %08x %v -> %v (keys not shown)", k.SPI, k.Src, k.Dst)
}

// Keys returns copies of the keys of every IKE SA that has derived them
// (half-open ones included: their IKE_AUTH is what one wants to read) and
// of every installed ESP SA, in a stable order. It exists for
// `ikesvc -save-keys` and `request ipsec save-keys`; callers must keep the
// result out of logs.
func (e *Engine) Keys() ([]IKESAKeys, []ESPSAKeys) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var ike []IKESAKeys
	var esp []ESPSAKeys
	for _, sa := range e.sas {
		if sa.state == StateClosed || sa.spiR == 0 || len(sa.keys.EI) == 0 {
			continue
		}
		ike = append(ike, IKESAKeys{
			SPIi: sa.spiI, SPIr: sa.spiR, Suite: sa.suite,
			EI: bytes.Clone(sa.keys.EI), ER: bytes.Clone(sa.keys.ER),
			AI: bytes.Clone(sa.keys.AI), AR: bytes.Clone(sa.keys.AR),
		})
		for _, c := range sa.children {
			for _, k := range []kernel.SA{c.inSA, c.outSA} {
				k.EncryptionKey, k.IntegrityKey = bytes.Clone(k.EncryptionKey), bytes.Clone(k.IntegrityKey)
				esp = append(esp, ESPSAKeys(k))
			}
		}
	}
	slices.SortFunc(ike, func(a, b IKESAKeys) int { return cmpUint(a.SPIi, b.SPIi)*2 + cmpUint(a.SPIr, b.SPIr) })
	slices.SortFunc(esp, func(a, b ESPSAKeys) int {
		if c := a.Dst.Compare(b.Dst); c != 0 {
			return c
		}
		return cmpUint(uint64(a.SPI), uint64(b.SPI))
	})
	return ike, esp
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
