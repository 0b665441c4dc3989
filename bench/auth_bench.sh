#!/usr/bin/env bash
# Benchmark (not a test) of auth's cost: manifest GETs (wrk, 32 connections) on
# `registry-setup serve` without auth, with Basic credentials on every request (htpasswd,
# bcrypt cost 10) and with a bearer token from its own token server, as ratios of the run
# without auth; Debian's docker-registry (distribution 2.8.2) with the same htpasswd file as
# the reference, in the same run. Each figure is the median of BENCH_TURNS interleaved turns.
#
# Needs:  scripts/install-deps.sh bench (wrk docker-registry apache2-utils curl), python3,
#         a built build/registry-setup. Usage: bench/auth_bench.sh
# Environment: REGISTRY_SETUP (the binary), BENCH_SECONDS (per run, default 5), BENCH_TURNS (5)
# Takes about 2 minutes; talks to 127.0.0.1 only; ends only the processes it started.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(dirname "$here")
BIN=${REGISTRY_SETUP:-$repo_root/build/registry-setup}
SECS=${BENCH_SECONDS:-5}
TURNS=${BENCH_TURNS:-5}
ACCEPT="application/vnd.oci.image.manifest.v1+json"
log() { printf '[auth-bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
for tool in curl wrk docker-registry htpasswd python3; do command -v "$tool" >/dev/null || die "$tool missing"; done
[ -x "$BIN" ] || die "no binary at $BIN"

WORK=$(mktemp -d /var/tmp/rs-auth-bench.XXXXXX)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { local i; for i in $(seq 150); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; return 1; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
to_ms() { awk -v v="$1" 'BEGIN{ if (v ~ /us$/) {sub(/us$/,"",v); print v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v+0} else if (v ~ /s$/) {sub(/s$/,"",v); print v*1000} else print v }'; }

htpasswd -Bbn -C 10 bench bench-pw >"$WORK/htpasswd"
P_OPEN=$(free_port); P_BASIC=$(free_port); P_TOKEN=$(free_port); P_DR=$(free_port)
cat >"$WORK/basic.yml" <<YML
log: {level: warn, access: true}
auth: {htpasswd: {realm: bench, path: $WORK/htpasswd}}
YML
cat >"$WORK/token.yml" <<YML
log: {level: warn, access: true}
auth:
  htpasswd: {realm: bench, path: $WORK/htpasswd}
  token: {service: bench, issuer: bench, signingkey: $WORK/token.key}
YML
cat >"$WORK/dr.yml" <<YML
version: 0.1
log: {level: error}
storage: {cache: {blobdescriptor: inmemory}, filesystem: {rootdirectory: $WORK/dr}}
http: {addr: 127.0.0.1:$P_DR}
auth: {htpasswd: {realm: bench, path: $WORK/htpasswd}}
YML
"$BIN" serve --listen 127.0.0.1:$P_OPEN --root "$WORK/open" 2>"$WORK/open.log" & PIDS+=($!)
"$BIN" serve --config "$WORK/basic.yml" --listen 127.0.0.1:$P_BASIC --root "$WORK/basic" 2>"$WORK/basic.log" & PIDS+=($!)
"$BIN" serve --config "$WORK/token.yml" --listen 127.0.0.1:$P_TOKEN --root "$WORK/token" 2>"$WORK/token.log" & PIDS+=($!)
env -u AWS_CA_BUNDLE -u REGISTRY_AUTH_FILE docker-registry serve "$WORK/dr.yml" >"$WORK/dr.log" 2>&1 & PIDS+=($!)
for p in $P_OPEN $P_BASIC $P_TOKEN $P_DR; do wait_http "http://127.0.0.1:$p/v2/" || die "a server on $p did not start"; done

# One image in each, pushed with curl (config, layer, manifest).
push_image() {  # PORT [CURL-AUTH-ARGS...]
  local port=$1; shift
  local base=http://127.0.0.1:$port cfg='{}' layer=layer-bytes
  local dc dl manifest
  dc=sha256:$(printf %s "$cfg" | sha256sum | cut -d' ' -f1)
  dl=sha256:$(printf %s "$layer" | sha256sum | cut -d' ' -f1)
  curl -sf -o /dev/null "$@" -X POST --data-binary "$cfg" "$base/v2/bench/img/blobs/uploads/?digest=$dc" -H 'Content-Type: application/octet-stream' ||
    { loc=$(curl -sf -D - -o /dev/null "$@" -X POST "$base/v2/bench/img/blobs/uploads/" | tr -d '\r' | awk -F': ' 'tolower($1)=="location"{print $2}')
      case $loc in http*) ;; *) loc=$base$loc ;; esac
      curl -sf -o /dev/null "$@" -X PUT --data-binary "$cfg" "$loc&digest=$dc" -H 'Content-Type: application/octet-stream'; }
  loc=$(curl -sf -D - -o /dev/null "$@" -X POST "$base/v2/bench/img/blobs/uploads/" | tr -d '\r' | awk -F': ' 'tolower($1)=="location"{print $2}')
  case $loc in http*) ;; *) loc=$base$loc ;; esac
  curl -sf -o /dev/null "$@" -X PUT --data-binary "$layer" "$loc$( [[ $loc == *\?* ]] && echo '&' || echo '?')digest=$dl" -H 'Content-Type: application/octet-stream'
  manifest='{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"'$dc'","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"'$dl'","size":11}]}'
  curl -sf -o /dev/null "$@" -X PUT --data-binary "$manifest" -H "Content-Type: $ACCEPT" "$base/v2/bench/img/manifests/latest" || die "push to $port failed"
}
TOKEN=$(curl -sf -u bench:bench-pw "http://127.0.0.1:$P_TOKEN/auth/token?service=bench&scope=repository:bench/img:pull,push" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
BASIC="Authorization: Basic $(printf bench:bench-pw | base64)"
push_image $P_OPEN
push_image $P_BASIC -H "$BASIC"
push_image $P_TOKEN -H "Authorization: Bearer $TOKEN"
push_image $P_DR -H "$BASIC"

run_wrk() {  # URL HEADER -> "rps p99ms"
  local out rps p99
  out=$(wrk -t2 -c32 -d"${SECS}s" --latency -H "Accept: $ACCEPT" ${2:+-H "$2"} "$1" 2>&1)
  grep -q 'Non-2xx' <<<"$out" && die "non-2xx answers from $1: $(grep Non-2xx <<<"$out")"
  rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
  p99=$(to_ms "$(awk '$1=="99%"{print $2}' <<<"$out")")
  echo "$rps $p99"
}
declare -A RPS P99
for kind in open basic token dr; do RPS[$kind]=""; P99[$kind]=""; done
for turn in $(seq "$TURNS"); do
  for kind in open basic token dr; do
    case $kind in
      open) r=$(run_wrk "http://127.0.0.1:$P_OPEN/v2/bench/img/manifests/latest" "") ;;
      basic) r=$(run_wrk "http://127.0.0.1:$P_BASIC/v2/bench/img/manifests/latest" "$BASIC") ;;
      token) r=$(run_wrk "http://127.0.0.1:$P_TOKEN/v2/bench/img/manifests/latest" "Authorization: Bearer $TOKEN") ;;
      dr) r=$(run_wrk "http://127.0.0.1:$P_DR/v2/bench/img/manifests/latest" "$BASIC") ;;
    esac
    RPS[$kind]+="${r% *} "; P99[$kind]+="${r#* } "
  done
  log "turn $turn done"
done
m() { median ${RPS[$1]}; }
p() { median ${P99[$1]}; }
echo "$(nproc) cores, kernel $(uname -r); manifest GET, wrk 32 connections, ${SECS}s x $TURNS turns (medians)"
printf '%-34s %12s %10s %12s\n' "server" "req/s" "p99 ms" "vs no auth"
for kind in open basic token dr; do
  case $kind in open) label="ours, no auth" ;; basic) label="ours, Basic on every request" ;;
    token) label="ours, bearer token (own issuer)" ;; dr) label="docker-registry, Basic (htpasswd)" ;; esac
  printf '%-34s %12.0f %10.2f %12s\n' "$label" "$(m $kind)" "$(p $kind)" "$(awk -v a="$(m $kind)" -v b="$(m open)" 'BEGIN{printf "%.2f", a/b}')"
done
echo "target: Basic and bearer >= 0.80 of no auth"
