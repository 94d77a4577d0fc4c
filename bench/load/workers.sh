#!/usr/bin/env bash
# What moving a connection between workers costs: tools/call (echo) over 64 keep-alive
# connections, every request naming one of two sessions in turn, so that most requests name a
# session of another worker than the previous request on that connection. Rows, all with the
# gateway on core 0 (both workers on one core: the CPU per request is comparable to the
# one-worker row), rounds interleaved, each cell the median over the rounds:
#   one      workers: 1, both sessions in the one worker (no handover)
#   same     workers: 2, both sessions in the same worker (a connection moves at most once)
#   crossed  workers: 2, the sessions in different workers (a connection moves on about every
#            other request)
# The gateway's CPU per request comes from its own /proc/<pid>/stat; handovers from
# mcpgw_worker_handovers_total.
#
# usage: bench/load/workers.sh [RESULTS_FILE]
#   MCPGW, DEMO_BACKEND  binaries (default build/release/...; build with the release preset)
#   DURATION (default 6s), ROUNDS (default 3)
# Needs wrk and curl. Loopback only; every process started here is stopped by PID.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/../lib.sh"
root=$(cd "$here/../.." && pwd)
MCPGW=${MCPGW:-$root/build/release/gateway/mcpgw}
DEMO_BACKEND=${DEMO_BACKEND:-$root/build/release/tests/backends/mcpgw-demo-backend}
DURATION=${DURATION:-6s}
ROUNDS=${ROUNDS:-3}
results_file=${1:-}

log() { printf 'workers.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
for b in "$MCPGW" "$DEMO_BACKEND"; do [[ -x $b ]] || die "$b: not built (cmake --preset release)"; done
for c in wrk curl; do command -v "$c" >/dev/null || die "$c not found"; done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mcpgw-workers-bench.XXXXXX")
pids=()
trap stop_pids_and_remove_tmp EXIT

backend_port=$(pick_port)
taskset -c 1 "$DEMO_BACKEND" --listen "127.0.0.1:$backend_port" >"$tmp/backend.out" 2>&1 &
pids+=("$!")
for _ in $(seq 100); do grep -q listening "$tmp/backend.out" && break; sleep 0.05; done

# The worker of a session id among two: FNV-1a 64 of the id, mod 2 (gateway/src/server/
# workers.h). Bash wraps its 64-bit arithmetic as the C++ does; the low bit is the answer.
owner_of_two() {
  local id=$1 h=-3750763034362895579 i c  # 14695981039346656037 as a signed 64-bit value
  for ((i = 0; i < ${#id}; i++)); do
    printf -v c '%d' "'${id:i:1}"
    h=$(((h ^ c) * 1099511628211))
  done
  echo $((h & 1))
}

# Two session ids on $gateway_url: in the same worker (same) or in different ones (crossed).
two_sessions() {
  local want=$1 first="" id
  for _ in $(seq 200); do
    id=$(mcp_session "$gateway_url")
    if [[ -z $first ]]; then first=$id; continue; fi
    local a b
    a=$(owner_of_two "$first")
    b=$(owner_of_two "$id")
    if [[ $want == same && $a == "$b" ]] || [[ $want == crossed && $a != "$b" ]]; then
      echo "$first $id"
      return 0
    fi
  done
  die "no two sessions $want after 200 tries"
}

# start_gateway NAME WORKERS: mcpgw on core 0 (all its workers) in front of the demo backend;
# sets gateway_url, gateway_pid and admin (host:port), and adds the PID to pids.
start_gateway() {
  local name=$1 port
  port=$(pick_port)
  admin=127.0.0.1:$(pick_port)
  cat >"$tmp/$name.yaml" <<YAML
listen: 127.0.0.1:$port
admin_listen: $admin
log_level: warn
workers: $2
backends: [{ name: demo, http: { url: "http://127.0.0.1:$backend_port/mcp" } }]
routes: [{ path: /mcp, backend: demo }]
YAML
  taskset -c 0 "$MCPGW" --config "$tmp/$name.yaml" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  gateway_pid=$!
  pids+=("$gateway_pid")
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://$admin/healthz" && break
    sleep 0.05
  done
  gateway_url="http://127.0.0.1:$port/mcp"
}

declare -A cpu rps moved
rows=(one same crossed)
for round in $(seq "$ROUNDS"); do
  for row in "${rows[@]}"; do
    workers=2 want=$row
    [[ $row == one ]] && workers=1 want=same
    start_gateway "$row" "$workers"
    read -r s1 s2 < <(two_sessions "$want")
    taskset -c 1 wrk -t1 -c64 -d2s -s "$here/tools_call.lua" "$gateway_url" -- "$s1" "" "$s2" \
      >/dev/null 2>&1
    before=$(curl -s "http://$admin/metrics" | awk '/^mcpgw_worker_handovers_total/ { print $2 }')
    read -r u0 k0 < <(awk '{ print $14, $15 }' "/proc/$gateway_pid/stat")
    taskset -c 1 timeout $(($(seconds_of "$DURATION") + 10)) wrk -t1 -c64 -d"$DURATION" \
      -s "$here/tools_call.lua" "$gateway_url" -- "$s1" "" "$s2" >"$tmp/wrk.txt" 2>&1
    read -r u1 k1 < <(awk '{ print $14, $15 }' "/proc/$gateway_pid/stat")
    after=$(curl -s "http://$admin/metrics" | awk '/^mcpgw_worker_handovers_total/ { print $2 }')
    result=$(grep '^RESULT' "$tmp/wrk.txt") || die "wrk: $(cat "$tmp/wrk.txt")"
    requests=${result#* requests=}
    requests=${requests%% *}
    grep -q 'errors_status=0 .*errors_rpc=0' <<<"$result" || die "$row: errors: $result"
    cpu[$row]+=" $(awk -v t=$((u1 - u0 + k1 - k0)) -v n="$requests" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t * 1e6 / hz / n }')"
    rate=${result#* rps=}
    rps[$row]+=" ${rate%% *}"
    moved[$row]+=" $(awk -v a="${after:-0}" -v b="${before:-0}" -v n="$requests" 'BEGIN { printf "%.2f", (a - b) / n }')"
    kill -TERM "$gateway_pid"; wait "$gateway_pid" 2>/dev/null || true
    log "round $round $row: $result"
  done
done

report() {
  echo "| row | req/s | gateway CPU (µs/req) | handovers per request |"
  echo "|---|---:|---:|---:|"
  for row in "${rows[@]}"; do
    echo "| $row | $(median "${rps[$row]}") | $(median "${cpu[$row]}") | $(median "${moved[$row]}") |"
  done
  echo
  echo "Per round, CPU µs/req: one${cpu[one]}; same${cpu[same]}; crossed${cpu[crossed]}"
}
report
if [[ -n $results_file ]]; then report >>"$results_file"; fi
