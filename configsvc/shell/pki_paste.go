package shell

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// maxPasteLines bounds a pasted PEM text (a CRL with a few thousand
// entries fits), so a stuck paste cannot eat the board's memory.
const maxPasteLines = 4000

// errPasteAborted is returned when the admin presses Ctrl-C or Ctrl-D
// during a paste on the terminal.
var errPasteAborted = errors.New("paste aborted: nothing stored")

// readPaste reads a PEM block pasted on the console line by line, up to
// and including its -----END line. Blank lines are skipped (a terminal may
// send CR LF as two Enters); CR is stripped. End of input (Ctrl-D) before
// the END line means a truncated paste. The whole text is read even when
// its first line is wrong, so that the rest of a bad paste is not run as
// commands.
func (sh *Shell) readPaste(what string) (string, error) {
	if sh.in == nil {
		return "", fmt.Errorf("no console to paste into")
	}
	fmt.Fprintf(sh.out, "Paste the PEM %s, ending with its -----END line (Ctrl-C aborts):\n", what)
	var b strings.Builder
	for n := 0; n < maxPasteLines; n++ {
		line, err := sh.in.readPasted()
		if err == errPasteAborted {
			return "", err
		}
		if err == io.EOF {
			if b.Len() == 0 {
				return "", fmt.Errorf("nothing pasted")
			}
			return "", fmt.Errorf("truncated PEM: input ended before the -----END line")
		}
		if err != nil {
			return "", fmt.Errorf("reading the pasted PEM: %w", err)
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
		if strings.HasPrefix(line, "-----END ") {
			return b.String(), nil
		}
	}
	return "", fmt.Errorf("pasted text longer than %d lines without an -----END line", maxPasteLines)
}

// decodePasted decodes the one PEM block of text and checks its type. The
// errors say what is wrong in words an admin can act on.
func decodePasted(text, wantType string) ([]byte, error) {
	// Text before the BEGIN line (openssl x509 -text output) is skipped,
	// as pem.Decode does.
	lines := strings.Split(text, "\n")
	begin := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "-----BEGIN ") })
	if begin < 0 {
		return nil, fmt.Errorf("not PEM: no -----BEGIN %s----- line (first line %q)", wantType, abbreviate(lines[0]))
	}
	block, _ := pem.Decode([]byte(text))
	if block == nil {
		return nil, fmt.Errorf("truncated or garbled PEM: the %s block does not decode (lines missing or changed?)", strings.TrimSuffix(strings.TrimPrefix(lines[begin], "-----BEGIN "), "-----"))
	}
	if block.Type != wantType {
		return nil, fmt.Errorf("PEM block is %s, want %s", block.Type, wantType)
	}
	if len(block.Headers) != 0 {
		return nil, errors.New("PEM with headers (encrypted?) is not supported")
	}
	return block.Bytes, nil
}

func abbreviate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// parsePastedCertificate decodes and parses one pasted certificate.
func parsePastedCertificate(text string) (*x509.Certificate, error) {
	der, err := decodePasted(text, "CERTIFICATE")
	if err != nil {
		return nil, err
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("truncated or garbled certificate: %w", err)
	}
	return c, nil
}

// parsePastedCRL decodes and parses one pasted CRL.
func parsePastedCRL(text string) (*x509.RevocationList, error) {
	der, err := decodePasted(text, "X509 CRL")
	if err != nil {
		return nil, err
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("truncated or garbled CRL: %w", err)
	}
	return crl, nil
}
