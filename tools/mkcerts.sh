#!/bin/sh
# mkcerts.sh - make a test PKI for vmscatter's mutual TLS, in the x509 layout
# QEMU and libvirt use (/etc/pki/qemu):
#
#   tools/mkcerts.sh OUTDIR NAME=ADDR [NAME=ADDR ...]
#
# makes OUTDIR/ca/{ca-cert.pem,ca-key.pem} (a fresh CA, or the one already
# there) and, for each host NAME, OUTDIR/NAME/ with
#   ca-cert.pem                     the CA, to check the peer
#   server-cert.pem, server-key.pem what `vmscatter receive` presents
#   client-cert.pem, client-key.pem what `vmscatter send` presents
# The certificates name the host as CN=NAME,O=vmscatter and carry ADDR (an
# IPv4 address or a DNS name) as subjectAltName, which the sender checks
# against the HOST it was given. Keys are EC P-256, mode 0600. Use the
# result with `--tls-creds OUTDIR/NAME`. For real hosts, use your own CA
# (doc/SECURITY.md says how to reuse libvirt's).
set -eu

usage() {
	echo "usage: tools/mkcerts.sh OUTDIR NAME=ADDR [NAME=ADDR ...]" >&2
	exit 2
}
[ $# -ge 2 ] || usage
out=$1
shift
command -v openssl >/dev/null || { echo "mkcerts: openssl not found (apt-get install openssl)" >&2; exit 1; }
umask 077
mkdir -p "$out/ca"
ca="$out/ca"
if [ ! -s "$ca/ca-key.pem" ] || [ ! -s "$ca/ca-cert.pem" ]; then
	openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-keyout "$ca/ca-key.pem" -out "$ca/ca-cert.pem" -days 3650 \
		-subj "/O=vmscatter/CN=vmscatter test CA" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi

# one certificate: $1 dir, $2 kind (server|client), $3 name, $4 addr
mkcert() {
	dir=$1 kind=$2 name=$3 addr=$4
	case "$addr" in
	*[!0-9.]*) san="DNS:$addr" ;;
	*) san="IP:$addr" ;;
	esac
	if [ "$kind" = server ]; then eku=serverAuth; else eku=clientAuth; fi
	openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-keyout "$dir/$kind-key.pem" -out "$dir/$kind.csr" \
		-subj "/O=vmscatter/CN=$name" 2>/dev/null
	printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\nsubjectAltName=%s\n' \
		"$eku" "$san" >"$dir/$kind.ext"
	openssl x509 -req -in "$dir/$kind.csr" -CA "$ca/ca-cert.pem" -CAkey "$ca/ca-key.pem" \
		-CAcreateserial -out "$dir/$kind-cert.pem" -days 825 -extfile "$dir/$kind.ext" 2>/dev/null
	rm -f "$dir/$kind.csr" "$dir/$kind.ext"
}

for spec in "$@"; do
	name=${spec%%=*}
	addr=${spec#*=}
	case "$name" in
	'' | *[!A-Za-z0-9_.-]* | .* | -*) echo "mkcerts: bad host name '$name' in '$spec'" >&2; exit 2 ;;
	esac
	[ -n "$addr" ] && [ "$addr" != "$spec" ] || { echo "mkcerts: '$spec': expected NAME=ADDR" >&2; exit 2; }
	mkdir -p "$out/$name"
	cp "$ca/ca-cert.pem" "$out/$name/ca-cert.pem"
	mkcert "$out/$name" server "$name" "$addr"
	mkcert "$out/$name" client "$name" "$addr"
done
chmod 0644 "$ca/ca-cert.pem"
for spec in "$@"; do
	chmod 0644 "$out/${spec%%=*}/ca-cert.pem" "$out/${spec%%=*}"/*-cert.pem
done
