package noloss

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"alixsec.dev/configsvc/shell"
	"alixsec.dev/scripts/interop"
)

// CharonRestart measures what strongSwan loses when charon restarts: two
// charons (kernel-libipsec, host-to-host tunnel) in network namespaces on
// this host, moon pinging sun every 10 ms with the CLI's own ping code,
// and moon's charon restarted as `systemctl restart` would (SIGTERM, a
// new charon, its config loaded, the connection initiated). It returns
// the ping's log. Needs root and strongSwan (scripts/interop/deps.sh).
func CharonRestart(ctx context.Context, repoRoot, dir string, pki *interop.PKI) (PingLog, error) {
	pair, err := interop.NewPair(ctx, "rst", interop.HostSun)
	if err != nil {
		return PingLog{}, err
	}
	defer pair.Close()
	la, ra := pair.A.Addr(false), pair.B.Addr(false)
	moon, sun := pki.Hosts[interop.HostMoon], pki.Hosts[interop.HostSun]
	start := func(node *interop.Node, host *interop.HostCreds, conn interop.Conn) (*interop.Charon, error) {
		c, err := interop.StartCharonWith(ctx, node, filepath.Join(dir, host.Name), interop.CharonOptions{Quiet: true})
		if err != nil {
			return nil, err
		}
		if err := c.Install(host, pki.CAs(), pki.Main.CRLs); err != nil {
			return c, err
		}
		conn.LocalCert, conn.LocalID = host.Name+".crt", host.ID
		return c, c.Configure(ctx, conn)
	}
	respConn := interop.Conn{Name: "t", LocalAddr: ra.String(), RemoteID: interop.HostPattern, Revocation: "relaxed"}
	iniConn := interop.Conn{Name: "t", LocalAddr: la.String(), RemoteAddr: ra.String(), RemoteID: sun.ID, Revocation: "relaxed"}
	resp, err := start(pair.B, sun, respConn)
	if resp != nil {
		defer resp.Stop()
	}
	if err != nil {
		return PingLog{}, err
	}
	ini, err := start(pair.A, moon, iniConn)
	if err != nil {
		if ini != nil {
			ini.Stop()
		}
		return PingLog{}, err
	}
	if out, err := ini.Initiate(ctx, "t", 20*time.Second); err != nil {
		ini.Stop()
		return PingLog{}, fmt.Errorf("initiate: %w\n%s", err, out)
	}
	// Only protected pings count: while no charon holds SAs, neither
	// namespace has policies and ICMP would pass in the clear (the boards
	// keep their policies, and drop such packets). sun drops echo
	// requests that arrive on the veth instead of libipsec's TUN device.
	if _, err := runWithInput(ctx, noPlaintextPing(interop.LinkName), "ip", "netns", "exec", pair.B.NS, "nft", "-f", "-"); err != nil {
		ini.Stop()
		return PingLog{}, err
	}
	// The ping runs 8 s; the restart begins after 2 s.
	var log bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- PingInNamespace(context.Background(), pair.A.NS, ra, &log, 800) }()
	time.Sleep(2 * time.Second)
	restartErr := ini.Stop()
	if restartErr == nil {
		ini, restartErr = start(pair.A, moon, iniConn)
	}
	if restartErr == nil {
		_, restartErr = ini.Initiate(ctx, "t", 20*time.Second)
	}
	if ini != nil {
		defer ini.Stop()
	}
	pingErr := <-done
	if restartErr != nil {
		return PingLog{}, fmt.Errorf("restart of charon: %w", restartErr)
	}
	if pingErr != nil && !errors.Is(pingErr, errNoReplies) {
		return PingLog{}, pingErr
	}
	return ParsePingLog(log.String())
}

var errNoReplies = errors.New("no replies")

// noPlaintextPing is an nftables ruleset dropping echo requests that
// arrive on link in the clear.
func noPlaintextPing(link string) string {
	return `table inet noloss {
	chain in {
		type filter hook input priority 0; policy accept;
		iifname "` + link + `" icmp type echo-request drop
	}
}
`
}

// runWithInput runs a command with input on its standard input.
func runWithInput(ctx context.Context, input, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(input)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// PingInNamespace runs the CLI's quiet ping (10 ms) of dst count times
// from the network namespace ns, writing its output (ParsePingLog reads
// it) to log; ctx ends the sending early (the last replies are still
// awaited). The socket is made on a thread moved into the namespace and
// never handed back (no UnlockOSThread), so the thread ends with the
// goroutine. An answerless ping's error is errNoReplies.
func PingInNamespace(ctx context.Context, ns string, dst netip.Addr, log io.Writer, count int) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("open namespace %s: %w", ns, err)
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			errc <- fmt.Errorf("enter namespace %s: %w", ns, err)
			return
		}
		ctx, cancel := context.WithTimeout(ctx, time.Duration(count)*PingInterval+30*time.Second)
		defer cancel()
		// Uptime 1 ms: the losses carry stamps (relative to the start),
		// which ParsePingLog needs.
		err = shell.Ping(ctx, log, dst.String(), shell.PingOptions{Count: count, Interval: PingInterval, Uptime: time.Millisecond})
		if err != nil && err.Error() == "no replies" {
			err = errNoReplies
		}
		errc <- err
	}()
	return <-errc
}
