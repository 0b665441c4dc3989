#!/usr/bin/env bash
# A full disk: the server runs in a private mount namespace whose root is an 8 MiB tmpfs.
# Uploads that do not fit fail with 500 and the reason, store no blob, leave no upload
# behind, and the server goes on serving: once space is free, pushes work again.
# The machine's own mounts are untouched. Exit 77 = skipped (not root).
. "$(dirname "$0")/lib.sh"
require curl python3 unshare nsenter
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root for a private mount namespace"; exit 77; }

T=$RS_TMP
root=$T/small
mkdir -p "$root"
real_bin=$RS_BIN
# The server's own view: ROOT is a fresh 8 MiB tmpfs that only its mount namespace sees.
cat >"$T/serve-on-small-disk" <<EOF
#!/bin/sh
exec unshare -m --propagation private sh -c 'mount -t tmpfs -o size=8m tmpfs "$root" && exec "\$0" "\$@"' "$real_bin" "\$@"
EOF
chmod +x "$T/serve-on-small-disk"
RS_BIN=$T/serve-on-small-disk
start_server "$root"
V2=$server_url/v2
oct=(-H 'Content-Type: application/octet-stream')
# Files as the server sees them (inside its mount namespace).
in_server() { nsenter -t "$server_pid" -m -- "$@"; }
expect_eq "the server's root is its own 8 MiB tmpfs" "tmpfs 8388608" \
  "$(in_server stat -f -c '%T %b' "$root" | awk '{print $1, $2 * 4096}')"

head -c 20000000 /dev/urandom >"$T/big"
head -c 3000000 /dev/urandom >"$T/fits"
big_d=$(sha256_of "$T/big") fits_d=$(sha256_of "$T/fits")

# Monolithic: the body runs out of space half way.
req POST "$V2/full/mono/blobs/uploads/?digest=$big_d" "${oct[@]}" --data-binary @"$T/big"
expect_error "a monolithic upload larger than the disk: 500 UNKNOWN" 500 UNKNOWN
req HEAD "$V2/full/mono/blobs/$big_d"
expect_status "... stores no blob" 404
gone_uploads() { [ -z "$(in_server find "$root" -path '*/_uploads/*' -type f)" ]; }
expect_cmd "... and leaves no upload behind" wait_until 5 gone_uploads

# Chunked: the PATCH that does not fit fails; what was stored stays a prefix of what was sent.
req POST "$V2/full/chunked/blobs/uploads/"
loc=$(abs_url "$(hdr Location)")
req PATCH "$loc" "${oct[@]}" --data-binary @"$T/big"
expect_error "a PATCH larger than the disk: 500 UNKNOWN" 500 UNKNOWN
expect_match "... saying why" 'No space left on device' "$(body)"
expect_eq "... without telling where the root is" "" "$(body | grep -F "$root")"
expect_match "the server's log says why too" 'answering 500: .*No space left on device' "$(cat "$server_log")"
req GET "$loc"
expect_status "... the upload still exists" 204
held=$(hdr Range)
held=${held#0-}
echo "note: the upload holds $((held + 1)) of $(stat -c %s "$T/big") bytes"
expect_match "... and reports what it holds" '^[0-9]+$' "$held"
data=$(in_server find "$root" -path '*/_uploads/*/data' -type f)
prefix_of_sent() { in_server head -c "$((held + 1))" "$data" | cmp -s - <(head -c "$((held + 1))" "$T/big"); }
expect_cmd "... which is exactly the start of what was sent" prefix_of_sent
req DELETE "$loc"
expect_status "... and cancelling it frees the space" 204

# The server is fine: a blob that fits goes in and reads back.
req POST "$V2/full/after/blobs/uploads/?digest=$fits_d" "${oct[@]}" --data-binary @"$T/fits"
expect_status "after the disk was full, a blob that fits is stored" 201
curl -s -o "$T/fits-back" "$V2/full/after/blobs/$fits_d"
expect_cmd "... and reads back byte for byte" cmp -s "$T/fits" "$T/fits-back"
req GET "$V2/"
expect_status "the server still answers /v2/" 200
stop_server "$server_pid"
expect_eq "SIGTERM stops it with exit 0" 0 "$server_rc"
finish
