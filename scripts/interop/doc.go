// Package interop is the strongSwan interop harness: it runs Debian's
// charon (and ikesvc) in network namespaces on this host and checks what
// both ends negotiated. Everything needs root; the tests skip otherwise.
//
// Pieces, each in its own file:
//
//   - netns.go: NewPair makes two namespaces joined by a veth pair (A:
//     10.77.0.1/24, fd77::1/64; B: 10.77.0.2/24, fd77::2/64), Close removes
//     them; CleanLeftovers removes what a crashed run left (namespaces are
//     named aix<PID>x<random><a|b>).
//   - charon.go, swanctl.go: StartCharon runs charon-systemd (or
//     /usr/lib/ipsec/charon) in a node's namespace and in its own mount
//     namespace with Dir/run bind-mounted over /run, kernel-libipsec for
//     userspace ESP; Install puts credentials in the swanctl directories,
//     Configure writes swanctl.conf from Conn values and loads it,
//     Initiate, ListSAs and WaitSAs drive and read it through swanctl.
//   - sas.go: ParseListSAs reads `swanctl --list-sas --raw` into IKESA and
//     ChildSA; CheckTunnel checks one side of a host-to-host tunnel.
//   - pki.go: NewPKI issues the test PKI with the project's CA tool alixca:
//     root + intermediate, ECDSA and RSA hosts, a revoked host with CRLs,
//     and a foreign CA; HostCreds.ConfigSet holds alixca's bundle lines.
//   - ikesvc.go: BuildIkesvc, IkesvcConfig (bundle lines + one peer),
//     StartIkesvc, Show/WaitShow, ShowHasSA/ShowHasNoSA.
//   - capture.go: StartCapture (dumpcap on a node's veth with a capture
//     filter), Decode (tshark -V) and Problems (malformed packets, expert
//     errors).
//   - bench.go: StartCharonResponder for `make bench`.
//   - tools.go, deps.sh: what the harness needs, installed with apt-get.
//
// charon with kernel-libipsec always fakes a NAT (UDP encapsulation), so
// IKE floats to UDP 4500 and ESP is ESP-in-UDP: the peer must do NAT-T.
package interop
