#!/usr/bin/env bash
# Installs the Debian packages the strongSwan interop harness
# (scripts/interop) needs, when they are missing. As root it installs them;
# otherwise it says which to install and fails. Measured on Debian 12
# (strongSwan 5.9.8):
#   charon-systemd                  /usr/sbin/charon-systemd (pulls in
#                                   strongswan-swanctl: swanctl + vici plugin,
#                                   strongswan-libcharon: socket-default,
#                                   libstrongswan: kernel-netlink, x509, pem,
#                                   pkcs1/8, revocation, sha2, hmac, aes, kdf ...)
#   libstrongswan-standard-plugins  openssl and gcm plugins (only a Recommends)
#   libstrongswan-extra-plugins     curve25519 plugin
#   libcharon-extra-plugins         kernel-libipsec plugin and libipsec.so
#                                   (ESP in userspace: the host kernel has none)
#   strongswan-pki                  pki, to cross-check certificates by hand
#   tshark                          decode captures (wireshark-common asks
#                                   about non-root capture; pre-seeded below)
#   iproute2, util-linux            ip netns / veth, unshare / nsenter
#   nftables                        nft: the low-MTU path test's router
#                                   namespace drops ICMP and IP fragments;
#                                   the no-loss bench drops plaintext
#                                   pings between two charons
# /usr/lib/ipsec/charon (package strongswan-charon) works too, but is not
# needed: the harness prefers charon-systemd and falls back to it.
set -euo pipefail

packages=(
	charon-systemd strongswan-swanctl
	libstrongswan-standard-plugins libstrongswan-extra-plugins libcharon-extra-plugins
	strongswan-pki tshark iproute2 util-linux
	nftables
)

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$status" = installed ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing Debian packages: ${missing[*]}" >&2
	echo "deps: install them with: sudo apt-get install -y ${missing[*]}" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# wireshark-common asks whether non-root users may capture; the harness
# captures as root, so answer no before the question comes up.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
