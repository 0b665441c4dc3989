#!/usr/bin/env bash
# Hostile and broken input: wrong digests, truncated uploads, hostile names, upload ids and
# digests in paths, oversized and malformed manifests, header floods. Every answer is a 4xx
# with an OCI error body (never a 5xx), nothing bad is stored, nothing is written outside the
# root, and the server keeps serving.
. "$(dirname "$0")/lib.sh"
require curl python3

T=$RS_TMP
jail=$T/jail                       # the root's parent: nothing may appear here but the root
root=$jail/root
mkdir -p "$jail"
start_server "$root"
V2=$server_url/v2
repos=$root/docker/registry/v2/repositories
blobs=$root/docker/registry/v2/blobs
oct=(-H 'Content-Type: application/octet-stream')
OCI_M=application/vnd.oci.image.manifest.v1+json

# No file or directory under blobs/ named after any of the given digests.
no_blob_named() {
  local d found
  for d in "$@"; do
    found=$(find "$blobs" -name "${d#*:}" 2>/dev/null)
    [ -z "$found" ] || { echo "found $found"; return 1; }
  done
}
still_serving() {
  req GET "$V2/"
  expect_status "the server still answers /v2/ ($1)" 200
}
empty_dir() { [ -z "$(ls -A "$1" 2>/dev/null)" ]; }

# raw PAYLOAD-FILE: sends the bytes on one connection, half-closes nothing, prints the status
# code of the answer or "closed" when the server closed without answering.
raw() {
  "$RS_PY" - "$server_port" "$1" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=15)
try:
    s.sendall(open(sys.argv[2], "rb").read())
except (BrokenPipeError, ConnectionResetError):
    pass
try:
    data = s.recv(200)
except (ConnectionResetError, socket.timeout):
    data = b""
line = data.split(b"\r\n", 1)[0].split()
print(line[1].decode() if len(line) > 1 and data.startswith(b"HTTP/") else "closed")
EOF
}
# truncated REQUEST-LINE CONTENT-LENGTH SENT [FILE]: a request announcing CONTENT-LENGTH body
# bytes that sends SENT bytes (random, or the first ones of FILE), then disconnects.
truncated() {
  "$RS_PY" - "$server_port" "$1" "$2" "$3" "${4:-}" <<'EOF'
import os, socket, sys, time
port, line, length, sent = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
body = open(sys.argv[5], "rb").read(sent) if sys.argv[5] else os.urandom(sent)
s = socket.create_connection(("127.0.0.1", port), timeout=15)
s.sendall(("%s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
           "Content-Length: %d\r\n\r\n" % (line, length)).encode())
s.sendall(body)
time.sleep(0.2)
s.close()
EOF
}

# ---- wrong digests ----
head -c 40000 /dev/urandom >"$T/x"
head -c 40000 /dev/urandom >"$T/y"
dx=$(sha256_of "$T/x") dy=$(sha256_of "$T/y")
req POST "$V2/bad/digest/blobs/uploads/"
loc=$(abs_url "$(hdr Location)")
req PATCH "$loc" "${oct[@]}" --data-binary @"$T/x"
req PUT "$(with_query "$loc" "digest=$dy")"
expect_error "PUT ?digest= of other bytes: DIGEST_INVALID" 400 DIGEST_INVALID
req HEAD "$V2/bad/digest/blobs/$dy"
expect_status "no blob under the claimed digest" 404
req HEAD "$V2/bad/digest/blobs/$dx"
expect_status "no blob under the real digest either" 404
expect_cmd "no file under blobs/ for either digest" no_blob_named "$dx" "$dy"

uploads_before=$(ls "$repos/bad/digest/_uploads")
req POST "$V2/bad/digest/blobs/uploads/?digest=$dy" "${oct[@]}" --data-binary @"$T/x"
expect_error "monolithic POST ?digest= of other bytes: DIGEST_INVALID" 400 DIGEST_INVALID
req POST "$V2/bad/digest/blobs/uploads/?digest=sha512:$(sha512sum "$T/y" | cut -d' ' -f1)" "${oct[@]}" --data-binary @"$T/x"
expect_error "monolithic POST with a wrong sha512: DIGEST_INVALID" 400 DIGEST_INVALID
expect_cmd "no file under blobs/ for any of them" no_blob_named "$dx" "$dy" "$(sha512_of "$T/y")" "$(sha512_of "$T/x")"
for bad in 'sha256:xyz' "sha256:$(printf 'A%.0s' {1..64})" "sha256:$(printf 'a%.0s' {1..63})" 'md5:d41d8cd98f00b204e9800998ecf8427e' 'sha256' ''; do
  req POST "$V2/bad/digest/blobs/uploads/?digest=$bad" "${oct[@]}" --data-binary @"$T/x"
  expect_error "monolithic POST with the malformed digest '$bad': DIGEST_INVALID" 400 DIGEST_INVALID
done
same_uploads() { [ "$(ls "$repos/bad/digest/_uploads")" = "$uploads_before" ]; }
expect_cmd "the refused monolithic uploads left nothing in _uploads" wait_until 5 same_uploads
req POST "$V2/bad/digest/blobs/uploads/"
loc=$(abs_url "$(hdr Location)")
req PUT "$(with_query "$loc" "digest=sha256:..%2F..%2F..%2Fetc")" "${oct[@]}" --data-binary @"$T/x"
expect_error "PUT ?digest=sha256:../../../etc: DIGEST_INVALID" 400 DIGEST_INVALID
expect_cmd "no file under blobs/ after the malformed digests" no_blob_named "$dx"

# ---- truncated uploads: the client disconnects mid-body ----
truncated "POST /v2/bad/trunc/blobs/uploads/?digest=$dx" 1000000 300000
expect_cmd "a truncated monolithic upload leaves nothing in _uploads" wait_until 5 empty_dir "$repos/bad/trunc/_uploads"
req HEAD "$V2/bad/trunc/blobs/$dx"
expect_status "a truncated monolithic upload stores no blob" 404
expect_cmd "... and no file under blobs/" no_blob_named "$dx"
still_serving "after a truncated monolithic upload"

req POST "$V2/bad/trunc2/blobs/uploads/"
loc=$(hdr Location)
truncated "PATCH $loc" 1000000 300000
req PUT "$(with_query "$(abs_url "$loc")" "digest=$dx")"
expect_client_error "PUT ?digest= after a truncated PATCH is refused"
req HEAD "$V2/bad/trunc2/blobs/$dx"
expect_status "a truncated PATCH stores no blob" 404
expect_cmd "... and no file under blobs/" no_blob_named "$dx"
still_serving "after a truncated PATCH"

# An interrupted PATCH keeps every byte that arrived (an unaligned count, past the server's
# 2 MiB disk buffer): the status says so, and the upload resumes from there to the right blob.
head -c 5000000 /dev/urandom >"$T/z"
dz=$(sha256_of "$T/z")
req POST "$V2/bad/resume/blobs/uploads/"
loc=$(hdr Location)
truncated "PATCH $loc" 5000000 3000001 "$T/z"
# (the server sees the disconnect a moment after the client made it)
holds_all() { req GET "$(abs_url "$loc")" && [ "$status $(hdr Range)" = "204 0-3000000" ]; }
wait_until 5 holds_all || true
expect_eq "after an interrupted PATCH the upload holds the 3000001 bytes that arrived" "204 0-3000000" \
  "$status $(hdr Range)"
tail -c +3000002 "$T/z" >"$T/z-rest"
req PATCH "$(abs_url "$loc")" "${oct[@]}" -H "Content-Range: 3000001-4999999" --data-binary @"$T/z-rest"
expect_status "the rest continues at the offset the status gave" 202
req PUT "$(with_query "$(abs_url "$(hdr Location)")" "digest=$dz")"
expect_status "the resumed upload commits with the digest of the whole file" 201
curl -s -o "$T/z-back" "$V2/bad/resume/blobs/$dz"
expect_cmd "the blob reads back byte for byte" cmp -s "$T/z" "$T/z-back"

# The same with curl, killed by its own timeout while the server waits for the rest.
curl -s --max-time 1 -o /dev/null -X POST "${oct[@]}" -H 'Content-Length: 5000000' \
  --data-binary @"$T/y" "$V2/bad/trunc3/blobs/uploads/?digest=$dy"
expect_cmd "a monolithic upload whose curl was killed leaves nothing in _uploads" \
  wait_until 5 empty_dir "$repos/bad/trunc3/_uploads"
expect_cmd "... and no blob" no_blob_named "$dy"
still_serving "after a killed curl"

# A client that sends its whole body before reading (as simple HTTP libraries do) gets the
# answer to a request refused before its body was read: the server reads and drops the rest
# for a moment instead of resetting the connection under the client's writes.
naive_patch() {
  "$RS_PY" - "$server_port" <<'EOF'
import socket, sys
n = 20_000_000
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=15)
s.sendall(b"PATCH /v2/bad/naive/blobs/uploads/3f1b5e3c-1111-4222-8333-444455556666 HTTP/1.1\r\n"
          b"Host: x\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n" % n)
try:
    s.sendall(b"x" * n)
    answer = s.recv(4096).split(b"\r\n")[0].decode()
    print("sent all, then " + (answer or "EOF"))
except OSError as e:
    print("failed while sending: " + type(e).__name__)
EOF
}
expect_eq "a 20 MB PATCH to an unknown upload, sent whole before reading: the 404 arrives" \
  "sent all, then HTTP/1.1 404 Not Found" "$(naive_patch)"

# ---- hostile repository names ----
long256=$(printf 'a%.0s' {1..256})
long_many=$(printf 'abcdefgh/%.0s' {1..200})x
name255=$(printf 'a%.0s' {1..127})/$(printf 'b%.0s' {1..127})
names=(.. ../../../../../escape a/../../../../../../escape %2e%2e a/%2e%2e/%2e%2e/escape
  ..%2F..%2F..%2F..%2F..%2Fescape %2E%2E Upper a/B a//b /a a/ . a/./b .hidden -a a- a. a..b
  a___b a_-b a%20b a%00b a%5C..%5Cb %C3%A9 a/_uploads a/_manifests/tags x/_layers _catalog
  "$long256" "$long_many")
printf '{}' >"$T/empty"
for n in "${names[@]}"; do
  shown=${n:0:40}
  req POST "$V2/$n/blobs/uploads/?digest=$(sha256_of "$T/empty")" "${oct[@]}" --data-binary @"$T/empty"
  expect_error "POST upload to the name '$shown': NAME_INVALID" 400 NAME_INVALID
  req PUT "$V2/$n/manifests/latest" -H "Content-Type: $OCI_M" --data-binary @"$T/empty"
  expect_error "PUT manifest to the name '$shown': NAME_INVALID" 400 NAME_INVALID
  req GET "$V2/$n/tags/list"
  expect_error "tags/list of the name '$shown': NAME_INVALID" 400 NAME_INVALID
done
req POST "$V2/$name255/blobs/uploads/"
expect_status "a valid name of 255 characters is accepted" 202
# A ?from= that is no repository name mounts nothing: the upload goes on as a session.
req POST "$V2/bad/digest/blobs/uploads/?mount=$(sha256_of "$T/empty")&from=../../../../../escape"
expect_status "a mount from a hostile name falls back to a session (202)" 202
req DELETE "$(abs_url "$(hdr Location)")"
expect_status "... which can be cancelled" 204
expect_eq "nothing was created beside the root" "" "$(find "$jail" -mindepth 1 -maxdepth 1 ! -name root)"
expect_eq "the only repositories on disk are the valid ones" \
  "$(printf '%s\n' "$name255" bad/digest bad/resume bad/trunc bad/trunc2 bad/trunc3 | sort)" \
  "$(cd "$repos" && find . -name '_uploads' -prune -o -name '_layers' -prune -o -type d -print | sed 's|^\./||' |
     while read -r d; do [ -d "$d/_uploads" ] || [ -d "$d/_layers" ] || [ -d "$d/_manifests" ] && echo "$d"; done | sort)"
expect_eq "no directory outside the layout's names exists under repositories/" "" \
  "$(find "$repos" -name '..*' -o -name '*%*' -o -name '*[A-Z]*' -o -name '.*' | head -5)"

# ---- hostile upload ids and digests in paths ----
req POST "$V2/bad/ok/blobs/uploads/"
good_id=$(hdr Docker-Upload-UUID)
for id in ..%2F..%2F..%2F..%2Fetc ../../../../etc/passwd %2e%2e . .. "${good_id^^}" "$good_id/.." "$good_id%00" \
  "$(printf 'f%.0s' {1..36})" "$(printf 'x%.0s' {1..5000})"; do
  shown=${id:0:40}
  for m in GET PATCH PUT DELETE; do
    extra=()
    [ $m = PATCH ] && extra=("${oct[@]}" --data-binary @"$T/empty")
    q=
    [ $m = PUT ] && q="?digest=$(sha256_of "$T/empty")"
    req $m "$V2/bad/ok/blobs/uploads/$id$q" "${extra[@]}"
    expect_client_error "$m of the upload id '$shown'"
  done
done
req GET "$V2/bad/digest/blobs/uploads/$good_id"
expect_error "an upload id of another repository is unknown here" 404 BLOB_UPLOAD_UNKNOWN
req GET "$V2/bad/ok/blobs/uploads/$good_id"
expect_status "the real upload is still there" 204
for d in 'sha256:../../../../etc/passwd' 'sha256:..%2F..%2F..%2Fetc%2Fpasswd' ../../../../etc/passwd 'sha256:abc' \
  "sha256:$(printf 'A%.0s' {1..64})" "sha256:$(printf 'a%.0s' {1..65})" 'md5:d41d8cd98f00b204e9800998ecf8427e' \
  'sha256:' ':' "sha512:$(printf 'a%.0s' {1..64})" "sha256:$(printf 'a%.0s' {1..64})%00"; do
  shown=${d:0:40}
  req GET "$V2/bad/ok/blobs/$d"
  expect_client_error "GET blob '$shown'"
  req HEAD "$V2/bad/ok/blobs/$d"
  expect_client_error "HEAD blob '$shown'"
  req DELETE "$V2/bad/ok/blobs/$d"
  expect_client_error "DELETE blob '$shown'"
  req GET "$V2/bad/ok/manifests/$d"
  expect_client_error "GET manifest '$shown'"
  req DELETE "$V2/bad/ok/manifests/$d"
  expect_client_error "DELETE manifest '$shown'"
  req GET "$V2/bad/ok/referrers/$d"
  expect_client_error "GET referrers '$shown'"
  req POST "$V2/bad/ok/blobs/uploads/?mount=$d&from=bad/digest"
  if [ "$status" = 202 ]; then pass "mount of '$shown' falls back to a session (202)"; else expect_client_error "mount of '$shown'"; fi
done
for tag in ../../x '.x' "$(printf 't%.0s' {1..129})" 'a%2Fb' 'a:b'; do
  req PUT "$V2/bad/ok/manifests/$tag" -H "Content-Type: $OCI_M" --data-binary @"$T/empty"
  expect_client_error "PUT manifest with the tag '${tag:0:40}'"
done
expect_eq "nothing was created beside the root (after the hostile ids and digests)" "" \
  "$(find "$jail" -mindepth 1 -maxdepth 1 ! -name root)"

# ---- manifests: oversized and malformed ----
printf '{"architecture":"amd64","os":"linux"}' >"$T/config"
head -c 3000 /dev/urandom >"$T/layer"
for f in config layer; do
  req POST "$V2/bad/man/blobs/uploads/?digest=$(sha256_of "$T/$f")" "${oct[@]}" --data-binary @"$T/$f"
done
# manifest_of_size FILE BYTES: a valid OCI manifest padded with an annotation to BYTES.
manifest_of_size() {
  "$RS_PY" - "$1" "$2" "$(sha256_of "$T/config")" 37 "$(sha256_of "$T/layer")" 3000 <<'EOF'
import json, sys
out, size, cd, cs, ld, ls = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5], int(sys.argv[6])
m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
     "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
     "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld, "size": ls}],
     "annotations": {"pad": ""}}
base = len(json.dumps(m).encode())
m["annotations"]["pad"] = "x" * (size - base)
data = json.dumps(m).encode()
assert len(data) == size, (len(data), size)
open(out, "wb").write(data)
EOF
}
manifest_of_size "$T/max.json" $((4 * 1024 * 1024))
manifest_of_size "$T/over.json" $((4 * 1024 * 1024 + 1))
req PUT "$V2/bad/man/manifests/max" -H "Content-Type: $OCI_M" --data-binary @"$T/max.json"
expect_status "a manifest of exactly 4 MiB is accepted" 201
req PUT "$V2/bad/man/manifests/over" -H "Content-Type: $OCI_M" --data-binary @"$T/over.json"
expect_error "a manifest of 4 MiB + 1 byte: 413 SIZE_INVALID" 413 SIZE_INVALID
req PUT "$V2/bad/man/manifests/over" -H "Content-Type: $OCI_M" -H 'Transfer-Encoding: chunked' --data-binary @"$T/over.json"
expect_error "the same sent chunked (no Content-Length): 413 SIZE_INVALID" 413 SIZE_INVALID
head -c $((16 * 1024 * 1024)) /dev/zero >"$T/huge"
req PUT "$V2/bad/man/manifests/over" -H "Content-Type: $OCI_M" -H 'Transfer-Encoding: chunked' --data-binary @"$T/huge"
expect_error "16 MiB sent chunked: 413 SIZE_INVALID" 413 SIZE_INVALID
req GET "$V2/bad/man/manifests/over"
expect_error "the oversized manifest was not stored" 404 MANIFEST_UNKNOWN
expect_cmd "no blob holds the oversized manifest" no_blob_named "$(sha256_of "$T/over.json")"
still_serving "after oversized manifests"

cfg="{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"$(sha256_of "$T/config")\",\"size\":37}"
malformed=('' '{' '[]' 'not json' 'null' '"string"' '{"schemaVersion":2}'
  "{\"schemaVersion\":2,\"mediaType\":\"$OCI_M\",\"config\":$cfg,\"layers\":{}}"
  "{\"schemaVersion\":2,\"mediaType\":\"$OCI_M\",\"config\":$cfg,\"layers\":[{\"mediaType\":\"x\",\"size\":1}]}"
  "{\"schemaVersion\":2,\"mediaType\":\"$OCI_M\",\"config\":$cfg,\"layers\":[{\"mediaType\":\"x\",\"digest\":\"sha256:xyz\",\"size\":1}]}"
  "{\"schemaVersion\":2,\"mediaType\":\"$OCI_M\",\"config\":{\"mediaType\":\"x\",\"digest\":7,\"size\":37},\"layers\":[]}"
  "{\"schemaVersion\":2,\"mediaType\":\"$OCI_M\",\"config\":$cfg,\"layers\":[],\"subject\":\"sha256:abc\"}"
  "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":{}}"
  "{\"schemaVersion\":2,\"mediaType\":\"$OCI_M\",\"config\":$cfg,\"layers\":[]")
i=0
for m in "${malformed[@]}"; do
  i=$((i + 1))
  printf '%s' "$m" >"$T/mal.json"
  req PUT "$V2/bad/man/manifests/mal$i" -H "Content-Type: $OCI_M" --data-binary @"$T/mal.json"
  expect_error "malformed manifest #$i (${m:0:50}): MANIFEST_INVALID" 400 MANIFEST_INVALID
done
printf '\xff\xfe{"schemaVersion":2}' >"$T/mal.json"
req PUT "$V2/bad/man/manifests/malbin" -H "Content-Type: $OCI_M" --data-binary @"$T/mal.json"
expect_error "a binary manifest: MANIFEST_INVALID" 400 MANIFEST_INVALID
req GET "$V2/bad/man/tags/list"
expect_eq "none of the malformed manifests was tagged" '["max"]' "$(json "$T/body" 'd["tags"]')"

# ---- header floods and garbage ----
"$RS_PY" -c '
import sys
sys.stdout.buffer.write(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-Flood-%d: %s\r\n" % (i, b"v" * 20) for i in range(20000)) + b"\r\n")' >"$T/flood"
expect_match "20000 headers: a 4xx or the connection closed" '^(4[0-9][0-9]|closed)$' "$(raw "$T/flood")"
still_serving "after a header flood"
"$RS_PY" -c '
import sys
sys.stdout.buffer.write(b"GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Huge: " + b"h" * (1 << 20) + b"\r\n\r\n")' >"$T/huge-header"
expect_match "a 1 MiB header: a 4xx or the connection closed" '^(4[0-9][0-9]|closed)$' "$(raw "$T/huge-header")"
still_serving "after a 1 MiB header"
"$RS_PY" -c '
import sys
sys.stdout.buffer.write(b"GET /v2/" + b"a/" * 100000 + b"tags/list HTTP/1.1\r\nHost: x\r\n\r\n")' >"$T/long-target"
expect_match "a 200 KB request target: a 4xx or the connection closed" '^(4[0-9][0-9]|closed)$' "$(raw "$T/long-target")"
head -c 100000 /dev/urandom >"$T/garbage"
expect_match "100 KB of random bytes: a 4xx or the connection closed" '^(4[0-9][0-9]|closed)$' "$(raw "$T/garbage")"
printf 'GET /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n' >"$T/neg"
expect_match "a negative Content-Length: a 4xx or the connection closed" '^(4[0-9][0-9]|closed)$' "$(raw "$T/neg")"
printf 'POST /v2/bad/ok/blobs/uploads/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' >"$T/smuggle"
expect_match "Content-Length together with chunked: not a 5xx" '^([1-4][0-9][0-9]|closed)$' "$(raw "$T/smuggle")"
still_serving "after garbage"

# An error answered before the body was read must not let the body be parsed as the next
# request on the same connection: a pipelined GET /v2/ gets a 200, or the connection closes.
pipelined() {
  "$RS_PY" - "$server_port" "$1" <<'EOF'
import re, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
try:
    s.sendall(open(sys.argv[2], "rb").read())
except (BrokenPipeError, ConnectionResetError):
    pass
data = b""
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
except (ConnectionResetError, socket.timeout):
    pass
print(b" ".join(re.findall(rb"HTTP/1\.[01] (\d{3})", data)[:4]).decode() or "closed")
EOF
}
body_as_request="GET /v2/_catalog HTTP/1.1\r\nHost: x\r\n\r\n"
{
  printf 'POST /v2/Bad/blobs/uploads/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 200000\r\n\r\n'
  "$RS_PY" -c "import sys; sys.stdout.buffer.write(b'$body_as_request' * (200000 // 38) + b'x' * (200000 % 38))"
  printf 'GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
} >"$T/pipe1"
expect_match "a refused upload's body is not read as requests (NAME_INVALID, then GET /v2/)" '^(400|400 200|closed)$' "$(pipelined "$T/pipe1")"
{
  printf 'PUT /v2/bad/man/manifests/pipe HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %s\r\n\r\n' "$OCI_M" "$(stat -c %s "$T/over.json")"
  cat "$T/over.json"
  printf 'GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
} >"$T/pipe2"
expect_match "an oversized manifest's body is not read as requests (413, then GET /v2/)" '^(413|413 200|closed)$' "$(pipelined "$T/pipe2")"
still_serving "after pipelined requests"

expect_eq "no request was answered 5xx" "" "$(grep -E '" 5[0-9][0-9] in=' "$server_log")"
expect_eq "nothing was created beside the root (at the end)" "" "$(find "$jail" -mindepth 1 -maxdepth 1 ! -name root)"
stop_server "$server_pid"
expect_eq "SIGTERM stops the server with exit 0" 0 "$server_rc"

# ---- slow clients: stalled headers and bodies are cut by the timeouts ----
printf 'limits:\n  header_timeout_s: 1\n  idle_timeout_s: 1\n  io_timeout_s: 2\n  max_connections: 4\n' >"$T/slow.yml"
start_server "$T/root-slow" --config "$T/slow.yml"
V2=$server_url/v2
# stalled LINE... : sends the lines, then waits; prints after how many seconds the server closed.
stalled() {
  "$RS_PY" - "$server_port" "$@" <<'EOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=8)
s.sendall("".join(sys.argv[2:]).encode())
t0 = time.monotonic()
try:
    while s.recv(65536):
        pass
    print("closed after %d s" % round(time.monotonic() - t0))
except socket.timeout:
    print("still open after 8 s")
except ConnectionResetError:
    print("closed after %d s" % round(time.monotonic() - t0))
EOF
}
expect_match "half a request header, then silence: closed within the timeouts" '^closed after [0-4] s$' \
  "$(stalled $'GET /v2/ HTTP/1.1\r\nHost: x\r\n')"
expect_match "a monolithic upload whose body stalls: closed within the timeouts" '^closed after [0-4] s$' \
  "$(stalled "POST /v2/slow/x/blobs/uploads/?digest=$dx HTTP/1.1"$'\r\nHost: x\r\nContent-Length: 40000\r\n\r\n' 'partial body')"
expect_cmd "the stalled upload left nothing in _uploads" wait_until 5 empty_dir "$T/root-slow/docker/registry/v2/repositories/slow/x/_uploads"
expect_cmd "... and no blob" test ! -e "$T/root-slow/docker/registry/v2/blobs/sha256/${dx:7:2}/${dx#sha256:}"
# More idle connections than max_connections: the idle ones time out and /v2/ is served.
idle_pids=()
for i in 1 2 3 4 5 6; do
  "$RS_PY" -c 'import socket, sys, time; s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); time.sleep(20)' "$server_port" &
  idle_pids+=($!)
  track_pid $!
done
sleep 0.3
# Over the limit a connection may be refused; once the idle ones time out (1 s) it is not.
served=no deadline=$((SECONDS + 6))
while [ $served = no ] && [ $SECONDS -lt $deadline ]; do
  req GET "$V2/" --max-time 2
  if [ "$status" = 200 ]; then served=yes; else sleep 0.2; fi
done
expect_eq "6 idle connections over max_connections 4: /v2/ is served once the idle ones time out" yes "$served"
for p in "${idle_pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; _rs_untrack "$p"; done
stop_server "$server_pid"
expect_eq "SIGTERM stops the slow-client server with exit 0" 0 "$server_rc"
finish
