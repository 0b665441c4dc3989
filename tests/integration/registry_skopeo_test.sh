#!/usr/bin/env bash
# skopeo against our registry: pushes an OCI image, a Docker schema2 image and an OCI index,
# inspects, copies across repositories (cross-repository mount), pulls back and compares
# bytes, deletes by digest, lists the catalog.
. "$(dirname "$0")/lib.sh"
require skopeo curl python3

make_layout "$RS_TMP/img-oci" --tag v1 --layers 3 --layer-size 100000 --seed 1
make_layout "$RS_TMP/img-oci2" --tag v2 --layers 1 --seed 3
make_layout "$RS_TMP/img-index" --tag multi --index --seed 2
oci_digest=$(layout_digest "$RS_TMP/img-oci")
oci2_digest=$(layout_digest "$RS_TMP/img-oci2")
index_digest=$(layout_digest "$RS_TMP/img-index")

start_server "$RS_TMP/root"
reg=127.0.0.1:$server_port

# ---- push ----
expect_cmd "skopeo pushes an OCI image" \
  skopeo copy -q "${tls[@]}" --preserve-digests --digestfile "$RS_TMP/d-oci" oci:"$RS_TMP/img-oci":v1 docker://$reg/test/oci:v1
expect_eq "the pushed OCI manifest keeps its digest" "$oci_digest" "$(cat "$RS_TMP/d-oci" 2>/dev/null)"
expect_eq "inspect --raw of the OCI image has the pushed digest" "$oci_digest" "$(raw_digest docker://$reg/test/oci:v1)"
expect_cmd "the raw OCI manifest is byte for byte the layout's" cmp "$RS_TMP/raw" "$RS_TMP/img-oci/blobs/sha256/${oci_digest#sha256:}"

expect_cmd "skopeo pushes a second OCI image as another tag" \
  skopeo copy -q "${tls[@]}" --preserve-digests oci:"$RS_TMP/img-oci2":v2 docker://$reg/test/oci:v2

expect_cmd "skopeo pushes a Docker schema2 image (--format v2s2)" \
  skopeo copy -q "${tls[@]}" --format v2s2 --digestfile "$RS_TMP/d-docker" oci:"$RS_TMP/img-oci":v1 docker://$reg/test/docker:v1
docker_digest=$(cat "$RS_TMP/d-docker" 2>/dev/null)
expect_eq "inspect --raw of the schema2 image has the pushed digest" "$docker_digest" "$(raw_digest docker://$reg/test/docker:v1)"
expect_eq "the stored schema2 manifest has the Docker media type" \
  application/vnd.docker.distribution.manifest.v2+json "$(json "$RS_TMP/raw" 'd["mediaType"]')"
req HEAD "$server_url/v2/test/docker/manifests/v1" -H 'Accept: application/vnd.docker.distribution.manifest.v2+json'
expect_header "HEAD of the schema2 manifest: Content-Type is the Docker media type" Content-Type \
  application/vnd.docker.distribution.manifest.v2+json
expect_header "HEAD of the schema2 manifest: Docker-Content-Digest" Docker-Content-Digest "$docker_digest"

expect_cmd "skopeo pushes an OCI index with --all" \
  skopeo copy -q "${tls[@]}" --all --preserve-digests --digestfile "$RS_TMP/d-index" oci:"$RS_TMP/img-index":multi docker://$reg/test/multi:multi
expect_eq "the pushed index keeps its digest" "$index_digest" "$(cat "$RS_TMP/d-index" 2>/dev/null)"
expect_eq "inspect --raw of the index has the pushed digest" "$index_digest" "$(raw_digest docker://$reg/test/multi:multi)"
for child in $(json "$RS_TMP/img-index/blobs/sha256/${index_digest#sha256:}" '" ".join(m["digest"] for m in d["manifests"])'); do
  expect_eq "the index's child $child is there by digest" "$child" "$(raw_digest docker://$reg/test/multi@$child)"
done
req GET "$server_url/v2/test/multi/manifests/multi"
expect_header "GET of the index: Content-Type is the OCI index type" Content-Type application/vnd.oci.image.index.v1+json

expect_cmd "skopeo pushes a Docker manifest list (--all --format v2s2)" \
  skopeo copy -q "${tls[@]}" --all --format v2s2 --digestfile "$RS_TMP/d-list" oci:"$RS_TMP/img-index":multi docker://$reg/test/list:multi
list_digest=$(cat "$RS_TMP/d-list" 2>/dev/null)
expect_eq "inspect --raw of the manifest list has the pushed digest" "$list_digest" "$(raw_digest docker://$reg/test/list:multi)"
req HEAD "$server_url/v2/test/list/manifests/multi" -H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json'
expect_header "HEAD of the manifest list: Content-Type is the Docker list type" Content-Type \
  application/vnd.docker.distribution.manifest.list.v2+json
expect_cmd "skopeo pulls the manifest list with --all" \
  skopeo copy -q "${tls[@]}" --all --preserve-digests docker://$reg/test/list:multi dir:"$RS_TMP/pull-list"
expect_eq "the pulled manifest list digest" "$list_digest" "$(sha256_of "$RS_TMP/pull-list/manifest.json")"

# ---- copy across repositories: blobs are mounted, not uploaded again ----
expect_cmd "skopeo copies test/oci:v1 to test/oci-copy:v1" \
  skopeo copy -q "${tls[@]}" --preserve-digests docker://$reg/test/oci:v1 docker://$reg/test/oci-copy:v1
mounts=$(grep -cE '"POST /v2/test/oci-copy/blobs/uploads/\?[^"]*mount=[^"]*" 201 ' "$server_log")
expect_eq "the copy mounted the 3 layers (POST ?mount=&from= answered 201 in the access log)" 3 "$mounts"
expect_eq "the copy sent no layer bytes" 0 \
  "$(grep -E '"PATCH /v2/test/oci-copy/blobs/uploads/' "$server_log" | grep -vcE ' in=[0-9]{1,3} ')"
expect_eq "the copied image has the same digest" "$oci_digest" "$(raw_digest docker://$reg/test/oci-copy:v1)"

# ---- pull back and compare bytes ----
expect_cmd "skopeo pulls the OCI image into an OCI layout" \
  skopeo copy -q "${tls[@]}" --preserve-digests docker://$reg/test/oci:v1 oci:"$RS_TMP/pull-oci":v1
expect_eq "the pulled OCI manifest digest" "$oci_digest" "$(layout_digest "$RS_TMP/pull-oci")"
expect_cmd "the pulled manifest, config and layers are byte for byte the pushed ones" same_blobs "$RS_TMP/img-oci" "$RS_TMP/pull-oci"

expect_cmd "skopeo pulls the schema2 image into a dir: layout" \
  skopeo copy -q "${tls[@]}" --preserve-digests docker://$reg/test/docker:v1 dir:"$RS_TMP/pull-docker"
expect_eq "the pulled schema2 manifest digest" "$docker_digest" "$(sha256_of "$RS_TMP/pull-docker/manifest.json")"
layers_ok=yes
for l in $(json "$RS_TMP/img-oci/blobs/sha256/${oci_digest#sha256:}" '" ".join(x["digest"][7:] for x in d["layers"])'); do
  cmp -s "$RS_TMP/img-oci/blobs/sha256/$l" "$RS_TMP/pull-docker/$l" || layers_ok="layer $l differs or is missing"
done
expect_eq "the schema2 image's layers pulled back byte for byte" yes "$layers_ok"

expect_cmd "skopeo pulls the index with --all into an OCI layout" \
  skopeo copy -q "${tls[@]}" --all --preserve-digests docker://$reg/test/multi:multi oci:"$RS_TMP/pull-index":multi
expect_eq "the pulled index digest" "$index_digest" "$(layout_digest "$RS_TMP/pull-index")"
expect_cmd "the pulled index, manifests, configs and layers are byte for byte the pushed ones" \
  same_blobs "$RS_TMP/img-index" "$RS_TMP/pull-index"

# ---- tags and catalog ----
expect_eq "skopeo list-tags test/oci" '["v1", "v2"]' \
  "$(skopeo list-tags --tls-verify=false docker://$reg/test/oci | "$RS_PY" -c 'import json,sys; print(json.dumps(sorted(json.load(sys.stdin)["Tags"])))')"
req GET "$server_url/v2/_catalog"
expect_eq "the catalog lists the repositories, sorted" '["test/docker", "test/list", "test/multi", "test/oci", "test/oci-copy"]' \
  "$(json "$RS_TMP/body" 'd["repositories"]')"

# ---- delete by digest ----
expect_cmd "skopeo deletes test/oci@$oci_digest" skopeo delete --tls-verify=false docker://$reg/test/oci@$oci_digest
req GET "$server_url/v2/test/oci/manifests/$oci_digest"
expect_error "the deleted manifest is gone by digest" 404 MANIFEST_UNKNOWN
req GET "$server_url/v2/test/oci/manifests/v1"
expect_error "the tag of the deleted manifest is gone" 404 MANIFEST_UNKNOWN
if skopeo inspect --raw --tls-verify=false docker://$reg/test/oci:v1 >/dev/null 2>&1; then
  fail "skopeo inspect of the deleted image fails"
else
  pass "skopeo inspect of the deleted image fails"
fi
expect_eq "the other tag of the repository still works" "$oci2_digest" "$(raw_digest docker://$reg/test/oci:v2)"
req GET "$server_url/v2/test/oci/tags/list"
expect_eq "tags/list no longer lists the deleted manifest's tag" '["v2"]' "$(json "$RS_TMP/body" 'd["tags"]')"
expect_eq "the same manifest in another repository still works" "$oci_digest" "$(raw_digest docker://$reg/test/oci-copy:v1)"
expect_cmd "the image can be pushed again after the delete" \
  skopeo copy -q "${tls[@]}" --preserve-digests oci:"$RS_TMP/img-oci":v1 docker://$reg/test/oci:v1
expect_eq "the re-pushed image is served" "$oci_digest" "$(raw_digest docker://$reg/test/oci:v1)"

expect_eq "no request was answered 5xx" "" "$(grep -E '" 5[0-9][0-9] in=' "$server_log")"
stop_server "$server_pid"
expect_eq "SIGTERM stops the server with exit 0" 0 "$server_rc"
finish
