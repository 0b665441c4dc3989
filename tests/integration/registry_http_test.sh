#!/usr/bin/env bash
# The v2 API request by request with curl: uploads (chunked, streamed, monolithic, cancel),
# ranges, sha512, manifests, tags and catalog pagination, deletes, referrers, config errors,
# and SIGTERM.
. "$(dirname "$0")/lib.sh"
require curl python3

T=$RS_TMP
root=$T/root
start_server "$root"
main_pid=$server_pid
V2=$server_url/v2
oct=(-H 'Content-Type: application/octet-stream')

# push_blob REPO FILE: a single-request monolithic upload; prints nothing, counts a failure.
push_blob() {
  req POST "$V2/$1/blobs/uploads/?digest=$(sha256_of "$2")" "${oct[@]}" --data-binary @"$2"
  [ "$status" = 201 ] || fail "upload of $(basename "$2") to $1" "expected: HTTP 201" "$(_rs_last_response)"
}
# put_manifest REPO REF FILE MEDIA-TYPE
put_manifest() { req PUT "$V2/$1/manifests/$2" -H "Content-Type: $4" --data-binary @"$3"; }

# ---- /v2/ ----
req GET "$V2/"
expect_status "GET /v2/ answers 200" 200
expect_header "GET /v2/ has Docker-Distribution-API-Version" Docker-Distribution-API-Version registry/2.0

# ---- chunked upload: POST, 3 PATCHes with Content-Range, GET status, PUT ?digest ----
head -c 300000 /dev/urandom >"$T/big"
head -c 100000 "$T/big" >"$T/c0"
tail -c +100001 "$T/big" | head -c 100000 >"$T/c1"
tail -c +200001 "$T/big" >"$T/c2"
big_digest=$(sha256_of "$T/big")

req POST "$V2/http/chunked/blobs/uploads/"
expect_status "POST starts an upload session" 202
expect_match "the session's Location is an upload URL" '^(http://[^/]+)?/v2/http/chunked/blobs/uploads/[^/]+$' "$(hdr Location)"
expect_match "the session has a Docker-Upload-UUID" '^.+$' "$(hdr Docker-Upload-UUID)"
loc=$(abs_url "$(hdr Location)")
first_loc=$loc

offset=0
for i in 0 1 2; do
  if [ $i = 1 ]; then
    # A chunk that does not continue at the current offset: 416, and nothing changes.
    req PATCH "$loc" "${oct[@]}" -H "Content-Range: 50000-59999" --data-binary @<(head -c 10000 "$T/c1")
    expect_status "PATCH with a Content-Range behind the offset answers 416" 416
    expect_match "the 416 has an OCI error body" '^[A-Z_]+$' "$(error_code)"
    req PATCH "$loc" "${oct[@]}" -H "Content-Range: 200000-209999" --data-binary @<(head -c 10000 "$T/c1")
    expect_status "PATCH with a Content-Range past the offset answers 416" 416
    req GET "$loc"
    expect_status "GET upload status after the refused chunks answers 204" 204
    expect_header "the refused chunks left the upload at 100000 bytes" Range 0-99999
  fi
  size=$(stat -c %s "$T/c$i")
  req PATCH "$loc" "${oct[@]}" -H "Content-Range: $offset-$((offset + size - 1))" --data-binary @"$T/c$i"
  offset=$((offset + size))
  expect_status "PATCH chunk $((i + 1)) of 3 answers 202" 202
  expect_header "after chunk $((i + 1)) the Range is 0-$((offset - 1))" Range "0-$((offset - 1))"
  loc=$(abs_url "$(hdr Location)")
done
req GET "$loc"
expect_status "GET upload status answers 204" 204
expect_header "GET upload status has Range 0-299999" Range 0-299999
req PUT "$(with_query "$loc" "digest=$big_digest")"
expect_status "PUT ?digest= completes the chunked upload" 201
expect_header "the completed upload has Docker-Content-Digest" Docker-Content-Digest "$big_digest"
expect_match "the completed upload's Location is the blob" "^(http://[^/]+)?/v2/http/chunked/blobs/$big_digest\$" "$(hdr Location)"
req GET "$V2/http/chunked/blobs/$big_digest"
expect_status "GET of the chunked blob answers 200" 200
expect_cmd "the chunked blob is byte for byte what was sent" cmp "$T/body" "$T/big"
req GET "$first_loc"
expect_error "the completed upload session is gone" 404 BLOB_UPLOAD_UNKNOWN

# ---- streamed PATCH without Content-Range, then the last part in the PUT ----
head -c 150000 /dev/urandom >"$T/s"
head -c 120000 "$T/s" >"$T/s0"
tail -c +120001 "$T/s" >"$T/s1"
req POST "$V2/http/streamed/blobs/uploads/"
loc=$(abs_url "$(hdr Location)")
req PATCH "$loc" "${oct[@]}" -H 'Transfer-Encoding: chunked' --data-binary @"$T/s0"
expect_status "a streamed PATCH (chunked transfer, no Content-Range) answers 202" 202
expect_header "the streamed PATCH's Range" Range 0-119999
loc=$(abs_url "$(hdr Location)")
req PUT "$(with_query "$loc" "digest=$(sha256_of "$T/s")")" "${oct[@]}" --data-binary @"$T/s1"
expect_status "PUT ?digest= with the last bytes as body answers 201" 201
req GET "$V2/http/streamed/blobs/$(sha256_of "$T/s")"
expect_cmd "the streamed blob is byte for byte what was sent" cmp "$T/body" "$T/s"

# ---- monolithic POST ?digest= ----
head -c 70000 /dev/urandom >"$T/m"
req POST "$V2/http/mono/blobs/uploads/?digest=$(sha256_of "$T/m")" "${oct[@]}" --data-binary @"$T/m"
expect_status "a monolithic POST ?digest= answers 201" 201
expect_header "the monolithic upload has Docker-Content-Digest" Docker-Content-Digest "$(sha256_of "$T/m")"
req GET "$V2/http/mono/blobs/$(sha256_of "$T/m")"
expect_cmd "the monolithic blob is byte for byte what was sent" cmp "$T/body" "$T/m"

# ---- upload cancel ----
req POST "$V2/http/cancel/blobs/uploads/"
loc=$(abs_url "$(hdr Location)")
cancel_id=$(hdr Docker-Upload-UUID)
req PATCH "$loc" "${oct[@]}" --data-binary @"$T/c0"
req DELETE "$loc"
expect_status "DELETE of an upload session answers 204" 204
req GET "$loc"
expect_error "GET of the cancelled upload: BLOB_UPLOAD_UNKNOWN" 404 BLOB_UPLOAD_UNKNOWN
req PATCH "$loc" "${oct[@]}" --data-binary @"$T/c0"
expect_error "PATCH of the cancelled upload: BLOB_UPLOAD_UNKNOWN" 404 BLOB_UPLOAD_UNKNOWN
req PUT "$(with_query "$loc" "digest=$(sha256_of "$T/c0")")"
expect_error "PUT of the cancelled upload: BLOB_UPLOAD_UNKNOWN" 404 BLOB_UPLOAD_UNKNOWN
expect_eq "the cancelled upload left nothing in _uploads" "" \
  "$(ls -A "$root/docker/registry/v2/repositories/http/cancel/_uploads" 2>/dev/null)"
expect_eq "the cancelled upload's bytes are no blob" "" "$(find "$root/docker/registry/v2/blobs" -path "*${cancel_id}*" -o -name "$(sha256_of "$T/c0" | cut -d: -f2)" -print)"

# ---- blob GET with Range, HEAD ----
blob=$V2/http/chunked/blobs/$big_digest
req GET "$blob" -H 'Range: bytes=10-19'
expect_status "GET with Range: bytes=10-19 answers 206" 206
expect_header "the 206 has Content-Range bytes 10-19/300000" Content-Range "bytes 10-19/300000"
expect_cmd "the 206 body is bytes 10-19" cmp "$T/body" <(tail -c +11 "$T/big" | head -c 10)
req GET "$blob" -H 'Range: bytes=-100'
expect_status "GET with a suffix range bytes=-100 answers 206" 206
expect_header "the suffix range's Content-Range" Content-Range "bytes 299900-299999/300000"
expect_cmd "the suffix range body is the last 100 bytes" cmp "$T/body" <(tail -c 100 "$T/big")
req GET "$blob" -H 'Range: bytes=299990-'
expect_status "GET with an open range bytes=299990- answers 206" 206
expect_header "the open range's Content-Range" Content-Range "bytes 299990-299999/300000"
req GET "$blob" -H 'Range: bytes=300000-300100'
expect_status "GET with an unsatisfiable range answers 416" 416
expect_header "the 416 has Content-Range bytes */300000" Content-Range "bytes */300000"
req HEAD "$blob"
expect_status "HEAD of a blob answers 200" 200
expect_header "HEAD of a blob has Content-Length" Content-Length 300000
expect_header "HEAD of a blob has Docker-Content-Digest" Docker-Content-Digest "$big_digest"
req HEAD "$V2/http/chunked/blobs/sha256:$(printf '0%.0s' {1..64})"
expect_status "HEAD of an unknown blob answers 404" 404
req GET "$V2/http/chunked/blobs/sha256:$(printf '0%.0s' {1..64})"
expect_error "GET of an unknown blob: BLOB_UNKNOWN" 404 BLOB_UNKNOWN
req GET "$V2/http/mono/blobs/$big_digest"
expect_error "a blob of another repository is not served from this one" 404 BLOB_UNKNOWN

# ---- sha512 ----
head -c 50000 /dev/urandom >"$T/h"
d512=$(sha512_of "$T/h")
req POST "$V2/http/sha512/blobs/uploads/?digest=$d512" "${oct[@]}" --data-binary @"$T/h"
expect_status "a monolithic sha512 upload answers 201" 201
expect_header "the sha512 upload's Docker-Content-Digest" Docker-Content-Digest "$d512"
req GET "$V2/http/sha512/blobs/$d512"
expect_cmd "the sha512 blob is byte for byte what was sent" cmp "$T/body" "$T/h"
req HEAD "$V2/http/sha512/blobs/$d512"
expect_header "HEAD of the sha512 blob has its digest" Docker-Content-Digest "$d512"
hex512=${d512#sha512:}
expect_cmd "the sha512 blob is stored at blobs/sha512/${hex512:0:2}/<hex>/data" \
  test -f "$root/docker/registry/v2/blobs/sha512/${hex512:0:2}/$hex512/data"
head -c 20000 /dev/urandom >"$T/h2"
req POST "$V2/http/sha512/blobs/uploads/"
req PUT "$(with_query "$(abs_url "$(hdr Location)")" "digest=$(sha512_of "$T/h2")")" "${oct[@]}" --data-binary @"$T/h2"
expect_status "a session upload finished with a sha512 digest answers 201" 201

# ---- edge blobs: empty, large, and the same blob pushed concurrently ----
empty_d=sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
req POST "$V2/http/edge/blobs/uploads/?digest=$empty_d" "${oct[@]}" --data-binary ''
expect_status "a monolithic upload of the empty blob answers 201" 201
req GET "$V2/http/edge/blobs/$empty_d"
expect_status "GET of the empty blob answers 200" 200
expect_eq "the empty blob is empty" 0 "$(stat -c %s "$T/body")"
req GET "$V2/http/edge/blobs/$empty_d" -H 'Range: bytes=0-0'
expect_status "a Range on the empty blob answers 416" 416

head -c $((32 * 1024 * 1024)) /dev/urandom >"$T/large"
large_d=$(sha256_of "$T/large")
req POST "$V2/http/edge/blobs/uploads/?digest=$large_d" "${oct[@]}" --data-binary @"$T/large"
expect_status "a 32 MiB monolithic upload answers 201" 201
req GET "$V2/http/edge/blobs/$large_d"
expect_eq "the 32 MiB blob comes back with its digest" "$large_d" "$(sha256_of "$T/body")"
req GET "$V2/http/edge/blobs/$large_d" -H 'Range: bytes=20000000-20000099'
expect_cmd "a Range deep in the 32 MiB blob returns those bytes" cmp "$T/body" <(tail -c +20000001 "$T/large" | head -c 100)

head -c $((8 * 1024 * 1024)) /dev/urandom >"$T/same"
same_d=$(sha256_of "$T/same")
pids=()
for i in 1 2 3 4; do
  curl -s -o /dev/null -w '%{http_code}\n' -X POST "${oct[@]}" --data-binary @"$T/same" \
    "$V2/http/concurrent$i/blobs/uploads/?digest=$same_d" >"$T/same.$i" &
  pids+=($!)
done
for i in 1 2; do
  (
    loc=$(curl -s -D - -o /dev/null -X POST "$V2/http/concurrent/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
    curl -s -o /dev/null -X PATCH "${oct[@]}" --data-binary @"$T/same" "$(abs_url "$loc")"
    curl -s -o /dev/null -w '%{http_code}\n' -X PUT "$(with_query "$(abs_url "$loc")" "digest=$same_d")"
  ) >"$T/same.s$i" &
  pids+=($!)
done
wait "${pids[@]}"
expect_eq "4 monolithic and 2 chunked uploads of the same blob at once all answer 201" "201 201 201 201 201 201" \
  "$(cat "$T"/same.1 "$T"/same.2 "$T"/same.3 "$T"/same.4 "$T"/same.s1 "$T"/same.s2 | xargs)"
for r in concurrent concurrent1 concurrent4; do
  req GET "$V2/http/$r/blobs/$same_d"
  expect_eq "the concurrently pushed blob is intact in http/$r" "$same_d" "$(sha256_of "$T/body")"
done

# ---- manifests ----
OCI_M=application/vnd.oci.image.manifest.v1+json
OCI_I=application/vnd.oci.image.index.v1+json
DOCKER_M=application/vnd.docker.distribution.manifest.v2+json
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$T/config"
head -c 5000 /dev/urandom >"$T/layer"
cfg_d=$(sha256_of "$T/config") cfg_n=$(stat -c %s "$T/config")
lay_d=$(sha256_of "$T/layer") lay_n=$(stat -c %s "$T/layer")
push_blob http/man "$T/config"
push_blob http/man "$T/layer"
# Unusual spacing on purpose: the bytes must come back exactly as sent.
cat >"$T/oci.json" <<EOF
{
   "schemaVersion": 2,
   "mediaType": "$OCI_M",
   "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "$cfg_d", "size": $cfg_n},
   "layers": [ {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "$lay_d", "size": $lay_n} ]
}
EOF
oci_d=$(sha256_of "$T/oci.json")
put_manifest http/man v1 "$T/oci.json" "$OCI_M"
expect_status "PUT of an OCI manifest by tag answers 201" 201
expect_header "the PUT's Docker-Content-Digest" Docker-Content-Digest "$oci_d"
expect_match "the PUT's Location names the manifest by digest" "^(http://[^/]+)?/v2/http/man/manifests/$oci_d\$" "$(hdr Location)"
for ref in v1 "$oci_d"; do
  req GET "$V2/http/man/manifests/$ref" -H "Accept: $OCI_M"
  expect_status "GET manifest by ${ref:0:14} answers 200" 200
  expect_cmd "GET manifest by ${ref:0:14} returns the bytes as pushed" cmp "$T/body" "$T/oci.json"
  expect_header "GET manifest by ${ref:0:14}: Content-Type is the stored media type" Content-Type "$OCI_M"
  expect_header "GET manifest by ${ref:0:14}: Docker-Content-Digest" Docker-Content-Digest "$oci_d"
  req HEAD "$V2/http/man/manifests/$ref" -H "Accept: $OCI_M"
  expect_status "HEAD manifest by ${ref:0:14} answers 200" 200
  expect_header "HEAD manifest by ${ref:0:14}: Content-Length" Content-Length "$(stat -c %s "$T/oci.json")"
  expect_header "HEAD manifest by ${ref:0:14}: Content-Type" Content-Type "$OCI_M"
  expect_header "HEAD manifest by ${ref:0:14}: Docker-Content-Digest" Docker-Content-Digest "$oci_d"
done

cat >"$T/docker.json" <<EOF
{"schemaVersion":2,"mediaType":"$DOCKER_M",
 "config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"$cfg_d","size":$cfg_n},
 "layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"$lay_d","size":$lay_n}]}
EOF
put_manifest http/man docker "$T/docker.json" "$DOCKER_M"
expect_status "PUT of a Docker schema2 manifest answers 201" 201
req GET "$V2/http/man/manifests/docker" -H "Accept: $DOCKER_M"
expect_header "GET of the schema2 manifest: Content-Type is the Docker media type" Content-Type "$DOCKER_M"
expect_cmd "GET of the schema2 manifest returns the bytes as pushed" cmp "$T/body" "$T/docker.json"

cat >"$T/index.json" <<EOF
{"schemaVersion":2,"mediaType":"$OCI_I","manifests":[
 {"mediaType":"$OCI_M","digest":"$oci_d","size":$(stat -c %s "$T/oci.json"),"platform":{"architecture":"amd64","os":"linux"}}]}
EOF
index_d=$(sha256_of "$T/index.json")
put_manifest http/man "$index_d" "$T/index.json" "$OCI_I"
expect_status "PUT of an OCI index by digest answers 201" 201
req GET "$V2/http/man/manifests/$index_d" -H "Accept: $OCI_I"
expect_header "GET of the index: Content-Type is the OCI index type" Content-Type "$OCI_I"
expect_cmd "GET of the index returns the bytes as pushed" cmp "$T/body" "$T/index.json"

put_manifest http/man "sha256:$(printf 'a%.0s' {1..64})" "$T/oci.json" "$OCI_M"
expect_error "PUT by a digest that is not the body's: DIGEST_INVALID" 400 DIGEST_INVALID
sed "s/$lay_d/sha256:$(printf 'b%.0s' {1..64})/" "$T/oci.json" >"$T/missing.json"
put_manifest http/man missing "$T/missing.json" "$OCI_M"
expect_error "a manifest referencing a missing blob: MANIFEST_BLOB_UNKNOWN" 400 MANIFEST_BLOB_UNKNOWN
sed "s/$oci_d/sha256:$(printf 'c%.0s' {1..64})/" "$T/index.json" >"$T/missing-index.json"
put_manifest http/man missing-index "$T/missing-index.json" "$OCI_I"
expect_error "an index referencing a missing manifest: MANIFEST_BLOB_UNKNOWN" 400 MANIFEST_BLOB_UNKNOWN
req GET "$V2/http/man/manifests/missing"
expect_error "the refused manifest was not tagged" 404 MANIFEST_UNKNOWN
req GET "$V2/http/man/manifests/nosuchtag"
expect_error "GET of an unknown tag: MANIFEST_UNKNOWN" 404 MANIFEST_UNKNOWN
req GET "$V2/http/mono/manifests/$oci_d"
expect_error "a manifest of another repository is not served from this one" 404 MANIFEST_UNKNOWN
req GET "$V2/http/mono/tags/list"
expect_error "tags/list of a repository holding only blobs: NAME_UNKNOWN" 404 NAME_UNKNOWN
req GET "$V2/http/nosuchrepo/referrers/$oci_d"
expect_status "referrers in an unknown repository answer 200 (the spec forbids 404)" 200
req GET "$V2/http/nosuchrepo/tags/list"
expect_error "tags/list of an unknown repository: NAME_UNKNOWN" 404 NAME_UNKNOWN

# ---- a tag moved to another manifest; registry:2 keeps the tag's history in tags/<t>/index ----
for f in config layer; do
  req POST "$V2/http/retag/blobs/uploads/?mount=$(sha256_of "$T/$f")&from=http/man"
done
put_manifest http/retag t "$T/oci.json" "$OCI_M"
put_manifest http/retag t "$T/docker.json" "$DOCKER_M"
expect_status "PUT of another manifest to the same tag answers 201" 201
req GET "$V2/http/retag/manifests/t" -H "Accept: $OCI_M, $DOCKER_M"
expect_header "the tag now names the second manifest" Docker-Content-Digest "$(sha256_of "$T/docker.json")"
req GET "$V2/http/retag/manifests/$oci_d"
expect_status "the first manifest is still there by digest" 200
tagdir=$root/docker/registry/v2/repositories/http/retag/_manifests/tags/t
expect_eq "tags/t/current/link holds the new digest, no newline" "$(sha256_of "$T/docker.json")" "$(cat "$tagdir/current/link")"
expect_eq "tags/t/index has both digests" "$(printf '%s\n' "${oci_d#sha256:}" "$(sha256sum "$T/docker.json" | cut -d' ' -f1)" | sort | xargs)" \
  "$(ls "$tagdir/index/sha256" 2>/dev/null | xargs)"
expect_eq "access log: a line per request with method, path, status, bytes and ms (2 PUTs)" 2 \
  "$(grep -cE '"PUT /v2/http/retag/manifests/t" 201 in=[0-9]+ out=[0-9]+ [0-9.]+ms' "$server_log")"

# ---- cross-repository mount ----
req POST "$V2/http/tags/blobs/uploads/?mount=$cfg_d&from=http/man"
expect_status "POST ?mount=&from= of an existing blob answers 201" 201
expect_header "the mount's Docker-Content-Digest" Docker-Content-Digest "$cfg_d"
req POST "$V2/http/tags/blobs/uploads/?mount=$lay_d&from=http/chunked"
expect_status "POST ?mount= from a repository without the blob falls back to a session (202)" 202
req POST "$V2/http/tags/blobs/uploads/?mount=$lay_d&from=http/man"
expect_status "mount of the layer answers 201" 201

# ---- tags list: sorted, n, last, Link ----
for t in v3 a v10 latest b v1; do put_manifest http/tags "$t" "$T/oci.json" "$OCI_M"; done
expect_status "the manifest is tagged 6 times" 201
all_tags='["a", "b", "latest", "v1", "v10", "v3"]'
req GET "$V2/http/tags/tags/list"
expect_eq "tags/list is sorted" "$all_tags" "$(json "$T/body" 'd["tags"]')"
expect_eq "tags/list names the repository" http/tags "$(json "$T/body" 'd["name"]')"
req GET "$V2/http/tags/tags/list?n=2"
expect_eq "tags/list?n=2 gives the first 2" '["a", "b"]' "$(json "$T/body" 'd["tags"]')"
expect_match "tags/list?n=2 has a Link to the next page" '^<[^>]*/v2/http/tags/tags/list\?[^>]*last=b[^>]*>; rel="next"$' "$(hdr Link)"
req GET "$V2/http/tags/tags/list?n=2&last=latest"
expect_eq "tags/list?n=2&last=latest" '["v1", "v10"]' "$(json "$T/body" 'd["tags"]')"
req GET "$V2/http/tags/tags/list?n=10&last=v10"
expect_eq "tags/list?last=v10" '["v3"]' "$(json "$T/body" 'd["tags"]')"
expect_eq "the last page has no Link" "" "$(hdr Link)"

# follow_links URL KEY: every page following Link headers; prints the concatenation.
follow_links() {
  local url=$1 key=$2 pages=0 all='[]' link
  while [ -n "$url" ] && [ $pages -lt 50 ]; do
    req GET "$url"
    [ "$status" = 200 ] || { echo "<HTTP $status for $url>"; return; }
    all=$("$RS_PY" -c 'import json,sys; print(json.dumps(json.loads(sys.argv[1]) + json.load(open(sys.argv[2]))[sys.argv[3]]))' "$all" "$T/body" "$key")
    pages=$((pages + 1))
    link=$(hdr Link | sed -n 's/^<\([^>]*\)>.*/\1/p')
    url=${link:+$(abs_url "$link")}
  done
  echo "$all $pages"
}
expect_eq "following Link from tags/list?n=2 gives every tag in 3 pages" "$all_tags 3" \
  "$(follow_links "$V2/http/tags/tags/list?n=2" tags)"

# ---- catalog pagination ----
req GET "$V2/_catalog?n=1000"
catalog=$(json "$T/body" 'd["repositories"]')
expect_eq "the catalog is sorted" "$catalog" "$(json "$T/body" 'sorted(d["repositories"])')"
expect_eq "the catalog lists the repositories with manifests" true \
  "$(json "$T/body" 'all(r in d["repositories"] for r in ["http/man", "http/tags"])')"
req GET "$V2/_catalog?n=1"
expect_eq "_catalog?n=1 gives the first repository" "$(json "$T/body" 'd["repositories"]')" \
  "$("$RS_PY" -c 'import json,sys; print(json.dumps(json.loads(sys.argv[1])[:1]))' "$catalog")"
expect_match "_catalog?n=1 has a Link to the next page" '^<[^>]*/v2/_catalog\?[^>]*>; rel="next"$' "$(hdr Link)"
npages=$("$RS_PY" -c 'import json,sys; print(len(json.loads(sys.argv[1])))' "$catalog")
expect_eq "following Link from _catalog?n=1 gives the whole catalog, one page each" "$catalog $npages" \
  "$(follow_links "$V2/_catalog?n=1" repositories)"

# ---- DELETE by tag, then by digest ----
for t in keep drop; do put_manifest http/tags "$t" "$T/oci.json" "$OCI_M"; done
req DELETE "$V2/http/tags/manifests/drop"
expect_status "DELETE of a manifest by tag answers 202" 202
req GET "$V2/http/tags/manifests/drop"
expect_error "the deleted tag is gone" 404 MANIFEST_UNKNOWN
req GET "$V2/http/tags/manifests/keep"
expect_status "another tag of the same manifest still works" 200
req GET "$V2/http/tags/manifests/$oci_d"
expect_status "the manifest is still there by digest" 200
req GET "$V2/http/tags/tags/list?n=100"
expect_eq "tags/list no longer lists the deleted tag" false "$(json "$T/body" '"drop" in d["tags"]')"
req DELETE "$V2/http/tags/manifests/$oci_d"
expect_status "DELETE of a manifest by digest answers 202" 202
req GET "$V2/http/tags/manifests/$oci_d"
expect_error "the manifest deleted by digest is gone" 404 MANIFEST_UNKNOWN
req GET "$V2/http/tags/manifests/keep"
expect_error "its tags are gone too" 404 MANIFEST_UNKNOWN
req DELETE "$V2/http/tags/manifests/$oci_d"
expect_error "DELETE of a deleted manifest: MANIFEST_UNKNOWN" 404 MANIFEST_UNKNOWN
req GET "$V2/http/man/manifests/v1"
expect_status "the manifest in another repository is untouched" 200
req DELETE "$V2/http/tags/blobs/$lay_d"
expect_status "DELETE of a blob answers 202" 202
req HEAD "$V2/http/tags/blobs/$lay_d"
expect_status "the deleted blob is gone from that repository" 404
req HEAD "$V2/http/man/blobs/$lay_d"
expect_status "the blob is still served by the other repository" 200

# ---- referrers ----
printf '{}' >"$T/empty"
printf '{"sbom":true}' >"$T/sbom"
printf 'signature' >"$T/sig"
for f in empty sbom sig; do push_blob http/ref "$T/$f"; done
push_blob http/ref "$T/config"
push_blob http/ref "$T/layer"
put_manifest http/ref v1 "$T/oci.json" "$OCI_M"
expect_eq "a manifest without subject has no OCI-Subject" "" "$(hdr OCI-Subject)"
subject="{\"mediaType\":\"$OCI_M\",\"digest\":\"$oci_d\",\"size\":$(stat -c %s "$T/oci.json")}"
empty_cfg="{\"mediaType\":\"application/vnd.oci.empty.v1+json\",\"digest\":\"$(sha256_of "$T/empty")\",\"size\":2}"
# artifact FILE TYPE BLOB SUBJECT
artifact() {
  printf '{"schemaVersion":2,"mediaType":"%s","artifactType":"%s","config":%s,"layers":[{"mediaType":"%s","digest":"%s","size":%s}],"subject":%s,"annotations":{"org.example.kind":"%s"}}' \
    "$OCI_M" "$2" "$empty_cfg" "$2" "$(sha256_of "$3")" "$(stat -c %s "$3")" "$4" "${2##*.}" >"$1"
}
artifact "$T/a-sbom.json" application/vnd.example.sbom "$T/sbom" "$subject"
artifact "$T/a-sig.json" application/vnd.example.sig "$T/sig" "$subject"
sbom_d=$(sha256_of "$T/a-sbom.json") sig_d=$(sha256_of "$T/a-sig.json")
put_manifest http/ref "$sbom_d" "$T/a-sbom.json" "$OCI_M"
expect_status "PUT of an artifact with a subject answers 201" 201
expect_header "the artifact's PUT has OCI-Subject" OCI-Subject "$oci_d"
put_manifest http/ref "$sig_d" "$T/a-sig.json" "$OCI_M"
expect_header "the second artifact's PUT has OCI-Subject" OCI-Subject "$oci_d"
req GET "$V2/http/ref/referrers/$oci_d"
expect_status "GET referrers answers 200" 200
expect_header "the referrers response is an OCI index" Content-Type "$OCI_I"
expect_eq "the referrers list both artifacts" "$("$RS_PY" -c 'import sys; print(sorted(sys.argv[1:]))' "$sbom_d" "$sig_d")" \
  "$(json "$T/body" 'str(sorted(m["digest"] for m in d["manifests"]))')"
expect_eq "each referrer has its artifactType, size and annotations" true \
  "$(json "$T/body" "all(m['artifactType'] == ('application/vnd.example.sbom' if m['digest'] == '$sbom_d' else 'application/vnd.example.sig') and m['mediaType'] == '$OCI_M' and m['size'] == ($(stat -c %s "$T/a-sbom.json") if m['digest'] == '$sbom_d' else $(stat -c %s "$T/a-sig.json")) and 'org.example.kind' in m['annotations'] for m in d['manifests'])")"
req GET "$V2/http/ref/referrers/$oci_d?artifactType=application/vnd.example.sbom"
expect_eq "?artifactType= keeps only that type" "[\"$sbom_d\"]" "$(json "$T/body" '[m["digest"] for m in d["manifests"]]')"
expect_header "the filtered response has OCI-Filters-Applied" OCI-Filters-Applied artifactType
req GET "$V2/http/ref/referrers/$cfg_d"
expect_status "referrers of a digest without any answer 200" 200
expect_eq "... with an empty list" '[]' "$(json "$T/body" 'd["manifests"]')"
# A subject that is not in the registry is allowed (OCI distribution spec 1.1).
ghost="sha256:$(printf 'd%.0s' {1..64})"
artifact "$T/a-ghost.json" application/vnd.example.sig "$T/sig" "{\"mediaType\":\"$OCI_M\",\"digest\":\"$ghost\",\"size\":100}"
put_manifest http/ref "$(sha256_of "$T/a-ghost.json")" "$T/a-ghost.json" "$OCI_M"
expect_status "PUT of an artifact whose subject is absent answers 201" 201
expect_header "... with OCI-Subject" OCI-Subject "$ghost"
req GET "$V2/http/ref/referrers/$ghost"
expect_eq "the absent subject's referrers list it" "[\"$(sha256_of "$T/a-ghost.json")\"]" "$(json "$T/body" '[m["digest"] for m in d["manifests"]]')"

expect_eq "no request was answered 5xx" "" "$(grep -E '" 5[0-9][0-9] in=' "$server_log")"

# ---- SIGTERM with an idle keep-alive connection open ----
"$RS_PY" - "$server_port" >"$T/idle.out" 2>&1 <<'EOF' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
s.recv(4096)
time.sleep(30)
EOF
idle_pid=$!
track_pid "$idle_pid"
sleep 0.3
t0=$(date +%s%N)
stop_server "$main_pid"
elapsed_ms=$((($(date +%s%N) - t0) / 1000000))
expect_eq "SIGTERM stops the server with exit 0" 0 "$server_rc"
expect_eq "SIGTERM with only an idle connection open exits within 3 s" yes "$([ $elapsed_ms -lt 3000 ] && echo yes || echo "no (${elapsed_ms} ms)")"
kill "$idle_pid" 2>/dev/null
wait "$idle_pid" 2>/dev/null
_rs_untrack "$idle_pid"

# ---- a config file: delete disabled, access log off, small limits ----
oci_n=$(stat -c %s "$T/oci.json")
cat >"$T/limits.yml" <<EOF
delete: false
log:
  access: false
limits:
  shutdown_grace_s: 2
  max_list_entries: 2
  max_manifest_bytes: $oci_n
  max_header_bytes: 2048
EOF
start_server "$T/root-nodelete" --config "$T/limits.yml"
V2=$server_url/v2
push_blob nodel/x "$T/config"
push_blob nodel/x "$T/layer"
put_manifest nodel/x v1 "$T/oci.json" "$OCI_M"
req DELETE "$V2/nodel/x/manifests/$oci_d"
expect_error "delete disabled: DELETE manifest by digest answers 405 UNSUPPORTED" 405 UNSUPPORTED
req DELETE "$V2/nodel/x/manifests/v1"
expect_error "delete disabled: DELETE manifest by tag answers 405 UNSUPPORTED" 405 UNSUPPORTED
req DELETE "$V2/nodel/x/blobs/$lay_d"
expect_error "delete disabled: DELETE blob answers 405 UNSUPPORTED" 405 UNSUPPORTED
req GET "$V2/nodel/x/manifests/v1"
expect_status "delete disabled: the manifest is still there" 200
for t in b c a; do put_manifest nodel/x "$t" "$T/oci.json" "$OCI_M"; done
req GET "$V2/nodel/x/tags/list"
expect_eq "limits.max_list_entries: 2 caps a page without ?n=" '["a", "b"]' "$(json "$T/body" 'd["tags"]')"
expect_match "... and links to the next page" 'last=b' "$(hdr Link)"
req GET "$V2/nodel/x/tags/list?n=100"
expect_eq "... and a larger ?n=" '["a", "b"]' "$(json "$T/body" 'd["tags"]')"
{ cat "$T/oci.json"; printf ' '; } >"$T/oci-plus1.json"
put_manifest nodel/x big "$T/oci-plus1.json" "$OCI_M"
expect_error "limits.max_manifest_bytes: one byte more answers 413 SIZE_INVALID" 413 SIZE_INVALID
req GET "$V2/" -H "X-Big: $(printf 'h%.0s' {1..3000})"
expect_match "limits.max_header_bytes: 2048: a 3000-byte header is refused" '^(4[0-9][0-9]|000)$' "$status"
req GET "$V2/"
expect_status "... and the server still answers" 200
expect_eq "log.access: false: no access lines" "" "$(grep -E '"(GET|PUT|DELETE|POST) /v2/' "$server_log")"
# SIGTERM while an upload stalls mid-body: after shutdown_grace_s the connection is closed
# and the server still exits cleanly (it used to abort here, exit 134).
"$RS_PY" - "$server_port" >"$T/stalled.out" 2>&1 <<'EOF' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /v2/nodel/stall/blobs/uploads/?digest=sha256:" + b"0" * 64 +
          b" HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"x" * 5000)
time.sleep(30)
EOF
stalled_pid=$!
track_pid "$stalled_pid"
sleep 0.3
stop_server "$server_pid"
expect_eq "SIGTERM with an upload stalled past the grace period: exit 0" 0 "$server_rc"
expect_match "... after saying the grace period is over" 'grace period over' "$(cat "$server_log")"
expect_eq "... and the stalled monolithic upload left nothing" "" \
  "$(ls -A "$T/root-nodelete/docker/registry/v2/repositories/nodel/stall/_uploads" 2>/dev/null)"
kill "$stalled_pid" 2>/dev/null
wait "$stalled_pid" 2>/dev/null
_rs_untrack "$stalled_pid"

# ---- sd_notify: READY=1 once listening ----
"$RS_PY" - "$T/notify.sock" >"$T/notify.out" 2>&1 <<'EOF' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(20)
try:
    while True:
        msg = s.recv(4096).decode()
        print(msg.replace("\n", " "), flush=True)
        if "READY=1" in msg:
            break
except socket.timeout:
    print("timeout")
EOF
notify_pid=$!
track_pid "$notify_pid"
for _ in $(seq 100); do [ -S "$T/notify.sock" ] && break; sleep 0.05; done
NOTIFY_SOCKET=$T/notify.sock start_server "$T/root-notify"
_rs_wait_exit "$notify_pid" 10
expect_match "the server sends READY=1 to NOTIFY_SOCKET" 'READY=1' "$(cat "$T/notify.out")"
wait "$notify_pid" 2>/dev/null
_rs_untrack "$notify_pid"
stop_server "$server_pid"

# ---- upload purging at start (storage.maintenance.uploadpurging), caps on open uploads ----
# A data directory as an interrupted push leaves it: an upload started in 2020 (registry:2's
# startedat), one started now, and an atomic write's temp file from ten days ago.
purge_root=$T/root-purge
up=$purge_root/docker/registry/v2/repositories/http/purge/_uploads
old_up=11111111-2222-3333-4444-555555555555
new_up=66666666-7777-8888-9999-000000000000
mkdir -p "$up/$old_up" "$up/$new_up"
printf '2020-01-01T00:00:00Z' >"$up/$old_up/startedat"
head -c 1000 /dev/zero >"$up/$old_up/data"
date -u +%Y-%m-%dT%H:%M:%SZ | tr -d '\n' >"$up/$new_up/startedat"
: >"$up/$new_up/data"
tag_dir=$purge_root/docker/registry/v2/repositories/http/purge/_manifests/tags/v1/current
mkdir -p "$tag_dir"
printf 'partial' >"$tag_dir/.link.tmp-1-0-abcdef01"
touch -d '10 days ago' "$tag_dir/.link.tmp-1-0-abcdef01"
printf 'storage: {maintenance: {uploadpurging: {dryrun: true}}}\n' >"$T/purge-dry.yml"
start_server "$purge_root" --config "$T/purge-dry.yml"
wait_until 15 grep -q 'upload purge (dry run)' "$server_log"
expect_match "a dry run logs the upload it would remove" "would remove upload '[^']*/_uploads/$old_up' \\(1000 bytes\\)" \
  "$(cat "$server_log")"
expect_match "... and a summary" 'would remove 1 uploads, 1 temp files, 1007 bytes' "$(cat "$server_log")"
expect_cmd "... and removes nothing" test -d "$up/$old_up" -a -f "$tag_dir/.link.tmp-1-0-abcdef01"
stop_server "$server_pid"

printf 'limits: {max_uploads_per_repository: 2}\n' >"$T/purge.yml"
start_server "$purge_root" --config "$T/purge.yml"
wait_until 15 grep -q 'upload purge: removed [0-9]* uploads' "$server_log"
expect_match "serve purges at start: the old upload and the old temp file" \
  'upload purge: removed 1 uploads, 1 temp files, 1007 bytes' "$(cat "$server_log")"
expect_cmd "... the old upload is gone" test ! -e "$up/$old_up"
expect_cmd "... the temp file too" test ! -e "$tag_dir/.link.tmp-1-0-abcdef01"
expect_cmd "... the new upload stays" test -f "$up/$new_up/data"
# The upload that stayed counts against the cap (counted from the directory at start).
req POST "$server_url/v2/http/purge/blobs/uploads/"
expect_status "limits.max_uploads_per_repository: 2: a second upload starts" 202
second_loc=$(abs_url "$(hdr Location)")
req POST "$server_url/v2/http/purge/blobs/uploads/"
expect_error "... a third is refused with 429 TOOMANYREQUESTS" 429 TOOMANYREQUESTS
req POST "$server_url/v2/http/purge2/blobs/uploads/"
expect_status "... another repository is not held up" 202
req DELETE "$second_loc"
req POST "$server_url/v2/http/purge/blobs/uploads/"
expect_status "... a cancelled upload makes room" 202
stop_started=$SECONDS
stop_server "$server_pid"
expect_eq "SIGTERM while the purger waits for its next pass (24h): exit 0" 0 "$server_rc"
expect_match "... without waiting for it" '^[0-5]$' "$((SECONDS - stop_started))"

# ---- invalid config ----
printf 'listen: 127.0.0.1:0\nroot: %s\ndelet: true\nlimits:\n  max_connections: -1\n' "$T/root-bad" >"$T/bad.yml"
timeout 10 "$RS_BIN" serve --listen 127.0.0.1:0 --config "$T/bad.yml" >"$T/bad.out" 2>&1
expect_eq "an invalid config exits 2" 2 "$?"
expect_match "the message names the unknown key with file:line" "$T/bad.yml:3:.*delet" "$(cat "$T/bad.out")"
expect_match "the message names the bad value with file:line" "$T/bad.yml:5:.*max_connections" "$(cat "$T/bad.out")"
expect_cmd "an invalid config creates no root" test ! -e "$T/root-bad"
printf 'listen: [127.0.0.1\n' >"$T/bad2.yml"
timeout 10 "$RS_BIN" serve --listen 127.0.0.1:0 --config "$T/bad2.yml" >"$T/bad2.out" 2>&1
expect_eq "a config that is not YAML exits 2" 2 "$?"
expect_match "... with file:line in the message" "$T/bad2.yml:[0-9]+" "$(cat "$T/bad2.out")"
# Each an invalid configuration: exit 2, never an abort (134) or a later failure (3).
for bad in "--config $T" "--listen nope" "--listen 999.1.1.1:5000" "--listen a_b:5000"; do
  # shellcheck disable=SC2086
  timeout 10 "$RS_BIN" serve --root "$T/root-bad3" $bad >"$T/bad3.out" 2>&1
  expect_eq "serve $bad exits 2" 2 "$?"
done
printf '? [a]\n: 1\nroot: /a\nroot: /b\nthreads: 100000\n' >"$T/bad4.yml"
timeout 10 "$RS_BIN" serve --listen 127.0.0.1:0 --config "$T/bad4.yml" >"$T/bad4.out" 2>&1
expect_eq "a config with a list as a key, a key twice and 100000 threads exits 2" 2 "$?"
expect_match "... naming the repeated key" "bad4.yml:4: key 'root': set twice" "$(cat "$T/bad4.out")"
printf 'storage:\n  maintenance:\n    uploadpurging:\n      age: 7d\n' >"$T/bad5.yml"
timeout 10 "$RS_BIN" serve --listen 127.0.0.1:0 --config "$T/bad5.yml" >"$T/bad5.out" 2>&1
expect_eq "a config with a purge age of 7d (no unit d) exits 2" 2 "$?"
expect_match "... naming the key with file:line" "bad5.yml:4: key 'storage.maintenance.uploadpurging.age'" \
  "$(cat "$T/bad5.out")"

finish
