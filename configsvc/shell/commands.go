package shell

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"alixsec.dev/configsvc/model"
)

// operationalCommands is the command tree of operational mode.
func operationalCommands() []*command {
	return []*command{
		{name: "show", help: "show status and configuration", sub: []*command{
			{name: "configuration", help: "running configuration as set lines", args: "[path]", run: (*Shell).showConfiguration, complete: completeRunningPath},
			{name: "history", help: "kept configuration revisions", run: (*Shell).showHistory},
			{name: "interfaces", help: "network interfaces, addresses and counters", run: (*Shell).showInterfaces},
			{name: "ipsec", help: "IPsec status from ikesvc", sub: []*command{
				{name: "sa", help: "IKE and IPsec security associations", run: (*Shell).showIPsecSA},
				{name: "kernel", help: "every SA and policy in the kernel's XFRM tables (keys left out)", run: (*Shell).showIPsecKernel},
			}},
			{name: "log", help: "system log ring buffer", run: (*Shell).showLog},
			{name: "pki", help: "keys, certificates, CAs, CRLs and CRL fetching status", run: (*Shell).showPKI},
			{name: "system", help: "host name, uptime, memory, load, running revision", run: (*Shell).showSystem},
			{name: "version", help: "firmware version", run: (*Shell).showVersion},
		}},
		{name: "request", help: "ask a service to act now", sub: []*command{
			{name: "ipsec", help: "IPsec actions", sub: []*command{
				{name: "initiate", help: "set up the SAs with a peer now", args: "<peer>", run: (*Shell).initiateIPsec, complete: completePeer},
				{name: "rekey", help: "rekey a peer's SAs now (default child; ike; reauth)", args: "<peer> [child|ike|reauth]", run: (*Shell).rekeyIPsec, complete: completeRekey},
				{name: "save-keys", help: "write IKE and ESP keys for Wireshark to RAM (/tmp/ikesvc-keys), never the CF", run: (*Shell).saveIPsecKeys},
			}},
			{name: "system", help: "firmware and SSH actions", sub: []*command{
				{name: "upgrade", help: "install a signed update file into the other slot and boot it on trial", args: "<http://host/file.upd | ->", run: (*Shell).upgrade},
				{name: "rollback", help: "boot the other slot's firmware (on trial, like an upgrade)", run: (*Shell).rollbackFirmware},
				sshRequestCommand(),
			}},
		}},
		{name: "clear", help: "reset state", sub: []*command{
			{name: "ipsec", help: "IPsec state", sub: []*command{
				{name: "sa", help: "delete the SAs with a peer (start-action start re-initiates)", args: "<peer>", run: (*Shell).clearIPsecSA, complete: completePeer},
			}},
		}},
		pkiCommand(),
		{name: "ping", help: "send ICMP echo requests", args: "<address> [count <1-65535>] [interval <ms>]", run: (*Shell).ping, complete: completePing},
		{name: "configure", help: "enter configuration mode", run: (*Shell).configure},
		{name: "start", help: "start an interactive program", sub: []*command{
			{name: "shell", help: "a Unix shell on the console (exit returns to the CLI)", run: (*Shell).startShell},
		}},
		{name: "reboot", help: "restart the appliance", run: (*Shell).reboot},
		{name: "poweroff", help: "halt the appliance", run: (*Shell).poweroff},
		{name: "exit", help: "log out", run: (*Shell).logout},
	}
}

// configCommands is the command tree of configuration mode.
func configCommands() []*command {
	return []*command{
		{name: "set", help: "set a value in the candidate", args: "<path> <value>", run: (*Shell).set, complete: completeSet},
		{name: "delete", help: "delete from the candidate", args: "<path> [value]", run: (*Shell).delete, complete: completeDelete},
		{name: "show", help: "show the candidate as set lines", args: "[path]", run: (*Shell).showCandidate, complete: completeCandidatePath},
		{name: "compare", help: "changes from running to candidate, or between revisions N M", args: "[N M]", run: (*Shell).compare, complete: completeRevision},
		{name: "commit", help: "validate and make the candidate running", args: "[comment]", run: (*Shell).commit},
		{name: "discard", help: "drop changes: candidate = running", run: (*Shell).discard},
		{name: "rollback", help: "load revision N into the candidate (then commit)", args: "<N>", run: (*Shell).rollback, complete: completeRevision},
		{name: "load", help: "replace the candidate with a file of set lines (- reads standard input)", args: "<file|->", run: (*Shell).load},
		{name: "exit", help: "leave configuration mode", run: (*Shell).exitConfig},
	}
}

func parseRevision(s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("revision %q: must be a revision number (see show history)", s)
	}
	return n, nil
}

func completeRevision(sh *Shell, args []string, partial string) []model.Choice {
	ctx, cancel := sh.ctx()
	defer cancel()
	_, revs, err := sh.env.Client.History(ctx)
	if err != nil || len(args) >= 2 {
		return nil
	}
	var out []model.Choice
	for _, r := range revs {
		w := strconv.FormatUint(r.Revision, 10)
		if len(w) >= len(partial) && w[:len(partial)] == partial {
			out = append(out, model.Choice{Word: w, Help: r.Time.UTC().Format("2006-01-02 15:04:05") + " " + r.Comment})
		}
	}
	return out
}

func completePing(sh *Shell, args []string, partial string) []model.Choice {
	if len(args) == 0 {
		return []model.Choice{{Word: "<address>", Help: "IPv4 or IPv6 address to ping", Placeholder: true}}
	}
	switch args[len(args)-1] {
	case "count":
		return []model.Choice{{Word: "<1-65535>", Help: "number of echo requests", Placeholder: true}}
	case "interval":
		return []model.Choice{{Word: "<10-10000>", Help: "milliseconds between echo requests", Placeholder: true}}
	}
	if len(args)%2 == 0 {
		return nil // a value is missing
	}
	return []model.Choice{model.EndChoice,
		{Word: "count", Help: "number of echo requests"},
		{Word: "interval", Help: "milliseconds between echo requests (below 200: only losses are listed)"}}
}

// completeRekey offers the peers, then what to rekey.
func completeRekey(sh *Shell, args []string, partial string) []model.Choice {
	if len(args) == 0 {
		return completePeer(sh, args, partial)
	}
	if len(args) > 1 {
		return []model.Choice{model.EndChoice}
	}
	return []model.Choice{model.EndChoice,
		{Word: "child", Help: "the CHILD_SAs (the default)"},
		{Word: "ike", Help: "the IKE SA; the CHILD_SAs move to the new one"},
		{Word: "reauth", Help: "a new IKE SA with a full authentication"}}
}

// completePeer offers the IPsec peer names of the running config.
func completePeer(sh *Shell, args []string, partial string) []model.Choice {
	if len(args) > 0 {
		return nil
	}
	ctx, cancel := sh.ctx()
	defer cancel()
	snap, err := sh.env.Client.Running(ctx)
	if err != nil {
		return nil
	}
	var out []model.Choice
	for name := range snap.Config.IPsec.Peers {
		if strings.HasPrefix(name, partial) {
			out = append(out, model.Choice{Word: name, Help: "IPsec peer"})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Word < out[j].Word })
	return out
}
