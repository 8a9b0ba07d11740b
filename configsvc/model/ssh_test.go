package model

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func authorizedLine(t *testing.T, pub any) string {
	t.Helper()
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

func TestSetSSHAuthorizedKey(t *testing.T) {
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ed := authorizedLine(t, edPub)
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, value, want, wantErr string
	}{
		{"ed25519 with comment", ed + "  admin@host ", ed + " admin@host", ""},
		{"ed25519 bare", ed, ed, ""},
		{"garbage", "ssh-ed25519 AAAAnot-base64", "", "must be an OpenSSH public key line"},
		{"empty", "", "", "must be an OpenSSH public key line"},
		{"options", `from="10.0.0.1" ` + ed, "", "options and more than one key are not supported"},
		{"two keys", ed + "\n" + ed, "", "must be an OpenSSH public key line"},
		{"short rsa", authorizedLine(t, &weak.PublicKey), "", "RSA key shorter than 2048 bits"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &Config{}
			err := c.Set([]string{"system", "ssh", "authorized-key", "alice", tc.value})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("Set = %v, want one line containing %q", err, tc.wantErr)
				}
				if c.System.SSH.Enabled() {
					t.Fatalf("a refused key enabled SSH")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.System.SSH.AuthorizedKeys["alice"]; got != tc.want {
				t.Fatalf("stored %q, want %q", got, tc.want)
			}
			if !c.System.SSH.Enabled() {
				t.Fatalf("SSH not enabled with a key")
			}
		})
	}
}

func TestSSHDefaults(t *testing.T) {
	c := &Config{}
	if c.System.SSH.Enabled() || c.System.SSH.PortOrDefault() != 22 || c.System.SSH.IdleMinutes() != 15 {
		t.Fatalf("defaults: enabled %v port %d idle %d", c.System.SSH.Enabled(), c.System.SSH.PortOrDefault(), c.System.SSH.IdleMinutes())
	}
	for _, l := range [][]string{{"system", "ssh", "port", "2222"}, {"system", "ssh", "idle-timeout", "5"}, {"system", "ssh", "listen-address", "10.99.0.1"}} {
		if err := c.Set(l); err != nil {
			t.Fatal(err)
		}
	}
	if c.System.SSH.PortOrDefault() != 2222 || c.System.SSH.IdleMinutes() != 5 || len(c.System.SSH.ListenAddresses) != 1 {
		t.Fatalf("set values not taken: %+v", c.System.SSH)
	}
	if err := c.Set([]string{"system", "ssh", "port", "0"}); err == nil {
		t.Fatalf("port 0 accepted")
	}
}
