# shellcheck shell=bash
# Helpers shared by the bench shell scripts (bench/load/*.sh, bench/stdio/bridges.sh);
# sourced, not run.

# "10s", "2m", "250ms" or "10" -> whole seconds (at least 1 for ms), to bound runs with `timeout`.
seconds_of() {
  local v=$1
  case $v in
    *ms) echo 1 ;;
    *s) echo "${v%s}" ;;
    *m) echo $((${v%m} * 60)) ;;
    *h) echo $((${v%h} * 3600)) ;;
    *) echo "$v" ;;
  esac
}

# True while process $1 exists and is not a zombie.
alive() {
  # The process may be reaped between the test and the read: that is "not alive", silently.
  local state
  state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [[ -n $state && $state != Z ]]
}

# A loopback port nothing listens on right now; the caller retries if it is taken before the bind.
pick_port() {
  local port
  for _ in $(seq 100); do
    port=$((20000 + RANDOM % 30000))
    if [[ -z $(ss -Htln "sport = :$port" 2>/dev/null) ]]; then echo "$port"; return 0; fi
  done
  return 1
}

# Median of whitespace-separated numbers; empty if there are none.
median() {
  # shellcheck disable=SC2086  # split into one number per line
  printf '%s\n' $1 | sort -g | awk 'NF { a[++n] = $1 }
    END { if (n) print (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }'
}

# mcp_session URL [AUTHORIZATION]: initialize and notifications/initialized on URL (with that
# Authorization header when given); prints the session id. Needs die().
mcp_session() {
  local url=$1 head sid
  local headers=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream')
  [[ -z ${2:-} ]] || headers+=(-H "Authorization: $2")
  head=$(curl -s -D - -o /dev/null "${headers[@]}" \
    --data '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"mcpgw-bench","version":"1"}}}' "$url")
  sid=$(printf '%s\n' "$head" | tr -d '\r' | awk 'tolower($1) == "mcp-session-id:" { print $2 }')
  [[ -n $sid ]] || die "initialize on $url failed: $head"
  curl -s -o /dev/null "${headers[@]}" -H "Mcp-Session-Id: $sid" -H 'MCP-Protocol-Version: 2025-11-25' \
    --data '{"jsonrpc":"2.0","method":"notifications/initialized"}' "$url"
  echo "$sid"
}

# start_bench_gateway NAME YAML [WRAPPER...]: mcpgw ($MCPGW) on core 0 in front of the demo
# backend on $backend_port, with YAML added to its config (in $tmp), run under WRAPPER when
# given (valgrind: it then gets 60 s to answer instead of 5); sets gateway_url and gateway_pid
# and adds the PID to pids. Not to be run in $(...): the PID must reach the caller's pids, or
# its cleanup would leave the gateway running.
# shellcheck disable=SC2154,SC2034  # tmp, backend_port, MCPGW, pids in; gateway_url/_pid out
start_bench_gateway() {
  local name=$1 extra=$2 port tries=100
  local wrapper=("${@:3}")
  ((${#wrapper[@]} == 0)) || tries=1200
  port=$(pick_port)
  cat >"$tmp/$name.yaml" <<YAML
listen: 127.0.0.1:$port
admin_listen: 127.0.0.1:0
log_level: warn
backends: [{ name: demo, http: { url: "http://127.0.0.1:$backend_port/mcp" } }]
routes: [{ path: /mcp, backend: demo }]
$extra
YAML
  taskset -c 0 "${wrapper[@]}" "$MCPGW" --config "$tmp/$name.yaml" >"$tmp/$name.out" \
    2>"$tmp/$name.err" &
  gateway_pid=$!
  pids+=("$gateway_pid")
  for _ in $(seq "$tries"); do
    curl -s -o /dev/null "http://127.0.0.1:$port/mcp" && break
    sleep 0.05
  done
  gateway_url="http://127.0.0.1:$port/mcp"
}

# The EXIT trap of auth.sh, session-store.sh and workers.sh: every PID in $pids gets SIGTERM,
# then SIGKILL 0.3 s later, and $tmp goes. Usage: trap stop_pids_and_remove_tmp EXIT
# shellcheck disable=SC2154  # pids and tmp are the caller's
stop_pids_and_remove_tmp() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  sleep 0.3
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
