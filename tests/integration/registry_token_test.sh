#!/usr/bin/env bash
# Access rules and the token flow against the real server and real clients: the registry as
# its own token server (curl, skopeo), the rules' 401/403 answers and the filtered catalog,
# tokens refused when tampered with or for another scope; registry:2 (docker-registry)
# trusting our tokens through its rootcertbundle; our registry trusting another token
# server's (kid), and an RS256 token with an x5c chain minted here with openssl.
. "$(dirname "$0")/lib.sh"
require skopeo curl python3 htpasswd openssl

echo '{}' >"$RS_TMP/auth.json"
export REGISTRY_AUTH_FILE=$RS_TMP/auth.json

pw=$RS_TMP/htpasswd
htpasswd -Bbn -C 5 alice alice-pw >"$pw"
htpasswd -Bbn -C 5 bob bob-pw >>"$pw"
htpasswd -Bbn -C 5 carol carol-pw >>"$pw"
cat >"$RS_TMP/config.yml" <<YML
auth:
  htpasswd: {realm: team, path: $pw}
  token: {service: registry.test, issuer: registry-setup, signingkey: $RS_TMP/keys/token.key}
access:
  groups: {developers: [alice]}
  rules:
    - {repository: "public/**", anonymous: [pull]}
    - {repository: "team/**", users: {bob: [pull]}, groups: {developers: [pull, push]}}
    - {repository: "**", users: {carol: [pull, push, delete]}}
YML
mkdir -p "$RS_TMP/keys"
start_server "$RS_TMP/root" --config "$RS_TMP/config.yml"
own=$server_pid
own_url=$server_url
reg=127.0.0.1:$server_port
expect_eq "the signing key is made at the first start, mode 600" 600 "$(stat -c %a "$RS_TMP/keys/token.key")"
expect_match "the log says tokens are issued" "auth: tokens issued at /auth/token" "$(cat "$server_log")"

# ---- the challenge and the token endpoint, with curl ----
req GET "$own_url/v2/"
expect_error "GET /v2/ without a token: 401" 401 UNAUTHORIZED
expect_header "... a Bearer challenge with this server's realm and the service" WWW-Authenticate \
  "Bearer realm=\"$own_url/auth/token\",service=\"registry.test\""
req POST "$own_url/v2/team/app/blobs/uploads/"
expect_header "a push's challenge names its scope" WWW-Authenticate \
  "Bearer realm=\"$own_url/auth/token\",service=\"registry.test\",scope=\"repository:team/app:pull,push\""

token() {  # token USER:PASS|"" SCOPE...: the token the endpoint hands out, or "" on failure
  local creds=$1 q="service=registry.test" s
  shift
  for s in "$@"; do q="$q&scope=$s"; done
  if [ -n "$creds" ]; then req GET "$own_url/auth/token?$q" -u "$creds"; else req GET "$own_url/auth/token?$q"; fi
  [ "$status" = 200 ] && json "$RS_TMP/body" 'd["token"]'
}
grants() {  # grants TOKEN: the access claim, as JSON
  "$RS_PY" -c 'import base64,json,sys; p=sys.argv[1].split(".")[1]; p+="="*(-len(p)%4); print(json.dumps(json.loads(base64.urlsafe_b64decode(p))["access"], sort_keys=True))' "$1"
}
alice=$(token alice:alice-pw repository:team/app:pull,push)
expect_eq "alice's token: pull and push on team/app" '[{"actions": ["pull", "push"], "name": "team/app", "type": "repository"}]' "$(grants "$alice")"
expect_eq "... with expires_in" 300 "$(json "$RS_TMP/body" 'd["expires_in"]')"
bob=$(token bob:bob-pw repository:team/app:pull,push)
expect_eq "bob asks for the same and gets pull only" '[{"actions": ["pull"], "name": "team/app", "type": "repository"}]' "$(grants "$bob")"
anon=$(token "" repository:public/app:pull,push repository:team/app:pull)
expect_eq "an anonymous token: pull on public/app, nothing on team/app" '[{"actions": ["pull"], "name": "public/app", "type": "repository"}]' "$(grants "$anon")"
req GET "$own_url/auth/token?service=registry.test&scope=repository:team/app:pull" -u alice:wrong
expect_status "the token endpoint refuses a wrong password: 401" 401
expect_header "... with a Basic challenge" WWW-Authenticate 'Basic realm="team"'

blob=$RS_TMP/blob
head -c 100000 /dev/urandom >"$blob"
digest=$(sha256_of "$blob")
req POST "$own_url/v2/team/app/blobs/uploads/?digest=$digest" -H "Authorization: Bearer $alice" --data-binary @"$blob" -H 'Content-Type: application/octet-stream'
expect_status "alice's token pushes a blob to team/app: 201" 201
req POST "$own_url/v2/team/app/blobs/uploads/?digest=$digest" -H "Authorization: Bearer $bob" --data-binary @"$blob"
expect_error "bob's pull token cannot push: 403 DENIED" 403 DENIED
req HEAD "$own_url/v2/team/app/blobs/$digest" -H "Authorization: Bearer $bob"
expect_status "... but pulls: 200" 200
req POST "$own_url/v2/team/other/blobs/uploads/" -H "Authorization: Bearer $alice"
expect_status "a token for team/app is none for team/other: 401" 401
expect_match "... insufficient_scope, so that the client fetches one" 'error="insufficient_scope"' "$(hdr WWW-Authenticate)"
tampered=$("$RS_PY" -c 'import sys; t=sys.argv[1]; h,p,s=t.split("."); print(h+"."+p[:-2]+("AA" if p[-2:]!="AA" else "BB")+"."+s)' "$bob")
req GET "$own_url/v2/team/app/tags/list" -H "Authorization: Bearer $tampered"
expect_status "a tampered token: 401" 401
expect_match "... invalid_token" 'error="invalid_token"' "$(hdr WWW-Authenticate)"
expect_match "... saying why" 'signature does not verify|not base64url|claims' "$(body)"
req HEAD "$own_url/v2/team/app/blobs/$digest" -u bob:bob-pw
expect_status "Basic credentials work directly too (curl -u): bob pulls" 200
req POST "$own_url/v2/team/app/blobs/uploads/" -u bob:bob-pw
expect_error "... and may not push: 403" 403 DENIED

# ---- skopeo speaks the token flow ----
make_layout "$RS_TMP/img" --tag v1 --layers 2 --layer-size 50000 --seed 11
digest_img=$(layout_digest "$RS_TMP/img")
expect_cmd "skopeo pushes as alice to team/app (token flow)" \
  skopeo copy -q "${tls[@]}" --preserve-digests --dest-creds alice:alice-pw oci:"$RS_TMP/img":v1 docker://$reg/team/app:v1
if skopeo copy -q "${tls[@]}" --dest-creds bob:bob-pw oci:"$RS_TMP/img":v1 docker://$reg/team/bob:v1 >"$RS_TMP/sk.err" 2>&1; then
  fail "skopeo cannot push as bob (pull only)"
else
  expect_match "skopeo cannot push as bob: denied" 'denied|DENIED|requested access to the resource is denied' "$(cat "$RS_TMP/sk.err")"
fi
if skopeo copy -q "${tls[@]}" oci:"$RS_TMP/img":v1 docker://$reg/team/anon:v1 >"$RS_TMP/sk.err" 2>&1; then
  fail "skopeo cannot push anonymously"
else pass "skopeo cannot push anonymously"; fi
expect_cmd "carol pushes to public/base" \
  skopeo copy -q "${tls[@]}" --preserve-digests --dest-creds carol:carol-pw oci:"$RS_TMP/img":v1 docker://$reg/public/base:v1
expect_eq "anonymous skopeo inspect of public/base (an anonymous token)" "$digest_img" "$(raw_digest docker://$reg/public/base:v1)"
expect_cmd "bob pulls team/app with skopeo" \
  skopeo copy -q "${tls[@]}" --src-creds bob:bob-pw docker://$reg/team/app:v1 oci:"$RS_TMP/pulled":v1
if same_blobs "$RS_TMP/img" "$RS_TMP/pulled" >"$RS_TMP/diff" 2>&1; then pass "... every blob identical"
else fail "... every blob identical" "$(cat "$RS_TMP/diff")"; fi

# ---- the catalog lists what the caller may pull ----
cat_token=$(token bob:bob-pw 'registry:catalog:*')
req GET "$own_url/v2/_catalog" -H "Authorization: Bearer $cat_token"
expect_eq "bob's catalog: public/base and team/app" '["public/base", "team/app"]' "$(json "$RS_TMP/body" 'd["repositories"]')"
req GET "$own_url/v2/_catalog"
expect_eq "the anonymous catalog: public/base" '["public/base"]' "$(json "$RS_TMP/body" 'd["repositories"]')"

# ---- registry:2 trusts our tokens (its rootcertbundle: a certificate of our key) ----
openssl req -new -x509 -key "$RS_TMP/keys/token.key" -subj /CN=registry-setup-token -days 2 \
  -out "$RS_TMP/keys/token.crt" 2>/dev/null || die "openssl req"
if command -v docker-registry >/dev/null 2>&1; then
  r2_port=$(free_port)
  cat >"$RS_TMP/r2.yml" <<YML
version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: $RS_TMP/r2root}}
http: {addr: 127.0.0.1:$r2_port}
auth:
  token:
    realm: $own_url/auth/token
    service: registry.test
    issuer: registry-setup
    rootcertbundle: $RS_TMP/keys/token.crt
YML
  # (registry:2 reads REGISTRY_* as config: skopeo's REGISTRY_AUTH_FILE would be auth.file.)
  env -u REGISTRY_AUTH_FILE docker-registry serve "$RS_TMP/r2.yml" >"$RS_TMP/r2.log" 2>&1 &
  track_pid $!
  wait_http "http://127.0.0.1:$r2_port/v2/" || die "docker-registry did not start: $(tail -5 "$RS_TMP/r2.log")"
  expect_cmd "skopeo pushes to registry:2 with a token from our token server" \
    skopeo copy -q "${tls[@]}" --dest-creds alice:alice-pw oci:"$RS_TMP/img":v1 docker://127.0.0.1:$r2_port/team/app:v1
  if skopeo copy -q "${tls[@]}" --dest-creds bob:bob-pw oci:"$RS_TMP/img":v1 docker://127.0.0.1:$r2_port/team/bob:v1 >"$RS_TMP/sk.err" 2>&1; then
    fail "registry:2 refuses bob's push: our token grants him no push"
  else pass "registry:2 refuses bob's push: our token grants him no push"; fi
else
  [ -n "${CI:-}" ] && fail "docker-registry is not installed (scripts/install-deps.sh test)"
fi

# ---- our registry trusting another issuer: the first registry's tokens (kid) ----
cat >"$RS_TMP/external.yml" <<YML
auth:
  token:
    realm: $own_url/auth/token
    service: registry.test
    issuer: registry-setup
    rootcertbundle: $RS_TMP/keys/token.crt
YML
start_server "$RS_TMP/root2" --config "$RS_TMP/external.yml"
ext_url=$server_url
expect_match "an external issuer's registry logs whom it trusts" "auth: tokens of issuer 'registry-setup'" "$(cat "$server_log")"
req GET "$ext_url/v2/team/app/tags/list"
expect_header "its challenge names the other server's realm" WWW-Authenticate \
  "Bearer realm=\"$own_url/auth/token\",service=\"registry.test\",scope=\"repository:team/app:pull\""
expect_cmd "skopeo pushes through the external issuer's tokens" \
  skopeo copy -q "${tls[@]}" --dest-creds alice:alice-pw oci:"$RS_TMP/img":v1 docker://127.0.0.1:$server_port/team/app:v1
req GET "$ext_url/v2/" -u alice:alice-pw
expect_status "Basic credentials mean nothing to it (no users of its own): 401" 401

# ---- an RS256 token with an x5c chain, minted with openssl ----
openssl req -new -x509 -newkey rsa:2048 -nodes -keyout "$RS_TMP/keys/ca.key" -subj /CN=issuer-ca -days 2 \
  -out "$RS_TMP/keys/ca.crt" 2>/dev/null || die "openssl ca"
openssl req -new -newkey rsa:2048 -nodes -keyout "$RS_TMP/keys/signer.key" -subj /CN=issuer-signer \
  -out "$RS_TMP/keys/signer.csr" 2>/dev/null || die "openssl csr"
openssl x509 -req -in "$RS_TMP/keys/signer.csr" -CA "$RS_TMP/keys/ca.crt" -CAkey "$RS_TMP/keys/ca.key" \
  -CAcreateserial -days 2 -out "$RS_TMP/keys/signer.crt" 2>/dev/null || die "openssl sign"
cat >"$RS_TMP/x5c.yml" <<YML
auth:
  token: {realm: "http://127.0.0.1:1/token", service: x5c.test, issuer: issuer-ca, rootcertbundle: $RS_TMP/keys/ca.crt}
YML
start_server "$RS_TMP/root3" --config "$RS_TMP/x5c.yml"
mint() {  # mint ISSUER SIGNER-KEY SIGNER-CERT ACTIONS: an RS256 token with the cert as x5c
  local b64url='openssl base64 -A | tr "+/" "-_" | tr -d "="'
  local x5c header payload now
  x5c=$(openssl x509 -in "$3" -outform DER | openssl base64 -A)
  now=$(date +%s)
  header=$(printf '{"alg":"RS256","typ":"JWT","x5c":["%s"]}' "$x5c" | eval "$b64url")
  payload=$(printf '{"iss":"%s","sub":"ext","aud":"x5c.test","exp":%d,"access":[{"type":"repository","name":"team/app","actions":[%s]}]}' \
    "$1" $((now + 300)) "$4" | eval "$b64url")
  printf '%s.%s.%s' "$header" "$payload" "$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -sign "$2" | eval "$b64url")"
}
x5c_token=$(mint issuer-ca "$RS_TMP/keys/signer.key" "$RS_TMP/keys/signer.crt" '"pull"')
req GET "$server_url/v2/team/app/tags/list" -H "Authorization: Bearer $x5c_token"
expect_status "an x5c-chained RS256 token is trusted (404: no such repository here, past auth)" 404
req POST "$server_url/v2/team/app/blobs/uploads/" -H "Authorization: Bearer $x5c_token"
expect_status "... for pull only: a push asks for another token (401)" 401
openssl req -new -x509 -newkey rsa:2048 -nodes -keyout "$RS_TMP/keys/rogue.key" -subj /CN=issuer-signer -days 2 \
  -out "$RS_TMP/keys/rogue.crt" 2>/dev/null || die "openssl rogue"
rogue=$(mint issuer-ca "$RS_TMP/keys/rogue.key" "$RS_TMP/keys/rogue.crt" '"pull","push"')
req GET "$server_url/v2/team/app/tags/list" -H "Authorization: Bearer $rogue"
expect_status "a self-signed x5c outside the bundle: 401" 401
expect_match "... not trusted" 'not trusted' "$(body)"
wrong_iss=$(mint someone-else "$RS_TMP/keys/signer.key" "$RS_TMP/keys/signer.crt" '"pull"')
req GET "$server_url/v2/team/app/tags/list" -H "Authorization: Bearer $wrong_iss"
expect_status "the right chain but another issuer: 401" 401

expect_eq "no password or token in any server log" 0 "$(cat "$RS_TMP"/server-*.log | grep -c -e alice-pw -e bob-pw -e "$alice")"
finish
