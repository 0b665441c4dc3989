#!/usr/bin/env bash
# Benchmark (not a test) of `registry-setup serve` over TLS (http.tls), beside Debian's nginx
# serving the same file as a static file over TLS (the practical limit) and Debian's
# docker-registry (distribution 2.8.2) with the same certificate, on 127.0.0.1 in one run:
#   (a) a 1 GiB blob download with curl (--cacert), BENCH_REPS rounds, median MB/s and the
#       server's CPU seconds over it (/proc/PID/stat utime + stime; nginx: master + workers);
#   (b) manifest GETs with wrk over https, 32 connections, BENCH_TURNS turns, median req/s.
# One EC P-256 self-signed certificate (subjectAltName IP:127.0.0.1) for the three. TLS
# versions and ciphers: each server's defaults (nginx limited to TLS 1.2 and 1.3 as ours);
# the version and cipher each one negotiated with curl are printed.
#
# Needs:  nginx (nginx-light), wrk, docker-registry, curl, openssl, python3 (scripts/install-deps.sh
#         bench) and a built build/registry-setup. Usage: bench/tls_bench.sh
# Environment: REGISTRY_SETUP (the binary), BENCH_DIR (storage roots, default /var/tmp),
#   BENCH_REPS (download rounds, default 5), BENCH_SECONDS (each wrk run, default 5),
#   BENCH_TURNS (wrk turns, default 5)
# Takes about 4 minutes, ~2 GiB in BENCH_DIR and 1 GiB in /dev/shm; 127.0.0.1 only; ends
# only the processes it started, by PID; removes its files.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(dirname "$here")
BIN=${REGISTRY_SETUP:-$repo_root/build/registry-setup}
REPS=${BENCH_REPS:-5}
SECS=${BENCH_SECONDS:-5}
TURNS=${BENCH_TURNS:-5}
CONNS=32
GiB=1073741824
ACCEPT="application/vnd.oci.image.manifest.v1+json"
log() { printf '[tls-bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
for tool in curl wrk nginx docker-registry openssl python3; do command -v "$tool" >/dev/null || die "$tool missing"; done
[ -x "$BIN" ] || die "no binary at $BIN"

PIDS=()
WORK=$(mktemp -d "${BENCH_DIR:-/var/tmp}/rs-tls-bench.XXXXXX")
chmod 755 "$WORK"   # nginx's workers (user nobody) read the static tree under it
SRC=$WORK/src
if [ "$(df -Pk /dev/shm 2>/dev/null | awk 'NR==2{print $4}')" -gt $((2 * 1024 * 1024)) ]; then
  SRC=$(mktemp -d /dev/shm/rs-tls-bench.XXXXXX)
fi
mkdir -p "$SRC"
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
  [ "$SRC" = "$WORK/src" ] || rm -rf "$SRC"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
calc() { awk "BEGIN{printf \"%.${2:-2}f\", $1}"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{if (b > 0) printf "%.2f", a/b; else print "-"}'; }
to_ms() { awk -v v="$1" 'BEGIN{n=v+0; if (v ~ /us$/) n/=1000; else if (v ~ /ms$/) n=n; else if (v ~ /s$/) n*=1000; printf "%.2f", n}'; }
CURL=(curl -sS --cacert "$WORK/cert.pem")
wait_https() {  # URL PID
  local _
  for _ in $(seq 150); do
    kill -0 "$2" 2>/dev/null || return 1
    "${CURL[@]}" -o /dev/null --max-time 1 "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
# CPU seconds (utime + stime, all threads) summed over the given PIDs, from /proc/PID/stat
# (clock ticks; field 2 may hold spaces, so count from the last ')').
CLK_TCK=$(getconf CLK_TCK)
cpu_s() {
  local pid sum=0 t
  for pid in "$@"; do
    t=$(sed 's/.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}') || t=0
    sum=$((sum + t))
  done
  calc "$sum / $CLK_TCK" 2
}
machine_busy() {
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

# ---- certificate, data --------------------------------------------------------------------

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 2>/dev/null || die "openssl req failed"
log "work dir $WORK, source in $SRC; writing 1 GiB of random data"
head -c $GiB /dev/urandom >"$SRC/big.bin"
BIG=sha256:$(sha256sum "$SRC/big.bin" | cut -d' ' -f1)

# ---- servers ------------------------------------------------------------------------------

P_OURS=$(free_port); P_DR=$(free_port); P_NGX=$(free_port)
[ "$(printf '%s\n' "$P_OURS" "$P_DR" "$P_NGX" | sort -u | wc -l)" = 3 ] || die "could not pick 3 free ports"
OURS=https://127.0.0.1:$P_OURS DR=https://127.0.0.1:$P_DR NGX=https://127.0.0.1:$P_NGX

cat >"$WORK/ours.yml" <<YML
version: 0.1
http: {addr: 127.0.0.1:$P_OURS, tls: {certificate: $WORK/cert.pem, key: $WORK/key.pem}}
storage: {filesystem: {rootdirectory: $WORK/ours}}
YML
"$BIN" serve --config "$WORK/ours.yml" 2>"$WORK/ours.log" &
PID_OURS=$!; PIDS+=("$PID_OURS")

cat >"$WORK/dr.yml" <<YML
version: 0.1
log: {level: error}
storage: {cache: {blobdescriptor: inmemory}, filesystem: {rootdirectory: $WORK/dr}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$P_DR, tls: {certificate: $WORK/cert.pem, key: $WORK/key.pem}}
YML
env -u AWS_CA_BUNDLE docker-registry serve "$WORK/dr.yml" >"$WORK/dr.log" 2>&1 &
PID_DR=$!; PIDS+=("$PID_DR")

NG=$WORK/nginx
mkdir -p "$NG/html/v2/bench/img/manifests" "$NG/html/v2/bench/big/blobs" "$NG/tmp"
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
    listen 127.0.0.1:$P_NGX ssl;
    ssl_certificate $WORK/cert.pem;
    ssl_certificate_key $WORK/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    root $NG/html;
    location ~ ^/v2/.+/manifests/[^/]+\$ { default_type application/vnd.oci.image.manifest.v1+json; }
    location /v2/ { }
  }
}
EOF
nginx -c "$NG/nginx.conf" -p "$NG/" -e "$NG/error.log" 2>"$NG/stderr.log" &
PID_NGX=$!; PIDS+=("$PID_NGX")

wait_https "$OURS/v2/" "$PID_OURS" || die "registry-setup serve did not start: $(tail -3 "$WORK/ours.log")"
wait_https "$DR/v2/" "$PID_DR" || die "docker-registry did not start: $(tail -3 "$WORK/dr.log")"
wait_https "$NGX/" "$PID_NGX" || die "nginx did not start: $(cat "$NG/stderr.log" "$NG/error.log" 2>/dev/null | tail -3)"
mapfile -t NGINX_PIDS < <(echo "$PID_NGX"; pgrep -P "$PID_NGX" || true)
log "servers up: ours $P_OURS, docker-registry $P_DR, nginx $P_NGX (${#NGINX_PIDS[@]} processes)"

# ---- data in the registries (over TLS) ----------------------------------------------------

upload() {  # BASE REPO DIGEST (--data-binary BYTES | -T FILE)
  local base=$1 repo=$2 digest=$3 loc sep code; shift 3
  loc=$("${CURL[@]}" -D - -o /dev/null -X POST "$base/v2/$repo/blobs/uploads/" |
    tr -d '\r' | awk 'tolower($1)=="location:"{print $2}')
  [ -n "$loc" ] || die "POST to $base gave no Location"
  case $loc in http*) ;; *) loc=$base$loc ;; esac
  sep='?'; case $loc in *\?*) sep='&' ;; esac
  code=$("${CURL[@]}" -o "$WORK/put.out" -w '%{http_code}' -X PUT -H 'Expect:' \
    -H 'Content-Type: application/octet-stream' "$@" "$loc${sep}digest=$digest")
  [ "$code" = 201 ] || die "PUT to $base: HTTP $code $(head -c 300 "$WORK/put.out")"
}
sha() { printf %s "$1" | sha256sum | cut -d' ' -f1; }
CFG='{}' LAYER_BYTES=layer-bytes
DC=sha256:$(sha "$CFG") DL=sha256:$(sha "$LAYER_BYTES")
MANIFEST='{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"'$DC'","size":'${#CFG}'},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"'$DL'","size":'${#LAYER_BYTES}'}]}'
for base in "$OURS" "$DR"; do
  upload "$base" bench/big "$BIG" -T "$SRC/big.bin"
  upload "$base" bench/img "$DC" --data-binary "$CFG"
  upload "$base" bench/img "$DL" --data-binary "$LAYER_BYTES"
  code=$("${CURL[@]}" -o "$WORK/put.out" -w '%{http_code}' -X PUT -H "Content-Type: $ACCEPT" \
    --data-binary "$MANIFEST" "$base/v2/bench/img/manifests/latest")
  [ "$code" = 201 ] || die "manifest PUT to $base: HTTP $code $(head -c 300 "$WORK/put.out")"
done
blob_path() { local hex=${2#sha256:}; echo "$1/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data"; }
# nginx serves the very file ours stored (a hard link: same bytes, same page cache).
ln "$(blob_path "$WORK/ours" "$BIG")" "$NG/html/v2/bench/big/blobs/$BIG"
printf %s "$MANIFEST" >"$NG/html/v2/bench/img/manifests/latest"
chmod -R a+rX "$NG/html"
rm -f "$SRC/big.bin"
# The page cache holds each copy the way its writer left it: evict both and read them back
# the same way, so that every server sends from equally cached pages.
sync
python3 -c 'import os, sys
for p in sys.argv[1:]:
    fd = os.open(p, os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)' \
  "$(blob_path "$WORK/ours" "$BIG")" "$(blob_path "$WORK/dr" "$BIG")"
cat "$(blob_path "$WORK/ours" "$BIG")" "$(blob_path "$WORK/dr" "$BIG")" >/dev/null

WHO=(ours nginx dr)
declare -A BASE SPIDS
BASE[ours]=$OURS BASE[nginx]=$NGX BASE[dr]=$DR
SPIDS[ours]=$PID_OURS SPIDS[nginx]="${NGINX_PIDS[*]}" SPIDS[dr]=$PID_DR
declare -A TLSINFO
for who in "${WHO[@]}"; do
  TLSINFO[$who]=$("${CURL[@]}" -v -o /dev/null "${BASE[$who]}/v2/bench/img/manifests/latest" -H "Accept: $ACCEPT" 2>&1 |
    awk '/SSL connection using/{sub(/.*using /,""); print; exit}')
done

# ---- (a) 1 GiB download -------------------------------------------------------------------

download() {  # WHO -> "MB/s cpu_s"
  local who=$1 c0 c1 out code size secs
  # shellcheck disable=SC2086  # SPIDS holds a list of PIDs
  c0=$(cpu_s ${SPIDS[$who]})
  out=$("${CURL[@]}" -o /dev/null -w '%{http_code} %{size_download} %{time_total}' \
    "${BASE[$who]}/v2/bench/big/blobs/$BIG")
  # shellcheck disable=SC2086
  c1=$(cpu_s ${SPIDS[$who]})
  read -r code size secs <<<"$out"
  if [ "$code" != 200 ] || [ "$size" != "$GiB" ]; then die "download from $who: HTTP $code, $size bytes"; fi
  echo "$(calc "$GiB / 1e6 / $secs" 0) $(calc "$c1 - $c0" 2)"
}
BUSY0=$(wait_quiet)
log "1 GiB downloads (machine ${BUSY0}% busy while idle here)"
for who in "${WHO[@]}"; do download "$who" >/dev/null; done   # warm-up, not counted
declare -A DL DLCPU
for who in "${WHO[@]}"; do DL[$who]=""; DLCPU[$who]=""; done
for rep in $(seq "$REPS"); do
  order=("${WHO[@]:$(( (rep - 1) % 3 ))}" "${WHO[@]:0:$(( (rep - 1) % 3 ))}")
  for who in "${order[@]}"; do
    read -r mbs cpu <<<"$(download "$who")"
    DL[$who]+="$mbs " DLCPU[$who]+="$cpu "
  done
  log "download round $rep: ours $(awk '{print $NF}' <<<"${DL[ours]}"), nginx $(awk '{print $NF}' <<<"${DL[nginx]}"), docker-registry $(awk '{print $NF}' <<<"${DL[dr]}") MB/s"
done

# ---- (b) manifest GET, wrk over https -----------------------------------------------------

run_wrk() {  # URL -> "rps p99ms requests"
  local out rps p99 n
  out=$(timeout $((SECS + 30)) wrk -t2 -c$CONNS -d"${SECS}s" --timeout 5s --latency -H "Accept: $ACCEPT" "$1" 2>&1) || true
  grep -q 'Non-2xx' <<<"$out" && die "non-2xx answers from $1: $(grep Non-2xx <<<"$out")"
  grep -q 'Socket errors' <<<"$out" && log "note: $1: $(grep 'Socket errors' <<<"$out")"
  rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
  n=$(awk '/ requests in /{print $1}' <<<"$out")
  if [ -z "$rps" ] || [ -z "$n" ]; then die "wrk failed on $1: $(tail -2 <<<"$out")"; fi
  p99=$(to_ms "$(awk '$1=="99%"{print $2}' <<<"$out")")
  echo "$rps $p99 $n"
}
BUSY1=$(wait_quiet)
log "manifest GETs over https (machine ${BUSY1}% busy while idle here)"
declare -A RPS P99 USREQ
for who in "${WHO[@]}"; do RPS[$who]=""; P99[$who]=""; USREQ[$who]=""; done
for turn in $(seq "$TURNS"); do
  order=("${WHO[@]:$(( (turn - 1) % 3 ))}" "${WHO[@]:0:$(( (turn - 1) % 3 ))}")
  for who in "${order[@]}"; do
    # shellcheck disable=SC2086
    c0=$(cpu_s ${SPIDS[$who]})
    read -r rps p99 n <<<"$(run_wrk "${BASE[$who]}/v2/bench/img/manifests/latest")"
    # shellcheck disable=SC2086
    c1=$(cpu_s ${SPIDS[$who]})
    RPS[$who]+="$(calc "$rps" 0) " P99[$who]+="$p99 " USREQ[$who]+="$(calc "($c1 - $c0) * 1e6 / $n" 1) "
  done
  log "wrk turn $turn: ours $(awk '{print $NF}' <<<"${RPS[ours]}"), nginx $(awk '{print $NF}' <<<"${RPS[nginx]}"), docker-registry $(awk '{print $NF}' <<<"${RPS[dr]}") req/s"
done
BUSY2=$(machine_busy)

# ---- report -------------------------------------------------------------------------------

# shellcheck disable=SC2086  # the lists are space-separated numbers
med() { local -n arr=$1; median ${arr[$2]}; }
# shellcheck disable=SC2034  # read through row's nameref
declare -A M_DL M_DLCPU M_RPS M_P99 M_US
# shellcheck disable=SC2034
for who in "${WHO[@]}"; do
  M_DL[$who]=$(med DL "$who"); M_DLCPU[$who]=$(med DLCPU "$who")
  M_RPS[$who]=$(med RPS "$who"); M_P99[$who]=$(med P99 "$who"); M_US[$who]=$(med USREQ "$who")
done
echo "== registry-setup serve over TLS vs nginx $(nginx -v 2>&1 | sed 's|.*/||') (static file) vs docker-registry $(docker-registry --version | awk '{print $3}') =="
echo "$(nproc) cores ($(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)), kernel $(uname -r), $(date -u +%FT%TZ)"
echo "kernel TLS ULP available: $(cat /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null)"
echo "certificate: EC P-256 self-signed, SAN IP:127.0.0.1; client curl $(curl --version | awk 'NR==1{print $2}') --cacert, wrk $(wrk -v 2>&1 | awk 'NR==1{print $2}')"
for who in "${WHO[@]}"; do echo "negotiated with curl, $who: ${TLSINFO[$who]:-?}"; done
echo "machine busy while idle here: ${BUSY0}% before the downloads, ${BUSY1}% before wrk, ${BUSY2}% after (other work)"
echo "ours: default log (info, access log to a file); nginx: access log on, ${#NGINX_PIDS[@]} processes, default ssl_buffer_size/output_buffers; docker-registry: log level error (access log on)"
echo
printf '%-34s %10s %10s %12s %10s %10s\n' figure ours nginx docker-reg ours/nginx ours/dr
row() {  # LABEL ARRAY [lower-is-better note]
  local -n a=$2
  printf '%-34s %10s %10s %12s %10s %10s\n' "$1" "${a[ours]}" "${a[nginx]}" "${a[dr]}" \
    "$(ratio "${a[ours]}" "${a[nginx]}")" "$(ratio "${a[ours]}" "${a[dr]}")"
}
row "1 GiB download MB/s (median of $REPS)" M_DL
row "1 GiB download server CPU-s" M_DLCPU
row "manifest GET c=$CONNS req/s (median of $TURNS)" M_RPS
row "manifest GET c=$CONNS p99 ms" M_P99
row "manifest GET c=$CONNS server CPU us/req" M_US
echo
for who in "${WHO[@]}"; do
  echo "all rounds $who: download MB/s [${DL[$who]% }], CPU-s [${DLCPU[$who]% }]; req/s [${RPS[$who]% }], p99 ms [${P99[$who]% }]"
done
echo "MB = 10^6 bytes; CPU from /proc/PID/stat utime+stime (${CLK_TCK} ticks/s), over the transfer or the wrk run"
echo
v=MISS; awk -v o="${M_DL[ours]}" -v n="${M_DL[nginx]}" 'BEGIN{exit !(o >= 0.9 * n)}' && v=PASS
echo "$v  1 GiB download over TLS >= 90% of nginx: ours ${M_DL[ours]} MB/s, nginx ${M_DL[nginx]} MB/s ($(ratio "${M_DL[ours]}" "${M_DL[nginx]}"))"
