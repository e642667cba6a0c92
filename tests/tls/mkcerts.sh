#!/usr/bin/env bash
# mkcerts.sh DIR: throwaway TLS material for tests, made with the openssl CLI.
#
#   DIR/ca.pem, DIR/ca.key          self-signed test CA
#   DIR/server.pem, DIR/server.key  server certificate for 127.0.0.1 and localhost
#                                   (SAN IP:127.0.0.1, DNS:localhost), signed by the CA
#   DIR/client.pem, DIR/client.key  client certificate (clientAuth), signed by the CA
#
# Keys are ECDSA P-256; certificates are valid for 2 days. Idempotent: if all six files
# exist, the certificates chain to ca.pem and stay valid for at least another hour, nothing
# is done; otherwise everything is made afresh. Writes nothing outside DIR (work files go to
# a temporary directory inside DIR and are removed). Quiet unless something fails.
# Exit status: 0 ok, 1 failure, 2 usage, 77 no openssl on PATH (the automake "skip" code).
set -eu

if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
if ! command -v openssl >/dev/null 2>&1; then
    echo "mkcerts.sh: openssl not found on PATH; cannot make test certificates" >&2
    exit 77
fi

dir=$1
mkdir -p "$dir"
files="ca.pem ca.key server.pem server.key client.pem client.key"

current() {
    for f in $files; do
        [ -s "$dir/$f" ] || return 1
    done
    for c in ca server client; do
        openssl x509 -noout -checkend 3600 -in "$dir/$c.pem" >/dev/null 2>&1 || return 1
    done
    openssl verify -CAfile "$dir/ca.pem" "$dir/server.pem" "$dir/client.pem" \
        >/dev/null 2>&1
}

if current; then
    exit 0
fi

umask 077
work=$(mktemp -d "$dir/.mkcerts.XXXXXX")
trap 'rm -rf "$work"' EXIT
# Keep OpenSSL away from the system and user configuration and from ~/.rnd.
export OPENSSL_CONF="$work/openssl.cnf" RANDFILE="$work/.rnd"

cat >"$OPENSSL_CONF" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF

log="$work/openssl.log"
run() {
    if ! "$@" >>"$log" 2>&1; then
        echo "mkcerts.sh: failed: $*" >&2
        cat "$log" >&2
        exit 1
    fi
}
newkey() {
    run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/$1.key"
}
serial() {
    echo "0x$(openssl rand -hex 8)"
}

newkey ca
run openssl req -new -x509 -config "$OPENSSL_CONF" -key "$work/ca.key" -sha256 -days 2 \
    -subj "/CN=mock-kafka-rest test CA" -extensions ca_ext -set_serial "$(serial)" \
    -out "$work/ca.pem"
for c in server client; do
    newkey "$c"
    cn=$([ "$c" = server ] && echo localhost || echo mock-kafka-rest test client)
    run openssl req -new -config "$OPENSSL_CONF" -key "$work/$c.key" -subj "/CN=$cn" \
        -out "$work/$c.csr"
    run openssl x509 -req -in "$work/$c.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
        -set_serial "$(serial)" -sha256 -days 2 -extfile "$OPENSSL_CONF" \
        -extensions "${c}_ext" -out "$work/$c.pem"
done
run openssl verify -CAfile "$work/ca.pem" "$work/server.pem" "$work/client.pem"

chmod 600 "$work"/*.key
chmod 644 "$work"/*.pem
for f in $files; do
    mv -f "$work/$f" "$dir/$f"
done
