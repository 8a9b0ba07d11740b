package kernel

import (
	"context"
	"fmt"
	"io"

	"github.com/vishvananda/netlink/nl"
)

// Table lists every XFRM state and policy of the namespace, not only the
// owned ones (List), with the keys left out.
func (n *Netlink) Table(ctx context.Context) (Table, error) {
	var t Table
	msgs, err := n.dump(ctx, nl.XFRM_MSG_GETSA, nl.XFRM_MSG_NEWSA)
	if err != nil {
		return Table{}, fmt.Errorf("kernel: list XFRM states: %w", err)
	}
	for _, m := range msgs {
		e, err := parseState(m)
		if err != nil {
			return Table{}, fmt.Errorf("kernel: list XFRM states: %w", err)
		}
		e.sa.EncryptionKey, e.sa.IntegrityKey = nil, nil
		t.States = append(t.States, TableState{SA: e.sa, Proto: e.proto, Larval: e.larval, IfID: e.ifid})
	}
	msgs, err = n.dump(ctx, nl.XFRM_MSG_GETPOLICY, nl.XFRM_MSG_NEWPOLICY)
	if err != nil {
		return Table{}, fmt.Errorf("kernel: list XFRM policies: %w", err)
	}
	for _, m := range msgs {
		e, err := parsePolicy(m)
		if err != nil {
			return Table{}, fmt.Errorf("kernel: list XFRM policies: %w", err)
		}
		p := TablePolicy{Policy: e.policy, Templates: e.templates, IfID: e.ifid}
		// Socket policies come as XFRM_POLICY_MAX (3) + their direction.
		if p.Policy.Dir > DirFwd {
			p.Socket = true
			p.Policy.Dir -= DirFwd + 1
		}
		t.Policies = append(t.Policies, p)
	}
	return t, nil
}

// WriteTable prints this namespace's whole XFRM table to w (the CLI's
// show ipsec kernel).
func WriteTable(ctx context.Context, w io.Writer) error {
	n, err := NewNetlink(NetlinkConfig{})
	if err != nil {
		return err
	}
	defer n.Close()
	t, err := n.Table(ctx)
	if err != nil {
		return err
	}
	if len(t.States)+len(t.Policies) == 0 {
		_, err = io.WriteString(w, "the kernel holds no XFRM states or policies\n")
		return err
	}
	_, err = t.WriteTo(w)
	return err
}
