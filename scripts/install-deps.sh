#!/usr/bin/env bash
# Installs, from Debian's repositories, exactly the packages this machine lacks.
# Safe to run twice. Usage: scripts/install-deps.sh [build|test|lab|bench|fuzz|all]...
set -euo pipefail

build_pkgs=(g++ make cmake ninja-build pkg-config ccache
  libboost-dev libboost-filesystem-dev libyaml-cpp-dev libspdlog-dev libfmt-dev
  libsystemd-dev catch2 nlohmann-json3-dev libssl-dev libcrypt-dev procps)
# Docker, sshd and busybox run inside the lab's nodes (their root filesystem has them), never
# on this machine.
test_pkgs=(curl skopeo docker-registry iproute2 openssh-client systemd util-linux python3 apache2-utils
  openssl)
lab_pkgs=(debootstrap systemd-container iproute2 openssh-client util-linux)
bench_pkgs=(nginx-light apache2-utils wrk docker-registry curl)
# libFuzzer, and the sanitizers' runtimes (libclang-rt: clang-16 alone does not bring them).
fuzz_pkgs=(clang-16 libfuzzer-16-dev libclang-rt-16-dev ninja-build cmake)

want=()
[ $# -eq 0 ] && set -- build
for set in "$@"; do
  case "$set" in
    build) want+=("${build_pkgs[@]}") ;;
    test)  want+=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
    lab)   want+=("${lab_pkgs[@]}") ;;
    bench) want+=("${bench_pkgs[@]}") ;;
    fuzz)  want+=("${fuzz_pkgs[@]}") ;;
    all)   want+=("${build_pkgs[@]}" "${test_pkgs[@]}" "${lab_pkgs[@]}" "${bench_pkgs[@]}" "${fuzz_pkgs[@]}") ;;
    *) echo "install-deps: unknown set '$set' (build|test|lab|bench|fuzz|all)" >&2; exit 1 ;;
  esac
done

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
# De-duplicate while keeping order.
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | awk 'NF && !seen[$0]++')

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: everything needed is installed"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}; run as root" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
