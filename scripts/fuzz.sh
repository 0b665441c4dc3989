#!/usr/bin/env bash
# Fuzzes the parsers that take outside input with libFuzzer, AddressSanitizer and UBSan.
#   scripts/fuzz.sh [TARGET|all] [SECONDS]   default: all targets, 30 s each
#   scripts/fuzz.sh --list                   the targets
#   scripts/fuzz.sh --build                  only build them
# Builds build-fuzz/ with clang++-16 once (ccache when present). Each target starts from its
# seed corpus fuzz/corpus/TARGET/ plus what earlier runs found (build-fuzz/corpus/TARGET/).
# A crash, leak, timeout (10 s for one input) or out-of-memory (2 GiB) fails the run and
# leaves the input in build-fuzz/crashes/TARGET/; turn it into a unit test.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=$root/build-fuzz
targets=(yaml_tree inventory inventory_ini playbook containerd_config digest manifest range route config http htpasswd token)

build_targets() {
  mkdir -p "$build"
  # Tests may start several runs at once: one builds, the others wait for it.
  exec 9>"$build/.lock"
  flock 9
  if [ ! -f "$build/CMakeCache.txt" ]; then
    CXX=clang++-16 cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DRS_FUZZ=ON -DRS_BUILD_TESTS=OFF >/dev/null
  fi
  # (Only the failures are worth showing; a failed build fails the script.)
  local rc=0
  cmake --build "$build" -j "$(nproc)" --target "${targets[@]/#/fuzz_}" >"$build/build.log" 2>&1 || rc=$?
  flock -u 9
  if [ "$rc" -ne 0 ]; then
    grep -v '^\[' "$build/build.log" | tail -n 40 >&2
    echo "fuzz: building the targets failed (all of it in $build/build.log)" >&2
    return 1
  fi
}

run_target() {
  local t=$1 seconds=$2
  local bin=$build/fuzz/fuzz_$t
  [ -x "$bin" ] || { echo "fuzz: no target '$t' (scripts/fuzz.sh --list)" >&2; return 2; }
  mkdir -p "$build/corpus/$t" "$build/crashes/$t"
  echo "fuzz: $t for $seconds s"
  # A leak is a failure too: checked after each input, except for http, whose server frees
  # a connection's memory on its own threads after the answer (a check after each input
  # then scans the heap every time, 20x slower); there leaks are checked at exit.
  local leaks=1
  [ "$t" = http ] && leaks=0
  "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    -detect_leaks=$leaks \
    -artifact_prefix="$build/crashes/$t/" "$build/corpus/$t" "$root/fuzz/corpus/$t" 2>"$build/$t.log" \
    || { tail -n 60 "$build/$t.log" >&2; echo "fuzz: $t FAILED; input in $build/crashes/$t/" >&2; return 1; }
  grep -E '^stat::number_of_executed_units|^#[0-9]+ *DONE' "$build/$t.log" | tail -n 2 || true
}

case "${1:-all}" in
  --list) printf '%s\n' "${targets[@]}"; exit 0 ;;
  --build) build_targets; exit 0 ;;
esac
which=${1:-all}
seconds=${2:-30}
build_targets
if [ "$which" = all ]; then
  for t in "${targets[@]}"; do run_target "$t" "$seconds"; done
else
  run_target "$which" "$seconds"
fi
