package pki

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"sync"
)

// chainCacheSize bounds the verified-path cache of a TrustStore: enough for
// every peer of a large site to reconnect without a signature check, small
// enough (a few hundred parsed chains) for a 256 MB board.
const chainCacheSize = 256

// chainCache remembers, per certificate set a peer presented (leaf plus the
// intermediates it sent, by DER), the certification paths crypto/x509 built
// for it: their signatures verified and their static constraints (basic
// constraints, path lengths, name constraints, critical extensions) held.
// On the 386 boards each ECDSA P-256 signature check costs about 10 M
// instructions, two of them per handshake, while a peer reconnecting
// presents the same chain every time. strongSwan caches issued_by results
// for the same reason (cert_cache.c).
//
// Only that static result is cached. Whatever depends on the time or on the
// CRLs (validity periods, revocation, the strict policy's current CRLs) is
// checked again on every hit, and the cache is emptied whenever a CRL is
// stored, so a revoking CRL never meets a stale entry. The trust anchors
// are fixed per TrustStore (a config change builds a new store), so the
// cache lives and dies with its store.
type chainCache struct {
	mu      sync.Mutex
	max     int
	crlGen  uint64 // CRLStore generation the entries were made under
	entries map[chainKey][]Chain
}

// chainKey is the SHA-256 of the DER of the leaf and the peer's
// intermediates, each length-prefixed so that no two different sets share
// a key by concatenation.
type chainKey [sha256.Size]byte

func newChainCache(max int) *chainCache {
	return &chainCache{max: max, entries: make(map[chainKey][]Chain)}
}

func keyOfPresented(leaf *x509.Certificate, peerIntermediates []*x509.Certificate) chainKey {
	h := sha256.New()
	var n [4]byte
	for _, c := range append([]*x509.Certificate{leaf}, peerIntermediates...) {
		binary.BigEndian.PutUint32(n[:], uint32(len(c.Raw)))
		h.Write(n[:])
		h.Write(c.Raw)
	}
	var k chainKey
	h.Sum(k[:0])
	return k
}

// get returns the paths cached for k, or nil; crlGen is the CRL store's
// current generation, and a different one empties the cache first.
func (cc *chainCache) get(k chainKey, crlGen uint64) []Chain {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.syncGen(crlGen)
	return cc.entries[k]
}

// put stores the paths x509 built for k under CRL generation crlGen,
// evicting an arbitrary entry (Go's map order is random) when full: random
// eviction needs no bookkeeping and a peer evicted by mistake only pays the
// signature checks once more.
func (cc *chainCache) put(k chainKey, chains []Chain, crlGen uint64) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if crlGen < cc.crlGen {
		// Built before a CRL arrived that a newer lookup has already seen:
		// harmless, but not worth emptying the newer entries for.
		return
	}
	cc.syncGen(crlGen)
	if _, ok := cc.entries[k]; !ok && len(cc.entries) >= cc.max {
		for old := range cc.entries {
			delete(cc.entries, old)
			break
		}
	}
	cc.entries[k] = chains
}

// syncGen drops every entry made under another CRL generation. Called with
// mu held.
func (cc *chainCache) syncGen(crlGen uint64) {
	if crlGen != cc.crlGen {
		clear(cc.entries)
		cc.crlGen = crlGen
	}
}

// len reports the number of cached certificate sets (for tests).
func (cc *chainCache) len() int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return len(cc.entries)
}
