#!/usr/bin/env bash
# registry:2's config.yml as is: one file (version 0.1, log, storage.filesystem, storage.delete,
# http.addr, http.secret, http.tls, auth.htpasswd, health) serves with our registry unchanged
# and with Debian's docker-registry; REGISTRY_* variables override it for both; keys we cannot
# honour are refused; those we ignore are named in warnings.
. "$(dirname "$0")/lib.sh"
require skopeo curl python3 htpasswd openssl

echo '{}' >"$RS_TMP/auth.json"
export REGISTRY_AUTH_FILE=$RS_TMP/auth.json
htpasswd -Bbn -C 5 alice alice-pw >"$RS_TMP/htpasswd"
# The server's certificate, from a throwaway CA; skopeo finds the CA in a certificate directory.
pki=$RS_TMP/pki
mkdir -p "$pki" "$RS_TMP/certs.d"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=v2-test-ca \
  -keyout "$pki/ca.key" -out "$pki/ca.pem" 2>/dev/null || die "openssl: CA"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
  -keyout "$pki/server.key" -out "$pki/server.csr" 2>/dev/null || die "openssl: request"
printf 'subjectAltName=IP:127.0.0.1\n' >"$pki/ext"
openssl x509 -req -in "$pki/server.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" -set_serial 42 -days 2 \
  -extfile "$pki/ext" -out "$pki/server.pem" 2>/dev/null || die "openssl: sign"
cp "$pki/ca.pem" "$RS_TMP/certs.d/ca.crt"
tls=(--src-tls-verify=true --src-cert-dir "$RS_TMP/certs.d" --dest-tls-verify=true --dest-cert-dir "$RS_TMP/certs.d")
# wait_https URL: polls until URL answers over TLS with the test CA's certificate.
wait_https() {
  local deadline=$((SECONDS + 15))
  until curl -s -o /dev/null --max-time 2 --cacert "$pki/ca.pem" "$1"; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.1
  done
}
port=$(free_port)
cat >"$RS_TMP/config.yml" <<YML
version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: $RS_TMP/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  secret: asecretforlocaldevelopment
  headers:
    X-Content-Type-Options: [nosniff]
  tls:
    certificate: $pki/server.pem
    key: $pki/server.key
    minimumtls: tls1.2
auth:
  htpasswd:
    realm: basic-realm
    path: $RS_TMP/htpasswd
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
YML

serve_file() {  # serve_file LOG [ENV...]: our registry on the config file alone
  env "${@:2}" "$RS_BIN" serve --config "$RS_TMP/config.yml" 2>"$1" &
  track_pid $!
  last_pid=$!
}
serve_file "$RS_TMP/ours.log"
ours=$last_pid
wait_https "https://127.0.0.1:$port/v2/" || die "our registry did not serve the registry:2 file: $(cat "$RS_TMP/ours.log")"
pass "our registry serves registry:2's config.yml on its http.addr"
expect_match "... over https (its http.tls)" "on 127.0.0.1:$port \(https\)" "$(cat "$RS_TMP/ours.log")"
for key in log.fields storage.cache http.secret http.headers health; do
  expect_match "... warning about '$key'" "key '$key': ignored" "$(cat "$RS_TMP/ours.log")"
done
req GET "https://127.0.0.1:$port/v2/" --cacert "$pki/ca.pem"
expect_header "auth.htpasswd from the file: a Basic challenge" WWW-Authenticate 'Basic realm="basic-realm"'
make_layout "$RS_TMP/img" --tag v1 --layers 2 --layer-size 30000 --seed 3
expect_cmd "skopeo pushes with the file's users" \
  skopeo copy -q "${tls[@]}" --dest-creds alice:alice-pw oci:"$RS_TMP/img":v1 docker://127.0.0.1:$port/app:v1
expect_eq "the data is in storage.filesystem.rootdirectory, registry:2's layout" 1 \
  "$(ls "$RS_TMP/data/docker/registry/v2/repositories/app/_manifests/tags" 2>/dev/null | grep -c v1)"
stop_server "$ours"
_rs_untrack "$ours"

# docker-registry on the very same file (the layout both ways) reads what we wrote.
if command -v docker-registry >/dev/null 2>&1; then
  env -u REGISTRY_AUTH_FILE docker-registry serve "$RS_TMP/config.yml" >"$RS_TMP/r2.log" 2>&1 &
  r2=$!
  track_pid $r2
  wait_https "https://127.0.0.1:$port/v2/" || die "docker-registry did not start on the file: $(tail -5 "$RS_TMP/r2.log")"
  expect_eq "docker-registry on the same file serves what ours stored, over its TLS" "$(layout_digest "$RS_TMP/img")" \
    "$(skopeo inspect --tls-verify=true --cert-dir "$RS_TMP/certs.d" --creds alice:alice-pw --format '{{.Digest}}' docker://127.0.0.1:$port/app:v1 2>&1)"
  stop_server "$r2"
  _rs_untrack "$r2"
else
  echo "note: docker-registry is not installed: the file was not checked against registry:2 itself"
fi

# REGISTRY_* over the file, for ours as for registry:2.
port2=$(free_port)
serve_file "$RS_TMP/env.log" REGISTRY_HTTP_ADDR=127.0.0.1:$port2 REGISTRY_STORAGE_DELETE_ENABLED=false
env_pid=$last_pid
wait_https "https://127.0.0.1:$port2/v2/" || die "REGISTRY_HTTP_ADDR was not honoured: $(cat "$RS_TMP/env.log")"
pass "REGISTRY_HTTP_ADDR moves our registry to another address"
expect_match "... REGISTRY_AUTH_FILE (skopeo's) is named and ignored" "REGISTRY_AUTH_FILE ignored" "$(cat "$RS_TMP/env.log")"
digest=$(json "$RS_TMP/img/index.json" 'd["manifests"][0]["digest"]')
req DELETE "https://127.0.0.1:$port2/v2/app/manifests/$digest" -u alice:alice-pw --cacert "$pki/ca.pem"
expect_error "REGISTRY_STORAGE_DELETE_ENABLED=false: deletion refused" 405 UNSUPPORTED
stop_server "$env_pid"
_rs_untrack "$env_pid"

# What cannot be honoured: refused, exit 2, nothing served.
for bad in "http: {addr: 127.0.0.1:$port, tls: {letsencrypt: {cachefile: /c, email: a@b.example}}}" \
  "http: {addr: 127.0.0.1:$port, tls: {certificate: $pki/server.pem, key: $pki/server.key, minimumtls: tls1.0}}" \
  "storage: {s3: {bucket: b}}" \
  "proxy: {remoteurl: https://example.invalid}"; do
  printf 'version: 0.1\n%s\n' "$bad" >"$RS_TMP/bad.yml"
  "$RS_BIN" serve --config "$RS_TMP/bad.yml" >"$RS_TMP/bad.out" 2>&1
  expect_eq "refused with exit 2: $bad" 2 $?
done
finish
