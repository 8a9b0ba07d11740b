package control

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Format writes sas the way `show ipsec sa` prints them.
func Format(w io.Writer, sas []IKESA, now time.Time) error {
	var b strings.Builder
	if len(sas) == 0 {
		b.WriteString("no IKE SAs\n")
	}
	for _, sa := range sas {
		role := "responder"
		if sa.Initiator {
			role = "initiator"
		}
		// Upper case like swanctl, which scripts already grep for.
		state := strings.ToUpper(strings.ReplaceAll(sa.State, " ", "_"))
		fmt.Fprintf(&b, "%s: IKE SA %s, %s, %s\n", sa.Peer, state, role, sa.Algorithm)
		fmt.Fprintf(&b, "  local  %s  %s\n", sa.Local, sa.LocalID)
		fmt.Fprintf(&b, "  remote %s  %s\n", sa.Remote, sa.RemoteID)
		fmt.Fprintf(&b, "  SPIs   %s_i %s_r", sa.SPIi, sa.SPIr)
		if !sa.Up.IsZero() {
			fmt.Fprintf(&b, ", up %s", now.Sub(sa.Up).Round(time.Second))
		}
		if sa.NAT != "" {
			fmt.Fprintf(&b, ", NAT %s", sa.NAT)
		}
		b.WriteByte('\n')
		for _, c := range sa.Children {
			fmt.Fprintf(&b, "  CHILD_SA %s, reqid 0x%x, %s\n", c.Mode, c.Reqid, c.Algorithm)
			fmt.Fprintf(&b, "    in  %s  %d bytes, %d packets\n", c.InSPI, c.InBytes, c.InPackets)
			fmt.Fprintf(&b, "    out %s  %d bytes, %d packets\n", c.OutSPI, c.OutBytes, c.OutPackets)
			fmt.Fprintf(&b, "    %s === %s", strings.Join(c.LocalTS, " "), strings.Join(c.RemoteTS, " "))
			if c.RekeyIn > 0 {
				fmt.Fprintf(&b, ", rekey in %s", c.RekeyIn.Round(time.Second))
			}
			if c.Rekeying {
				b.WriteString(", rekeying")
			}
			b.WriteByte('\n')
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// FormatSavedKeys is the one-line answer to save-keys.
func FormatSavedKeys(s SavedKeys) string {
	line := fmt.Sprintf("wrote the keys of %d IKE SAs and %d ESP SAs to %s (%s)", s.IKE, s.ESP, s.Dir, strings.Join(s.Files, ", "))
	if s.Unsupported > 0 {
		line += fmt.Sprintf("; %d SAs left out (algorithms Wireshark cannot decrypt)", s.Unsupported)
	}
	return line
}
