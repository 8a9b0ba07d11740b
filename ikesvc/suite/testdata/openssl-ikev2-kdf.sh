#!/bin/sh
# Independent IKEv2 key derivation with OpenSSL 3's HMAC (openssl mac), used
# to produce the expected values in kdf_openssl_test.go. OpenSSL 3.0 has no
# IKEv2 KDF, so prf+ (RFC 7296 2.13) is chained here by hand:
#   T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n), prf+ = T1 | T2 | ...
#
#   openssl-ikev2-kdf.sh prf    DIGEST KEYHEX DATAHEX         -> prf(K, data)
#   openssl-ikev2-kdf.sh prfplus DIGEST KEYHEX SEEDHEX NBYTES -> first NBYTES of prf+
# DIGEST is an OpenSSL digest name (SHA1, SHA256, SHA384, SHA512).
set -eu

prf() { # digest keyhex datahex
	printf '%s' "$3" | xxd -r -p | openssl mac -digest "$1" -macopt "hexkey:$2" HMAC | tr 'A-F' 'a-f'
}

case "$1" in
prf)
	prf "$2" "$3" "$4"
	;;
prfplus)
	digest=$2 key=$3 seed=$4 want=$(($5 * 2))
	out="" prev="" i=1
	while [ "${#out}" -lt "$want" ]; do
		prev=$(prf "$digest" "$key" "${prev}${seed}$(printf '%02x' "$i")")
		out="${out}${prev}"
		i=$((i + 1))
	done
	printf '%s\n' "$out" | cut -c "1-$want"
	;;
*)
	echo "usage: $0 prf|prfplus ..." >&2
	exit 2
	;;
esac
