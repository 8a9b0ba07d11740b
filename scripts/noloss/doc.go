// Package noloss proves, on two booted QEMU boards with real kernel ESP,
// that IPsec traffic survives what an appliance lives through: CHILD_SA
// and IKE SA rekeys, reauthentication, SIGKILLs and clean restarts of
// ikesvc, a restart of configsvc and a commit of an unrelated setting.
//
// One board pings the other's protected address every 10 ms for the whole
// run (the CLI's `ping ADDR interval 10`, started in the background from
// `start shell`), and the harness triggers the events one after another
// from the boards' shells, reading the pinging board's uptime before each.
// The ping stamps every loss with the uptime of its request, so each lost
// packet is counted against the event whose window it fell in.
//
// The test (TestNoLoss, in transport and tunnel mode on one boot of the
// pair) asserts 0 lost per event; `make bench` (scripts/bench) runs the
// same sequence and prints the figures. Both need the built images:
// ALIXSEC_OUT=out.
package noloss
