// Package kernel installs ikesvc's ESP SAs and policies in the Linux kernel
// through netlink XFRM (Netlink), or keeps them in process (Memory) for tests
// and for hosts without ESP.
//
// # Desired state, not commands
//
// The IKE state machine does not add or delete entries one by one. It keeps
// a Set describing every SA and policy it wants installed and hands the whole
// Set to Backend.Apply after each change (CHILD_SA established, rekeyed,
// deleted, config committed). Apply reconciles: it lists what is installed,
// computes the difference and performs only that. So applying twice, applying
// after a restart with the previous run's entries still in the kernel, or
// after an entry expired underneath, never fails with "File exists" or "No
// such process" and never leaves stale entries: the failure mode of racoon +
// setkey setups, where policies drifted out of step with the daemon.
//
// # Ownership
//
// Apply only ever touches entries ikesvc owns (see Ownership): ESP SAs and
// policy templates whose reqid lies in a reserved range (by default
// 0x0a150000-0x0a15ffff), and template-less bypass/block policies whose
// priority lies in a range (by default 1-0xffffffff, sparing priority 0, the
// iproute2 default). Everything else, including socket policies, policies
// bound to an xfrm interface (if_id), sub-policies and other protocols, is
// invisible to it. The reqid is the tag rather than a mark because a mark
// changes which packets an entry matches; a reqid only links SAs to templates.
// Apply rejects a desired entry that would not itself count as owned, since
// the next Apply could not recognise it.
//
// # The reconcile algorithm
//
//  1. Normalize and validate the desired Set (masked prefixes, unmapped
//     addresses, explicit mark masks, key lengths per transform, no
//     duplicate identities).
//  2. Dump the kernel's states and policies and keep the owned ones. An SA is
//     identified as the kernel does, by (dst, SPI, mark); a policy by
//     (direction, selector, mark). Owned states without keys are larval SPI
//     reservations (AllocSPI, or the kernel's own after an acquire): they are
//     neither compared nor deleted, they expire by themselves.
//  3. Diff and execute in an order that never leaves traffic in clear text:
//     add SAs (filling reserved SPIs with an update), update/replace changed
//     SAs, add and update policies, then delete stale policies, then delete
//     stale SAs. Every operation is attempted even when one fails; failures
//     are joined, each an *OpError naming the SA or policy (never its keys)
//     and explaining common errnos (no ESP in the kernel, missing crypto).
//     Deleting something already gone counts as success.
//
// # Update or delete + add
//
//   - SA keys, algorithms, mode, reqid, addresses, replay window, ESN, mark
//     and selector: delete + add. XFRM_MSG_UPDSA on a valid SA silently keeps
//     all of these, so "update" would report success and change nothing. In
//     practice these only change for a leftover from an earlier run; a rekey
//     is a new SPI, which is an add plus a later delete.
//   - SA lifetime, and the ports of an existing UDP encapsulation (a NAT
//     rebinding): XFRM_MSG_UPDSA, which changes exactly these in place
//     without dropping packets. Adding or removing encapsulation is a
//     delete + add.
//   - An SPI reserved by AllocSPI: XFRM_MSG_UPDSA, the only way the kernel
//     turns its larval state into the real SA (an add would fail with
//     EEXIST).
//   - Policy priority, action and template: XFRM_MSG_UPDPOLICY, which swaps
//     the policy atomically, so protection has no gap.
//
// # Events
//
// Events delivers XFRM acquires (a packet hit a trap policy: an out policy
// with a template and no SA; start a negotiation for Acquire.Reqid) and soft
// and hard expires of owned ESP SAs (soft: rekey; hard: the kernel has
// deleted the SA, drop it from the desired Set). Netlink decodes these and
// the state and policy dumps itself: netlink v1.3.1 has no acquire decoder,
// its XfrmMonitor works in the calling thread's namespace, and its list
// functions lose the ESN flag and misread IPv6 prefixes whose last 12 bytes
// are zero (fd00::/8 reads back as an IPv4 address). Adds, updates,
// deletes and ALLOCSPI are built here too (xfrmmsg_linux.go) and sent on
// Netlink's own socket in the configured namespace: netlink v1.3.1's
// fixed XFRM headers have the x86-64 size (xfrm_usersa_info 224 bytes), and
// the i386 kernel of the boards (220 bytes: u64 is 4-aligned there) reads
// the 4 extra bytes as an empty attribute and ignores every attribute after
// them. xfrmlayout_linux.go mirrors include/uapi/linux/xfrm.h so Go lays the
// headers out as the kernel does for the running GOARCH, and pins their
// sizes for 386 and amd64 at compile time.
//
// # Limits
//
// Without ESN the anti-replay window is at most 32 packets: the kernel's
// legacy bitmap is 32 bits and XFRMA_REPLAY_ESN_VAL (the larger bitmap) is
// sent only together with the ESN flag, as netlink v1.3.1 did. With ESN any
// window up to 4096 works (128 is a good choice).
package kernel
