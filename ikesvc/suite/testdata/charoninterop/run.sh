#!/bin/sh
# Runs main.go against strongSwan's charon in a private network namespace
# (loopback only; charon on port 500, us on 5500) and stores the captured
# messages in ikesvc/wire/testdata/real and the session records (throwaway
# secrets + messages) in ikesvc/suite/testdata/charon.
# Needs root and charon-systemd (Debian: charon-systemd, strongswan-swanctl).
#   sh ikesvc/suite/testdata/charoninterop/run.sh
set -eu
repo=$(cd "$(dirname "$0")/../../../.." && pwd)
out=$repo/ikesvc/wire/testdata/real
sessions=$repo/ikesvc/suite/testdata/charon
ns=ikeinterop$$
dir=$(mktemp -d)
charon_pid=""
cleanup() {
	[ -n "$charon_pid" ] && kill "$charon_pid" 2>/dev/null || true
	sleep 0.5
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
mkdir -p "$dir/run" "$dir/swanctl" "$out" "$sessions"
rm -f "$out"/*.bin "$sessions"/*.json

cat >"$dir/strongswan.conf" <<CONF
charon-systemd {
  load_modular = no
  load = random nonce openssl sha1 sha2 hmac aes gcm chapoly kdf curve25519 kernel-netlink socket-default vici
  plugins {
    vici {
      socket = unix://$dir/vici
    }
  }
  journal {
    default = -1
  }
  filelog {
    log {
      path = $dir/charon.log
      default = 1
      ike = 2
    }
  }
}
CONF
cat >"$dir/swanctl/swanctl.conf" <<CONF
connections {
  peer {
    version = 2
    local_addrs = 127.0.0.1
    remote_addrs = 127.0.0.2
    remote_port = 5500
    proposals = aes128-sha256-ecp256,aes256gcm16-prfsha384-x25519,chacha20poly1305-prfsha256-x25519,aes256-sha512-modp3072
    local {
      auth = psk
      id = charon.test
    }
    remote {
      auth = psk
      id = ours.test
    }
    children {
      c {
        esp_proposals = aes128-sha256
        local_ts = 127.0.0.1/32
        remote_ts = 127.0.0.2/32
      }
    }
  }
}
secrets {
  ike-1 {
    id-1 = ours.test
    id-2 = charon.test
    secret = interop-secret
  }
}
CONF

ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
ip netns exec "$ns" unshare --mount --propagation private sh -c \
	"mount --bind $dir/run /run && exec env STRONGSWAN_CONF=$dir/strongswan.conf /usr/sbin/charon-systemd" &
charon_pid=$!
for _ in $(seq 50); do [ -S "$dir/vici" ] && break; sleep 0.1; done
ip netns exec "$ns" env SWANCTL_DIR="$dir/swanctl" swanctl --load-all --uri "unix://$dir/vici" >/dev/null 2>&1

bin=$dir/charoninterop
(cd "$repo" && go build -o "$bin" ./ikesvc/suite/testdata/charoninterop)
for p in aes128-sha256-ecp256 aes256gcm16-prfsha384-x25519 chacha20poly1305-prfsha256-x25519 aes256-sha512-modp3072; do
	ip netns exec "$ns" "$bin" -local 127.0.0.2:5500 -ike "$p" -out "$out" -sessions "$sessions"
done
# charon as initiator: capture its IKE_SA_INIT request.
ip netns exec "$ns" "$bin" -local 127.0.0.2:5500 -listen -out "$out" &
listener=$!
sleep 0.3
ip netns exec "$ns" env SWANCTL_DIR="$dir/swanctl" swanctl --initiate --child c --timeout 2 --uri "unix://$dir/vici" >/dev/null 2>&1 || true
wait "$listener"
grep -E "NAT|authentication of|established" "$dir/charon.log" | sed 's/^/charon: /' | head -20
