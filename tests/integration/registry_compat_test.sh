#!/usr/bin/env bash
# Two-way compatibility with distribution (Debian's docker-registry, registry:2): a data
# directory written by our server is served by docker-registry, and one written by
# docker-registry is served by ours; skopeo pulls the same bytes from both, the listings
# agree, and the same pushes leave the same files on disk. A referrer docker-registry stored
# is listed by ours (its repository scanned into our subject index), and docker-registry
# serves and lists a root holding that index as before.
. "$(dirname "$0")/lib.sh"
require skopeo curl python3 docker-registry

T=$RS_TMP
# start_reference ROOT: docker-registry on a free port; sets ref_pid, ref_url, ref_host.
_ref_count=0
start_reference() {
  local port
  for _ in 1 2 3; do
    _ref_count=$((_ref_count + 1))
    port=$(free_port)
    cat >"$T/reference-$_ref_count.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $1
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  secret: integration-test
EOF
    # Debian's build reads AWS_CA_BUNDLE even for the filesystem driver.
    env -u AWS_CA_BUNDLE docker-registry serve "$T/reference-$_ref_count.yml" >"$T/reference-$_ref_count.log" 2>&1 &
    ref_pid=$!
    track_pid "$ref_pid"
    ref_host=127.0.0.1:$port
    ref_url=http://$ref_host
    if wait_http "$ref_url/v2/" 15 && _rs_alive "$ref_pid"; then return 0; fi
    # The port was taken between asking and binding: try another.
    stop_reference
  done
  cat "$T/reference-$_ref_count.log"
  die "docker-registry did not start"
}
stop_reference() {
  kill -TERM "$ref_pid" 2>/dev/null
  _rs_wait_exit "$ref_pid" 10 || kill -KILL "$ref_pid" 2>/dev/null
  wait "$ref_pid" 2>/dev/null
  _rs_untrack "$ref_pid"
}

# push_all HOST: the same pushes to either registry; digests land in $T/d-*.
push_all() {
  expect_cmd "$2: skopeo pushes an OCI image" \
    skopeo copy -q "${tls[@]}" --preserve-digests --digestfile "$T/d-oci" oci:"$T/img-oci":v1 docker://$1/compat/oci:v1
  expect_cmd "$2: skopeo pushes it under a second tag" \
    skopeo copy -q "${tls[@]}" --preserve-digests oci:"$T/img-oci":v1 docker://$1/compat/oci:v2
  expect_cmd "$2: skopeo pushes a Docker schema2 image" \
    skopeo copy -q "${tls[@]}" --format v2s2 --digestfile "$T/d-docker" oci:"$T/img-oci":v1 docker://$1/compat/docker:v1
  expect_cmd "$2: skopeo pushes an OCI index (--all)" \
    skopeo copy -q "${tls[@]}" --all --preserve-digests --digestfile "$T/d-index" oci:"$T/img-index":multi docker://$1/nested/path/multi:multi
}

# listings URL: catalog and sorted tags of each repository, one line each.
listings() {
  local r
  req GET "$1/v2/_catalog"
  echo "catalog $(json "$T/body" 'd["repositories"]')"
  for r in compat/oci compat/docker nested/path/multi; do
    req GET "$1/v2/$r/tags/list"
    echo "$r $(json "$T/body" 'sorted(d["tags"])')"
  done
}

# pull_and_compare HOST WHO: pulls everything back and compares with what was pushed.
pull_and_compare() {
  local host=$1 who=$2 dir=$T/pull-$2
  expect_eq "$who: the OCI image has its digest" "$oci_digest" "$(raw_digest docker://$host/compat/oci:v1)"
  expect_eq "$who: the second tag has the same digest" "$oci_digest" "$(raw_digest docker://$host/compat/oci:v2)"
  expect_eq "$who: the schema2 image has the digest pushed" "$docker_digest" "$(raw_digest docker://$host/compat/docker:v1)"
  expect_eq "$who: the index has its digest" "$index_digest" "$(raw_digest docker://$host/nested/path/multi:multi)"
  expect_cmd "$who: skopeo pulls the OCI image" \
    skopeo copy -q "${tls[@]}" --preserve-digests docker://$host/compat/oci:v1 oci:"$dir-oci":v1
  expect_cmd "$who: the OCI image's blobs are byte for byte the pushed ones" same_blobs "$T/img-oci" "$dir-oci"
  expect_cmd "$who: skopeo pulls the schema2 image" \
    skopeo copy -q "${tls[@]}" --preserve-digests docker://$host/compat/docker:v1 dir:"$dir-docker"
  expect_eq "$who: the pulled schema2 manifest" "$docker_digest" "$(sha256_of "$dir-docker/manifest.json")"
  local l ok=yes
  for l in $(json "$T/img-oci/blobs/sha256/${oci_digest#sha256:}" '" ".join(x["digest"][7:] for x in d["layers"])'); do
    cmp -s "$T/img-oci/blobs/sha256/$l" "$dir-docker/$l" || ok="layer $l differs or is missing"
  done
  expect_eq "$who: the schema2 image's layers are byte for byte the pushed ones" yes "$ok"
  expect_cmd "$who: skopeo pulls the index with --all" \
    skopeo copy -q "${tls[@]}" --all --preserve-digests docker://$host/nested/path/multi:multi oci:"$dir-index":multi
  expect_cmd "$who: the index's blobs are byte for byte the pushed ones" same_blobs "$T/img-index" "$dir-index"
}

# The files a registry data directory holds, without uploads in progress.
tree_files() { (cd "$1/docker/registry/v2" && find . -type f ! -path '*/_uploads/*' | sort); }

make_layout "$T/img-oci" --tag v1 --layers 2 --layer-size 200000 --seed 11
make_layout "$T/img-index" --tag multi --index --seed 12
oci_digest=$(layout_digest "$T/img-oci")
index_digest=$(layout_digest "$T/img-index")

# ---- ours writes, docker-registry serves ----
start_server "$T/root-ours"
push_all "127.0.0.1:$server_port" "ours"
[ "$(cat "$T/d-oci")" = "$oci_digest" ] || fail "ours: the OCI image was pushed with its digest" "got $(cat "$T/d-oci")"
docker_digest=$(cat "$T/d-docker")
listings "$server_url" >"$T/listings-ours-written"
stop_server "$server_pid"
expect_eq "our server stops with exit 0" 0 "$server_rc"

start_reference "$T/root-ours"
pull_and_compare "$ref_host" "docker-registry serving our data"
listings "$ref_url" >"$T/listings-ref-serving-ours"
expect_eq "docker-registry lists our data as we do" "$(cat "$T/listings-ours-written")" "$(cat "$T/listings-ref-serving-ours")"
req GET "$ref_url/v2/compat/docker/manifests/v1" -H 'Accept: application/vnd.docker.distribution.manifest.v2+json'
expect_header "docker-registry serves our schema2 manifest with its media type" Content-Type \
  application/vnd.docker.distribution.manifest.v2+json
stop_reference

# ---- docker-registry writes, ours serves ----
start_reference "$T/root-ref"
push_all "$ref_host" "docker-registry"
expect_eq "docker-registry got the same schema2 digest" "$docker_digest" "$(cat "$T/d-docker")"
listings "$ref_url" >"$T/listings-ref-written"
# An upload docker-registry leaves in flight (its hash state is Go-serialized: not ours to resume).
req POST "$ref_url/v2/compat/oci/blobs/uploads/"
ref_upload=$(hdr Docker-Upload-UUID)
req PATCH "$(abs_url "$(hdr Location)")" -H 'Content-Type: application/octet-stream' --data-binary @"$T/img-oci/oci-layout"
expect_status "docker-registry keeps an upload in flight" 202
stop_reference

# ---- the same pushes leave the same files, with the same bytes ----
tree_files "$T/root-ours" >"$T/tree-ours"
tree_files "$T/root-ref" >"$T/tree-ref"
expect_match "the data directories are not empty" "^[0-9]{2,}$" "$(wc -l <"$T/tree-ref")"
expect_eq "the same pushes leave the same files on disk (ours vs docker-registry)" "" \
  "$(diff "$T/tree-ref" "$T/tree-ours" | grep '^[<>]' | sed 's/^</only docker-registry:/; s/^>/only ours:/' | head -20)"
differ=
while read -r f; do
  cmp -s "$T/root-ours/docker/registry/v2/$f" "$T/root-ref/docker/registry/v2/$f" || differ+="$f "
done < <(comm -12 "$T/tree-ours" "$T/tree-ref")
expect_eq "every file both wrote has the same bytes (links: sha256:<hex>, no newline)" "" "$differ"

# ---- a referrer docker-registry stored (it knows no subject index): ours finds it ----
oci_type=application/vnd.oci.image.manifest.v1+json
"$RS_PY" - "$T/img-oci/blobs/sha256/${oci_digest#sha256:}" "$oci_digest" >"$T/referrer.json" <<'EOF'
import json, os, sys
m = json.load(open(sys.argv[1]))
m["artifactType"] = "application/vnd.example.sig"
m["subject"] = {"mediaType": m.get("mediaType", "application/vnd.oci.image.manifest.v1+json"),
                "digest": sys.argv[2], "size": os.path.getsize(sys.argv[1])}
sys.stdout.write(json.dumps(m, separators=(",", ":")))
EOF
referrer_digest=$(sha256_of "$T/referrer.json")
start_reference "$T/root-ref"
req PUT "$ref_url/v2/compat/oci/manifests/$referrer_digest" -H "Content-Type: $oci_type" --data-binary @"$T/referrer.json"
expect_status "docker-registry stores a manifest with a subject" 201
stop_reference
tree_files "$T/root-ref" >"$T/tree-ref"

# ---- docker-registry's data, served by ours ----
start_server "$T/root-ref"
pull_and_compare "127.0.0.1:$server_port" "ours serving docker-registry's data"
listings "$server_url" >"$T/listings-ours-serving-ref"
expect_eq "we list docker-registry's data as it does" "$(cat "$T/listings-ref-written")" "$(cat "$T/listings-ours-serving-ref")"
for r in compat/oci:v1 compat/docker:v1 nested/path/multi:multi; do
  req HEAD "$server_url/v2/${r%:*}/manifests/${r#*:}" -H 'Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json'
  expect_status "HEAD $r on docker-registry's data answers 200" 200
done
# Ours can keep working on docker-registry's data: push a new tag and delete one.
expect_cmd "ours pushes into docker-registry's data" \
  skopeo copy -q "${tls[@]}" --preserve-digests oci:"$T/img-oci":v1 docker://127.0.0.1:$server_port/compat/oci:v3
req DELETE "$server_url/v2/compat/oci/manifests/v3"
expect_status "ours deletes that tag again" 202
expect_eq "a tag pushed and deleted by ours leaves docker-registry's files as they were" "" \
  "$(diff "$T/tree-ref" <(tree_files "$T/root-ref") | grep '^[<>]' | head -5)"
req GET "$server_url/v2/compat/oci/referrers/$oci_digest"
expect_eq "ours lists the referrer docker-registry stored (a scan, then the index)" "[\"$referrer_digest\"]" \
  "$(json "$T/body" '[m["digest"] for m in d["manifests"]]')"
# Ours left its index beside docker-registry's files: only there.
expect_eq "ours wrote only its subject index into docker-registry's data" "" \
  "$(diff "$T/tree-ref" <(tree_files "$T/root-ref") | grep '^[<>]' | grep -v '^> ./repositories/compat/oci/_referrers/' | head -5)"
# docker-registry's upload in flight: resumed correctly, or unknown; never a 5xx or a wrong blob.
up_url=$server_url/v2/compat/oci/blobs/uploads/$ref_upload
req GET "$up_url"
if [ "$status" = 204 ]; then
  expect_header "ours resumes docker-registry's upload in flight at its offset" Range "0-$(($(stat -c %s "$T/img-oci/oci-layout") - 1))"
  cat "$T/img-oci/oci-layout" "$T/img-oci/index.json" >"$T/resumed"
  req PATCH "$up_url" -H 'Content-Type: application/octet-stream' --data-binary @"$T/img-oci/index.json"
  req PUT "$up_url?digest=$(sha256_of "$T/resumed")"
  expect_status "... and completes it" 201
  req GET "$server_url/v2/compat/oci/blobs/$(sha256_of "$T/resumed")"
  expect_cmd "... into the right blob" cmp "$T/body" "$T/resumed"
else
  expect_error "docker-registry's upload in flight is unknown to ours" 404 BLOB_UPLOAD_UNKNOWN
fi
stop_server "$server_pid"
expect_eq "our server stops with exit 0" 0 "$server_rc"

# ---- docker-registry serves a root with our subject index ----
start_reference "$T/root-ref"
listings "$ref_url" >"$T/listings-ref-with-index"
expect_eq "docker-registry lists its data with our index beside it as before" "$(cat "$T/listings-ref-written")" \
  "$(cat "$T/listings-ref-with-index")"
req GET "$ref_url/v2/compat/oci/manifests/$referrer_digest" -H "Accept: $oci_type"
expect_cmd "docker-registry serves the referrer's bytes" cmp "$T/body" "$T/referrer.json"
stop_reference

finish
