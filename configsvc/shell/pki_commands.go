package shell

import (
	"sort"
	"strings"

	"alixsec.dev/configsvc/model"
)

// pkiCommand is the operational `pki` command group.
func pkiCommand() *command {
	return &command{name: "pki", help: "board keys, certificate requests and PEM imports", sub: []*command{
		{name: "generate", help: "make material on the board", sub: []*command{
			{name: "key", help: "a private key made on the board; it never leaves the board",
				args: "<name> [" + strings.Join(keyTypes, "|") + "]", run: (*Shell).pkiGenerateKey, complete: completeGenerateKey},
		}},
		{name: "request", help: "print a certificate request (CSR) in PEM for a board key",
			args: "<key> [cn <fqdn>] [san-dns <name>]... [san-ip <address>]...", run: (*Shell).pkiRequest, complete: completeRequest},
		{name: "import", help: "check and store pasted PEM", sub: []*command{
			{name: "certificate", help: "this board's certificate: must match a board key and verify against the CAs",
				args: "<name>", run: (*Shell).pkiImportCertificate, complete: completeImportName(nil)},
			{name: "ca", help: "a CA certificate: a root, or an intermediate issued by a configured CA",
				args: "<name>", run: (*Shell).pkiImportCA, complete: completeImportName(nil)},
			{name: "crl", help: "a CRL signed by a configured CA (a newer one replaces an existing name)",
				args: "<name>", run: (*Shell).pkiImportCRL, complete: completeImportName(func(c *model.Config) map[string]string { return c.PKI.CRLs })},
		}},
	}}
}

func completeGenerateKey(sh *Shell, args []string, partial string) []model.Choice {
	switch len(args) {
	case 0:
		return []model.Choice{{Word: "<name>", Help: "name of the new pki key", Placeholder: true}}
	case 1:
		out := []model.Choice{model.EndChoice}
		for i, t := range keyTypes {
			help := "key type"
			if i == 0 {
				help = "key type (default)"
			}
			if strings.HasPrefix(t, partial) {
				out = append(out, model.Choice{Word: t, Help: help})
			}
		}
		return out
	}
	return []model.Choice{model.EndChoice}
}

// runningNames offers the names of one pki map of the running config.
func runningNames(sh *Shell, pick func(*model.Config) map[string]string, partial, help string) []model.Choice {
	ctx, cancel := sh.ctx()
	defer cancel()
	snap, err := sh.env.Client.Running(ctx)
	if err != nil {
		return nil
	}
	var out []model.Choice
	for name := range pick(snap.Config) {
		if strings.HasPrefix(name, partial) {
			out = append(out, model.Choice{Word: name, Help: help})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Word < out[j].Word })
	return out
}

func completeRequest(sh *Shell, args []string, partial string) []model.Choice {
	if len(args) == 0 {
		return runningNames(sh, func(c *model.Config) map[string]string { return c.PKI.Keys }, partial, "board key")
	}
	if len(args)%2 == 0 {
		switch args[len(args)-1] {
		case "cn":
			return []model.Choice{{Word: "<fqdn>", Help: "subject common name (default: the host name)", Placeholder: true}}
		case "san-dns":
			return []model.Choice{{Word: "<name>", Help: "subjectAltName DNS name", Placeholder: true}}
		}
		return []model.Choice{{Word: "<address>", Help: "subjectAltName IP address", Placeholder: true}}
	}
	out := []model.Choice{model.EndChoice}
	for _, o := range []model.Choice{
		{Word: "cn", Help: "subject common name (default: the host name)"},
		{Word: "san-dns", Help: "add a subjectAltName DNS name"},
		{Word: "san-ip", Help: "add a subjectAltName IP address"},
	} {
		if strings.HasPrefix(o.Word, partial) {
			out = append(out, o)
		}
	}
	return out
}

// completeImportName offers a placeholder for a new name and, with
// existing, the names that may be replaced.
func completeImportName(existing func(*model.Config) map[string]string) func(sh *Shell, args []string, partial string) []model.Choice {
	return func(sh *Shell, args []string, partial string) []model.Choice {
		if len(args) > 0 {
			return []model.Choice{model.EndChoice}
		}
		var out []model.Choice
		if existing != nil {
			out = runningNames(sh, existing, partial, "replace with a newer one")
		}
		return append(out, model.Choice{Word: "<name>", Help: "name to store it under", Placeholder: true})
	}
}
