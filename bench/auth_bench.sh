#!/usr/bin/env bash
# Benchmark (not a test) of auth's cost: manifest GETs and small blob GETs (wrk, 32
# connections) on `registry-setup serve` without auth, with Basic credentials on every
# request (htpasswd, bcrypt cost 10) and with a bearer token from its own token server, as
# ratios of the run without auth; Debian's docker-registry (distribution 2.8.2) with the same
# htpasswd file as the reference, in the same run. Each figure is the median of BENCH_TURNS
# interleaved turns (the order of the four servers rotates from one turn to the next).
#
# Needs:  scripts/install-deps.sh bench (wrk docker-registry apache2-utils curl), python3,
#         a built build/registry-setup. Usage: bench/auth_bench.sh
# Environment: REGISTRY_SETUP (the binary), BENCH_SECONDS (per run, default 5), BENCH_TURNS (5)
# Takes about 4 minutes (more when it waits for a quiet machine: BENCH_QUIET_WAIT, 30 s a turn); talks to 127.0.0.1 only; ends only the processes it started.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(dirname "$here")
BIN=${REGISTRY_SETUP:-$repo_root/build/registry-setup}
SECS=${BENCH_SECONDS:-5}
TURNS=${BENCH_TURNS:-5}
CONNS=32
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
trap 'exit 130' INT TERM
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() {  # URL PID
  local _
  for _ in $(seq 150); do
    kill -0 "$2" 2>/dev/null || return 1
    curl -s -o /dev/null --max-time 1 "$1" && return 0
    sleep 0.1
  done
  return 1
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
to_ms() { awk -v v="$1" 'BEGIN{ if (v ~ /us$/) {sub(/us$/,"",v); print v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v+0} else if (v ~ /s$/) {sub(/s$/,"",v); print v*1000} else print v }'; }
# CPU time (user + system, all threads) of PID in ns, from the scheduler's own account.
cpu_ns() { local f t sum=0; for f in /proc/"$1"/task/*/schedstat; do read -r t _ <"$f" 2>/dev/null || continue; sum=$((sum + t)); done; echo "$sum"; }
machine_busy() {  # percent of the machine busy over one second (other people's work)
  local a b
  a=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat); sleep 1
  b=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN{split(a,x," "); split(b,y," "); d=y[2]-x[2]; printf "%.0f", (d > 0 ? 100 * (y[1] - x[1]) / d : 0)}'
}
# Waits (at most BENCH_QUIET_WAIT s, default 60) until the machine is under 20% busy
# while ours are idle: other people's work on the 2 cores. Prints the last reading.
wait_quiet() {
  local busy t0=$SECONDS
  busy=$(machine_busy)
  while [ "$busy" -ge 20 ] && [ $((SECONDS - t0)) -lt "${BENCH_QUIET_WAIT:-60}" ]; do busy=$(machine_busy); done
  echo "$busy"
}

htpasswd -Bbn -C 10 bench bench-pw >"$WORK/htpasswd"
P_OPEN=$(free_port); P_BASIC=$(free_port); P_TOKEN=$(free_port); P_DR=$(free_port)
[ "$(printf '%s\n' "$P_OPEN" "$P_BASIC" "$P_TOKEN" "$P_DR" | sort -u | wc -l)" = 4 ] || die "could not pick 4 free ports"
# The same logging for the three of ours: application log at warn, access log on (to a file).
cat >"$WORK/open.yml" <<YML
log: {level: warn, access: true}
YML
cat >"$WORK/basic.yml" <<YML
log: {level: warn, access: true}
auth: {htpasswd: {realm: bench, path: $WORK/htpasswd}}
YML
# expiration: the token must outlive the run (default 300 s).
cat >"$WORK/token.yml" <<YML
log: {level: warn, access: true}
auth:
  htpasswd: {realm: bench, path: $WORK/htpasswd}
  token: {service: bench, issuer: bench, signingkey: $WORK/token.key, expiration: 86400}
YML
cat >"$WORK/dr.yml" <<YML
version: 0.1
log: {level: error}
storage: {cache: {blobdescriptor: inmemory}, filesystem: {rootdirectory: $WORK/dr}}
http: {addr: 127.0.0.1:$P_DR}
auth: {htpasswd: {realm: bench, path: $WORK/htpasswd}}
YML
declare -A PID PORT
PORT[open]=$P_OPEN PORT[basic]=$P_BASIC PORT[token]=$P_TOKEN PORT[dr]=$P_DR
for kind in open basic token; do
  "$BIN" serve --config "$WORK/$kind.yml" --listen "127.0.0.1:${PORT[$kind]}" --root "$WORK/$kind" 2>"$WORK/$kind.log" &
  PID[$kind]=$!; PIDS+=("$!")
done
env -u AWS_CA_BUNDLE -u REGISTRY_AUTH_FILE docker-registry serve "$WORK/dr.yml" >"$WORK/dr.log" 2>&1 &
PID[dr]=$!; PIDS+=("$!")
for kind in open basic token dr; do
  wait_http "http://127.0.0.1:${PORT[$kind]}/v2/" "${PID[$kind]}" ||
    die "$kind (port ${PORT[$kind]}) did not start: $(tail -3 "$WORK/$kind.log")"
done

# One image in each, pushed with curl: config, layer, manifest. Every blob by POST then a
# monolithic PUT ?digest= (docker-registry answers a POST ?digest= with 202 and stores
# nothing, so the single-POST upload is not used).
put_blob() {  # BASE BYTES [CURL-AUTH-ARGS...] -> digest
  local base=$1 bytes=$2; shift 2
  local digest loc sep code
  digest=sha256:$(printf %s "$bytes" | sha256sum | cut -d' ' -f1)
  loc=$(curl -sS -D - -o /dev/null "$@" -X POST "$base/v2/bench/img/blobs/uploads/" |
    tr -d '\r' | awk 'tolower($1)=="location:"{print $2}')
  [ -n "$loc" ] || die "POST to $base gave no Location"
  case $loc in http*) ;; *) loc=$base$loc ;; esac
  sep='?'; case $loc in *\?*) sep='&' ;; esac
  code=$(curl -sS -o "$WORK/put.out" -w '%{http_code}' "$@" -X PUT --data-binary "$bytes" \
    -H 'Content-Type: application/octet-stream' "$loc${sep}digest=$digest")
  [ "$code" = 201 ] || die "blob PUT to $base: HTTP $code $(head -c 300 "$WORK/put.out")"
  echo "$digest"
}
CFG='{}' LAYER_BYTES=layer-bytes
push_image() {  # PORT [CURL-AUTH-ARGS...]
  local port=$1; shift
  local base=http://127.0.0.1:$port dc dl manifest code
  dc=$(put_blob "$base" "$CFG" "$@")
  dl=$(put_blob "$base" "$LAYER_BYTES" "$@")
  manifest='{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"'$dc'","size":'${#CFG}'},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"'$dl'","size":'${#LAYER_BYTES}'}]}'
  code=$(curl -sS -o "$WORK/put.out" -w '%{http_code}' "$@" -X PUT --data-binary "$manifest" \
    -H "Content-Type: $ACCEPT" "$base/v2/bench/img/manifests/latest")
  [ "$code" = 201 ] || die "manifest PUT to $port: HTTP $code $(head -c 300 "$WORK/put.out")"
  LAYER=$dl
}
TOKEN=$(curl -sf -u bench:bench-pw "http://127.0.0.1:$P_TOKEN/auth/token?service=bench&scope=repository:bench/img:pull,push" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])') || die "no token from the token server"
BASIC="Authorization: Basic $(printf bench:bench-pw | base64)"
declare -A HDR
HDR[open]="" HDR[basic]=$BASIC HDR[token]="Authorization: Bearer $TOKEN" HDR[dr]=$BASIC
for kind in open basic token dr; do
  push_image "${PORT[$kind]}" ${HDR[$kind]:+-H "${HDR[$kind]}"}
done
log "pushed bench/img:latest (layer $LAYER) to the four servers"

# Auth must really be on: without credentials 401, with them 200 (else we would measure
# an open server).
for kind in basic token dr; do
  url=http://127.0.0.1:${PORT[$kind]}/v2/bench/img/manifests/latest
  c0=$(curl -s -o /dev/null -w '%{http_code}' -H "Accept: $ACCEPT" "$url")
  c1=$(curl -s -o /dev/null -w '%{http_code}' -H "Accept: $ACCEPT" -H "${HDR[$kind]}" "$url")
  if [ "$c0" != 401 ] || [ "$c1" != 200 ]; then die "$kind: GET without credentials $c0, with $c1 (want 401, 200)"; fi
done

declare -A PATHS
PATHS[manifest]=/v2/bench/img/manifests/latest PATHS[blob]=/v2/bench/img/blobs/$LAYER

run_wrk() {  # URL HEADER -> "rps p99ms requests"
  local out rps p99 n
  out=$(timeout $((SECS + 30)) wrk -t2 -c$CONNS -d"${SECS}s" --timeout 30s --latency -H "Accept: $ACCEPT" ${2:+-H "$2"} "$1" 2>&1) || true
  grep -q 'Non-2xx' <<<"$out" && die "non-2xx answers from $1: $(grep Non-2xx <<<"$out")"
  grep -q 'Socket errors' <<<"$out" && log "note: $1: $(grep 'Socket errors' <<<"$out")"
  rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
  n=$(awk '/ requests in /{print $1}' <<<"$out")
  if [ -z "$rps" ] || [ -z "$n" ]; then die "wrk failed on $1: $(tail -2 <<<"$out")"; fi
  p99=$(to_ms "$(awk '$1=="99%"{print $2}' <<<"$out")")
  echo "$rps $p99 $n"
}
# The requests still in flight when wrk stops (up to 32) go on in the server: docker-registry
# checks bcrypt on every one (~tens of ms each). Wait until its CPU stops growing, so that
# this work neither runs under the next server's measurement nor goes uncounted.
settle() {  # PID -> its CPU ns once quiet (less than 2 ms of CPU in 200 ms; at most 15 s)
  local a b _
  a=$(cpu_ns "$1")
  for _ in $(seq 75); do
    sleep 0.2; b=$(cpu_ns "$1")
    [ $((b - a)) -ge 2000000 ] || break
    a=$b
  done
  echo "$b"
}
KINDS=(open basic token dr)
declare -A RPS P99 CPU
for t in manifest blob; do for kind in "${KINDS[@]}"; do RPS[$t,$kind]=""; P99[$t,$kind]=""; CPU[$t,$kind]=""; done; done
BUSY=$(wait_quiet)
log "machine ${BUSY}% busy before the runs (other work)"
TURN_BUSY=""
for turn in $(seq "$TURNS"); do
  TURN_BUSY+="$(BENCH_QUIET_WAIT=${BENCH_QUIET_WAIT:-30} wait_quiet)% "
  # Rotate the order, so that no server always runs first or last.
  order=("${KINDS[@]:$(( (turn - 1) % 4 ))}" "${KINDS[@]:0:$(( (turn - 1) % 4 ))}")
  for t in manifest blob; do
    for kind in "${order[@]}"; do
      c0=$(cpu_ns "${PID[$kind]}")
      r=$(run_wrk "http://127.0.0.1:${PORT[$kind]}${PATHS[$t]}" "${HDR[$kind]}")
      c1=$(settle "${PID[$kind]}")
      read -r rps p99 n <<<"$r"
      RPS[$t,$kind]+="$rps " P99[$t,$kind]+="$p99 "
      CPU[$t,$kind]+="$(awk -v c=$((c1 - c0)) -v n="$n" 'BEGIN{printf "%.1f", c / 1000 / n}') "
    done
  done
  log "turn $turn done (manifest req/s: $(for k in "${KINDS[@]}"; do printf '%s %s  ' "$k" "$(awk '{print $NF}' <<<"${RPS[manifest,$k]}")"; done))"
done
BUSY_AFTER=$(machine_busy)
# shellcheck disable=SC2086  # the lists are space-separated numbers
m() { median ${RPS[$1,$2]}; }
# shellcheck disable=SC2086
p() { median ${P99[$1,$2]}; }
# shellcheck disable=SC2086
u() { median ${CPU[$1,$2]}; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{if (b > 0) printf "%.2f", a/b; else print "-"}'; }
echo "$(nproc) cores ($(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)), kernel $(uname -r), $(date -u +%FT%TZ)"
echo "wrk -t2 -c$CONNS, ${SECS}s x $TURNS turns, medians; machine busy (other work, while ours idle) before each turn: ${TURN_BUSY% }; after: ${BUSY_AFTER}%"
echo "ours: $("$BIN" --version 2>/dev/null | head -1 || echo "$BIN"), log level warn + access log; docker-registry $(docker-registry --version | awk '{print $3}'), log level error + access log"
for t in manifest blob; do
  echo
  if [ $t = manifest ]; then echo "== manifest GET ${PATHS[manifest]} (an OCI manifest, by tag) =="
  else echo "== blob GET of the ${#LAYER_BYTES}-byte layer =="; fi
  printf '%-34s %10s %8s %11s %11s %12s %10s\n' "server" "req/s" "p99 ms" "CPU us/req" "vs no auth" "CPU vs none" "ours/dr"
  for kind in "${KINDS[@]}"; do
    case $kind in open) label="ours, no auth" ;; basic) label="ours, Basic on every request" ;;
      token) label="ours, bearer token (own issuer)" ;; dr) label="docker-registry, Basic (htpasswd)" ;; esac
    vs_dr=-
    case $kind in basic|token) vs_dr=$(ratio "$(m $t "$kind")" "$(m $t dr)") ;; esac
    printf '%-34s %10.0f %8.2f %11s %11s %12s %10s\n' "$label" "$(m $t "$kind")" "$(p $t "$kind")" "$(u $t "$kind")" \
      "$(ratio "$(m $t "$kind")" "$(m $t open)")" "$(ratio "$(u $t "$kind")" "$(u $t open)")" "$vs_dr"
  done
  for kind in "${KINDS[@]}"; do echo "  all turns $kind: req/s [${RPS[$t,$kind]% }], p99 ms [${P99[$t,$kind]% }], CPU us/req [${CPU[$t,$kind]% }]"; done
done
echo
echo "ours/dr: ours with that auth vs docker-registry with Basic, req/s. CPU us/req: the server's CPU from the"
echo "start of the run until it is quiet after it, over the requests wrk completed (docker-registry's includes"
echo "the bcrypt checks of the up to $CONNS requests abandoned when wrk stops). CPU vs none: CPU us/req over"
echo "ours without auth's (steadier than req/s on this shared 2-core machine, where wrk takes the rest)"
echo "target: Basic and bearer >= 0.80 of no auth (req/s medians):"
misses=0
for t in manifest blob; do
  for kind in basic token; do
    r=$(ratio "$(m $t "$kind")" "$(m $t open)")
    if awk -v r="$r" 'BEGIN{exit !(r >= 0.8)}'; then v=PASS; else v=MISS; misses=$((misses + 1)); fi
    printf '%-4s  %-8s %-6s %s of no auth\n' "$v" "$t" "$kind" "$r"
  done
done
echo "$misses target(s) missed"
