#!/usr/bin/env bash
# Benchmark (not a test) of `registry-setup serve` against Debian's docker-registry
# (distribution 2.8.2, the reference) and Debian's nginx serving the same bytes as static
# files with sendfile (the practical limit), side by side on 127.0.0.1 in one run. Prints a
# table, the ratios and PASS/MISS for each "Fast" target of issue 3.
#
# Needs:  scripts/install-deps.sh bench     (nginx-light apache2-utils wrk docker-registry curl)
#         python3, and a built build/registry-setup (scripts/build.sh).
# Usage:  bench/registry_bench.sh [--quick]
#   --quick            1 rep, 3 s per req/s run: checks that the script works, figures are rough
# Environment:
#   REGISTRY_SETUP     the binary (default: build/registry-setup next to this script's repo)
#   BENCH_DIR          where the storage roots go: a directory on the disk to measure
#                      (default /var/tmp); source files go to /dev/shm when it has room
#   BENCH_SECONDS      length of each req/s run (default 10)
#   BENCH_REPS         reps of each upload/download, the median is reported (default 3)
#   BENCH_PIN=1        servers on CPU 0, clients on CPU 1 (taskset); default: unpinned
# Takes about 5 minutes and ~8 GiB in BENCH_DIR; kills only the processes it started, by
# PID; removes its files.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(dirname "$here")
BIN=${REGISTRY_SETUP:-$repo_root/build/registry-setup}
SECS=${BENCH_SECONDS:-10}
REPS=${BENCH_REPS:-3}
PIN=${BENCH_PIN:-0}
if [ "${1:-}" = "--quick" ]; then SECS=3; REPS=1; shift; fi
[ $# -eq 0 ] || { echo "usage: $0 [--quick]" >&2; exit 1; }

GiB=1073741824
BIG_BYTES=$GiB
CHUNKED_BYTES=$((256 * 1024 * 1024))
CHUNK=$((8 * 1024 * 1024))
ACCEPT="application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in curl wrk ab nginx docker-registry python3 awk; do
  command -v "$tool" >/dev/null || die "'$tool' not found: run scripts/install-deps.sh bench"
done
[ -x "$BIN" ] || die "'$BIN' not found: build it first (scripts/build.sh)"

server_cpu=() client_cpu=()
if [ "$PIN" = 1 ]; then server_cpu=(taskset -c 0); client_cpu=(taskset -c 1); fi

# ---- processes and files of this run ------------------------------------------------------

PIDS=()   # every process started here; killed by PID at exit
WORK=$(mktemp -d "${BENCH_DIR:-/var/tmp}/registry-bench.XXXXXX")
chmod 755 "$WORK"   # nginx workers (user nobody) read the static tree under it
SRC=$WORK/src
shm_free_kb=$(df -Pk /dev/shm 2>/dev/null | awk 'NR==2{print $4}')
if [ "${shm_free_kb:-0}" -gt $((3 * 1024 * 1024)) ]; then
  SRC=$(mktemp -d /dev/shm/registry-bench.XXXXXX)   # no disk writeback from the sources
fi
mkdir -p "$SRC"

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
  [ "$SRC" = "$WORK/src" ] || rm -rf "$SRC"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits until URL answers (any HTTP status), while PID lives.
wait_http() {
  local url=$1 pid=$2
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || return 1
    if curl -s -o /dev/null --max-time 1 "$url"; then return 0; fi
    sleep 0.1
  done
  return 1
}

# CPU time (user + system) in ns, summed over the given PIDs and all their threads: the
# scheduler's own account (/proc/PID/task/*/schedstat), precise where ticks are 10 ms.
cpu_ns() {
  local pid f t sum=0
  for pid in "$@"; do
    for f in /proc/"$pid"/task/*/schedstat; do
      read -r t _ <"$f" 2>/dev/null || continue
      sum=$((sum + t))
    done
  done
  echo "$sum"
}

# Peak RSS (VmHWM) in KiB, summed over the given PIDs.
peak_rss_kb() {
  local pid sum=0 k
  for pid in "$@"; do
    k=$(awk '/^VmHWM:/{print $2}' "/proc/$pid/status" 2>/dev/null) || k=0
    sum=$((sum + ${k:-0}))
  done
  echo "$sum"
}

# Share of the machine's CPU busy over one second, in percent: what else runs (compilers).
machine_busy() {
  local a b
  a=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)
  sleep 1
  b=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN{split(a,x," "); split(b,y," "); d=y[2]-x[2]; printf "%.0f", (d > 0 ? 100 * (y[1] - x[1]) / d : 0)}'
}
NOISE=() NOISE_MAX=0
note_noise() {   # PHASE
  local busy comp
  busy=$(machine_busy)
  # shellcheck disable=SC2009  # pgrep cannot take this many names (15-character limit)
  comp=$(ps -e -o comm= | grep -c -E '^(cc1plus|cc1|ld|collect2|ninja|make)$' || true)
  NOISE+=("$1: ${busy}% CPU busy before, ${comp:-0} compiler processes")
  [ "$busy" -le "$NOISE_MAX" ] || NOISE_MAX=$busy
  log "$1 (machine ${busy}% busy while idle here, ${comp:-0} compiler processes)"
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
calc() { awk "BEGIN{printf \"%.${2:-2}f\", $1}"; }

# ---- data --------------------------------------------------------------------------------

log "work dir $WORK, sources in $SRC"
log "writing 1 GiB + 256 MiB of random data"
head -c $BIG_BYTES /dev/urandom >"$SRC/big.bin"
head -c $CHUNKED_BYTES /dev/urandom >"$SRC/chunked.bin"
python3 "$repo_root/tests/tools/make_oci_layout.py" "$WORK/layout" --layers 2 --layer-size 65536 --seed 7 >/dev/null

# Makes FILE a new blob (its first 16 bytes change) and prints its digest.
new_blob() {
  printf '%016x' "$(( (RANDOM << 30) ^ (RANDOM << 15) ^ RANDOM ^ 10#$(date +%N) ))" |
    dd of="$1" bs=16 count=1 conv=notrunc status=none
  python3 "$here/registry_client.py" digest "$1"
}

# ---- servers -----------------------------------------------------------------------------

P_OURS=$(free_port); P_DR=$(free_port); P_NGX=$(free_port); P_WARN=$(free_port)
[ "$(printf '%s\n' "$P_OURS" "$P_DR" "$P_NGX" "$P_WARN" | sort -u | wc -l)" = 4 ] || die "could not pick 4 free ports"
OURS=http://127.0.0.1:$P_OURS DR=http://127.0.0.1:$P_DR NGX=http://127.0.0.1:$P_NGX WARN=http://127.0.0.1:$P_WARN

# (a) ours, defaults: access log on (to a file), one thread per core.
"${server_cpu[@]}" "$BIN" serve --listen "127.0.0.1:$P_OURS" --root "$WORK/ours" 2>"$WORK/ours.log" &
PID_OURS=$!; PIDS+=("$PID_OURS")

# (b) the reference: filesystem storage, delete on, as Debian ships it (in-memory blob
# descriptor cache), application log at error (its access log stays on, to a file).
mkdir -p "$WORK/dr"
cat >"$WORK/dr.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: $WORK/dr
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$P_DR
EOF
"${server_cpu[@]}" env -u AWS_CA_BUNDLE docker-registry serve "$WORK/dr.yml" >"$WORK/dr.log" 2>&1 &
PID_DR=$!; PIDS+=("$PID_DR")

# (c) nginx: the same bytes as static files, sendfile on, a worker per core, access log on.
NG=$WORK/nginx
mkdir -p "$NG/html" "$NG/tmp"
cat >"$NG/nginx.conf" <<EOF
daemon off;
worker_processes auto;
pid $NG/nginx.pid;
error_log $NG/error.log error;
events { worker_connections 4096; }
http {
  types { }
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 10000000;
  access_log $NG/access.log;
  client_body_temp_path $NG/tmp/body;
  proxy_temp_path $NG/tmp/proxy;
  fastcgi_temp_path $NG/tmp/fastcgi;
  uwsgi_temp_path $NG/tmp/uwsgi;
  scgi_temp_path $NG/tmp/scgi;
  server {
    listen 127.0.0.1:$P_NGX;
    root $NG/html;
    location ~ ^/v2/.+/manifests/[^/]+\$ { default_type application/vnd.oci.image.manifest.v1+json; }
    location /v2/ { }
  }
}
EOF
"${server_cpu[@]}" nginx -c "$NG/nginx.conf" -p "$NG/" -e "$NG/error.log" 2>"$NG/stderr.log" &
PID_NGX=$!; PIDS+=("$PID_NGX")

wait_http "$OURS/v2/" "$PID_OURS" || die "registry-setup serve did not start: $(tail -3 "$WORK/ours.log")"
wait_http "$DR/v2/" "$PID_DR" || die "docker-registry did not start: $(tail -3 "$WORK/dr.log")"
wait_http "$NGX/" "$PID_NGX" || die "nginx did not start: $(cat "$NG/stderr.log" "$NG/error.log" 2>/dev/null | tail -3)"
# nginx is its master and workers (they live as long as the master: no reloads here).
mapfile -t NGINX_PIDS < <(echo "$PID_NGX"; pgrep -P "$PID_NGX" || true)

client() { "${client_cpu[@]}" "$@"; }

# ---- the small image (manifest GET, blob HEAD) -------------------------------------------

MANIFEST_DIGEST=$(python3 "$here/registry_client.py" push "$WORK/layout" bench/img latest "$OURS")
python3 "$here/registry_client.py" push "$WORK/layout" bench/img latest "$DR" >/dev/null
LAYER=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["layers"][0]["digest"])' \
  "$WORK/layout/blobs/sha256/${MANIFEST_DIGEST#sha256:}")
blob_path() { local hex=${2#sha256:}; echo "$1/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data"; }
mkdir -p "$NG/html/v2/bench/img/manifests" "$NG/html/v2/bench/img/blobs" "$NG/html/v2/bench/big/blobs"
cp "$(blob_path "$WORK/ours" "$MANIFEST_DIGEST")" "$NG/html/v2/bench/img/manifests/latest"
ln "$(blob_path "$WORK/ours" "$LAYER")" "$NG/html/v2/bench/img/blobs/$LAYER"
chmod -R a+rX "$NG/html"

declare -A R   # R[figure,server]

# ---- 1 GiB monolithic upload (POST, then PUT ?digest= streaming the file) ----------------

# Prints "seconds cpu_ns" of one upload of FILE as DIGEST to BASE.
upload_mono() {   # BASE PID FILE DIGEST
  local base=$1 pid=$2 file=$3 digest=$4 loc sep t0 t1 c0 c1 code
  c0=$(cpu_ns "$pid"); t0=$(date +%s.%N)
  loc=$(client curl -sS -o /dev/null -D - -X POST "$base/v2/bench/big/blobs/uploads/" |
    awk 'tolower($1)=="location:"{print $2}' | tr -d '\r')
  [ -n "$loc" ] || die "POST to $base gave no Location"
  case $loc in http*) ;; *) loc=$base$loc ;; esac
  sep='?'; case $loc in *\?*) sep='&' ;; esac
  code=$(client curl -sS -o "$WORK/put.out" -w '%{http_code}' -X PUT -H 'Expect:' \
    -H 'Content-Type: application/octet-stream' -T "$file" "$loc${sep}digest=$digest")
  t1=$(date +%s.%N); c1=$(cpu_ns "$pid")
  [ "$code" = 201 ] || die "upload to $base: HTTP $code $(head -c 300 "$WORK/put.out")"
  echo "$(calc "$t1 - $t0" 6) $((c1 - c0))"
}

# CPU seconds (user + system) of `openssl dgst -sha256` over FILE: hashing plus one copy
# from the page cache, the floor for an upload that must hash what it receives.
openssl_cpu() {
  local TIMEFORMAT='%3U %3S' out
  out=$( { time openssl dgst -sha256 "$1" >/dev/null; } 2>&1 )
  awk '{printf "%.3f", $1 + $2}' <<<"$out"
}

dd_speed() {   # prints MB/s of a 1 GiB fdatasync'd write in the roots' filesystem
  local out secs
  out=$(dd if=/dev/zero of="$WORK/dd.bin" bs=1M count=1024 conv=fdatasync 2>&1 | tail -1)
  rm -f "$WORK/dd.bin"
  secs=$(echo "$out" | awk -F', ' '{split($(NF-1), a, " "); print a[1]}')
  calc "$BIG_BYTES / 1e6 / $secs" 0
}

note_noise "1 GiB upload"
up_ours=() up_dr=() up_dd=() cpu_up_ours=0 cpu_up_dr=0 cpu_openssl=()
for rep in $(seq "$REPS"); do
  DIGEST_BIG=$(new_blob "$SRC/big.bin")
  cat "$SRC/big.bin" >/dev/null
  cpu_openssl+=("$(openssl_cpu "$SRC/big.bin")")
  # Rotate the order so that no one always goes first after a quiet pause.
  case $((rep % 3)) in
    1) order="dd ours dr" ;; 2) order="ours dr dd" ;; 0) order="dr dd ours" ;;
  esac
  for who in $order; do
    sync; sleep 0.5
    case $who in
      dd) up_dd+=("$(dd_speed)") ;;
      ours) out=$(upload_mono "$OURS" "$PID_OURS" "$SRC/big.bin" "$DIGEST_BIG"); read -r s c <<<"$out"
            up_ours+=("$(calc "$BIG_BYTES / 1e6 / $s" 0)"); cpu_up_ours=$((cpu_up_ours + c)) ;;
      dr) out=$(upload_mono "$DR" "$PID_DR" "$SRC/big.bin" "$DIGEST_BIG"); read -r s c <<<"$out"
          up_dr+=("$(calc "$BIG_BYTES / 1e6 / $s" 0)"); cpu_up_dr=$((cpu_up_dr + c)) ;;
    esac
  done
  log "upload rep $rep: ours ${up_ours[-1]} MB/s, docker-registry ${up_dr[-1]} MB/s, dd ${up_dd[-1]} MB/s"
done
sync
R[up,ours]=$(median "${up_ours[@]}"); R[up,dr]=$(median "${up_dr[@]}"); R[up,dd]=$(median "${up_dd[@]}")
R[upcpu,ours]=$(calc "$cpu_up_ours / 1e9 / $REPS"); R[upcpu,dr]=$(calc "$cpu_up_dr / 1e9 / $REPS")
R[upcpu,openssl]=$(median "${cpu_openssl[@]}")
R[up,all_ours]="${up_ours[*]}"; R[up,all_dr]="${up_dr[*]}"; R[up,all_dd]="${up_dd[*]}"

# nginx serves the very file that ours stored (a hard link: same bytes, same page cache).
ln "$(blob_path "$WORK/ours" "$DIGEST_BIG")" "$NG/html/v2/bench/big/blobs/$DIGEST_BIG"
chmod a+r "$NG/html/v2/bench/big/blobs/$DIGEST_BIG"

# ---- 1 GiB download ------------------------------------------------------------------------

# The page cache holds each server's copy the way its writer left it (folio sizes differ
# between write paths, and loopback sendfile cost depends on them): evict both copies and
# read them back the same way, so that every server sends from equally cached pages.
recache() {
  sync
  python3 -c 'import os, sys
for p in sys.argv[1:]:
    fd = os.open(p, os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)' "$@"
  cat "$@" >/dev/null
}
recache "$(blob_path "$WORK/ours" "$DIGEST_BIG")" "$(blob_path "$WORK/dr" "$DIGEST_BIG")"

note_noise "1 GiB download"
download() {   # BASE PIDS... ; prints "seconds cpu_ns"
  local base=$1; shift
  local t0 c0 c1 out code size secs
  c0=$(cpu_ns "$@")
  out=$(client curl -sS -o /dev/null -w '%{http_code} %{size_download} %{time_total}' \
    "$base/v2/bench/big/blobs/$DIGEST_BIG")
  c1=$(cpu_ns "$@")
  read -r code size secs <<<"$out"
  if [ "$code" != 200 ] || [ "$size" != "$BIG_BYTES" ]; then die "download from $base: HTTP $code, $size bytes"; fi
  echo "$secs $((c1 - c0))"
}
declare -A dl_list dl_cpu
for who in ours dr nginx; do dl_list[$who]=""; dl_cpu[$who]=0; done
for who in ours dr nginx; do   # warm-up: not counted
  case $who in ours) download "$OURS" "$PID_OURS" >/dev/null ;; dr) download "$DR" "$PID_DR" >/dev/null ;;
    nginx) download "$NGX" "${NGINX_PIDS[@]}" >/dev/null ;; esac
done
DL_REPS=$((REPS * 2))   # downloads are short: twice the reps
for rep in $(seq "$DL_REPS"); do
  for who in ours dr nginx; do
    case $who in
      ours) out=$(download "$OURS" "$PID_OURS") ;;
      dr) out=$(download "$DR" "$PID_DR") ;;
      nginx) out=$(download "$NGX" "${NGINX_PIDS[@]}") ;;
    esac
    read -r s c <<<"$out"
    dl_list[$who]+=" $(calc "$BIG_BYTES / 1e6 / $s" 0)"; dl_cpu[$who]=$((dl_cpu[$who] + c))
  done
done
for who in ours dr nginx; do
  # shellcheck disable=SC2086
  R[dl,$who]=$(median ${dl_list[$who]}); R[dlcpu,$who]=$(calc "${dl_cpu[$who]} / 1e9 / $DL_REPS" 3)
  R[dl,all_$who]="${dl_list[$who]# }"
done
log "download: ours ${R[dl,ours]} MB/s, docker-registry ${R[dl,dr]} MB/s, nginx ${R[dl,nginx]} MB/s"

# ---- 256 MiB chunked upload (8 MiB PATCHes with Content-Range, then PUT) -------------------

note_noise "256 MiB chunked upload"
ch_ours=() ch_dr=() cpu_ch_ours=0 cpu_ch_dr=0
for rep in $(seq "$REPS"); do
  d=$(new_blob "$SRC/chunked.bin")
  for who in ours dr; do
    sync; sleep 0.3
    if [ $who = ours ]; then base=$OURS pid=$PID_OURS; else base=$DR pid=$PID_DR; fi
    c0=$(cpu_ns "$pid")
    s=$(client python3 "$here/registry_client.py" chunked "$SRC/chunked.bin" "$d" bench/chunked "$base" $CHUNK)
    c=$(( $(cpu_ns "$pid") - c0 ))
    mbs=$(calc "$CHUNKED_BYTES / 1e6 / $s" 0)
    if [ $who = ours ]; then ch_ours+=("$mbs"); cpu_ch_ours=$((cpu_ch_ours + c))
    else ch_dr+=("$mbs"); cpu_ch_dr=$((cpu_ch_dr + c)); fi
  done
done
sync
R[ch,ours]=$(median "${ch_ours[@]}"); R[ch,dr]=$(median "${ch_dr[@]}")
R[chcpu,ours]=$(calc "$cpu_ch_ours / 1e9 / $REPS * 4"); R[chcpu,dr]=$(calc "$cpu_ch_dr / 1e9 / $REPS * 4")
log "chunked: ours ${R[ch,ours]} MB/s, docker-registry ${R[ch,dr]} MB/s"

# ---- manifest GET (wrk) and blob HEAD (ab -k -i) -------------------------------------------

# A second instance of ours on the same root, with log level warn (no access log).
echo 'log: {level: warn}' >"$WORK/warn.yml"
"${server_cpu[@]}" "$BIN" serve --config "$WORK/warn.yml" --listen "127.0.0.1:$P_WARN" --root "$WORK/ours" \
  2>"$WORK/warn.log" &
PID_WARN=$!; PIDS+=("$PID_WARN")
wait_http "$WARN/v2/" "$PID_WARN" || die "registry-setup serve (warn) did not start"

to_ms() {   # wrk's "512.00us" / "8.20ms" / "1.05s" -> ms
  awk -v v="$1" 'BEGIN{n=v+0; if (v ~ /us$/) n/=1000; else if (v ~ /ms$/) n=n; else if (v ~ /s$/) n*=1000; printf "%.2f", n}'
}

# Sets RPS, P99 (ms), ERR (a note or empty).
run_wrk() {   # URL CONNS [SECONDS]
  local out errs secs=${3:-$SECS}
  out=$(client timeout $((secs + 30)) wrk -t2 -c"$2" -d"${secs}s" --timeout 5s --latency -H "Accept: $ACCEPT" "$1" 2>&1) || true
  RPS=$(awk '/^Requests\/sec:/{printf "%.0f", $2}' <<<"$out")
  NREQ=$(awk '/ requests in /{print $1}' <<<"$out")
  P99=$(to_ms "$(awk '$1=="99%"{print $2}' <<<"$out")")
  errs=$(awk '/Non-2xx/{print "non-2xx " $NF} /Socket errors/{print}' <<<"$out" | tr '\n' ' ')
  ERR=${errs% }
  [ -n "$RPS" ] || { RPS=0; ERR="wrk failed: $(tail -1 <<<"$out")"; }
}

# ab needs the server to confirm HTTP/1.0 keep-alive (a "Connection: keep-alive" answer),
# else it waits for a close that never comes: probe that first, with a short timeout.
run_ab() {   # URL CONNS
  local out failed non2xx
  if ! client timeout 5 ab -k -i -q -n 3 -c 1 -s 2 "$1" >/dev/null 2>&1; then
    # Measure without keep-alive instead (a new connection per request), flagged.
    out=$(client timeout $((SECS + 30)) ab -i -q -r -c "$2" -t "$SECS" -n 5000000 -s 5 "$1" 2>&1) || true
    ERR="ab -k hangs (no HTTP/1.0 keep-alive confirmation); figure is WITHOUT keep-alive"
  else
    out=$(client timeout $((SECS + 30)) ab -k -i -q -r -c "$2" -t "$SECS" -n 5000000 -s 5 "$1" 2>&1) || true
    ERR=""
  fi
  RPS=$(awk '/^Requests per second:/{printf "%.0f", $4}' <<<"$out")
  NREQ=$(awk '/^Complete requests:/{print $3}' <<<"$out")
  P99=$(awk '$1=="99%"{printf "%.2f", $2}' <<<"$out")
  failed=$(awk '/^Failed requests:/{print $3}' <<<"$out")
  non2xx=$(awk '/^Non-2xx responses:/{print $3}' <<<"$out")
  [ "${failed:-0}" = 0 ] || ERR="${ERR:+$ERR; }failed $failed"
  [ -z "$non2xx" ] || ERR="${ERR:+$ERR; }non-2xx $non2xx"
  [ -n "$RPS" ] || { RPS=0; P99=""; ERR="${ERR:+$ERR; }ab failed: $(tail -1 <<<"$out")"; }
}

declare -A NOTES
for test in get head; do
  for conns in 32 256; do
    note_noise "$test c=$conns"
    for who in ours warn dr nginx; do
      case $who in
        ours) base=$OURS pids=$PID_OURS ;; warn) base=$WARN pids=$PID_WARN ;;
        dr) base=$DR pids=$PID_DR ;; nginx) base=$NGX pids="${NGINX_PIDS[*]}" ;;
      esac
      # shellcheck disable=SC2086
      c0=$(cpu_ns $pids)
      if [ $test = get ]; then
        run_wrk "$base/v2/bench/img/manifests/latest" "$conns"
      else
        run_ab "$base/v2/bench/img/blobs/$LAYER" "$conns"
      fi
      # shellcheck disable=SC2086
      c1=$(cpu_ns $pids)
      R[$test$conns,$who]=$RPS; R[${test}p99_$conns,$who]=${P99:-}
      if [ "${NREQ:-0}" -gt 0 ]; then R[${test}cpu_$conns,$who]=$(calc "($c1 - $c0) / 1000 / $NREQ" 1); fi
      [ -z "$ERR" ] || NOTES[$test$conns,$who]=$ERR
      log "$test c=$conns $who: $RPS req/s, p99 ${P99:-?} ms${ERR:+ ($ERR)}"
    done
  done
done

# ---- manifest GET c=32, ours and nginx taking turns -----------------------------------------

# One 10 s run each is at the mercy of the host's noise (p99 moved 2x between runs of the
# same server here): short runs taking turns, medians compared.
note_noise "manifest GET c=32, ours and nginx taking turns"
turns_ours_p99=() turns_ours_rps=() turns_ngx_p99=() turns_ngx_rps=()
TURNS=$([ "$SECS" -ge 10 ] && echo 7 || echo 3)
for turn in $(seq "$TURNS"); do
  run_wrk "$OURS/v2/bench/img/manifests/latest" 32 3; turns_ours_p99+=("${P99:-999}"); turns_ours_rps+=("$RPS")
  run_wrk "$NGX/v2/bench/img/manifests/latest" 32 3; turns_ngx_p99+=("${P99:-999}"); turns_ngx_rps+=("$RPS")
done
R[turnp99,ours]=$(median "${turns_ours_p99[@]}"); R[turnp99,nginx]=$(median "${turns_ngx_p99[@]}")
R[turnrps,ours]=$(median "${turns_ours_rps[@]}"); R[turnrps,nginx]=$(median "${turns_ngx_rps[@]}")
log "GET c=32 in turns: ours p99 [${turns_ours_p99[*]}] ms, nginx [${turns_ngx_p99[*]}] ms"

# ---- peak RSS -----------------------------------------------------------------------------

R[rss,ours]=$(calc "$(peak_rss_kb "$PID_OURS") / 1024" 1)
R[rss,warn]=$(calc "$(peak_rss_kb "$PID_WARN") / 1024" 1)
R[rss,dr]=$(calc "$(peak_rss_kb "$PID_DR") / 1024" 1)
R[rss,nginx]=$(calc "$(peak_rss_kb "${NGINX_PIDS[@]}") / 1024" 1)

# ---- manifest GET while a 1 GiB sha512 commit runs -----------------------------------------

# The upload is staged with PATCHes first; its closing PUT ?digest=sha512:... then has to
# hash the whole GiB again (the bytes were hashed as sha256 on the way in) before it can
# answer. Meanwhile wrk measures manifest GETs at 32 connections on the same server.
note_noise "manifest GET during a 1 GiB sha512 commit"
new_blob "$SRC/big.bin" >/dev/null
DIGEST_512=$(python3 "$here/registry_client.py" digest "$SRC/big.bin" sha512)
COMMIT_SECS=3
for who in ours dr; do
  if [ $who = ours ]; then base=$OURS; else base=$DR; fi
  target=$(client python3 "$here/registry_client.py" stage "$SRC/big.bin" bench/commit "$base" $CHUNK)
  case $target in *\?*) sep='&' ;; *) sep='?' ;; esac
  sync
  t0=$(date +%s.%N)
  client curl -sS -o "$WORK/commit.out" -w '%{http_code} %{time_total}\n' -X PUT \
    "$base$target${sep}digest=$DIGEST_512" >"$WORK/commit.status" &
  commit_pid=$!; PIDS+=("$commit_pid")
  run_wrk "$base/v2/bench/img/manifests/latest" 32 "$COMMIT_SECS"
  wait "$commit_pid" || true
  read -r code secs <"$WORK/commit.status" || code=none
  [ "$code" = 201 ] || die "the sha512 commit on $base answered $code: $(head -c 300 "$WORK/commit.out")"
  R[commit_p99,$who]=$P99; R[commit_rps,$who]=$RPS; R[commit_secs,$who]=$(calc "$secs" 2)
  [ -z "$ERR" ] || NOTES[commit,$who]=$ERR
  log "GET c=32 during the sha512 commit, $who: $RPS req/s, p99 $P99 ms; the commit took $secs s"
done

# ---- held connections: 1000 idle, 256 slow manifest PUTs ----------------------------------

rss_now_kb() {   # VmRSS in KiB of PID
  awk '/^VmRSS:/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0
}
fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

# What N held connections of KIND cost a server in memory and descriptors: RSS and open fds
# while they are held, minus before. Sets R[hold_KIND_{rss,fds,held,refused},who].
hold_phase() {   # KIND N
  local kind=$1 n=$2 who base pid r0 f0 line
  note_noise "$n held connections ($kind)"
  for who in ours dr; do
    if [ $who = ours ]; then base=$OURS pid=$PID_OURS; else base=$DR pid=$PID_DR; fi
    r0=$(rss_now_kb "$pid"); f0=$(fd_count "$pid")
    coproc HOLD { client python3 "$here/registry_client.py" hold "$base" "$n" "$kind"; }
    PIDS+=("$HOLD_PID")
    read -r line <&"${HOLD[0]}" || line="hold failed"
    sleep 1
    R[hold_${kind}_rss,$who]=$(calc "($(rss_now_kb "$pid") - $r0) / 1024" 1)
    R[hold_${kind}_fds,$who]=$(( $(fd_count "$pid") - f0 ))
    R[hold_${kind}_held,$who]=$(awk '{print $2}' <<<"$line")
    R[hold_${kind}_refused,$who]=$(awk '{print $4}' <<<"$line")
    eval "exec ${HOLD[1]}>&-"
    wait "$HOLD_PID" || true
    log "$n $kind connections on $who: $line; RSS +${R[hold_${kind}_rss,$who]} MiB, fds +${R[hold_${kind}_fds,$who]}"
    sleep 2   # the server lets them go
  done
}
hold_phase idle 1000
hold_phase put 256

# ---- report -------------------------------------------------------------------------------

ratio() {   # A B -> A/B or "-"
  if [ -n "${1:-}" ] && [ -n "${2:-}" ] && awk "BEGIN{exit !($2 > 0)}"; then calc "$1 / $2"; else echo "-"; fi
}
row() {   # LABEL KEY [ratios:yes|no]
  local o=${R[$2,ours]:-} w=${R[$2,warn]:-} d=${R[$2,dr]:-} n=${R[$2,nginx]:-}
  printf '%-32s %10s %10s %12s %10s %10s %10s\n' "$1" "${o:--}" "${w:--}" "${d:--}" "${n:--}" \
    "$(ratio "$o" "$d")" "$(ratio "$o" "$n")"
}

echo
echo "== registry-setup serve vs docker-registry $(docker-registry --version | awk '{print $3}') vs nginx $(nginx -v 2>&1 | sed 's|.*/||') (static, sendfile) =="
echo "$(nproc) cores ($(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)), kernel $(uname -r)," \
  "roots on $(df -P "$WORK" | awk 'NR==2{print $1}') ($(stat -f -c %T "$WORK")), $(date -u +%FT%TZ)"
echo "median of $REPS reps for uploads, $DL_REPS for downloads; ${SECS} s per req/s run; MB = 10^6 bytes;" \
  "pinning: $([ "$PIN" = 1 ] && echo 'servers CPU 0, clients CPU 1' || echo none)"
echo "ours = default config (access log on, to a file); ours(warn) = log level warn, same root"
echo
printf '%-32s %10s %10s %12s %10s %10s %10s\n' figure ours "ours(warn)" docker-reg nginx ours/dr ours/nginx
row "upload 1 GiB MB/s" up
row "upload CPU-s/GiB" upcpu
printf '%-32s %10s   (all reps: %s)\n' "disk dd fdatasync MB/s" "${R[up,dd]}" "${R[up,all_dd]}"
row "chunked 256 MiB MB/s" ch
row "chunked CPU-s/GiB" chcpu
row "download 1 GiB MB/s" dl
row "download CPU-s/GiB" dlcpu
for conns in 32 256; do
  row "manifest GET c=$conns req/s" get$conns
  row "manifest GET c=$conns p99 ms" getp99_$conns
  row "manifest GET c=$conns CPU us/req" getcpu_$conns
done
for conns in 32 256; do
  row "blob HEAD c=$conns req/s" head$conns
  row "blob HEAD c=$conns p99 ms" headp99_$conns
  row "blob HEAD c=$conns CPU us/req" headcpu_$conns
done
row "peak RSS MiB (VmHWM)" rss
row "GET c=32 in turns, median p99 ms" turnp99
row "GET c=32 in turns, median req/s" turnrps
row "GET c=32 during sha512 commit p99 ms" commit_p99
row "GET c=32 during sha512 commit req/s" commit_rps
row "1 GiB sha512 commit s" commit_secs
for kind in idle put; do
  label=$([ $kind = idle ] && echo "1000 idle conns" || echo "256 slow manifest PUTs")
  row "$label: RSS +MiB" hold_${kind}_rss
  row "$label: open fds +" hold_${kind}_fds
  row "$label: held" hold_${kind}_held
  row "$label: refused" hold_${kind}_refused
done
printf '%-32s %10s   (openssl dgst -sha256 of the same 1 GiB, median of the reps)\n' \
  "openssl sha256 CPU-s/GiB" "${R[upcpu,openssl]}"
echo
echo "all reps, MB/s: upload ours [${R[up,all_ours]}] docker-registry [${R[up,all_dr]}];" \
  "download ours [${R[dl,all_ours]}] docker-registry [${R[dl,all_dr]}] nginx [${R[dl,all_nginx]}]"
echo "chunked, MB/s: ours [${ch_ours[*]}] docker-registry [${ch_dr[*]}]"
for k in "${!NOTES[@]}"; do echo "note: ${k/,/ } ${NOTES[$k]}"; done | sort
echo "noise: ${NOISE[*]/%/;}"
echo

# ---- targets ------------------------------------------------------------------------------

misses=0
verdict() {   # LABEL CONDITION(awk) DETAIL
  local v=MISS
  if awk "BEGIN{exit !($2)}" 2>/dev/null; then v=PASS; else misses=$((misses + 1)); fi
  printf '%-4s  %-58s %s\n' "$v" "$1" "$3"
}
num() { [ -n "${1:-}" ] && echo "$1" || echo 0; }
echo "== targets (issue 3, \"Fast\"; issue 11, hardening) =="
o=${R[up,ours]} d=${R[up,dr]} k=${R[up,dd]}
verdict "upload >= 1.5x docker-registry or >= 90% of disk fdatasync" "$o >= 1.5 * $d || $o >= 0.9 * $k" \
  "ours $o MB/s, 1.5x dr = $(calc "1.5 * $d" 0), 90% disk = $(calc "0.9 * $k" 0)"
verdict "upload CPU/GiB <= 1.15x openssl dgst -sha256's" "${R[upcpu,ours]} <= 1.15 * ${R[upcpu,openssl]}" \
  "ours ${R[upcpu,ours]}, openssl ${R[upcpu,openssl]} CPU-s/GiB ($(ratio "${R[upcpu,ours]}" "${R[upcpu,openssl]}")x)"
o=${R[dl,ours]} n=${R[dl,nginx]}
verdict "download within 10% of nginx" "$o >= 0.9 * $n" "ours $o MB/s, nginx $n MB/s"
verdict "download CPU/GiB <= nginx's" "${R[dlcpu,ours]} <= ${R[dlcpu,nginx]}" \
  "ours ${R[dlcpu,ours]}, nginx ${R[dlcpu,nginx]} CPU-s/GiB ($(ratio "${R[dlcpu,ours]}" "${R[dlcpu,nginx]}")x)"
for test in get head; do
  name=$([ $test = get ] && echo "manifest GET" || echo "blob HEAD")
  for conns in 32 256; do
    o=$(num "${R[$test$conns,ours]}") d=$(num "${R[$test$conns,dr]}") n=$(num "${R[$test$conns,nginx]}")
    p=${R[${test}p99_$conns,ours]:-}
    flagged=${NOTES[$test$conns,ours]:+ (${NOTES[$test$conns,ours]})}
    ok=1; [ -z "$flagged" ] || ok=0
    verdict "$name c=$conns >= 10x docker-registry req/s" "$ok && $o >= 10 * $d" "ours $o, 10x dr = $((10 * d))$flagged"
    verdict "$name c=$conns >= 50% of nginx req/s" "$ok && $o >= 0.5 * $n" "ours $o, 50% nginx = $((n / 2))"
    verdict "$name c=$conns p99 < 10 ms" "$ok && \"$p\" != \"\" && $p < 10" "ours ${p:-?} ms"
  done
done
o=$(num "${R[turnrps,ours]}") n=$(num "${R[turnrps,nginx]}") p=$(num "${R[turnp99,ours]}") q=$(num "${R[turnp99,nginx]}")
verdict "manifest GET c=32 req/s >= nginx's / 1.3 (turns)" "$o * 1.3 >= $n" "ours $o, nginx $n (medians of $TURNS)"
verdict "manifest GET c=32 p99 <= 1.3x nginx's (turns)" "$p <= 1.3 * $q" "ours $p ms, nginx $q ms (medians of $TURNS)"
p=${R[commit_p99,ours]:-}
verdict "manifest GET p99 < 10 ms during a 1 GiB sha512 commit" "\"$p\" != \"\" && $p < 10" \
  "ours ${p:-?} ms (docker-registry ${R[commit_p99,dr]:-?} ms; commits ${R[commit_secs,ours]} s, ${R[commit_secs,dr]} s)"
# Bounded by the configuration: idle connections hold no body buffers (at most a header
# buffer each), held manifest bodies stay within limits.max_buffered_body_bytes (128 MiB).
verdict "1000 idle conns: RSS + <= 1000 x 16 KiB header limit" "${R[hold_idle_rss,ours]} <= 1000 * 16 / 1024" \
  "ours +${R[hold_idle_rss,ours]} MiB, docker-registry +${R[hold_idle_rss,dr]} MiB"
verdict "256 slow manifest PUTs: RSS + <= 128 MiB budget + 16 MiB" "${R[hold_put_rss,ours]} <= 144" \
  "ours +${R[hold_put_rss,ours]} MiB (${R[hold_put_held,ours]} held), docker-registry +${R[hold_put_rss,dr]} MiB (${R[hold_put_held,dr]} held)"
verdict "1000 idle conns: one fd each at most" "${R[hold_idle_fds,ours]} <= 1000" \
  "ours +${R[hold_idle_fds,ours]}, docker-registry +${R[hold_idle_fds,dr]}"
verdict "peak RSS <= 1/10 of docker-registry" "${R[rss,ours]} <= ${R[rss,dr]} / 10" \
  "ours ${R[rss,ours]} MiB, docker-registry ${R[rss,dr]} MiB"
echo "$misses target(s) missed"
if [ "$NOISE_MAX" -gt 20 ]; then
  echo "warning: the machine was up to ${NOISE_MAX}% busy with other work during this run:" \
    "the req/s, p99 and MB/s verdicts are unreliable; run again when it is quiet"
fi
