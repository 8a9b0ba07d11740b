package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"alixsec.dev/scripts/interop"
	"alixsec.dev/scripts/noloss"
	"alixsec.dev/scripts/qemu"
)

// nolossRows runs the issue-9 sequence on two QEMU boards (scripts/noloss)
// and prints what each kind of event lost while one board pinged the
// other every 10 ms, in transport and tunnel mode, beside strongSwan's
// loss for a charon restart on this host at the same rate; then the
// reboot and power-on times and the config churn.
func nolossRows(out string, logf func(string, ...any)) ([]row, error) {
	dir, err := os.MkdirTemp("", "bench-noloss-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	root, err := interop.RepoRoot()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	pki, err := interop.NewPKI(ctx, root, filepath.Join(dir, "pki"))
	if err != nil {
		return nil, err
	}
	var rows []row
	charon := "not measured"
	if os.Geteuid() != 0 {
		charon = "not measured (needs root)"
	} else if err := interop.InstallTools(ctx, filepath.Join(root, "scripts", "interop")); err != nil {
		charon = "not measured: " + err.Error()
	} else if pl, err := noloss.CharonRestart(ctx, root, filepath.Join(dir, "charon"), pki); err != nil {
		charon = "failed: " + err.Error()
	} else {
		charon = fmt.Sprintf("%d lost of %d (%.2f s)", pl.Lost(), pl.Sent, float64(pl.Lost())*noloss.PingInterval.Seconds())
	}
	disks := filepath.Join(dir, "disks")
	if err := os.Mkdir(disks, 0o755); err != nil {
		return nil, err
	}
	f, pair, err := noloss.Measure(noloss.Config{Image: filepath.Join(out, "qemu.img"), PKI: pki, Dir: disks, Logf: logf})
	if pair != nil {
		defer pair.Close()
	}
	if err != nil {
		if pair != nil {
			logf("consoles:\n%s", qemu.Tail(pair.Logs(), 200))
		}
		return nil, fmt.Errorf("no-loss sequence: %w", err)
	}
	for _, res := range f.Modes {
		lost, ran, stuck := res.LostBy()
		rows = append(rows, row{fmt.Sprintf("%s: lost before any event (%v)", res.Peer.Mode, res.Quiet), fmt.Sprint(res.Baseline), "0"})
		for _, kind := range noloss.Kinds {
			value := fmt.Sprintf("%d lost in %d", lost[kind], ran[kind])
			switch {
			case ran[kind] == 0:
				value = "not supported"
			case stuck[kind] > 0:
				value = fmt.Sprintf(">= %d lost in %d (%d not healed within %v: SA cleared by hand)", lost[kind], ran[kind], stuck[kind], noloss.HealAfter)
			}
			rows = append(rows, row{fmt.Sprintf("%s: %s (10 ms pings)", res.Peer.Mode, kind), value, "0"})
		}
	}
	rows = append(rows,
		row{"strongSwan 5.9 charon restart on the host (10 ms pings)", charon, "(for comparison)"},
		row{"reboot of one board: kernel start -> pings pass", fmt.Sprintf("%.2f s", f.RebootToPings), "<= 5 s under TCG: " + verdict(f.RebootToPings <= 5)},
		row{"power-on of both boards -> first protected ping", fmt.Sprintf("%.1f s", f.PowerOnToPing.Seconds()), ""},
		row{fmt.Sprintf("config churn: %d random commits on one board", f.ChurnCommits), fmt.Sprintf("%.1f s", f.ChurnTook.Seconds()), ""},
		row{"churn, then the real config: commit -> both SAs up", fmt.Sprintf("%.1f s", f.ChurnToSAs.Seconds()), "<= 5 s: " + verdict(f.ChurnToSAs <= 5*time.Second)},
		row{"churn, then the real config: kernel SAs/policies not expected", fmt.Sprint(len(f.KernelLeftover)), "0"},
	)
	return rows, nil
}

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "OVER"
}
