#!/usr/bin/env bash
# auth.htpasswd against the real server: the 401 challenge, Basic credentials from curl and
# skopeo, users made by `registry-setup htpasswd` and checked by Apache's htpasswd, the file
# changed while serving, failed logins throttled (429), no credentials in the log.
. "$(dirname "$0")/lib.sh"
require skopeo curl python3 htpasswd

# skopeo must find no credentials of its own.
echo '{}' >"$RS_TMP/auth.json"
export REGISTRY_AUTH_FILE=$RS_TMP/auth.json

pw=$RS_TMP/htpasswd
# ---- the htpasswd subcommand ----
printf 's3cret pass\n' | "$RS_BIN" htpasswd --cost 5 "$pw" alice >"$RS_TMP/out" 2>&1
expect_eq "htpasswd creates the file" 0 $?
expect_eq "the new file has mode 600" 600 "$(stat -c %a "$pw")"
expect_cmd "Apache's htpasswd -vb verifies the entry" htpasswd -vb "$pw" alice 's3cret pass'
if htpasswd -vb "$pw" alice 'wrong' >/dev/null 2>&1; then fail "Apache's htpasswd refuses a wrong password"
else pass "Apache's htpasswd refuses a wrong password"; fi
expect_match "the entry is bcrypt \$2b\$ at cost 5" '^alice:\$2b\$05\$.{53}$' "$(cat "$pw")"
"$RS_BIN" htpasswd "$pw" bob --cost 3 </dev/null >/dev/null 2>&1
expect_eq "--cost 3 is refused (exit 1)" 1 $?
printf 'pw\n' | "$RS_BIN" htpasswd "$pw" 'a:b' >/dev/null 2>&1
expect_eq "a user with ':' is refused (exit 2)" 2 $?
expect_eq "a refused user leaves the file alone" 1 "$(wc -l <"$pw")"

cat >"$RS_TMP/bad.yml" <<YML
auth:
  ldap: {realm: x}
YML
"$RS_BIN" serve --listen 127.0.0.1:0 --root "$RS_TMP/root" --config "$RS_TMP/bad.yml" >"$RS_TMP/bad.out" 2>&1
expect_eq "an auth method we cannot honour: exit 2, never served open" 2 $?
expect_match "... with a clear message" "key 'auth.ldap': unknown key: only auth.htpasswd and auth.token are supported" "$(cat "$RS_TMP/bad.out")"
cat >"$RS_TMP/missing.yml" <<YML
auth: {htpasswd: {realm: r, path: $RS_TMP/absent}}
YML
"$RS_BIN" serve --listen 127.0.0.1:0 --root "$RS_TMP/root" --config "$RS_TMP/missing.yml" >"$RS_TMP/bad.out" 2>&1
expect_eq "an htpasswd file that cannot be read: exit 2" 2 $?

cat >"$RS_TMP/config.yml" <<YML
auth:
  htpasswd:
    realm: test realm
    path: $pw
YML
start_server "$RS_TMP/root" --config "$RS_TMP/config.yml"
reg=127.0.0.1:$server_port

# ---- the challenge ----
req GET "$server_url/v2/"
expect_error "GET /v2/ without credentials: 401 UNAUTHORIZED" 401 UNAUTHORIZED
expect_header "... with a Basic challenge naming the realm" WWW-Authenticate 'Basic realm="test realm"'
expect_header "... and the API version" Docker-Distribution-API-Version registry/2.0
expect_eq "... and the OCI error body" '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}' "$(body)"
req GET "$server_url/v2/_catalog"
expect_status "the catalog without credentials: 401" 401
req GET "$server_url/v2/" -u 'alice:s3cret pass'
expect_status "GET /v2/ with alice's credentials: 200" 200
req GET "$server_url/v2/_catalog" -u 'alice:s3cret pass'
expect_status "the catalog with alice's credentials: 200" 200
req GET "$server_url/v2/" -u 'alice:wrong'
expect_error "a wrong password: 401" 401 UNAUTHORIZED
req GET "$server_url/v2/" -u 'mallory:s3cret pass'
expect_status "an unknown user: 401" 401

# ---- skopeo ----
make_layout "$RS_TMP/img" --tag v1 --layers 2 --layer-size 50000 --seed 7
digest=$(layout_digest "$RS_TMP/img")
if skopeo copy -q "${tls[@]}" oci:"$RS_TMP/img":v1 docker://$reg/auth/app:v1 >"$RS_TMP/sk.err" 2>&1; then
  fail "skopeo cannot push without credentials"
else pass "skopeo cannot push without credentials"; fi
if skopeo copy -q "${tls[@]}" --dest-creds 'alice:nope' oci:"$RS_TMP/img":v1 docker://$reg/auth/app:v1 >"$RS_TMP/sk.err" 2>&1; then
  fail "skopeo cannot push with a wrong password"
else pass "skopeo cannot push with a wrong password"; fi
expect_cmd "skopeo pushes with --dest-creds" \
  skopeo copy -q "${tls[@]}" --preserve-digests --dest-creds 'alice:s3cret pass' oci:"$RS_TMP/img":v1 docker://$reg/auth/app:v1
if skopeo copy -q "${tls[@]}" docker://$reg/auth/app:v1 oci:"$RS_TMP/nopull":v1 >"$RS_TMP/sk.err" 2>&1; then
  fail "skopeo cannot pull without credentials"
else pass "skopeo cannot pull without credentials"; fi
expect_cmd "skopeo pulls with --src-creds" \
  skopeo copy -q "${tls[@]}" --preserve-digests --src-creds 'alice:s3cret pass' docker://$reg/auth/app:v1 oci:"$RS_TMP/pull":v1
expect_eq "the pulled image has the pushed digest" "$digest" "$(layout_digest "$RS_TMP/pull")"
expect_cmd "the pulled blobs are byte for byte the pushed ones" same_blobs "$RS_TMP/img" "$RS_TMP/pull"

# ---- the file changed while serving ----
# (Each phase from its own loopback address: failures are counted per client address, and
# skopeo's failed pushes above have used up 127.0.0.1's.)
from3=(--interface 127.0.0.3)
from4=(--interface 127.0.0.4)
req GET "$server_url/v2/" -u 'carol:carol pw' "${from3[@]}"
expect_status "carol before she is added: 401" 401
printf 'carol pw\n' | "$RS_BIN" htpasswd --cost 4 "$pw" carol >/dev/null 2>&1
expect_eq "htpasswd adds carol beside alice" 2 "$(wc -l <"$pw")"
# Polled four times a second at most: the file is looked at once a second, and ten failures
# would throttle the address.
poll() { local deadline=$((SECONDS + $1)); shift; until "$@"; do [ $SECONDS -ge $deadline ] && return 1; sleep 0.3; done; }
carol_ok() { req GET "$server_url/v2/" -u 'carol:carol pw' "${from3[@]}"; [ "$status" = 200 ]; }
if poll 5 carol_ok; then pass "carol, added while serving, gets in without a restart"
else fail "carol, added while serving, gets in without a restart" "$(_rs_last_response)"; fi
req GET "$server_url/v2/" -u 'alice:s3cret pass' "${from4[@]}"
expect_status "alice still gets in" 200
printf 'new alice\n' | "$RS_BIN" htpasswd --cost 4 "$pw" alice >/dev/null 2>&1
alice_new() { req GET "$server_url/v2/" -u 'alice:new alice' "${from4[@]}"; [ "$status" = 200 ]; }
if poll 5 alice_new; then pass "alice's changed password works"
else fail "alice's changed password works" "$(_rs_last_response)"; fi
req GET "$server_url/v2/" -u 'alice:s3cret pass' "${from4[@]}"
expect_status "alice's old password (cached before) no longer works" 401

expect_eq "the log holds no password" "" "$(grep -E 's3cret|carol pw|new alice|YWxpY2|Y2Fyb2' "$server_log")"
expect_eq "no request was answered 5xx" "" "$(grep -E '" 5[0-9][0-9] in=' "$server_log")"

# ---- failed logins throttled: 127.0.0.5 fails ten times ----
from5=(--interface 127.0.0.5)
for i in 1 2 3 4 5 6 7 8 9; do req GET "$server_url/v2/" -u "alice:bad$i" "${from5[@]}"; done
req GET "$server_url/v2/" -u 'alice:bad10' "${from5[@]}"
expect_status "the 10th failure in a minute is still a 401" 401
req GET "$server_url/v2/" -u 'alice:new alice' "${from5[@]}"
expect_error "after 10 failures in a minute, even the right password gets 429" 429 TOOMANYREQUESTS
expect_match "... with Retry-After in seconds (1-60)" '^([1-9]|[1-5][0-9]|60)$' "$(hdr Retry-After)"
req GET "$server_url/v2/" "${from5[@]}"
expect_status "... while a request without credentials still gets the challenge" 401
req GET "$server_url/v2/" -u 'alice:new alice' --interface 127.0.0.6
expect_status "another address is not throttled" 200

stop_server "$server_pid"
expect_eq "SIGTERM stops the server with exit 0" 0 "$server_rc"

# ---- the warning of a server open to the network ----
"$RS_BIN" serve --listen 127.0.0.2:0 --root "$RS_TMP/root2" >"$RS_TMP/open.log" 2>&1 &
open_pid=$!
track_pid "$open_pid"
wait_until 10 grep -q 'serving the v2 registry' "$RS_TMP/open.log"
stop_server "$open_pid"
expect_eq "no warning on a loopback address" "" "$(grep -i 'anyone who can reach' "$RS_TMP/open.log")"
finish
