#!/usr/bin/env bash
# http.tls against the real server, with certificates made here by the openssl command: curl
# and skopeo push and pull over TLS with the bytes intact; plain HTTP and TLS 1.1 refused
# cleanly; mutual TLS (no certificate, another CA's, the right one); SIGHUP swaps the
# certificate for new connections while a slow download started before finishes intact;
# a bad certificate on SIGHUP keeps the old one; the config's TLS errors.
. "$(dirname "$0")/lib.sh"
require skopeo curl python3 openssl

echo '{}' >"$RS_TMP/auth.json"
export REGISTRY_AUTH_FILE=$RS_TMP/auth.json
pki=$RS_TMP/pki
mkdir -p "$pki"

# ---- a throwaway PKI: two CAs, the server's certificates, clients' ----
ca() {  # ca NAME: a self-signed CA
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$1" \
    -keyout "$pki/$1.key" -out "$pki/$1.pem" 2>/dev/null || die "openssl: CA $1"
}
cert() {  # cert NAME CA SERIAL EXT: a certificate NAME.pem/NAME.key signed by CA
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
    -keyout "$pki/$1.key" -out "$pki/$1.csr" 2>/dev/null || die "openssl: request $1"
  printf '%s\n' "$4" >"$pki/$1.ext"
  openssl x509 -req -in "$pki/$1.csr" -CA "$pki/$2.pem" -CAkey "$pki/$2.key" -set_serial "$3" -days 2 \
    -extfile "$pki/$1.ext" -out "$pki/$1.pem" 2>/dev/null || die "openssl: sign $1"
}
server_ext='subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth'
client_ext='extendedKeyUsage=clientAuth'
ca ca
ca other-ca
cert server-a ca 0x1001 "$server_ext"
cert server-b ca 0x2002 "$server_ext"
cert alice ca 0x3003 "$client_ext"
cert mallory other-ca 0x4004 "$client_ext"
cp "$pki/server-a.pem" "$pki/server.pem"
cp "$pki/server-a.key" "$pki/server.key"

# skopeo's certificate directories: CAs as *.crt, a client's pair as *.cert and *.key.
mkdir -p "$RS_TMP/certs.d/ca-only" "$RS_TMP/certs.d/alice" "$RS_TMP/certs.d/mallory"
for d in ca-only alice mallory; do cp "$pki/ca.pem" "$RS_TMP/certs.d/$d/ca.crt"; done
cp "$pki/alice.pem" "$RS_TMP/certs.d/alice/client.cert"
cp "$pki/alice.key" "$RS_TMP/certs.d/alice/client.key"
cp "$pki/mallory.pem" "$RS_TMP/certs.d/mallory/client.cert"
cp "$pki/mallory.key" "$RS_TMP/certs.d/mallory/client.key"

# served_serial PORT: the serial of the certificate a new connection gets.
served_serial() {
  openssl s_client -connect "127.0.0.1:$1" -CAfile "$pki/ca.pem" </dev/null 2>/dev/null |
    openssl x509 -noout -serial 2>/dev/null | cut -d= -f2
}
# put_blob BASE-URL REPO FILE [CURL-ARGS...]: a monolithic upload (POST, then PUT ?digest=).
put_blob() {
  local base=$1 repo=$2 file=$3 loc
  shift 3
  loc=$(curl -s --max-time 30 -X POST -D - -o /dev/null "$@" "$base/v2/$repo/blobs/uploads/" |
    tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
  [ -n "$loc" ] || return 1
  case $loc in http*) ;; *) loc=$base$loc ;; esac
  curl -sf --max-time 120 -T "$file" "$@" "$(with_query "$loc" "digest=$(sha256_of "$file")")" -o /dev/null
}

cat >"$RS_TMP/tls.yml" <<YML
http:
  tls:
    certificate: $pki/server.pem
    key: $pki/server.key
YML
start_server "$RS_TMP/root" --config "$RS_TMP/tls.yml" -v
url=https://127.0.0.1:$server_port
reg=127.0.0.1:$server_port
expect_match "serve says https" "serving the v2 registry on 127.0.0.1:$server_port \(https\)" "$(cat "$server_log")"
expect_match "... and which certificate" "certificate subject 'CN=server-a', serial 1001" "$(cat "$server_log")"

# ---- curl ----
req GET "$url/v2/" --cacert "$pki/ca.pem"
expect_status "GET /v2/ over TLS with the CA: 200" 200
req GET "$url/v2/"
expect_status "without the CA the certificate is not trusted (no response)" 000
req GET "http://$reg/v2/"
expect_status "plain HTTP to the TLS port: a clean 400" 400
expect_match "... saying to use https://" "this port speaks TLS: use https://" "$(body)"
req GET "$url/v2/" --cacert "$pki/ca.pem" --tls-max 1.1
expect_status "a client offering at most TLS 1.1 is refused at the handshake" 000
req GET "$url/v2/" --cacert "$pki/ca.pem" --tlsv1.2 --tls-max 1.2
expect_status "TLS 1.2 is served" 200
req GET "$url/v2/" --cacert "$pki/ca.pem" --tlsv1.3
expect_status "TLS 1.3 is served" 200
expect_match "the refusals are logged with OpenSSL's reason" "TLS handshake: unsupported protocol" "$(cat "$server_log")"
expect_match "... and plain HTTP named as such" "plain HTTP on the TLS port" "$(cat "$server_log")"
expect_match "the path a download takes is logged at debug" "downloads by (user-space TLS|kernel TLS)" "$(cat "$server_log")"

# ---- skopeo push and pull over TLS ----
make_layout "$RS_TMP/img" --tag v1 --layers 3 --layer-size 300000 --seed 5
if skopeo copy -q --dest-tls-verify=true oci:"$RS_TMP/img":v1 docker://$reg/tls/app:v1 >"$RS_TMP/sk.err" 2>&1; then
  fail "skopeo refuses a server whose CA it does not know"
else pass "skopeo refuses a server whose CA it does not know"; fi
expect_cmd "skopeo pushes over TLS (--dest-cert-dir with the CA)" \
  skopeo copy -q --preserve-digests --dest-tls-verify=true --dest-cert-dir "$RS_TMP/certs.d/ca-only" \
  oci:"$RS_TMP/img":v1 docker://$reg/tls/app:v1
expect_cmd "skopeo pulls it back over TLS" \
  skopeo copy -q --src-tls-verify=true --src-cert-dir "$RS_TMP/certs.d/ca-only" \
  docker://$reg/tls/app:v1 oci:"$RS_TMP/pulled":v1
if same_blobs "$RS_TMP/img" "$RS_TMP/pulled" >"$RS_TMP/diff" 2>&1; then pass "... every blob identical"
else fail "... every blob identical" "$(cat "$RS_TMP/diff")"; fi

# ---- a large blob's bytes over TLS (kernel TLS or SSL_write) ----
head -c $((48 << 20)) /dev/urandom >"$RS_TMP/big"
big=$(sha256_of "$RS_TMP/big")
put_blob "$url" tls/big "$RS_TMP/big" --cacert "$pki/ca.pem" || fail "a 48 MiB upload over TLS" "$(tail -3 "$server_log")"
curl -sf --cacert "$pki/ca.pem" "$url/v2/tls/big/blobs/$big" -o "$RS_TMP/big.got"
expect_eq "a 48 MiB blob downloads over TLS with the same bytes" "$big" "$(sha256_of "$RS_TMP/big.got")"
curl -sf --cacert "$pki/ca.pem" -r 1000000-1999999 "$url/v2/tls/big/blobs/$big" -o "$RS_TMP/range.got"
expect_eq "... and a Range of it" "$(tail -c +1000001 "$RS_TMP/big" | head -c 1000000 | sha256sum | cut -d' ' -f1)" \
  "$(sha256sum <"$RS_TMP/range.got" | cut -d' ' -f1)"

# ---- SIGHUP: a new certificate for new connections, a slow download finishes on the old ----
expect_eq "before SIGHUP new connections get serial 1001" 1001 "$(served_serial "$server_port")"
curl -sf --cacert "$pki/ca.pem" --limit-rate 8M "$url/v2/tls/big/blobs/$big" \
  -o "$RS_TMP/slow.got" >"$RS_TMP/slow.out" 2>&1 &
slow=$!
sleep 1
cp "$pki/server-b.pem" "$pki/server.pem.new" && mv "$pki/server.pem.new" "$pki/server.pem"
cp "$pki/server-b.key" "$pki/server.key.new" && mv "$pki/server.key.new" "$pki/server.key"
_rs_alive "$slow" && pass "the slow download is still running at SIGHUP" ||
  fail "the slow download is still running at SIGHUP" "it finished in 1 s: the check below proves nothing"
kill -HUP "$server_pid"
wait_until 10 grep -q "SIGHUP: TLS reloaded" "$server_log" || fail "SIGHUP reloads TLS" "$(tail -3 "$server_log")"
expect_match "... and says what is served now" "SIGHUP: TLS reloaded: new connections get subject 'CN=server-b', serial 2002" \
  "$(cat "$server_log")"
expect_eq "after SIGHUP new connections get serial 2002" 2002 "$(served_serial "$server_port")"
expect_eq "the server is still the same process" 0 "$(kill -0 "$server_pid" 2>/dev/null; echo $?)"
wait "$slow"
expect_eq "the download started before SIGHUP completed" 0 $?
expect_eq "... with the right bytes" "$big" "$(sha256_of "$RS_TMP/slow.got")"

# A broken certificate file: logged, and the last good one stays.
echo "not a certificate" >"$pki/server.pem"
kill -HUP "$server_pid"
wait_until 10 grep -q "SIGHUP: TLS not reloaded" "$server_log" || fail "a bad certificate on SIGHUP is logged" "$(tail -3 "$server_log")"
expect_match "... naming the file and the cause, and what is still served" \
  "TLS not reloaded, still serving subject 'CN=server-b', serial 2002.*certificate '$pki/server.pem': no PEM certificate in it" \
  "$(cat "$server_log")"
expect_eq "... and new connections still get serial 2002" 2002 "$(served_serial "$server_port")"
req GET "$url/v2/" --cacert "$pki/ca.pem"
expect_status "... and are served" 200
# A certificate whose key is the old one (a renewal half done): kept the last good too.
cp "$pki/server-a.pem" "$pki/server.pem"
kill -HUP "$server_pid"
wait_until 10 sh -c "[ \$(grep -c 'SIGHUP: TLS not reloaded' '$server_log') -ge 2 ]" ||
  fail "a certificate without its key on SIGHUP is refused" "$(tail -3 "$server_log")"
expect_match "... as not belonging together" "does not belong to certificate" "$(cat "$server_log")"
expect_eq "... serial 2002 stays" 2002 "$(served_serial "$server_port")"
stop_server "$server_pid"
expect_eq "SIGTERM after the reloads: exit 0" 0 "$server_rc"

# ---- mutual TLS ----
cp "$pki/server-a.pem" "$pki/server.pem"
cp "$pki/server-a.key" "$pki/server.key"
cat >"$RS_TMP/mtls.yml" <<YML
http:
  tls:
    certificate: $pki/server.pem
    key: $pki/server.key
    clientcas:
      - $pki/ca.pem
YML
start_server "$RS_TMP/root" --config "$RS_TMP/mtls.yml"
url=https://127.0.0.1:$server_port
reg=127.0.0.1:$server_port
req GET "$url/v2/" --cacert "$pki/ca.pem"
expect_status "mutual TLS: a client without a certificate is refused" 000
req GET "$url/v2/" --cacert "$pki/ca.pem" --cert "$pki/mallory.pem" --key "$pki/mallory.key"
expect_status "... one with another CA's certificate is refused" 000
req GET "$url/v2/" --cacert "$pki/ca.pem" --cert "$pki/alice.pem" --key "$pki/alice.key"
expect_status "... one with a certificate of the configured CA is served" 200
req GET "$url/v2/tls/big/blobs/$big" --cacert "$pki/ca.pem" --cert "$pki/alice.pem" --key "$pki/alice.key" --tls-max 1.2
expect_status "... over TLS 1.2 too" 200
expect_eq "... with the blob's bytes" "$big" "$(sha256_of "$RS_TMP/body")"
expect_match "the refusals are logged with the cause: no certificate" "TLS handshake: peer did not return a certificate" \
  "$(cat "$server_log")"
expect_match "... another CA's" "TLS handshake: certificate verify failed: unable to get local issuer certificate" \
  "$(cat "$server_log")"
if skopeo copy -q --src-tls-verify=true --src-cert-dir "$RS_TMP/certs.d/mallory" \
  docker://$reg/tls/app:v1 oci:"$RS_TMP/denied":v1 >"$RS_TMP/sk.err" 2>&1; then
  fail "skopeo with another CA's client certificate cannot pull"
else pass "skopeo with another CA's client certificate cannot pull"; fi
expect_cmd "skopeo with alice's client certificate pulls" \
  skopeo copy -q --src-tls-verify=true --src-cert-dir "$RS_TMP/certs.d/alice" \
  docker://$reg/tls/app:v1 oci:"$RS_TMP/pulled-mtls":v1
if same_blobs "$RS_TMP/img" "$RS_TMP/pulled-mtls" >"$RS_TMP/diff" 2>&1; then pass "... every blob identical"
else fail "... every blob identical" "$(cat "$RS_TMP/diff")"; fi
stop_server "$server_pid"

# ---- the token realm this registry names for itself is https:// over TLS ----
printf 'alice-pw\n' | "$RS_BIN" htpasswd --cost 5 "$RS_TMP/htpasswd" alice >/dev/null 2>&1 || die "htpasswd"
cat >"$RS_TMP/token.yml" <<YML
http: {tls: {certificate: $pki/server.pem, key: $pki/server.key}}
auth:
  htpasswd: {realm: r, path: $RS_TMP/htpasswd}
  token: {service: registry.test, issuer: registry-setup, signingkey: $RS_TMP/token.key}
YML
start_server "$RS_TMP/root" --config "$RS_TMP/token.yml"
req GET "https://127.0.0.1:$server_port/v2/" --cacert "$pki/ca.pem"
expect_match "own token server over TLS: the challenge's realm is https://" \
  "^Bearer realm=\"https://127\.0\.0\.1:$server_port/auth/token\"" "$(hdr WWW-Authenticate)"
expect_cmd "skopeo logs in through the token flow over TLS and pulls" \
  skopeo copy -q --src-tls-verify=true --src-cert-dir "$RS_TMP/certs.d/ca-only" --src-creds alice:alice-pw \
  docker://127.0.0.1:$server_port/tls/app:v1 oci:"$RS_TMP/pulled-token":v1
stop_server "$server_pid"

# ---- the config's TLS errors: exit 2, nothing served ----
bad_config() {  # bad_config DESC EXPECTED-OUTPUT YAML
  printf '%s\n' "$3" >"$RS_TMP/bad.yml"
  "$RS_BIN" serve --listen 127.0.0.1:0 --root "$RS_TMP/root" --config "$RS_TMP/bad.yml" >"$RS_TMP/bad.out" 2>&1
  local rc=$?
  if [ "$rc" = 2 ] && grep -qE "$2" "$RS_TMP/bad.out"; then pass "$1"
  else fail "$1" "expected exit 2 and: $2" "got exit $rc: $(tail -c 300 "$RS_TMP/bad.out")"; fi
}
bad_config "minimumtls tls1.1 is refused" "'tls1.1' is not supported" \
  "http: {tls: {certificate: $pki/server.pem, key: $pki/server.key, minimumtls: tls1.1}}"
bad_config "a certificate file that does not exist is refused, named" "certificate '$pki/absent.pem'" \
  "http: {tls: {certificate: $pki/absent.pem, key: $pki/server.key}}"
bad_config "a key of another certificate is refused" "does not belong to certificate" \
  "http: {tls: {certificate: $pki/server-b.pem, key: $pki/server-a.key}}"
bad_config "a client CA file without certificates is refused" "client CA '$pki/server-a.key': no PEM certificate" \
  "http: {tls: {certificate: $pki/server.pem, key: $pki/server.key, clientcas: [$pki/server-a.key]}}"

# ---- REGISTRY_HTTP_TLS_* without a config file ----
port=$(free_port)
env REGISTRY_HTTP_ADDR=127.0.0.1:$port REGISTRY_HTTP_TLS_CERTIFICATE="$pki/server-b.pem" \
  REGISTRY_HTTP_TLS_KEY="$pki/server-b.key" "$RS_BIN" serve --root "$RS_TMP/root" 2>"$RS_TMP/env.log" &
env_pid=$!
track_pid $env_pid
wait_until 10 grep -q "serving the v2 registry" "$RS_TMP/env.log" || die "serve with REGISTRY_HTTP_TLS_*: $(cat "$RS_TMP/env.log")"
req GET "https://127.0.0.1:$port/v2/" --cacert "$pki/ca.pem"
expect_status "REGISTRY_HTTP_TLS_CERTIFICATE and _KEY alone serve TLS" 200
expect_eq "... with that certificate" 2002 "$(served_serial "$port")"
stop_server "$env_pid"
finish
