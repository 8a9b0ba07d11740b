// Package pkitest holds the end-to-end test of the certificate workflow a
// new admin follows (issue 5): alixca makes a root and an intermediate CA,
// two QEMU boards generate their keys on the board and print CSRs on the
// console, alixca issues the certificates, the boards import them by
// paste and establish IPsec; then alixca revokes board 2 and publishes a
// CRL, which board 1 either imports by paste or fetches from the CDP in
// board 2's certificate, and board 1 tears the SA down and refuses board
// 2 from then on.
//
// The test needs ALIXSEC_OUT (the built images) and root, like
// scripts/ipsectest; otherwise it skips.
package pkitest

// With CRL fetching, the CDP answers 404 until the host publishes the CRL
// after revoking board 2: board 1's first fetch (when board 2's
// certificate arrives in IKE_AUTH) fails and its retry one minute later
// (crlfetch's minimum back-off) brings the CRL that revokes board 2, so the
// teardown comes from the fetcher's recheck of established SAs and not
// from a refetch at next-update (30 days away).
