package model

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

const (
	refBegin = "<!-- BEGIN GENERATED REFERENCE (go test ./configsvc/model -run TestSchemaDocIsCurrent -update) -->\n"
	refEnd   = "<!-- END GENERATED REFERENCE -->\n"
)

// TestSchemaDocIsCurrent keeps SCHEMA.md's path reference equal to the
// schema; run with -update to rewrite it.
func TestSchemaDocIsCurrent(t *testing.T) {
	doc, err := os.ReadFile("../SCHEMA.md")
	if err != nil {
		t.Fatal(err)
	}
	var ref bytes.Buffer
	WriteReference(&ref)
	i, j := bytes.Index(doc, []byte(refBegin)), bytes.Index(doc, []byte(refEnd))
	if i < 0 || j < i {
		t.Fatalf("SCHEMA.md lacks the generated reference markers")
	}
	cur := doc[i+len(refBegin) : j]
	if bytes.Equal(cur, ref.Bytes()) {
		return
	}
	if *update {
		out := append(append(append([]byte{}, doc[:i+len(refBegin)]...), ref.Bytes()...), doc[j:]...)
		if err := os.WriteFile("../SCHEMA.md", out, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("SCHEMA.md reference is stale; run go test ./configsvc/model -run TestSchemaDocIsCurrent -update\nwant:\n%s", ref.String())
}

func TestReferenceCoversEveryLeaf(t *testing.T) {
	var ref bytes.Buffer
	WriteReference(&ref)
	for _, p := range []string{"`system hostname <hostname>`", "`interfaces <ifname> mtu <bytes>`", "`ipsec peer <name> remote-id-pattern <dn-pattern>`", "`pki crl <name> <pem>`", "`routes <prefix> next-hop <address>`"} {
		if !strings.Contains(ref.String(), p) {
			t.Errorf("reference lacks %s", p)
		}
	}
}
