#!/usr/bin/env bash
# Installs what building and testing mcpgw needs on Debian bookworm, and nothing when all of it
# is already there. Usage: scripts/deps.sh build|test|bench
set -euo pipefail

build_pkgs=(cmake ninja-build g++ pkg-config ccache libboost1.81-dev libboost-url1.81-dev
            libssl-dev libsimdjson-dev libyaml-cpp-dev libhiredis-dev
            prometheus-cpp-dev libjemalloc-dev)
# the micro-benches build and smoke-run in CI; redis-server and haproxy: the scale-out tests
# start their own (on free loopback ports)
test_pkgs=(libgtest-dev libgmock-dev libbenchmark-dev redis-server haproxy)
bench_pkgs=(wrk nginx-light valgrind)

wanted=("${build_pkgs[@]}")
case "${1:-build}" in
  build) ;;
  test) wanted+=("${test_pkgs[@]}") ;;
  bench) wanted+=("${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
  *) echo "usage: $0 build|test|bench" >&2; exit 2 ;;
esac
if [ "${1:-build}" != build ] && ! command -v node >/dev/null; then
  wanted+=(nodejs npm)
fi

missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
fi
