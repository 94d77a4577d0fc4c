// Several workers in one process (`workers:`, `--workers`): each has its own event loop,
// connections, backend pools and stdio processes, and a session lives in the worker its id
// hashes to. Every request here goes out on a fresh connection (agent: false), so the kernel
// gives it to either worker and the gateway must hand the connection to the session's worker:
// Streamable HTTP and legacy HTTP+SSE sessions, HTTP and stdio backends, one keep-alive
// connection alternating between two workers' sessions, limits that hold for the process
// (max_sessions, max_connections, rate limits), one audit chain, merged metrics, the config's
// errors and a clean drain.
import assert from 'node:assert/strict';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  BACKEND_SCRIPT, NODE_BIN, callTool, initialize, makeTempDir, mcpPost, openGetStream, parseMetrics,
  request, requireBackend, runGateway, safeJson, series, sleep, startConformanceBackend, startGateway, waitUntil,
} from './lib.mjs';
import { readFileSync, writeFileSync } from 'node:fs';

const WORKERS = 2;
const JSON_CT = { 'content-type': 'application/json' };

/** The worker a session id belongs to: FNV-1a 64 of the id, mod the count (server/workers.h). */
function ownerOf(id, count = WORKERS) {
  let h = 14695981039346656037n;
  for (const c of Buffer.from(id)) h = BigInt.asUintN(64, (h ^ BigInt(c)) * 1099511628211n);
  return Number(h % BigInt(count));
}

async function scrape(gw) {
  const r = await request(`${gw.adminUrl}/metrics`, { method: 'GET' });
  assert.equal(r.status, 200, r.text);
  return parseMetrics(r.text);
}

const handovers = async (gw) => (await scrape(gw)).get('mcpgw_worker_handovers_total');
const echoText = (r) => r.message?.result?.content?.[0]?.text;

let backend;
let gw;

const backends = () => [
  { name: 'conf', http: { url: backend.url, timeout: '10s', connect_timeout: '2s' } },
  { name: 'conf-stdio', stdio: { command: [NODE_BIN, BACKEND_SCRIPT, '--stdio'], pool: { warm: 1, max: 20 }, timeout: '10s' } },
];
const routes = [{ path: '/mcp', backend: 'conf' }, { path: '/mcp-stdio', backend: 'conf-stdio' }];

before(async () => {
  requireBackend();
  backend = await startConformanceBackend();
  gw = await startGateway({ name: 'gateway-workers', config: { workers: WORKERS, backends: backends(), routes } });
}, { timeout: 30_000 });

after(async () => {
  await gw?.stop();
  await backend?.stop?.();
});

/**
 * Sessions on `url` until there are `n` of each worker's: the first `n` of each, in worker
 * order; `.started` counts every session initialized on the way.
 */
async function sessionsOfEachWorker(url, n, headers = {}) {
  const byWorker = Array.from({ length: WORKERS }, () => []);
  let started = 0;
  for (let tries = 0; byWorker.some((s) => s.length < n); tries++) {
    assert.ok(tries < 200, 'the minted ids do not spread over the workers');
    const s = await initialize(url, { headers });
    started++;
    byWorker[ownerOf(s.sessionId)].push(s);
  }
  const out = byWorker.map((s) => s.slice(0, n));
  out.started = started;
  return out;
}

describe('workers', () => {
  test('the listening line names the workers; sessions of both workers answer on fresh connections, which are handed over', async () => {
    assert.equal(gw.listening.workers, String(WORKERS));
    const before = await handovers(gw);
    const sessions = await sessionsOfEachWorker(gw.url, 3);
    const [a, b] = sessions;
    for (const s of [...a, ...b]) {
      for (let i = 0; i < 3; i++) {
        const r = await callTool(gw.url, s, 'echo', { text: `${s.sessionId}-${i}` });
        assert.equal(echoText(r), `${s.sessionId}-${i}`, r.text);
      }
    }
    // 6 sessions × 4 requests (initialized, 3 calls) on fresh connections: about half land on
    // the other worker. 24 coin flips all landing right happen once in 16 million runs.
    const moved = (await handovers(gw)) - before;
    assert.ok(moved > 0, `no connection was handed over (${moved})`);
    // Both workers hold some (3 each at least): the gauge is their sum.
    const m = await scrape(gw);
    assert.equal(m.get(series('mcpgw_sessions_active', { route: '/mcp' })), sessions.started);
  });

  test('a session id of either worker that does not exist is 404 wherever the connection lands', async () => {
    for (let i = 0; i < 8; i++) {
      const id = [...crypto.getRandomValues(new Uint8Array(16))].map((x) => x.toString(16).padStart(2, '0')).join('');
      const r = await mcpPost(gw.url, { jsonrpc: '2.0', id: 1, method: 'ping' }, { sessionId: id, protocolVersion: '2025-11-25' });
      assert.equal(r.status, 404, r.text);
    }
  });

  test('one keep-alive connection alternating between sessions of two workers moves with each request', async () => {
    const [[a], [b]] = await sessionsOfEachWorker(gw.url, 1);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set();
    const post = (s, id) => new Promise((resolve, reject) => {
      const body = JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { text: `k${id}` } } });
      const req = http.request(gw.url, {
        method: 'POST', agent,
        headers: { ...JSON_CT, accept: 'application/json, text/event-stream', 'mcp-session-id': s.sessionId, 'mcp-protocol-version': s.protocolVersion },
      }, (res) => {
        let text = '';
        res.on('data', (c) => { text += c; });
        res.on('end', () => resolve({ status: res.statusCode, text }));
      });
      req.on('socket', (sock) => sockets.add(sock));
      req.on('error', reject);
      req.end(body);
    });
    const before = await handovers(gw);
    try {
      for (let i = 0; i < 10; i++) {
        const r = await post(i % 2 ? b : a, i);
        assert.equal(r.status, 200, r.text);
        assert.match(r.text, new RegExp(`"k${i}"`));
      }
    } finally {
      agent.destroy();
    }
    assert.equal(sockets.size, 1, 'the requests shared one connection');
    // Every request after the first names the other worker's session.
    assert.ok((await handovers(gw)) - before >= 9, 'the connection moved with each request');
  });

  test('stdio sessions: each worker starts and keeps its own processes', async () => {
    const url = `${gw.origin}/mcp-stdio`;
    const sessions = await sessionsOfEachWorker(url, 2);
    const [a, b] = sessions;
    for (const s of [...a, ...b]) {
      const r = await callTool(url, s, 'echo', { text: s.sessionId });
      assert.equal(echoText(r), s.sessionId, r.text);
    }
    // A process per session, and each worker's warm one (pool.warm: 1) once refilled.
    const expected = sessions.started + WORKERS;
    await waitUntil(async () => (await scrape(gw)).get(series('mcpgw_stdio_processes', { backend: 'conf-stdio' })) === expected,
      5000, `mcpgw_stdio_processes = ${expected}`);
    for (const s of [...a, ...b]) {
      const r = await request(url, { method: 'DELETE', headers: { 'mcp-session-id': s.sessionId, 'mcp-protocol-version': s.protocolVersion } });
      assert.equal(r.status, 200, r.text);
    }
  });

  test('legacy HTTP+SSE: messages POSTed on fresh connections reach the stream opened on another one', async () => {
    for (let n = 0; n < 4; n++) {
      const stream = await openGetStream(`${gw.origin}/mcp/sse`);
      try {
        assert.equal(stream.status, 200);
        const ev = await stream.waitFor(({ events }) => events.find((e) => e.event === 'endpoint'), 5000);
        const endpoint = new URL(ev.data, gw.origin).href;
        const messages = () => stream.events().filter((e) => e.event === 'message').map((e) => safeJson(e.data));
        const init = await request(endpoint, { method: 'POST', headers: JSON_CT, body: { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2024-11-05', capabilities: {}, clientInfo: { name: 'w', version: '1' } } } });
        assert.equal(init.status, 202, init.text);
        await stream.waitFor(() => messages().find((m) => m?.id === 0), 5000);
        for (let i = 1; i <= 3; i++) {
          const r = await request(endpoint, { method: 'POST', headers: JSON_CT, body: { jsonrpc: '2.0', id: i, method: 'ping' } });
          assert.equal(r.status, 202, r.text);
        }
        await stream.waitFor(() => [1, 2, 3].every((id) => messages().find((m) => m?.id === id && m.result)), 5000);
      } finally {
        stream.close();
      }
    }
  });
});

describe('limits and filters hold for the process', () => {
  test('session_store.max_sessions counts the sessions of every worker', async (t) => {
    const g = await startGateway({ name: 'gateway-workers-max', backendUrl: backend.url, config: { workers: WORKERS, session_store: { max_sessions: 3 } } });
    t.after(() => g.stop());
    for (let i = 0; i < 3; i++) await initialize(g.url);
    for (let i = 0; i < 4; i++) {
      const r = await mcpPost(g.url, { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } } });
      assert.equal(r.status, 503, r.text);
      assert.match(r.text, /too many sessions \(session_store\.max_sessions = 3\)/);
    }
  });

  test('a rate limit counts the calls of every worker in one budget', async (t) => {
    const g = await startGateway({
      name: 'gateway-workers-rate', backendUrl: backend.url,
      config: { workers: WORKERS, filters: [{ rate_limit: { rules: [{ match: { method: 'tools/call' }, key: 'route', limit: 5, per: '1m' }] } }] },
    });
    t.after(() => g.stop());
    const [[a], [b]] = await sessionsOfEachWorker(g.url, 1);
    const codes = [];
    for (let i = 0; i < 10; i++) {
      const r = await callTool(g.url, i % 2 ? b : a, 'echo', { text: `r${i}` });
      codes.push(r.message?.error?.code ?? 'ok');
    }
    assert.deepEqual(codes, ['ok', 'ok', 'ok', 'ok', 'ok', -32029, -32029, -32029, -32029, -32029]);
  });

  test('the audit log: one file and one hash chain for the calls of both workers, complete after SIGTERM', async () => {
    const dir = makeTempDir('mcpgw-it-workers-');
    const file = path.join(dir, 'audit.jsonl');
    const g = await startGateway({ name: 'gateway-workers-audit', backendUrl: backend.url, config: { workers: WORKERS, filters: [{ audit: { file } }] } });
    const [a, b] = await sessionsOfEachWorker(g.url, 2);
    let calls = 0;
    for (const s of [...a, ...b]) {
      for (let i = 0; i < 5; i++) {
        const r = await callTool(g.url, s, 'echo', { text: `a${i}` });
        assert.equal(echoText(r), `a${i}`, r.text);
        calls++;
      }
    }
    const { code, signal } = await g.stop(10_000);
    assert.equal(signal, null);
    assert.equal(code, 0, g.diagnostics());
    const records = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(records.map((r) => r.seq), records.map((_, i) => i), 'one sequence');
    const sessions = new Set(records.filter((r) => r.method === 'tools/call').map((r) => r.session));
    assert.equal(records.filter((r) => r.method === 'tools/call').length, calls);
    assert.equal(sessions.size, 4);
    const v = await runGateway(['audit', 'verify', file]);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, new RegExp(`^ok: ${records.length} records in 1 file$`));
  });

  test('limits.max_connections counts the connections of every worker', async (t) => {
    const g = await startGateway({ name: 'gateway-workers-conns', backendUrl: backend.url, config: { workers: WORKERS, limits: { max_connections: 4 } } });
    t.after(() => g.stop());
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    t.after(() => agent.destroy());
    // Four idle keep-alive connections, then a fifth: refused whichever worker accepts it.
    await Promise.all([0, 1, 2, 3].map(() => new Promise((resolve, reject) => {
      http.get(`${g.origin}/nowhere`, { agent }, (res) => { res.resume(); res.on('end', resolve); }).on('error', reject);
    })));
    const refused = await new Promise((resolve) => {
      http.get(`${g.origin}/nowhere`, { agent: false }, (res) => { res.resume(); resolve(`answered ${res.statusCode}`); })
        .on('error', (e) => resolve(e.code));
    });
    assert.match(refused, /ECONNRESET|socket hang up|EPIPE/);
    await waitUntil(() => g.logs().some((l) => l.msg === 'connection refused: limits.max_connections reached'), 2000, 'the refusal logged');
  });
});

describe('configuration', () => {
  const check = async (yaml) => {
    const dir = makeTempDir('mcpgw-it-workers-cfg-');
    const file = path.join(dir, 'gateway.yaml');
    writeFileSync(file, yaml);
    return { file, ...(await runGateway(['--check-config', file])) };
  };
  const minimal = 'backends: [{ name: d, http: { url: "http://127.0.0.1:1/mcp" } }]\nroutes: [{ path: /mcp, backend: d }]\n';

  test('workers: a count from 1 to 256 or auto; anything else is an error naming the value', async () => {
    for (const good of ['1', '2', '256', 'auto']) {
      const r = await check(`${minimal}workers: ${good}\n`);
      assert.equal(r.code, 0, `${good}: ${r.stderr}`);
    }
    for (const bad of ['0', '257', '-1', 'two', '1.5']) {
      const r = await check(`${minimal}workers: ${bad}\n`);
      assert.equal(r.code, 1, `${bad} accepted`);
      assert.match(r.stderr, new RegExp(`:3: workers: expected auto or a number from 1 to 256, got "?${bad}"?$`, 'm'), r.stderr);
    }
    const list = await check(`${minimal}workers: [2]\n`);
    assert.match(list.stderr, /:3: workers: expected a number of threads or auto, got a list/);
  });

  test('--workers overrides the file; auto is one per CPU the process may use', async (t) => {
    const bad = await runGateway(['--workers', '0']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^mcpgw: --workers: expected auto or a number from 1 to 256, got '0'$/m);
    const g = await startGateway({ name: 'gateway-workers-auto', backendUrl: backend.url, config: { workers: 1 } });
    t.after(() => g.stop());
    assert.equal(g.listening.workers, '1');
    const auto = await startGateway({ name: 'gateway-workers-flag', backendUrl: backend.url, config: {}, args: ['--workers', 'auto'] });
    t.after(() => auto.stop());
    assert.equal(auto.listening.workers, String(os.availableParallelism()));
  });

  test('tls and cluster run one worker for now: more is an error saying so', async () => {
    const r = await check(`${minimal}tls: { cert: /nonexistent.pem, key: /nonexistent.key }\nworkers: 2\n`);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /:4: workers: tls runs one worker for now \(connections move between workers on plain TCP only\); set workers: 1, got "2"/);
  });
});

describe('shutdown', () => {
  test('a worker that drained first still answers its part of a scrape while another drains', async () => {
    const g = await startGateway({ name: 'gateway-workers-scrape', backendUrl: backend.url, config: { workers: WORKERS, shutdown_grace: '10s' } });
    const [[a], [b]] = await sessionsOfEachWorker(g.url, 1);
    // A call in flight on one worker keeps it (and the admin listener) draining; the other
    // worker has nothing left and is done at once.
    const slow = callTool(g.url, a, 'slow', { ms: 1500 }, { timeoutMs: 10_000 });
    await sleep(200);
    g.proc.child.kill('SIGTERM');
    await waitUntil(() => g.logs().filter((l) => l.msg === 'stopped').length === 1, 3000, 'one worker stopped');
    const r = await request(`${g.adminUrl}/metrics`, { method: 'GET', timeoutMs: 3000 });
    assert.equal(r.status, 200);
    assert.match(r.text, /^mcpgw_draining 1$/m);
    assert.equal((await slow).message?.result?.content?.[0]?.text, 'done');
    const { code } = await g.stop(10_000);
    assert.equal(code, 0, g.diagnostics());
    void b;
  });


  test('SIGTERM with both workers busy: streams end, every worker drains, exit 0', async () => {
    const g = await startGateway({ name: 'gateway-workers-stop', backendUrl: backend.url, config: { workers: WORKERS, shutdown_grace: '2s' } });
    const [a, b] = await sessionsOfEachWorker(g.url, 1);
    const streams = [];
    for (const s of [...a, ...b]) {
      const st = await openGetStream(g.url, { headers: { 'mcp-session-id': s.sessionId, 'mcp-protocol-version': s.protocolVersion } });
      assert.equal(st.status, 200);
      streams.push(st);
    }
    const started = Date.now();
    const { code, signal } = await g.stop(10_000);
    assert.equal(signal, null);
    assert.equal(code, 0, g.diagnostics());
    assert.ok(Date.now() - started < 5000, 'drained within the grace');
    assert.ok(g.logs().some((l) => l.msg === 'stopped'));
    for (const st of streams) st.close();
  });
});
