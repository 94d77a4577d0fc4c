#!/usr/bin/env bash
# What the Redis session store costs: tools/call (echo) through mcpgw with the memory store
# and through mcpgw with the Redis store, in one run on the same machine, plus the Redis
# commands the Redis-store gateway issued per request (redis-server's own
# total_commands_processed, before and after).
#
# usage: bench/load/session-store.sh [RESULTS_FILE]
#   MCPGW, DEMO_BACKEND  binaries (default build/release/...; build with the release preset)
#   DURATION (default 10s), CONNECTIONS (default 64), CACHE_TTL (session_store.cache_ttl, 1s)
# Needs wrk, redis-server and redis-cli (scripts/deps.sh bench). Loopback only; every process
# started here is stopped by PID.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/../lib.sh"
root=$(cd "$here/../.." && pwd)
MCPGW=${MCPGW:-$root/build/release/gateway/mcpgw}
DEMO_BACKEND=${DEMO_BACKEND:-$root/build/release/tests/backends/mcpgw-demo-backend}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
CACHE_TTL=${CACHE_TTL:-1s}
results_file=${1:-}

log() { printf 'session-store.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
for b in "$MCPGW" "$DEMO_BACKEND"; do [[ -x $b ]] || die "$b: not built (cmake --preset release)"; done
for c in wrk redis-server redis-cli curl; do command -v "$c" >/dev/null || die "$c not found"; done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mcpgw-store-bench.XXXXXX")
pids=()
trap stop_pids_and_remove_tmp EXIT


backend_port=$(pick_port)
taskset -c 1 "$DEMO_BACKEND" --listen "127.0.0.1:$backend_port" >"$tmp/backend.out" 2>&1 &
pids+=($!)
redis_port=$(pick_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >"$tmp/redis.out" 2>&1 &
pids+=($!)
sleep 0.5

redis_commands() { redis-cli -p "$redis_port" INFO stats | tr -d '\r' | awk -F: '$1 == "total_commands_processed" { print $2 }'; }

# run NAME URL SID: wrk against URL; prints "rps p50 p99 requests"
run() {
  local url=$2 sid=$3 out
  out=$(taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$here/tools_call.lua" "$url" -- "$sid" 2>&1)
  grep -o 'RESULT.*' <<<"$out" | head -1
}
field() { grep -o "$1=[0-9.]*" <<<"$2" | cut -d= -f2; }

start_bench_gateway memory "session_store: { type: memory }"
memory_url=$gateway_url
start_bench_gateway redis "session_store: { type: redis, url: \"redis://127.0.0.1:$redis_port/0\", cache_ttl: $CACHE_TTL }"
redis_url=$gateway_url
# shellcheck disable=SC2034  # both read through ${!sid_var} below
memory_sid=$(mcp_session "$memory_url")
# shellcheck disable=SC2034
redis_sid=$(mcp_session "$redis_url")

declare -A rps p50 p99 per_request total
for name in memory redis; do
  url_var=${name}_url sid_var=${name}_sid
  before=$(redis_commands)
  line=$(run "$name" "${!url_var}" "${!sid_var}")
  after=$(redis_commands)
  rps[$name]=$(field rps "$line")
  p50[$name]=$(field p50_us "$line")
  p99[$name]=$(field p99_us "$line")
  requests=$(field requests "$line")
  # The second INFO counts itself: one command that is not the gateway's.
  commands=$((after - before - 1))
  per_request[$name]=$(awk -v c="$commands" -v r="$requests" 'BEGIN { printf "%.6f", (r > 0 ? c / r : 0) }')
  total[$name]=$commands
  log "$name: $line; redis commands $commands"
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", (b > 0 ? a / b : 0) }'; }
{
  echo "## Session store: memory vs Redis, tools/call echo, $CONNECTIONS connections, $DURATION"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ); host: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(redis-server --version | cut -d' ' -f1-3)"
  echo "- mcpgw on core 0; demo backend, wrk and redis-server on core 1; session_store.cache_ttl $CACHE_TTL"
  echo
  echo "| store | req/s | p50 (µs) | p99 (µs) | Redis commands | per request |"
  echo "|---|---:|---:|---:|---:|---:|"
  for name in memory redis; do
    echo "| $name | ${rps[$name]} | ${p50[$name]} | ${p99[$name]} | ${total[$name]} | ${per_request[$name]} |"
  done
  echo
  echo "redis / memory: req/s $(ratio "${rps[redis]}" "${rps[memory]}"), p99 $(ratio "${p99[redis]}" "${p99[memory]}")"
} | tee -a "${results_file:-/dev/null}"
