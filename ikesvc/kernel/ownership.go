package kernel

import "fmt"

// Ownership decides which kernel entries belong to ikesvc. Apply lists the
// kernel's SAs and policies, keeps only the owned ones, and reconciles those;
// everything else (another daemon's, an admin's `ip xfrm` experiment) is
// never touched. Every entry of a desired Set must itself be owned, or the
// next Apply would not recognise it and could not converge.
//
// The rule:
//   - an ESP SA is owned when its reqid is in [ReqidMin, ReqidMax];
//   - a policy with a template is owned when the template's reqid is in
//     [ReqidMin, ReqidMax];
//   - a policy without a template (bypass or block) carries no reqid, so it is
//     owned when its priority is in [BarePriorityMin, BarePriorityMax].
//
// Reqid and not mark is the tag because a mark changes which packets an SA or
// policy applies to, while a reqid only links SAs to templates.
type Ownership struct {
	ReqidMin, ReqidMax               uint32
	BarePriorityMin, BarePriorityMax uint32
}

// DefaultOwnership is the rule ikesvc uses: reqids 0x0a150000-0x0a15ffff
// ("a15" for alixsec; 65536 CHILD_SA reqids) and template-less policies of
// any priority but 0. Priority 0 is what `ip xfrm policy add` uses by default,
// so hand-made bypass policies on a lab host are left alone; on the board
// ikesvc is the only XFRM user anyway.
func DefaultOwnership() Ownership {
	return Ownership{
		ReqidMin: 0x0a150000, ReqidMax: 0x0a15ffff,
		BarePriorityMin: 1, BarePriorityMax: 0xffffffff,
	}
}

func (o Ownership) ownsReqid(reqid uint32) bool {
	return reqid >= o.ReqidMin && reqid <= o.ReqidMax
}

func (o Ownership) ownsSA(sa SA) bool { return o.ownsReqid(sa.Reqid) }

func (o Ownership) ownsPolicy(p Policy) bool {
	if p.Template != nil {
		return o.ownsReqid(p.Template.Reqid)
	}
	return p.Priority >= o.BarePriorityMin && p.Priority <= o.BarePriorityMax
}

func (o Ownership) check() error {
	if o.ReqidMin == 0 || o.ReqidMin > o.ReqidMax {
		// reqid 0 means "any SA" in a template; owning it would be ambiguous.
		return fmt.Errorf("ownership: reqid range [0x%x, 0x%x] must be non-empty and exclude 0", o.ReqidMin, o.ReqidMax)
	}
	if o.BarePriorityMin > o.BarePriorityMax {
		return fmt.Errorf("ownership: priority range [%d, %d] is empty", o.BarePriorityMin, o.BarePriorityMax)
	}
	return nil
}
