package model

import (
	"crypto/rsa"
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/crypto/ssh"
)

// SSH configures the SSH server (configsvc/sshd): the same CLI as the
// console, for users holding one of the authorized keys. The server's
// host key is not part of the configuration: it is board identity, kept
// beside the revisions (see store.Secret) so that a rollback keeps it.
type SSH struct {
	AuthorizedKeys  map[string]string `cfg:"authorized-key" key:"name" type:"ssh-pubkey" help:"public key allowed to log in, OpenSSH authorized_keys syntax; the server is off while none is set"`
	ListenAddresses []netip.Addr      `cfg:"listen-address" type:"ipaddr" help:"local address to listen on (repeatable); unset: every address"`
	Port            int               `cfg:"port" type:"port" help:"TCP port (default 22)"`
	IdleTimeout     int               `cfg:"idle-timeout" type:"idle-minutes" help:"minutes without input or output after which a session ends (default 15)"`
}

// Enabled reports whether the SSH server should listen: only once a key
// can log in.
func (s *SSH) Enabled() bool { return len(s.AuthorizedKeys) > 0 }

// PortOrDefault is the configured port or DefaultSSHPort.
func (s *SSH) PortOrDefault() int {
	if s.Port == 0 {
		return DefaultSSHPort
	}
	return s.Port
}

// IdleMinutes is the configured idle timeout or DefaultSSHIdle.
func (s *SSH) IdleMinutes() int {
	if s.IdleTimeout == 0 {
		return DefaultSSHIdle
	}
	return s.IdleTimeout
}

// minRSABits refuses RSA keys that are too short to trust.
const minRSABits = 2048

// canonSSHPublicKey accepts one authorized_keys line without options and
// prints it as "type base64 [comment]". Certificates are refused: the
// appliance has no SSH CA to check them against.
func canonSSHPublicKey(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.ContainsAny(s, "\r\n") {
		return "", errPlain
	}
	key, comment, options, rest, err := ssh.ParseAuthorizedKey([]byte(s))
	if err != nil {
		return "", fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "ssh: "))
	}
	if len(options) > 0 || len(rest) > 0 {
		return "", fmt.Errorf("options and more than one key are not supported")
	}
	if _, ok := key.(*ssh.Certificate); ok {
		return "", fmt.Errorf("certificates are not supported")
	}
	switch key.Type() {
	case ssh.KeyAlgoED25519, ssh.KeyAlgoSKED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521, ssh.KeyAlgoSKECDSA256:
	case ssh.KeyAlgoRSA:
		ck, ok := key.(ssh.CryptoPublicKey)
		if !ok {
			return "", errPlain
		}
		if rk, ok := ck.CryptoPublicKey().(*rsa.PublicKey); !ok || rk.N.BitLen() < minRSABits {
			return "", fmt.Errorf("RSA key shorter than %d bits", minRSABits)
		}
	default:
		return "", fmt.Errorf("key type %s is not supported", key.Type())
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
	if comment = strings.TrimSpace(comment); comment != "" {
		if _, err := canonText(comment); err != nil {
			return "", fmt.Errorf("comment has control characters")
		}
		line += " " + comment
	}
	return line, nil
}
