#!/usr/bin/env bash
# Installs the Debian packages alixsec needs to build, test and run, when
# they are missing. As root it installs them; otherwise it says which to
# install and fails.
set -euo pipefail

packages=(
	# image build: kernel, initramfs compression, CF image
	build-essential flex bison bc libelf-dev libssl-dev xz-utils zstd linux-source-6.1
	syslinux syslinux-common mtools dosfstools e2fsprogs
	# tests: QEMU boards, disassembly, PKI checks
	qemu-system-x86 binutils openssl openssh-client
	# bench and its test: the 386 build under qemu-i386 with an instruction counter
	qemu-user
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
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
