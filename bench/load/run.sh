#!/usr/bin/env bash
# The first load benchmark: one MCP tools/call (echo) per request, sent by wrk to the demo
# backend directly, through nginx (the baseline proxy) and through mcpgw, in one run on the
# same machine. Prints a markdown table; see README.md for what each column means.
#
# usage: bench/load/run.sh [--demo-backend PATH] [--mcpgw PATH] [RESULTS_FILE]
#   DEMO_BACKEND  mcpgw-demo-backend binary (required; or --demo-backend)
#   MCPGW         mcpgw binary (optional; or --mcpgw); without it the mcpgw row is skipped
#   MCPGW_CONFIG_FLAG  how mcpgw is told its config file (default --config)
#   MCPGW_BASE    a second mcpgw binary to compare with (optional), e.g. a build of the last
#                 release: adds the rows base and base_full (the same two set-ups), measured in
#                 the same rounds, and the ratios of mcpgw and mcpgw_full to them
#   NGINX, WRK    binaries (default: nginx from PATH or /usr/sbin/nginx, wrk from PATH)
#   DURATION      measured wrk run per target (default 10s); WARMUP before it (default 2s)
#   CONNECTIONS   wrk connections (default 64); THREADS wrk threads (default 1)
#   RUNS          rounds over all targets (default 1); the report shows per-column medians
#   PROXY_CPU     core for the proxy under test (default 0)
#   LOAD_CPU      core for the backend and wrk (default 1)
#   AUDIT_FSYNC   the audit filter's fsync policy in mcpgw_full, e.g. "{ every: 50ms }"
#                 (default: the gateway's own, every_records: 1)
#   PIN=0         no pinning at all (to compare; see README.md)
#   KEEP_TMP=1    keep the temporary directory (configs, logs) for inspection
# Builds nothing: point it at binaries you built (see README.md).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/../lib.sh"
results_file=""
while (($#)); do
  case $1 in
    --demo-backend) DEMO_BACKEND=$2; shift 2 ;;
    --mcpgw) MCPGW=$2; shift 2 ;;
    -h | --help) sed -n '2,23p' "$0"; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) results_file=$1; shift ;;
  esac
done

DEMO_BACKEND=${DEMO_BACKEND:-}
MCPGW=${MCPGW:-}
MCPGW_BASE=${MCPGW_BASE:-}
MCPGW_CONFIG_FLAG=${MCPGW_CONFIG_FLAG:---config}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
WRK=${WRK:-wrk}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-1}
RUNS=${RUNS:-1}
AUDIT_FSYNC=${AUDIT_FSYNC:-}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}

log() { printf 'run.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[[ -n $DEMO_BACKEND && -x $DEMO_BACKEND ]] ||
  die "set DEMO_BACKEND (or --demo-backend) to the mcpgw-demo-backend binary"
command -v "$WRK" >/dev/null || die "wrk not found (WRK=$WRK)"
[[ -x $NGINX ]] || die "nginx not found (NGINX=$NGINX)"
for tool in curl ss taskset timeout; do
  command -v "$tool" >/dev/null || die "$tool not found"
done

duration_s=$(seconds_of "$DURATION")
warmup_s=$(seconds_of "$WARMUP")

# The proxy under test gets a core of its own; the backend and wrk share the other one. The
# backend and the load generator are the same in every row, so what changes between rows is
# only the proxy hop, and its CPU cost is measured on a core where nothing else runs.
if [[ ${PIN:-1} == 0 ]]; then
  pin_proxy=()
  pin_load=()
  pinning="none (PIN=0)"
elif (($(nproc) >= 2)); then
  pin_proxy=(taskset -c "$PROXY_CPU")
  pin_load=(taskset -c "$LOAD_CPU")
  pinning="proxy on core $PROXY_CPU; backend and wrk on core $LOAD_CPU"
else
  pin_proxy=()
  pin_load=()
  pinning="none (fewer than 2 cores): results are not comparable with pinned runs"
  log "warning: $pinning"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mcpgw-load.XXXXXX")
pids=()

# Every process this script started is stopped by its PID: TERM, up to 5 s, then KILL.
cleanup() {
  local pid
  [[ -z ${wrk_pid:-} ]] || pids+=("$wrk_pid")
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  if [[ ${KEEP_TMP:-0} == 1 ]]; then log "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Waits up to $3 seconds for a line matching $2 in file $1 while process $4 lives.
wait_for_line() {
  local file=$1 pattern=$2 timeout_s=$3 pid=$4 i
  for ((i = 0; i < timeout_s * 20; i++)); do
    if grep -m1 -E "$pattern" "$file" 2>/dev/null; then return 0; fi
    alive "$pid" || return 1
    sleep 0.05
  done
  return 1
}

# Waits until process $1 (or one of its children) listens on 127.0.0.1:$2.
wait_listening() {
  local pid=$1 port=$2 i
  for ((i = 0; i < 100; i++)); do
    alive "$pid" || return 1
    if ss -Htlnp "sport = :$port" 2>/dev/null | grep -q "pid=$pid,"; then return 0; fi
    sleep 0.05
  done
  return 1
}


# Sum of utime+stime (clock ticks) of the given processes, all threads included.
cpu_ticks() {
  local total=0 pid f
  for pid in "$@"; do
    if [[ -r /proc/$pid/stat ]]; then
      read -r -a f < <(sed 's/^.*) //' "/proc/$pid/stat")
      total=$((total + f[11] + f[12]))
    fi
  done
  echo "$total"
}
clk_tck=$(getconf CLK_TCK)

# user+nice+system ticks of the whole machine, to see how much CPU something else took.
machine_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 }' /proc/stat; }

# CPU time of this shell's finished children (wrk), in ticks, into $children. `times` must
# run in this shell, not in a $(...) subshell, which would see only its own children.
children_ticks() {
  times >"$tmp/times"
  children=$(awk -v hz="$clk_tck" 'NR == 2 {
    for (i = 1; i <= 2; i++) { split($i, p, "m"); s += p[1] * 60 + substr(p[2], 1, length(p[2]) - 1) }
    printf "%d", s * hz }' "$tmp/times")
}

json_headers=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream')

# initialize + notifications/initialized on $1, then one tools/call as a sanity check.
# Prints the session id; returns non-zero (with the reason on stderr) if anything is off.
open_session() { # open_session URL [AUTHORIZATION]
  local url=$1 head sid status body
  local json_headers=("${json_headers[@]}")
  [[ -z ${2:-} ]] || json_headers+=(-H "Authorization: $2")
  head=$(curl -sS -m 5 -D - -o "$tmp/init.body" "${json_headers[@]}" --data \
    '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"mcpgw-load-bench","version":"0.1.0"}}}' \
    "$url") || { log "initialize on $url failed"; return 1; }
  sid=$(printf '%s\n' "$head" | tr -d '\r' | awk 'tolower($1) == "mcp-session-id:" { print $2 }')
  [[ -n $sid ]] || { log "initialize on $url returned no Mcp-Session-Id: $head"; return 1; }
  status=$(curl -sS -m 5 -o /dev/null -w '%{http_code}' "${json_headers[@]}" \
    -H "Mcp-Session-Id: $sid" -H 'MCP-Protocol-Version: 2025-11-25' \
    --data '{"jsonrpc":"2.0","method":"notifications/initialized"}' "$url") || status=000
  [[ $status == 202 ]] || { log "notifications/initialized on $url: HTTP $status"; return 1; }
  body=$(curl -sS -m 5 "${json_headers[@]}" -H "Mcp-Session-Id: $sid" \
    -H 'MCP-Protocol-Version: 2025-11-25' --data \
    '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello from wrk"}}}' \
    "$url") || body=""
  [[ $body == *'"text":"hello from wrk"'* ]] ||
    { log "tools/call sanity check on $url failed: $body"; return 1; }
  echo "$sid"
}

# wrk for $1 (bounded by $2 + 30 s) against $4 with session $5, output to $3. In the
# background and waited for, so that a signal to this script is handled at once.
wrk_pid=""
run_wrk() {
  timeout -k 5 $(($2 + 30)) "${pin_load[@]}" "$WRK" -t"$THREADS" -c"$CONNECTIONS" \
    --timeout 5s -s "$here/tools_call.lua" -d"$1" "$4" -- "$5" "${6:-}" >"$3" 2>&1 &
  wrk_pid=$!
  local status=0
  wait "$wrk_pid" || status=$?
  wrk_pid=""
  return "$status"
}

# CPU ticks $1 over $2 requests -> microseconds per request.
per_request() {
  awk -v t="$1" -v hz="$clk_tck" -v n="$2" 'BEGIN { printf "%.2f", n ? t * 1e6 / hz / n : 0 }'
}
# CPU ticks $1 over $2 microseconds of wall time -> percent of one core (never below 0).
percent_of_core() {
  awk -v t="$1" -v hz="$clk_tck" -v d="$2" \
    'BEGIN { v = d ? 100 * t / hz / (d / 1e6) : 0; printf "%.0f", v < 0 ? 0 : v }'
}

declare -A rps p50 p99 proxy_us proxy_util backend_us other errors note

# Runs wrk against $2 with session $3 and records row $1; the remaining arguments are the
# PIDs whose CPU time is the proxy's (none for the direct row).
measure() {
  local name=$1 url=$2 sid=$3
  shift 3
  local proxy_pids=("$@") line before after b_before b_after m_before m_after w_before w_after
  log "$name: warm-up $WARMUP, then $DURATION against $url"
  run_wrk "$WARMUP" "$warmup_s" /dev/null "$url" "$sid" "${row_auth[$name]:-}" ||
    log "$name: warm-up failed"
  before=$(cpu_ticks "${proxy_pids[@]}")
  b_before=$(cpu_ticks "$backend_pid")
  m_before=$(machine_ticks)
  children_ticks
  w_before=$children
  local out="$tmp/wrk-$name-$round.txt"
  run_wrk "$DURATION" "$duration_s" "$out" "$url" "$sid" "${row_auth[$name]:-}" || true
  line=$(grep '^RESULT ' "$out") || { note[$name]="wrk failed: $(tail -c 200 "$out")"; return 0; }
  after=$(cpu_ticks "${proxy_pids[@]}")
  b_after=$(cpu_ticks "$backend_pid")
  m_after=$(machine_ticks)
  children_ticks
  w_after=$children

  local -A r
  local kv
  for kv in ${line#RESULT }; do r[${kv%%=*}]=${kv#*=}; done
  # Each metric keeps one value per round; the report takes medians.
  rps[$name]+=" ${r[rps]}"
  p50[$name]+=" ${r[p50_us]}"
  p99[$name]+=" ${r[p99_us]}"
  errors[$name]=$((${errors[$name]:-0} + r[errors_status] + r[errors_connect] +
    r[errors_read] + r[errors_write] + r[errors_timeout] + ${r[errors_rpc]:-0}))
  backend_us[$name]+=" $(per_request $((b_after - b_before)) "${r[requests]}")"
  if ((${#proxy_pids[@]})); then
    proxy_us[$name]+=" $(per_request $((after - before)) "${r[requests]}")"
    proxy_util[$name]+=" $(percent_of_core $((after - before)) "${r[duration_us]}")"
  fi
  # Whatever ran besides the proxy, the backend and wrk (other builds, kernel threads).
  other[$name]+=" $(percent_of_core $((m_after - m_before - (after - before) -
    (b_after - b_before) - (w_after - w_before))) "${r[duration_us]}")"
  log "$name: ${r[rps]} req/s, p50 ${r[p50_us]} us, p99 ${r[p99_us]} us"
}

# --- the backend, shared by every row -----------------------------------------------------
"${pin_load[@]}" "$DEMO_BACKEND" --listen 127.0.0.1:0 >"$tmp/backend.out" 2>"$tmp/backend.err" &
backend_pid=$!
pids+=("$backend_pid")
line=$(wait_for_line "$tmp/backend.out" '^listening http://' 10 "$backend_pid") ||
  die "demo backend did not start: $(cat "$tmp/backend.err")"
backend_url=${line#listening }
backend_port=${backend_url##*:}
backend_port=${backend_port%%/*}
log "demo backend: $backend_url (pid $backend_pid)"

# --- nginx --------------------------------------------------------------------------------
nginx_pid=""
mkdir -p "$tmp/nginx"
user_directive=""
# As root, nginx would hand its worker to `nobody`; keep it as the current user instead.
if ((EUID == 0)); then user_directive="user $(id -un) $(id -gn);"; fi
for _attempt in 1 2 3 4 5; do
  nginx_port=$(pick_port) || die "no free port for nginx"
  sed -e "s|@PREFIX@|$tmp/nginx|g" -e "s|@LISTEN_PORT@|$nginx_port|g" \
    -e "s|@BACKEND_PORT@|$backend_port|g" -e "s|@USER_DIRECTIVE@|$user_directive|g" \
    "$here/nginx.conf.template" >"$tmp/nginx/nginx.conf"
  "${pin_proxy[@]}" "$NGINX" -p "$tmp/nginx" -e "$tmp/nginx/error.log" \
    -c "$tmp/nginx/nginx.conf" -g 'daemon off;' 2>>"$tmp/nginx/stderr" &
  pid=$!
  if wait_listening "$pid" "$nginx_port"; then
    nginx_pid=$pid
    pids+=("$pid")
    break
  fi
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
done
[[ -n $nginx_pid ]] || die "nginx did not start: $(cat "$tmp/nginx/error.log" "$tmp/nginx/stderr")"
nginx_url="http://127.0.0.1:$nginx_port/mcp"
log "nginx: $nginx_url (pid $nginx_pid)"

# --- mcpgw (optional): plain, and with the filters of a production set-up -------------------
# mcpgw: no filters (metrics are on by default). mcpgw_full: an API key (auth), a rate limit on
# tools/call that never refuses here, the audit log (its own file, default fsync policy unless
# AUDIT_FSYNC says otherwise) and metrics: what the performance target is stated with.
bench_key="bench-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
bench_digest="sha256:$(printf '%s' "$bench_key" | sha256sum | cut -d' ' -f1)"
declare -A gw_pid gw_url row_auth
row_auth[mcpgw_full]="Bearer $bench_key"
row_auth[base_full]="Bearer $bench_key"
# The gateway rows: the build under test, then (with MCPGW_BASE) the one it is compared with.
gw_rows=(mcpgw mcpgw_full)
[[ -z $MCPGW_BASE ]] || gw_rows+=(base base_full)
rows=(direct nginx "${gw_rows[@]}")
start_mcpgw() { # start_mcpgw NAME BINARY EXTRA_YAML
  local name=$1 binary=$2 extra=$3 pid line listen
  cat >"$tmp/$name.yaml" <<EOF
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
log_level: info
backends:
  - name: demo
    http:
      url: http://127.0.0.1:$backend_port/mcp
routes:
  - path: /mcp
    backend: demo
$extra
EOF
  "${pin_proxy[@]}" "$binary" "$MCPGW_CONFIG_FLAG" "$tmp/$name.yaml" \
    >"$tmp/$name.out" 2>"$tmp/$name.err" &
  pid=$!
  pids+=("$pid")
  if line=$(wait_for_line "$tmp/$name.err" '"msg":"listening".*"listen":"|"listen":".*"msg":"listening"' \
    10 "$pid"); then
    listen=$(grep -o '"listen":"[^"]*"' <<<"$line" | head -1 | cut -d'"' -f4)
    gw_pid[$name]=$pid
    gw_url[$name]="http://$listen/mcp"
    log "$name: ${gw_url[$name]} (pid $pid)"
  else
    note[$name]="skipped: mcpgw did not report listening: $(tail -c 300 "$tmp/$name.err" | tr '\n' ' ')"
  fi
}
full_filters="tenants:
  - name: bench
    api_keys: [\"$bench_digest\"]
filters:
  - auth: {}
  - rate_limit:
      rules:
        - { match: { method: tools/call }, key: tenant, limit: 100000000, per: 1s }"
start_pair() { # start_pair PLAIN_ROW FULL_ROW BINARY VARIABLE
  local plain=$1 full=$2 binary=$3 variable=$4
  if [[ -z $binary ]]; then
    note[$plain]="skipped: $variable not set"
    note[$full]=${note[$plain]}
  elif [[ ! -x $binary ]]; then
    note[$plain]="skipped: $binary is not executable"
    note[$full]=${note[$plain]}
  else
    start_mcpgw "$plain" "$binary" ""
    # Each full row has its own audit file: two builds never share a chain.
    start_mcpgw "$full" "$binary" "$full_filters
  - audit: { file: $tmp/$full.audit.jsonl${AUDIT_FSYNC:+, fsync: $AUDIT_FSYNC} }"
  fi
}
start_pair mcpgw mcpgw_full "$MCPGW" MCPGW
[[ -z $MCPGW_BASE ]] || start_pair base base_full "$MCPGW_BASE" MCPGW_BASE

# --- the runs -----------------------------------------------------------------------------
direct_sid=$(open_session "$backend_url") || die "cannot open a session on the demo backend"
nginx_sid=$(open_session "$nginx_url") || die "cannot open a session through nginx"
declare -A gw_sid
for name in "${gw_rows[@]}"; do
  [[ -n ${gw_pid[$name]:-} ]] || continue
  gw_sid[$name]=$(open_session "${gw_url[$name]}" "${row_auth[$name]:-}") ||
    note[$name]="skipped: session set-up through $name failed (see stderr)"
done

measure_row() { # measure_row NAME
  case $1 in
    direct) measure direct "$backend_url" "$direct_sid" ;;
    nginx)
      # shellcheck disable=SC2046  # the worker PIDs are meant to be split
      measure nginx "$nginx_url" "$nginx_sid" "$nginx_pid" $(pgrep -P "$nginx_pid")
      ;;
    *) [[ -z ${gw_sid[$1]:-} ]] || measure "$1" "${gw_url[$1]}" "${gw_sid[$1]}" "${gw_pid[$1]}" ;;
  esac
}
# Rounds interleave the targets, so that a slow drift of the machine hits every row alike, and
# every other round runs them in reverse order, so that no row always follows the same one
# (the writeback of the audit log's round, say).
for ((round = 1; round <= RUNS; round++)); do
  ((RUNS == 1)) || log "round $round of $RUNS"
  order=("${rows[@]}")
  if ((round % 2 == 0)); then
    order=()
    for ((i = ${#rows[@]} - 1; i >= 0; i--)); do order+=("${rows[i]}"); done
  fi
  for name in "${order[@]}"; do
    measure_row "$name"
  done
done

# Medians over the rounds; errors stay summed, "other CPU" keeps its worst round.
declare -A runs_rps runs_cpu
for name in "${rows[@]}"; do
  [[ -n ${rps[$name]:-} ]] || continue
  runs_rps[$name]=${rps[$name]}
  runs_cpu[$name]=${proxy_us[$name]:-}
  rps[$name]=$(median "${rps[$name]}")
  p50[$name]=$(median "${p50[$name]}")
  p99[$name]=$(median "${p99[$name]}")
  backend_us[$name]=$(median "${backend_us[$name]}")
  if [[ -n ${proxy_us[$name]:-} ]]; then
    proxy_us[$name]=$(median "${proxy_us[$name]}")
    proxy_util[$name]="$(median "${proxy_util[$name]}")%"
  fi
  # shellcheck disable=SC2086  # split into one number per line
  other[$name]=$(printf '%s\n' ${other[$name]} | sort -g | tail -1)
done

# --- the report ---------------------------------------------------------------------------
ratio() { # ratio NUM DEN -> "1.23x" or "n/a"
  awk -v a="${1:-}" -v b="${2:-}" 'BEGIN {
    if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2fx", a / b }'
}
thousands() { # 12345.6 -> 12,346
  local s out=""
  s=$(printf '%.0f' "$1")
  while ((${#s} > 3)); do out=",${s: -3}$out"; s=${s:0:${#s}-3}; done
  echo "$s$out"
}

report() {
  local name
  echo "## Load benchmark: tools/call echo, $CONNECTIONS connections, $DURATION"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ); host: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), Linux $(uname -r)"
  echo "- wrk: $("$WRK" -v 2>&1 | head -1 | cut -d' ' -f1-2), -t$THREADS -c$CONNECTIONS -d$DURATION after a $WARMUP warm-up; $("$NGINX" -v 2>&1 | cut -d' ' -f3)"
  echo "- pinning: $pinning"
  echo "- mcpgw_full audit fsync: ${AUDIT_FSYNC:-the default (every_records: 1)}"
  if ((RUNS > 1)); then
    echo "- $RUNS rounds, targets interleaved; each cell is the median over the rounds (errors: sum; other CPU: worst round)"
    for name in "${rows[@]}"; do
      [[ -z ${runs_rps[$name]:-} ]] || echo "  - $name req/s per round:${runs_rps[$name]}"
      [[ -z ${runs_cpu[$name]:-} ]] || echo "    proxy CPU µs/req per round:${runs_cpu[$name]}"
    done
  fi
  echo
  echo "| target | req/s | p50 (µs) | p99 (µs) | proxy CPU (µs/req) | proxy core busy | backend CPU (µs/req) | other CPU | errors |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  for name in "${rows[@]}"; do
    if [[ -n ${rps[$name]:-} ]]; then
      echo "| $name | $(thousands "${rps[$name]}") | ${p50[$name]} | ${p99[$name]} | ${proxy_us[$name]:-—} | ${proxy_util[$name]:-—} | ${backend_us[$name]} | ${other[$name]}% | ${errors[$name]} |"
    else
      echo "| $name | ${note[$name]:-not run} | | | | | | | |"
    fi
  done
  echo
  echo "| ratio | req/s | p50 | p99 | proxy CPU/req |"
  echo "|---|---:|---:|---:|---:|"
  local g
  for g in "${gw_rows[@]}"; do
    echo "| $g / nginx | $(ratio "${rps[$g]:-}" "${rps[nginx]:-}") | $(ratio "${p50[$g]:-}" "${p50[nginx]:-}") | $(ratio "${p99[$g]:-}" "${p99[nginx]:-}") | $(ratio "${proxy_us[$g]:-}" "${proxy_us[nginx]:-}") |"
  done
  echo "| mcpgw / direct | $(ratio "${rps[mcpgw]:-}" "${rps[direct]:-}") | $(ratio "${p50[mcpgw]:-}" "${p50[direct]:-}") | $(ratio "${p99[mcpgw]:-}" "${p99[direct]:-}") | — |"
  echo "| nginx / direct | $(ratio "${rps[nginx]:-}" "${rps[direct]:-}") | $(ratio "${p50[nginx]:-}" "${p50[direct]:-}") | $(ratio "${p99[nginx]:-}" "${p99[direct]:-}") | — |"
  if [[ -n $MCPGW_BASE ]]; then
    local pair
    for pair in mcpgw:base mcpgw_full:base_full; do
      g=${pair%%:*}
      local b=${pair#*:}
      echo "| $g / $b | $(ratio "${rps[$g]:-}" "${rps[$b]:-}") | $(ratio "${p50[$g]:-}" "${p50[$b]:-}") | $(ratio "${p99[$g]:-}" "${p99[$b]:-}") | $(ratio "${proxy_us[$g]:-}" "${proxy_us[$b]:-}") |"
    done
  fi
  for name in "${rows[@]}"; do
    if [[ -n ${rps[$name]:-} && ${errors[$name]} != 0 ]]; then
      echo
      echo "Warning: $name had ${errors[$name]} errors, non-2xx responses or JSON-RPC error answers; its numbers are suspect."
    fi
    if [[ -n ${other[$name]:-} ]] && ((other[$name] > 10)); then
      echo
      echo "Warning: other processes used ${other[$name]}% of a core during the $name run; rerun on a quiet machine."
    fi
  done
}

report | tee "${results_file:-/dev/null}"
[[ -z $results_file ]] || log "results written to $results_file"
