#!/usr/bin/env bash
# tls-certs.sh DIR [NAME...]: a test certificate authority and a server certificate for the
# broker's TLS listener and the API's HTTPS, made with the openssl command-line tool.
#
#   DIR/ca.crt      the CA certificate clients are given (--cafile, --mqtt-tls-ca, curl --cacert)
#   DIR/ca.key      the CA's private key (0600)
#   DIR/server.crt  the server certificate, signed by the CA, valid for localhost, 127.0.0.1,
#                   ::1, this machine's host name and every NAME given (a DNS name or an IP)
#   DIR/server.key  its private key (0600)
#
# Files that exist and stay valid for at least another day are kept; otherwise (missing,
# expiring, or the server certificate not signed by the CA in DIR) they are made again.
# For a city deployment use certificates from the city's own CA or ACME instead: only the
# file names matter to the broker and the API.
set -euo pipefail
umask 077

die() { printf 'tls-certs: %s\n' "$*" >&2; exit 1; }
[ $# -ge 1 ] || die "usage: tls-certs.sh DIR [NAME...]"
dir=$1
shift
command -v openssl >/dev/null || die "openssl not found (apt-get install openssl)"
mkdir -p "$dir"

valid() { # valid CERT: exists and does not expire within a day
    [ -s "$1" ] && openssl x509 -in "$1" -noout -checkend 86400 >/dev/null 2>&1
}

if ! valid "$dir/ca.crt" || [ ! -s "$dir/ca.key" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
        -subj "/O=Takumi/CN=Takumi test CA" -keyout "$dir/ca.key.tmp" -out "$dir/ca.crt.tmp" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        2>/dev/null || die "cannot create the CA"
    mv "$dir/ca.key.tmp" "$dir/ca.key"
    mv "$dir/ca.crt.tmp" "$dir/ca.crt"
    rm -f "$dir/server.crt" # signed by the old CA
fi

san="DNS:localhost,IP:127.0.0.1,IP:::1"
host=$(hostname 2>/dev/null || true)
[ -n "$host" ] && san="$san,DNS:$host"
for n in "$@"; do
    if [[ $n =~ ^[0-9.]+$ || $n == *:* ]]; then san="$san,IP:$n"; else san="$san,DNS:$n"; fi
done

if ! valid "$dir/server.crt" || [ ! -s "$dir/server.key" ] ||
    ! openssl verify -CAfile "$dir/ca.crt" "$dir/server.crt" >/dev/null 2>&1 ||
    [ "$(cat "$dir/server.san" 2>/dev/null)" != "$san" ]; then
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=Takumi/CN=localhost" \
        -keyout "$dir/server.key.tmp" -out "$dir/server.csr" 2>/dev/null ||
        die "cannot create the server key"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
        -CAcreateserial -days 825 -out "$dir/server.crt.tmp" \
        -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' "$san") \
        2>/dev/null || die "cannot sign the server certificate"
    mv "$dir/server.key.tmp" "$dir/server.key"
    mv "$dir/server.crt.tmp" "$dir/server.crt"
    printf '%s\n' "$san" >"$dir/server.san"
    rm -f "$dir/server.csr" "$dir/ca.srl"
fi
chmod 0600 "$dir/ca.key" "$dir/server.key"
chmod 0644 "$dir/ca.crt" "$dir/server.crt"
