#!/usr/bin/env bash
# What authentication costs per tools/call (echo): the auth filter with an API key, an RS256
# token and an ES256 token, the tokens with the credential cache on (the default) and off
# (credential_cache: { max_entries: 0 }, every request verified in full). One gateway per row,
# all on core 0, rounds interleaved; each cell is the median over the rounds. The gateway's
# CPU per request comes from its own /proc/<pid>/stat.
#
# usage: bench/load/auth.sh [RESULTS_FILE]
#   MCPGW, DEMO_BACKEND  binaries (default build/release/...; build with the release preset)
#   DURATION (default 5s), CONNECTIONS (default 64), ROUNDS (default 3)
# Needs wrk, curl and node (keys and tokens are made with node:crypto). Loopback only; every
# process started here is stopped by PID.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/../lib.sh"
root=$(cd "$here/../.." && pwd)
MCPGW=${MCPGW:-$root/build/release/gateway/mcpgw}
DEMO_BACKEND=${DEMO_BACKEND:-$root/build/release/tests/backends/mcpgw-demo-backend}
DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-64}
ROUNDS=${ROUNDS:-3}
results_file=${1:-}

log() { printf 'auth.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
for b in "$MCPGW" "$DEMO_BACKEND"; do [[ -x $b ]] || die "$b: not built (cmake --preset release)"; done
for c in wrk curl node; do command -v "$c" >/dev/null || die "$c not found"; done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mcpgw-auth-bench.XXXXXX")
pids=()
trap stop_pids_and_remove_tmp EXIT

# A key pair per algorithm: the public key as a JWKS file, and one token signed with it
# (iss, aud, sub, org = the tenant, exp a day ahead).
node --input-type=module - "$tmp" <<'JS'
import { createPrivateKey, createPublicKey, generateKeyPairSync, createSign } from 'node:crypto';
import { writeFileSync } from 'node:fs';
const dir = process.argv[2];
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
for (const alg of ['RS256', 'ES256']) {
  // As PEM, read back: exporting a key straight from generateKeyPairSync can deadlock Node
  // (a collection during the export destroys the generation job, which waits for its mutex).
  const pem = ['spki', 'pkcs8'].map((type) => ({ type, format: 'pem' }));
  const pair = alg === 'RS256'
    ? generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: pem[0], privateKeyEncoding: pem[1] })
    : generateKeyPairSync('ec', { namedCurve: 'P-256', publicKeyEncoding: pem[0], privateKeyEncoding: pem[1] });
  const publicKey = createPublicKey(pair.publicKey);
  const privateKey = createPrivateKey(pair.privateKey);
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg, use: 'sig' };
  writeFileSync(`${dir}/jwks-${alg}.json`, JSON.stringify({ keys: [jwk] }));
  const claims = { iss: 'https://auth.example.com', aud: 'https://mcp.example.com/mcp', sub: 'bench',
    org: 'bench', exp: Math.floor(Date.now() / 1000) + 86400, scope: 'read' };
  const input = `${b64({ alg, kid: 'k1', typ: 'JWT' })}.${b64(claims)}`;
  const key = alg === 'RS256' ? privateKey : { key: privateKey, dsaEncoding: 'ieee-p1363' };
  const signature = createSign('SHA256').update(input).sign(key).toString('base64url');
  writeFileSync(`${dir}/token-${alg}.txt`, `${input}.${signature}`);
}
JS
api_key=bench-key-$RANDOM$RANDOM
digest=$(printf '%s' "$api_key" | sha256sum | cut -d' ' -f1)

backend_port=$(pick_port)
taskset -c 1 "$DEMO_BACKEND" --listen "127.0.0.1:$backend_port" >"$tmp/backend.out" 2>&1 &
pids+=($!)
sleep 0.3

cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
field() { grep -o "$1=[0-9.]*" <<<"$2" | cut -d= -f2; }
hz=$(getconf CLK_TCK)

jwt_auth() { # jwt_auth ALG [EXTRA]
  echo "{ resource: https://mcp.example.com/mcp, authorization_servers: [https://auth.example.com], jwt: { issuer: https://auth.example.com, jwks_file: $tmp/jwks-$1.json, tenant_claim: org, algorithms: [$1] }${2:-} }"
}
off=", credential_cache: { max_entries: 0 }"
rows=(api_key rs256_cached rs256_uncached es256_cached es256_uncached)
declare -A url pid sid authz
for row in "${rows[@]}"; do
  case $row in
    api_key) auth="{}"; authz[$row]="Bearer $api_key" ;;
    rs256_cached) auth=$(jwt_auth RS256); authz[$row]="Bearer $(cat "$tmp/token-RS256.txt")" ;;
    rs256_uncached) auth=$(jwt_auth RS256 "$off"); authz[$row]="Bearer $(cat "$tmp/token-RS256.txt")" ;;
    es256_cached) auth=$(jwt_auth ES256); authz[$row]="Bearer $(cat "$tmp/token-ES256.txt")" ;;
    es256_uncached) auth=$(jwt_auth ES256 "$off"); authz[$row]="Bearer $(cat "$tmp/token-ES256.txt")" ;;
  esac
  start_bench_gateway "$row" "tenants: [{ name: bench, api_keys: [\"sha256:$digest\"] }]
filters:
  - auth: $auth"
  url[$row]=$gateway_url
  pid[$row]=$gateway_pid
  sid[$row]=$(mcp_session "$gateway_url" "${authz[$row]}")
  # Warm-up: connections, pools and the cache.
  taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d1s -s "$here/tools_call.lua" "$gateway_url" -- \
    "${sid[$row]}" "${authz[$row]}" >/dev/null 2>&1
done

declare -A rps p99 cpu
for round in $(seq "$ROUNDS"); do
  for row in "${rows[@]}"; do
    before=$(cpu_ticks "${pid[$row]}")
    line=$(taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$DURATION" -s "$here/tools_call.lua" \
      "${url[$row]}" -- "${sid[$row]}" "${authz[$row]}" 2>&1 | grep -o 'RESULT.*' | head -1)
    after=$(cpu_ticks "${pid[$row]}")
    requests=$(field requests "$line")
    errors=$(grep -o 'errors_[a-z]*=[1-9][0-9]*' <<<"$line" || true)
    [[ -z $errors ]] || die "$row: errors: $errors ($line)"
    rps[$row]+=" $(field rps "$line")"
    p99[$row]+=" $(field p99_us "$line")"
    cpu[$row]+=" $(awk -v t=$((after - before)) -v hz="$hz" -v n="$requests" 'BEGIN { printf "%.2f", t * 1e6 / hz / n }')"
    log "round $round $row: $line"
  done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", (b > 0 ? a / b : 0) }'; }
{
  echo "## Authentication: API key vs RS256 / ES256 tokens, credential cache on and off"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ); host: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), Linux $(uname -r)"
  echo "- tools/call echo, wrk -t1 -c$CONNECTIONS -d$DURATION, $ROUNDS rounds interleaved (medians); mcpgw on core 0, backend and wrk on core 1"
  echo
  echo "| auth | req/s | p99 (µs) | gateway CPU (µs/req) | CPU vs API key |"
  echo "|---|---:|---:|---:|---:|"
  key_cpu=$(median "${cpu[api_key]}")
  for row in "${rows[@]}"; do
    c=$(median "${cpu[$row]}")
    echo "| $row | $(median "${rps[$row]}") | $(median "${p99[$row]}") | $c | $(ratio "$c" "$key_cpu") |"
  done
} | tee -a "${results_file:-/dev/null}"
