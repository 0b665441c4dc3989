# Shared helpers of the registry integration tests; sourced by each registry_*_test.sh.
#
# The sourcing script is called with the registry-setup binary as $1. This file gives it:
#   - one temporary directory ($RS_TMP), removed on exit with everything under it;
#   - start_server / stop_server: our server on 127.0.0.1, port 0; processes started here are
#     tracked by PID and only those are ended on exit;
#   - req: one HTTP request with curl, leaving $status, $RS_TMP/body and $RS_TMP/headers;
#   - make_layout, layout_digest, raw_digest, same_blobs: OCI layouts and skopeo;
#   - expect_*: assertions that print what was expected and what came, and count;
#   - finish: prints "N passed, N failed" and exits non-zero when anything failed.
# Everything talks to 127.0.0.1 only.

set -u
set -o pipefail

RS_BIN=${1:?usage: $0 PATH-TO-registry-setup}
RS_BIN=$(realpath "$RS_BIN")
RS_TESTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RS_TOOLS=$(cd "$RS_TESTS/../tools" && pwd)
RS_TMP=$(mktemp -d "${TMPDIR:-/tmp}/rs-integration.XXXXXX")
RS_START=$SECONDS
# Debian's python3 (what scripts/install-deps.sh installs) before any shim earlier in PATH,
# whose start-up alone can cost 0.5 s per call.
RS_PY=python3
[ -x /usr/bin/python3 ] && RS_PY=/usr/bin/python3

passed=0
failed=0
status=0
_rs_pids=()

# ---- processes and cleanup ----

_rs_alive() {  # a child that exited but was not reaped yet counts as gone
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

# Waits up to $2 seconds for PID $1 to exit; false if it is still running.
_rs_wait_exit() {
  local pid=$1 deadline=$((SECONDS + $2))
  while _rs_alive "$pid"; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.05
  done
  return 0
}

_rs_untrack() {
  local keep=() p
  for p in "${_rs_pids[@]}"; do [ "$p" != "$1" ] && keep+=("$p"); done
  _rs_pids=("${keep[@]}")
}

_rs_cleanup() {
  local rc=$? pid
  for pid in "${_rs_pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null
    _rs_wait_exit "$pid" 5 || kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  rm -rf "$RS_TMP"
  exit "$rc"
}
trap _rs_cleanup EXIT
trap 'exit 130' INT TERM

# Marks a background process started by the script as ours to end on exit.
track_pid() { _rs_pids+=("$1"); }

# A prerequisite that is missing: skip (77), except in CI where everything must be installed.
require() {
  local cmd
  for cmd in "$@"; do
    if ! command -v "$cmd" >/dev/null 2>&1; then
      if [ -n "${CI:-}" ]; then
        echo "FAIL: '$cmd' is not installed (scripts/install-deps.sh test installs it)"
        exit 1
      fi
      echo "SKIP: '$cmd' is not installed"
      exit 77
    fi
  done
}

# A failure that makes the rest of the script meaningless.
die() {
  echo "FATAL: $*"
  failed=$((failed + 1))
  finish
}

# start_server ROOT [ARGS...]: runs `registry-setup serve` on 127.0.0.1 port 0 and waits until
# it listens. Sets server_pid, server_port, server_url (http://127.0.0.1:PORT), server_log.
_rs_server_count=0
start_server() {
  local root=$1
  shift
  _rs_server_count=$((_rs_server_count + 1))
  server_log=$RS_TMP/server-$_rs_server_count.log
  "$RS_BIN" serve --listen 127.0.0.1:0 --root "$root" "$@" 2>"$server_log" &
  server_pid=$!
  track_pid "$server_pid"
  local deadline=$((SECONDS + 15)) line
  server_port=
  while [ -z "$server_port" ]; do
    line=$(grep -m1 -o 'serving the v2 registry on 127\.0\.0\.1:[0-9]*' "$server_log" 2>/dev/null)
    server_port=${line##*:}
    [ -n "$server_port" ] && break
    if ! _rs_alive "$server_pid"; then
      echo "--- server log ---"; cat "$server_log"
      die "the server exited before listening"
    fi
    [ $SECONDS -ge $deadline ] && { cat "$server_log"; die "the server did not listen within 15 s"; }
    sleep 0.05
  done
  server_url=http://127.0.0.1:$server_port
}

# stop_server PID: SIGTERM, waits up to 20 s; sets server_rc to its exit status (124 if it hung).
stop_server() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null
  if _rs_wait_exit "$pid" 20; then
    wait "$pid" 2>/dev/null
    server_rc=$?
  else
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    server_rc=124
  fi
  _rs_untrack "$pid"
}

# A TCP port free at the moment of asking, for servers that cannot take port 0.
free_port() {
  "$RS_PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_http URL [SECONDS]: polls until URL answers at all.
wait_http() {
  local deadline=$((SECONDS + ${2:-15}))
  until curl -s -o /dev/null --max-time 2 "$1"; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.1
  done
}

# ---- HTTP ----

# req METHOD URL [CURL-ARGS...]: sets $status (000 when no response), writes the body to
# $RS_TMP/body and the response headers to $RS_TMP/headers. The path is sent as written.
req() {
  local method=$1 url=$2
  shift 2
  local how=(-X "$method")
  [ "$method" = HEAD ] && how=(--head)
  : >"$RS_TMP/body"
  : >"$RS_TMP/headers"
  status=$(curl -s --path-as-is --max-time 30 "${how[@]}" -o "$RS_TMP/body" -D "$RS_TMP/headers" \
    -w '%{http_code}' "$@" "$url")
  last_request="$method $url"
}

# abs_url LOCATION: the URL a Location header (relative or absolute) points to.
abs_url() { case $1 in http*) echo "$1" ;; *) echo "$server_url$1" ;; esac; }
# with_query URL PARAM: URL with one more query parameter.
with_query() { case $1 in *\?*) echo "$1&$2" ;; *) echo "$1?$2" ;; esac; }

# hdr NAME: the value of a response header of the last request ("" when absent).
hdr() {
  grep -i "^$1:" "$RS_TMP/headers" | tail -n1 | sed -e 's/^[^:]*:[[:space:]]*//' -e 's/[[:space:]]*$//' | tr -d '\r'
}

# body: the last response body.
body() { cat "$RS_TMP/body"; }

# json FILE EXPR: EXPR evaluated in Python over the JSON document `d` in FILE; strings print
# raw, anything else as JSON. Prints "<invalid JSON>" when FILE is not JSON.
json() {
  "$RS_PY" - "$1" "$2" <<'EOF'
import json, sys
try:
    d = json.load(open(sys.argv[1], "rb"))
except Exception:
    print("<invalid JSON>")
    sys.exit(0)
try:
    v = eval(sys.argv[2])
except Exception as e:
    print("<%s: %s>" % (type(e).__name__, e))
    sys.exit(0)
print(v if isinstance(v, str) else json.dumps(v))
EOF
}

# The errors[0].code of the last response body.
error_code() { json "$RS_TMP/body" 'd["errors"][0]["code"]'; }

# wait_until SECONDS COMMAND...: polls COMMAND until it succeeds.
wait_until() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.1
  done
}
sha256_of() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }

# skopeo and OCI layouts (registry_skopeo, registry_compat); our server is plain HTTP.
tls=(--src-tls-verify=false --dest-tls-verify=false)
make_layout() { "$RS_PY" "$RS_TOOLS/make_oci_layout.py" "$@" >/dev/null || die "make_oci_layout.py $*"; }
# The manifest digest a layout's index.json gives for its only image.
layout_digest() { json "$1/index.json" 'd["manifests"][0]["digest"]'; }
# The sha256 of what `skopeo inspect --raw` returns for REF.
raw_digest() {
  skopeo inspect --raw --tls-verify=false "$1" >"$RS_TMP/raw" 2>"$RS_TMP/raw.err" || { echo "<inspect failed: $(tail -c 300 "$RS_TMP/raw.err")>"; return; }
  sha256_of "$RS_TMP/raw"
}
# Every blob of layout $1 is in layout $2 with the same bytes.
same_blobs() {
  local f
  for f in "$1"/blobs/sha256/*; do
    cmp -s "$f" "$2/blobs/sha256/$(basename "$f")" || { echo "blob $(basename "$f") differs or is missing"; return 1; }
  done
}
sha512_of() { echo "sha512:$(sha512sum "$1" | cut -d' ' -f1)"; }

# ---- assertions ----

pass() { passed=$((passed + 1)); echo "ok: $1"; }
fail() {
  failed=$((failed + 1))
  echo "FAIL: $1"
  shift
  local line
  for line in "$@"; do echo "      $line"; done
}

_rs_last_response() {
  echo "request: ${last_request:-}"
  echo "got: HTTP $status $(head -c 300 "$RS_TMP/body" | tr -d '\r' | tr '\n' ' ')"
}

# expect_eq DESC EXPECTED GOT
expect_eq() {
  if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "expected: $2" "got:      $3"; fi
}

# expect_match DESC EXTENDED-REGEX GOT
expect_match() {
  if [[ "$3" =~ $2 ]]; then pass "$1"; else fail "$1" "expected to match: $2" "got: $3"; fi
}

# expect_cmd DESC COMMAND...: passes when COMMAND exits 0; shows its output otherwise.
expect_cmd() {
  local desc=$1 out
  shift
  if out=$("$@" 2>&1); then
    pass "$desc"
  else
    fail "$desc" "command failed: $*" "$(tail -n 5 <<<"$out")"
  fi
}

# expect_status DESC STATUS: the last response's status.
expect_status() {
  if [ "$status" = "$2" ]; then
    pass "$1"
  else
    local r
    mapfile -t r < <(_rs_last_response)
    fail "$1" "expected: HTTP $2" "${r[@]}"
  fi
}

# expect_header DESC NAME EXPECTED: a header of the last response.
expect_header() {
  local got
  got=$(hdr "$2")
  if [ "$got" = "$3" ]; then pass "$1"; else fail "$1" "request: $last_request" "expected: $2: $3" "got:      $2: $got"; fi
}

# expect_error DESC STATUS CODE: status and an OCI error body whose errors[0].code is CODE.
expect_error() {
  local code
  code=$(error_code)
  if [ "$status" = "$2" ] && [ "$code" = "$3" ]; then
    pass "$1"
  else
    local r
    mapfile -t r < <(_rs_last_response)
    fail "$1" "expected: HTTP $2 with errors[0].code $3" "${r[@]}"
  fi
}

# expect_client_error DESC: a 4xx whose body (unless HEAD) is an OCI error body; never a 5xx.
expect_client_error() {
  local code=
  [[ "$last_request" == HEAD* ]] || code=$(error_code)
  if [[ "$status" =~ ^4[0-9][0-9]$ ]] && { [[ "$last_request" == HEAD* ]] || [[ "$code" =~ ^[A-Z_]+$ ]]; }; then
    pass "$1 ($status ${code:-})"
  else
    local r
    mapfile -t r < <(_rs_last_response)
    fail "$1" "expected: HTTP 4xx with an OCI error body" "${r[@]}"
  fi
}

finish() {
  echo "$(basename "$0"): $passed passed, $failed failed ($((SECONDS - RS_START)) s)"
  [ "$failed" -eq 0 ] && exit 0
  exit 1
}
