#!/usr/bin/env bash
# Instructions and heap allocations per proxied tools/call, counted by callgrind: the measure
# bench/RESULTS.md compares builds with, because this VM's CPU time moves by 20-30% between
# runs while instruction counts move by well under 1%. The gateway runs under valgrind in
# front of the demo backend; wrk drives tools/call for DURATION; at the end the gateway is
# stopped (callgrind writes its profile then) and the profile is read.
#
# usage: bench/profile/instructions.sh
#   DEMO_BACKEND  mcpgw-demo-backend binary (required)
#   MCPGW         mcpgw binary (required)
#   FILTERS       full (default: API key auth, a rate limit that never refuses, audit log)
#                 or none
#   CONNECTIONS   wrk connections (default 16); DURATION wrk run (default 5s)
#   KEEP_TMP=1    keep the temporary directory (config, logs, callgrind.out)
# Prints "event loop: N instructions per request", the whole process's count, and
# allocations per request. Needs valgrind, wrk, curl and python3. Everything listens on
# loopback ports picked free; every process is stopped by PID.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/../lib.sh"
DEMO_BACKEND=${DEMO_BACKEND:-}
MCPGW=${MCPGW:-}
FILTERS=${FILTERS:-full}
CONNECTIONS=${CONNECTIONS:-16}
DURATION=${DURATION:-5s}

die() { echo "instructions.sh: $*" >&2; exit 1; }
[[ -x $DEMO_BACKEND ]] || die "DEMO_BACKEND=$DEMO_BACKEND is not an executable"
[[ -x $MCPGW ]] || die "MCPGW=$MCPGW is not an executable"
[[ $FILTERS == full || $FILTERS == none ]] || die "FILTERS: expected full or none, got '$FILTERS'"
for tool in valgrind wrk curl python3; do
  command -v "$tool" >/dev/null || die "$tool is not installed (scripts/deps.sh bench)"
done

tmp=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ ${KEEP_TMP:-} == 1 ]]; then
    echo "kept $tmp" >&2
  else
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT

backend_port=$(pick_port) || die "no free port for the backend"
taskset -c 1 "$DEMO_BACKEND" --listen "127.0.0.1:$backend_port" >"$tmp/backend.out" 2>&1 &
pids+=($!)
key="bench-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
auth=""
extra=""
if [[ $FILTERS == full ]]; then
  auth="Bearer $key"
  extra="tenants:
  - name: bench
    api_keys: [\"sha256:$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)\"]
filters:
  - auth: {}
  - rate_limit:
      rules:
        - { match: { method: tools/call }, key: tenant, limit: 100000000, per: 1s }
  - audit: { file: $tmp/audit.jsonl }"
fi
start_bench_gateway gateway "$extra" \
  valgrind --tool=callgrind --callgrind-out-file="$tmp/callgrind.out" --dump-instr=no
url=$gateway_url
curl -s -o /dev/null "$url" || die "the gateway did not answer: $(tail -c 400 "$tmp/gateway.err")"
sid=$(mcp_session "$url" "$auth")
timeout $(($(seconds_of "$DURATION") + 30)) taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$DURATION" \
  -s "$here/../load/tools_call.lua" "$url" -- "$sid" ${auth:+"$auth"} >"$tmp/wrk.txt" 2>&1 ||
  die "wrk failed: $(tail -c 400 "$tmp/wrk.txt")"
kill -TERM "$gateway_pid"
for _ in $(seq 300); do alive "$gateway_pid" || break; sleep 0.1; done
alive "$gateway_pid" && die "the gateway did not stop within 30 s of SIGTERM"
[[ -s $tmp/callgrind.out ]] || die "no callgrind profile: $(tail -c 400 "$tmp/gateway.err")"

python3 - "$tmp/callgrind.out" <<'PY'
import collections, re, sys

names, calls, inclusive = {}, collections.Counter(), collections.Counter()
allocations = 0
total = 0
current = callee = None
pending = None
allocators = ("operator new", "malloc", "aligned_alloc", "calloc", "realloc")
for line in open(sys.argv[1]):
    m = re.match(r"(c?fn)=\((\d+)\)(?: (.*))?", line)
    if m:
        kind, ident, name = m.groups()
        if name:
            names[ident] = name.strip()
        if kind == "fn":
            current = ident
        else:
            callee = ident
        continue
    m = re.match(r"calls=(\d+)", line)
    if m and callee:
        calls[callee] += int(m.group(1))
        if names.get(callee, "").startswith(allocators):
            allocations += int(m.group(1))
        pending = callee
        continue
    m = re.match(r"summary: (\d+)", line) or re.match(r"totals: (\d+)", line)
    if m:
        total = int(m.group(1))
        continue
    if pending:
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit():
            inclusive[pending] += int(parts[1])
        pending = None

def matching(prefix):
    return [k for k, v in names.items() if v.startswith(prefix)]

# One tag_request per HTTP request to the gateway (the initialize and the notification too).
requests = sum(calls[k] for k in matching("mcpgw::gateway_server::tag_request("))
loop = sum(inclusive[k] for k in matching("boost::asio::io_context::run()"))
if requests == 0 or loop == 0:
    sys.exit("instructions.sh: no requests or no event loop in the profile (symbols stripped?)")
print(f"requests: {requests}")
print(f"event loop: {loop / requests:,.0f} instructions per request")
print(f"whole process: {total / requests:,.0f} instructions per request "
      "(start-up included; SHA-256 runs without SHA-NI under valgrind)")
print(f"allocations: {allocations / requests:.1f} per request (every thread)")
PY
