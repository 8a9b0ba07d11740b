package kernel

import (
	"bytes"
	"sort"
)

// installed is the owned part of what a backend currently holds.
type installed struct {
	sas map[SAID]SA
	// larval holds owned SPI reservations: states created by AllocSPI (or by
	// an acquire) that have no keys yet. Apply neither deletes them (the
	// negotiation that reserved the SPI is still running; the kernel expires
	// them itself) nor adds over them: a desired SA with such an ID fills the
	// reservation with an update, which is how the kernel wants it done.
	larval   map[SAID]bool
	policies map[PolicyID]Policy
}

// plan is the list of operations that turns installed into desired.
type plan struct {
	addSA     []SA // not installed
	fillSA    []SA // installed as a larval reservation: update in place
	updateSA  []SA // only lifetime or NAT-T ports changed: updatable in place
	replaceSA []SA // anything else changed: delete and add again
	deleteSA  []SA // owned, installed, not desired

	addPolicy    []Policy
	updatePolicy []Policy // same identity, other priority/action/template
	deletePolicy []Policy
}

// saDiffer compares a desired SA with an installed one. Backends pass their
// own: Memory compares everything, Netlink only what the kernel reports.
type saDiffer func(desired, got SA) saDifference

type saDifference uint8

const (
	saSame      saDifference = iota
	saUpdatable              // XFRM_MSG_UPDSA changes it in place: lifetime, NAT-T ports
	saOther                  // keys, algorithms, mode, reqid, ...: needs delete+add
)

// makePlan diffs desired against have. Both must be normalized.
func makePlan(desired Set, have installed, differ saDiffer) plan {
	var p plan
	want := make(map[SAID]bool, len(desired.SAs))
	for _, sa := range desired.SAs {
		id := sa.ID()
		want[id] = true
		got, ok := have.sas[id]
		switch {
		case ok:
			switch differ(sa, got) {
			case saSame:
			case saUpdatable:
				p.updateSA = append(p.updateSA, sa)
			default:
				p.replaceSA = append(p.replaceSA, sa)
			}
		case have.larval[id]:
			p.fillSA = append(p.fillSA, sa)
		default:
			p.addSA = append(p.addSA, sa)
		}
	}
	for id, sa := range have.sas {
		if !want[id] {
			p.deleteSA = append(p.deleteSA, sa)
		}
	}
	wantPolicy := make(map[PolicyID]bool, len(desired.Policies))
	for _, pol := range desired.Policies {
		id := pol.ID()
		wantPolicy[id] = true
		got, ok := have.policies[id]
		switch {
		case !ok:
			p.addPolicy = append(p.addPolicy, pol)
		case !samePolicyContent(pol, got):
			p.updatePolicy = append(p.updatePolicy, pol)
		}
	}
	for id, pol := range have.policies {
		if !wantPolicy[id] {
			p.deletePolicy = append(p.deletePolicy, pol)
		}
	}
	// Map iteration is random; a fixed order makes logs and errors stable.
	sortSAs(p.deleteSA)
	sortPolicies(p.deletePolicy)
	return p
}

func samePolicyContent(a, b Policy) bool {
	if a.Priority != b.Priority || a.Action != b.Action {
		return false
	}
	if (a.Template == nil) != (b.Template == nil) {
		return false
	}
	return a.Template == nil || *a.Template == *b.Template
}

// diffSAFull is the exact comparison Memory uses.
func diffSAFull(desired, got SA) saDifference {
	return classifySADiff(desired, got, sameSAImmutable)
}

// classifySADiff splits a difference into what XFRM_MSG_UPDSA can change on
// a valid SA (the lifetime, and the ports of an existing UDP encapsulation:
// a NAT rebinding) and everything else, compared by same.
func classifySADiff(desired, got SA, same func(a, b SA) bool) saDifference {
	a, b := desired, got
	a.Lifetime, b.Lifetime = Lifetime{}, Lifetime{}
	if a.Encap != nil && b.Encap != nil {
		a.Encap, b.Encap = nil, nil
	}
	if !same(a, b) {
		return saOther
	}
	if desired.Lifetime != got.Lifetime || (desired.Encap != nil && *desired.Encap != *got.Encap) {
		return saUpdatable
	}
	return saSame
}

// sameSAImmutable compares all fields but Lifetime.
func sameSAImmutable(a, b SA) bool {
	if a.Src != b.Src || a.Dst != b.Dst || a.SPI != b.SPI || a.Reqid != b.Reqid || a.Mode != b.Mode ||
		a.Encryption != b.Encryption || a.Integrity != b.Integrity ||
		a.ESN != b.ESN || a.ReplayWindow != b.ReplayWindow || a.Mark != b.Mark || a.Selector != b.Selector {
		return false
	}
	if !bytes.Equal(a.EncryptionKey, b.EncryptionKey) || !bytes.Equal(a.IntegrityKey, b.IntegrityKey) {
		return false
	}
	if (a.Encap == nil) != (b.Encap == nil) {
		return false
	}
	return a.Encap == nil || *a.Encap == *b.Encap
}

func sortSAs(sas []SA) {
	sort.Slice(sas, func(i, j int) bool {
		if c := sas[i].Dst.Compare(sas[j].Dst); c != 0 {
			return c < 0
		}
		return sas[i].SPI < sas[j].SPI
	})
}

func sortPolicies(ps []Policy) {
	sort.Slice(ps, func(i, j int) bool { return ps[i].String() < ps[j].String() })
}
