// Package pki holds the certificate trust decisions of the IKE daemon and the
// host CA tool: a trust store that chains peer certificates to configured
// roots and checks them against CRLs, the binding between an IKE identity and
// a certificate, DN strings and DN patterns for peer matching, and the
// signature helpers of IKE_AUTH (auth method 1 and RFC 7427 digital
// signatures).
//
// Nothing here reads files or the clock on its own: callers pass parsed
// material and the current time, so the same code runs on the board, on the
// host and in tests.
package pki
