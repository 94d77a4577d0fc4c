#!/usr/bin/env bash
# stdio bridges side by side: one MCP tools/call (echo) per request, sent by wrk over Streamable
# HTTP to a bridge in front of the same stdio server (mcpgw-demo-backend --stdio), in one run:
# mcpgw, supergateway (--stateful) and mcp-proxy (the npm bridges people put in front of stdio
# servers). One session per target; every request of wrk goes to that session's process.
# Prints a markdown table with requests/s, latency and the ratio of mcpgw's requests/s to each.
#
# usage: bench/stdio/bridges.sh [RESULTS_FILE]
#   MCPGW         mcpgw binary (default build/release/gateway/mcpgw)
#   DEMO_BACKEND  mcpgw-demo-backend binary (default build/release/tests/backends/mcpgw-demo-backend)
#   DURATION      measured wrk run per target (default 10s); WARMUP before it (default 2s)
#   CONNECTIONS   wrk connections (default 64); RUNS rounds over all targets (default 1)
#   PROXY_CPU     core for the bridge and its stdio process (default 0); LOAD_CPU for wrk (1)
# Needs `npm ci` in bench/stdio (supergateway, mcp-proxy), wrk, curl, ss, taskset. Loopback
# only; everything it starts is stopped by PID.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=bench/lib.sh
. "$here/../lib.sh"
results_file=${1:-}
MCPGW=${MCPGW:-$root/build/release/gateway/mcpgw}
DEMO_BACKEND=${DEMO_BACKEND:-$root/build/release/tests/backends/mcpgw-demo-backend}
WRK=${WRK:-wrk}
NODE=${NODE:-node}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNECTIONS=${CONNECTIONS:-64}
RUNS=${RUNS:-1}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}

log() { printf 'bridges.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
[[ -x $MCPGW ]] || die "mcpgw not found at $MCPGW (set MCPGW)"
[[ -x $DEMO_BACKEND ]] || die "mcpgw-demo-backend not found at $DEMO_BACKEND (set DEMO_BACKEND)"
[[ -d $here/node_modules/supergateway && -d $here/node_modules/mcp-proxy ]] ||
  die "run (cd bench/stdio && npm ci) first"
for tool in "$WRK" curl ss taskset timeout "$NODE"; do
  command -v "$tool" >/dev/null || die "$tool not found"
done

duration_s=$(seconds_of "$DURATION")
if (($(nproc) >= 2)); then
  pin_proxy=(taskset -c "$PROXY_CPU")
  pin_load=(taskset -c "$LOAD_CPU")
  pinning="bridge and its stdio process on core $PROXY_CPU; wrk on core $LOAD_CPU"
else
  pin_proxy=()
  pin_load=()
  pinning="none (fewer than 2 cores)"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mcpgw-bridges.XXXXXX")
pids=()
# The bridge's process group goes (its stdio child with it): TERM, up to 5 s, then KILL.
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

wait_listening() { # port, pid
  local i
  for ((i = 0; i < 200; i++)); do
    alive "$2" || return 1
    [[ -n $(ss -Htln "sport = :$1" 2>/dev/null) ]] && return 0
    sleep 0.05
  done
  return 1
}

json_headers=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream')
open_session() { # url -> session id
  local url=$1 head sid body
  head=$(curl -sS -m 10 -D - -o /dev/null "${json_headers[@]}" --data \
    '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bridges-bench","version":"0"}}}' \
    "$url") || return 1
  sid=$(printf '%s\n' "$head" | tr -d '\r' | awk 'tolower($1) == "mcp-session-id:" { print $2 }')
  [[ -n $sid ]] || { log "no Mcp-Session-Id from $url"; return 1; }
  curl -sS -m 10 -o /dev/null "${json_headers[@]}" -H "Mcp-Session-Id: $sid" \
    -H 'MCP-Protocol-Version: 2025-11-25' --data '{"jsonrpc":"2.0","method":"notifications/initialized"}' "$url"
  body=$(curl -sS -m 10 "${json_headers[@]}" -H "Mcp-Session-Id: $sid" -H 'MCP-Protocol-Version: 2025-11-25' \
    --data '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello from wrk"}}}' "$url")
  [[ $body == *'hello from wrk'* ]] || { log "tools/call sanity check on $url failed: $body"; return 1; }
  echo "$sid"
}

# Starts target $1 on port $2 in its own process group; prints its pid.
start_target() {
  local name=$1 port=$2 stdio="$DEMO_BACKEND --stdio"
  case $name in
    mcpgw)
      cat >"$tmp/gateway.yaml" <<EOF
listen: 127.0.0.1:$port
admin_listen: 127.0.0.1:0
log_level: warn
observability: { metrics: false }
backends:
  - name: echo
    stdio: { command: ["$DEMO_BACKEND", "--stdio"], pool: { warm: 1 } }
routes:
  - path: /mcp
    backend: echo
EOF
      setsid "${pin_proxy[@]}" "$MCPGW" --config "$tmp/gateway.yaml" >"$tmp/$name.log" 2>&1 &
      ;;
    supergateway)
      setsid "${pin_proxy[@]}" "$NODE" "$here/node_modules/supergateway/dist/index.js" --stdio "$stdio" \
        --outputTransport streamableHttp --stateful --port "$port" --logLevel none >"$tmp/$name.log" 2>&1 &
      ;;
    mcp-proxy)
      setsid "${pin_proxy[@]}" "$NODE" "$here/node_modules/mcp-proxy/dist/bin/mcp-proxy.mjs" --host 127.0.0.1 \
        --port "$port" --server stream -- "$DEMO_BACKEND" --stdio >"$tmp/$name.log" 2>&1 &
      ;;
  esac
  echo $!
}

declare -A rps p50 p99 errors
targets=(mcpgw supergateway mcp-proxy)
for ((run = 1; run <= RUNS; run++)); do
  for name in "${targets[@]}"; do
    port=$(pick_port) || die "no free port"
    pid=$(start_target "$name" "$port")
    pids+=("$pid")
    wait_listening "$port" "$pid" || { cat "$tmp/$name.log" >&2; die "$name did not listen on $port"; }
    url=http://127.0.0.1:$port/mcp
    sid=$(open_session "$url") || { cat "$tmp/$name.log" >&2; die "$name: no session"; }
    timeout -k 5 60 "${pin_load[@]}" "$WRK" -t1 -c"$CONNECTIONS" --timeout 5s -s "$root/bench/load/tools_call.lua" \
      -d"$WARMUP" "$url" -- "$sid" >/dev/null 2>&1 || true
    timeout -k 5 $((duration_s + 60)) "${pin_load[@]}" "$WRK" -t1 -c"$CONNECTIONS" --timeout 5s \
      -s "$root/bench/load/tools_call.lua" -d"$DURATION" "$url" -- "$sid" >"$tmp/$name.wrk" 2>&1 || true
    line=$(grep -m1 '^RESULT' "$tmp/$name.wrk") || { cat "$tmp/$name.wrk" >&2; die "$name: no wrk result"; }
    get() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<"$line"; }
    rps[$name]+="$(get rps) "
    p50[$name]+="$(get p50_us) "
    p99[$name]+="$(get p99_us) "
    errors[$name]+="$(($(get errors_connect) + $(get errors_read) + $(get errors_write) + $(get errors_status) + $(get errors_timeout) + $(get errors_rpc))) "
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
done

{
  echo "## stdio bridges (\`bench/stdio/bridges.sh\`)"
  echo
  echo "- $(date -u +%Y-%m-%d), $(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
  echo "- stdio server: mcpgw-demo-backend --stdio (echo); one session per target; wrk $CONNECTIONS connections, $DURATION, median of $RUNS run(s); $pinning"
  echo "- versions: supergateway $(node -p "require('$here/node_modules/supergateway/package.json').version"), mcp-proxy $(node -p "require('$here/node_modules/mcp-proxy/package.json').version"), node $($NODE --version)"
  echo
  echo "| target | req/s | p50 µs | p99 µs | errors | mcpgw req/s ÷ target's |"
  echo "|---|---:|---:|---:|---:|---:|"
  base=$(median "${rps[mcpgw]}")
  for name in "${targets[@]}"; do
    r=$(median "${rps[$name]}")
    ratio=$(awk -v a="$base" -v b="$r" 'BEGIN { printf "%.1f×", b ? a / b : 0 }')
    echo "| $name | $r | $(median "${p50[$name]}") | $(median "${p99[$name]}") | $(median "${errors[$name]}") | $ratio |"
  done
  echo
  # The rounds themselves, so that the spread behind each median shows.
  for name in "${targets[@]}"; do
    echo "- $name req/s per round: ${rps[$name]% }"
  done
} | tee "${results_file:-/dev/null}"
