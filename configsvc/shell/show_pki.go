package shell

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"alixsec.dev/configsvc/model"
	"alixsec.dev/configsvc/pkiwatch"
	"alixsec.dev/ikesvc/control"
	"alixsec.dev/ikesvc/pki"
)

const dateFormat = "2006-01-02"

func formatDate(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(dateFormat)
}

// showPKI is `show pki`: the running config's keys (never their
// contents), certificates, CAs and CRLs with their expiry, the CRL
// distribution points ikesvc fetches from, then the warnings pkiwatch
// would log.
func (sh *Shell) showPKI(args []string) error {
	ctx, cancel := sh.ctx()
	defer cancel()
	snap, err := sh.env.Client.Running(ctx)
	if err != nil {
		return err
	}
	now := sh.now()
	writePKI(sh.out, snap.Config, now)
	sh.writeCRLFetch(now)
	for _, msg := range pkiwatch.Expiring(snap.Config, now, pkiwatch.WarnBefore) {
		fmt.Fprintf(sh.out, "warning: %s\n", msg)
	}
	return nil
}

// writeCRLFetch prints ikesvc's CRL distribution points, or in one line
// why ikesvc cannot tell, so that the rest of show pki still prints.
func (sh *Shell) writeCRLFetch(now time.Time) {
	c, missing, err := sh.ikesvcClient()
	if missing {
		fmt.Fprintf(sh.out, "%s: ikesvc is not running\n", control.CRLTitle)
		return
	}
	if err != nil {
		fmt.Fprintf(sh.out, "%s: %v\n", control.CRLTitle, err)
		return
	}
	defer c.Close()
	ctx, cancel := sh.ctx()
	defer cancel()
	st, err := c.CRLs(ctx)
	if err != nil {
		fmt.Fprintf(sh.out, "%s: cannot ask ikesvc: %v\n", control.CRLTitle, err)
		return
	}
	control.FormatCRLs(sh.out, st, now)
}

func writePKI(out io.Writer, cfg *model.Config, now time.Time) {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	inUse := func(used bool) string {
		if used {
			return "*"
		}
		return ""
	}
	fmt.Fprintln(w, "Keys:")
	fmt.Fprintln(w, "  name\ttype\tbits\tipsec")
	for _, name := range sortedNames(cfg.PKI.Keys) {
		k, err := pki.ParsePrivateKey([]byte(cfg.PKI.Keys[name]))
		if err != nil {
			fmt.Fprintf(w, "  %s\tunreadable: %v\t\t\n", name, err)
			continue
		}
		typ, bits := describeKey(k.Public())
		fmt.Fprintf(w, "  %s\t%s\t%d\t%s\n", name, typ, bits, inUse(cfg.IPsec.Key == name))
	}
	certs := func(title string, m map[string]string, used func(string) bool) {
		fmt.Fprintf(w, "%s:\n", title)
		fmt.Fprintln(w, "  name\tsubject\tissuer\tserial\tnot-after\tdays-left\tipsec")
		for _, name := range sortedNames(m) {
			list, err := pki.ParseCertificates([]byte(m[name]))
			if err != nil {
				fmt.Fprintf(w, "  %s\tunreadable: %v\t\t\t\t\t\n", name, err)
				continue
			}
			for _, c := range list {
				fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%s\t%d\t%s\n", name, pki.DNString(c.RawSubject), pki.DNString(c.RawIssuer),
					c.SerialNumber, formatDate(c.NotAfter), pkiwatch.DaysLeft(c.NotAfter, now), inUse(used(name)))
			}
		}
	}
	certs("Certificates", cfg.PKI.Certificates, func(n string) bool { return cfg.IPsec.Certificate == n })
	certs("CA certificates", cfg.PKI.CACertificates, func(n string) bool { return slices.Contains(cfg.IPsec.CACertificates, n) })
	fmt.Fprintln(w, "CRLs:")
	fmt.Fprintln(w, "  name\tissuer\tthis-update\tnext-update\trevoked\tipsec")
	for _, name := range sortedNames(cfg.PKI.CRLs) {
		crl, err := pki.ParseCRL([]byte(cfg.PKI.CRLs[name]))
		if err != nil {
			fmt.Fprintf(w, "  %s\tunreadable: %v\t\t\t\t\n", name, err)
			continue
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%d\t%s\n", name, pki.DNString(crl.RawIssuer), formatDate(crl.ThisUpdate),
			formatDate(crl.NextUpdate), len(crl.RevokedCertificateEntries), inUse(slices.Contains(cfg.IPsec.CRLs, name)))
	}
	w.Flush()
}
