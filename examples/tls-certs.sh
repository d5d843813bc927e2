#!/usr/bin/env bash
# A throwaway CA and a server certificate it signed, for trying the TLS
# examples by hand (never for production): ECDSA P-256, the server valid for
# localhost and 127.0.0.1 for 30 days.
#
#   examples/tls-certs.sh DIR    # writes DIR/ca.pem, DIR/cert.pem, DIR/key.pem
#
# then e.g. `cargo run --release --example echo -- --tls-cert DIR/cert.pem
# --tls-key DIR/key.pem` and `openssl s_client -connect 127.0.0.1:9000
# -CAfile DIR/ca.pem`, or `curl --cacert DIR/ca.pem https://127.0.0.1:8080/plaintext`.
set -euo pipefail
dir="${1:?usage: $0 DIR}"
mkdir -p "$dir"
cd "$dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -subj "/CN=netreactor throwaway CA" -keyout ca-key.pem -out ca.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -subj "/CN=localhost" -keyout key.pem -out server.csr 2>/dev/null
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 30 \
  -extfile <(printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n') \
  -out cert.pem 2>/dev/null
rm -f server.csr ca.srl
echo "wrote $dir/ca.pem, $dir/cert.pem, $dir/key.pem"
