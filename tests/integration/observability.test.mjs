// Observability against the real binary: the Prometheus /metrics families and their values after
// known traffic (auth, rate limit, circuit breaker and audit on), bounded tool labels, /readyz
// with required backends, the access log, X-Request-Id, and W3C trace context carried from the
// client's headers or params._meta to HTTP and stdio backends (headers and _meta) and into the
// audit records.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  BACKEND_SCRIPT, NODE_BIN, callTool, closedPort, initialize, makeTempDir, mcpPost, openGetStream,
  parseMetrics, request, requireBackend, runGateway, series, startConformanceBackend, startGateway, waitUntil,
} from './lib.mjs';

const KEY = `acme-${randomBytes(12).toString('hex')}`;
const digest = (k) => `sha256:${createHash('sha256').update(k).digest('hex')}`;
const AUTH = { authorization: `Bearer ${KEY}` };
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE}-${PARENT}-01`;
const TRACEPARENT_RE = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

async function scrape(gw) {
  const r = await request(`${gw.adminUrl}/metrics`, { method: 'GET' });
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  return parseMetrics(r.text);
}

const text = (r) => r.message?.result?.content?.[0]?.text;

let backend;
let gw;
let auditFile;
let downUrl;

before(async () => {
  requireBackend();
  backend = await startConformanceBackend();
  downUrl = `http://127.0.0.1:${await closedPort()}/mcp`;
  auditFile = path.join(makeTempDir('mcpgw-obs-'), 'audit.jsonl');
  gw = await startGateway({
    backendUrl: backend.url,
    name: 'gateway-observability',
    config: {
      tenants: [{ name: 'acme', api_keys: [digest(KEY)] }],
      backends: [
        { name: 'conf', required: true, http: { url: backend.url, timeout: '10s' } },
        { name: 'local', stdio: { command: [NODE_BIN, BACKEND_SCRIPT, '--stdio'], pool: { warm: 1 } } },
        { name: 'down', http: { url: downUrl, timeout: '1s', connect_timeout: '500ms', retry: { attempts: 1 } } },
      ],
      routes: [
        { path: '/mcp', backend: 'conf' },
        { path: '/stdio', backend: 'local' },
        { path: '/down', backend: 'down' },
      ],
      filters: [
        { auth: null },
        { rate_limit: { rules: [{ match: { tool: 'test_simple_text' }, limit: 1, per: '1m' }] } },
        { circuit_breaker: { consecutive_failures: 2, open_for: '1m' } },
        { audit: { file: auditFile, fsync: { every_records: 1 } } },
      ],
      observability: { access_log: true },
    },
  });
}, { timeout: 30_000 });

after(async () => {
  await gw?.stop();
  await backend?.stop?.();
});

describe('/metrics', () => {
  let s;
  before(async () => {
    s = await initialize(gw.url, { headers: AUTH });
    const list = await mcpPost(gw.url, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { ...s, headers: AUTH });
    assert.equal(list.status, 200, list.text);
    for (const args of [{ text: 'a' }, { text: 'b' }]) {
      assert.equal(text(await callTool(gw.url, s, 'echo', args, { headers: AUTH })), args.text);
    }
    await callTool(gw.url, s, 'test_error_handling', {}, { headers: AUTH });
    await callTool(gw.url, s, 'test_simple_text', {}, { headers: AUTH });
    const limited = await callTool(gw.url, s, 'test_simple_text', {}, { headers: AUTH });
    assert.equal(limited.message?.error?.code, -32029, limited.text);
    // Not in tools/list, and 20 names nobody declared: all counted as tool="other".
    await callTool(gw.url, s, 'request_headers', {}, { headers: AUTH });
    for (let i = 0; i < 20; i++) {
      const r = await callTool(gw.url, s, `nope-${randomBytes(4).toString('hex')}`, {}, { headers: AUTH });
      assert.ok(r.message?.error, r.text);
    }
  }, { timeout: 30_000 });

  test('requests by route, backend, method and outcome; tools/call by tenant, tool and outcome', async () => {
    const m = await scrape(gw);
    const calls = (labels) => m.get(series('mcpgw_tool_calls_total', { tenant: 'acme', backend: 'conf', ...labels }));
    assert.equal(calls({ tool: 'echo', outcome: 'answered' }), 2);
    assert.equal(calls({ tool: 'test_error_handling', outcome: 'tool_error' }), 1);
    assert.equal(calls({ tool: 'test_simple_text', outcome: 'answered' }), 1);
    assert.equal(calls({ tool: 'test_simple_text', outcome: 'rejected' }), 1);
    assert.equal(calls({ tool: 'other', outcome: 'answered' }), 1);
    assert.equal(calls({ tool: 'other', outcome: 'error' }), 20);
    const toolValues = [...m.keys()].filter((k) => k.startsWith('mcpgw_tool_calls_total'))
      .map((k) => /tool="([^"]*)"/.exec(k)[1]);
    assert.deepEqual([...new Set(toolValues)].sort(), ['echo', 'other', 'test_error_handling', 'test_simple_text']);

    const req = (method, outcome) => m.get(series('mcpgw_requests_total', { route: '/mcp', backend: 'conf', method, outcome }));
    assert.equal(req('initialize', 'answered'), 1);
    assert.equal(req('tools/list', 'answered'), 1);
    assert.equal(req('tools/call', 'answered'), 4);
    assert.equal(req('tools/call', 'tool_error'), 1);
    assert.equal(req('tools/call', 'error'), 20);
    assert.equal(req('tools/call', 'rejected'), 1);
  });

  test('durations: every call in the request histogram, the ones that reached the backend in the backend histogram', async () => {
    const m = await scrape(gw);
    const labels = { route: '/mcp', backend: 'conf', method: 'tools/call' };
    assert.equal(m.get(series('mcpgw_request_duration_seconds_count', labels)), 26);
    assert.equal(m.get(series('mcpgw_gateway_duration_seconds_count', labels)), 26);
    assert.equal(m.get(series('mcpgw_backend_duration_seconds_count', labels)), 25);
    const total = m.get(series('mcpgw_request_duration_seconds_sum', labels));
    const backendTime = m.get(series('mcpgw_backend_duration_seconds_sum', labels));
    const own = m.get(series('mcpgw_gateway_duration_seconds_sum', labels));
    assert.ok(total > 0 && backendTime > 0 && own > 0, `${total} ${backendTime} ${own}`);
    assert.ok(Math.abs(total - backendTime - own) < 1e-3, `${total} != ${backendTime} + ${own}`);
    assert.equal(m.get(series('mcpgw_request_duration_seconds_bucket', { ...labels, le: '+Inf' })), 26);
  });

  test('rate-limit rejections by rule; sessions, store operations and bytes', async () => {
    const m = await scrape(gw);
    assert.equal(m.get(series('mcpgw_rate_limit_rejections_total', { rule: 'rules[0]', reason: 'rate' })), 1);
    assert.equal(m.get(series('mcpgw_sessions_started_total', { route: '/mcp' })), 1);
    assert.ok(m.get(series('mcpgw_sessions_active', { route: '/mcp' })) >= 1);
    assert.ok(m.get(series('mcpgw_session_store_operations_total', { store: 'memory', op: 'put', outcome: 'ok' })) >= 1);
    assert.ok(m.get(series('mcpgw_session_store_duration_seconds_count', { store: 'memory', op: 'put' })) >= 1);
    assert.ok(m.get(series('mcpgw_received_bytes_total', { route: '/mcp' })) > 1000);
    assert.ok(m.get(series('mcpgw_sent_bytes_total', { route: '/mcp' })) > 1000);
    assert.equal(m.get(series('mcpgw_backend_replica_up', { backend: 'conf', replica: backend.url })), 1);
    assert.equal(m.get('mcpgw_draining'), 0);
    assert.ok([...m.keys()].some((k) => /^mcpgw_build_info\{version="\d+\.\d+\.\d+"\}$/.test(k)));
  });

  test('the auth filter\'s credential cache: one key, verified once, then found on every request', async () => {
    const m = await scrape(gw);
    const hits = m.get(series('mcpgw_auth_cache_lookups_total', { result: 'hit' }));
    assert.ok(hits >= 25, `hits ${hits}`);
    assert.equal(m.get(series('mcpgw_auth_cache_lookups_total', { result: 'miss' })), 1);
    assert.equal(m.get('mcpgw_auth_cache_entries'), 1);
  });

  test('every metric the Grafana dashboard (deploy/grafana) queries is one the gateway declares and exports', async () => {
    const r = await request(`${gw.adminUrl}/metrics`, { method: 'GET' });
    const exported = new Set([...r.text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
    const root = path.join(import.meta.dirname, '../..');
    // A family without series (no aggregated route here) has no TYPE line: the declarations count.
    const source = readFileSync(path.join(root, 'gateway/src/observability/metrics.cc'), 'utf8');
    const declared = new Set([...source.matchAll(/\.Name\("(mcpgw_[a-z0-9_]+)"\)/g)].map((m) => m[1]));
    for (const name of exported) assert.ok(declared.has(name), `${name} exported but not found in metrics.cc`);
    const dashboard = readFileSync(path.join(root, 'deploy/grafana/mcpgw-dashboard.json'), 'utf8');
    const queried = new Set([...dashboard.matchAll(/\b(mcpgw_[a-z0-9_]+)/g)]
      .map((m) => m[1].replace(/_(bucket|sum|count)$/, '')));
    assert.ok(queried.size >= 20, `only ${queried.size} metrics found in the dashboard`);
    assert.deepEqual([...queried].filter((name) => !declared.has(name)), [], 'queried by the dashboard, not declared');
    assert.ok(queried.has('mcpgw_auth_cache_lookups_total'));
  });

  test('audit records written match the audit file; the queue depth is exported', async () => {
    let m;
    await waitUntil(async () => {
      m = await scrape(gw);
      const lines = readFileSync(auditFile, 'utf8').split('\n').filter(Boolean).length;
      return lines > 25 && m.get('mcpgw_audit_records_written_total') === lines;
    }, 5000, 'mcpgw_audit_records_written_total to match the audit file');
    assert.equal(m.get('mcpgw_audit_queue_depth'), 0);
    assert.equal(m.get('mcpgw_audit_write_failures_total'), 0);
  });

  test('an open GET stream is counted in mcpgw_sse_streams_open until it closes', async () => {
    const stream = await openGetStream(gw.url, {
      headers: { ...AUTH, 'mcp-session-id': s.sessionId, 'mcp-protocol-version': s.protocolVersion },
    });
    assert.equal(stream.status, 200);
    const open = () => scrape(gw).then((m) => m.get(series('mcpgw_sse_streams_open', { route: '/mcp' })));
    await waitUntil(async () => (await open()) === 1, 3000, 'one open stream');
    stream.close();
    await waitUntil(async () => (await open()) === 0, 3000, 'the stream counted as closed');
  });

  test('stdio processes by backend', async () => {
    const st = await initialize(gw.url.replace('/mcp', '/stdio'), { headers: AUTH });
    assert.ok(st.sessionId);
    const m = await scrape(gw);
    assert.ok(m.get(series('mcpgw_stdio_processes', { backend: 'local' })) >= 1);
    assert.equal(m.get(series('mcpgw_sessions_started_total', { route: '/stdio' })), 1);
  });

  test('circuit state: a backend that keeps failing opens its breaker (2)', async () => {
    const down = gw.url.replace('/mcp', '/down');
    for (let i = 0; i < 2; i++) {
      const r = await mcpPost(down, { jsonrpc: '2.0', id: i, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '0' } } }, { headers: AUTH });
      assert.equal(r.messages[0]?.error?.code, -32050, r.text);
    }
    const m = await scrape(gw);
    assert.equal(m.get(series('mcpgw_circuit_state', { backend: 'down', replica: '' })), 2);
    assert.equal(m.get(series('mcpgw_circuit_state', { backend: 'conf', replica: '' })), 0);
  });
});

describe('/readyz', () => {
  test('reports every backend; one not required may be down', async () => {
    const r = await request(`${gw.adminUrl}/readyz`, { method: 'GET' });
    assert.equal(r.status, 200, r.text);
    const body = JSON.parse(r.text);
    assert.equal(body.status, 'ready');
    assert.deepEqual(body.checks.backends.conf, { required: true, state: 'ok' });
    assert.equal(body.checks.backends.down.required, false);
    assert.equal(body.checks.backends.local.state, 'ok');
    assert.equal(body.checks.store, 'ok');
    assert.equal(body.checks.draining, false);
  });

  test('a required backend no replica of which passes its health check: 503 naming it, then 200 once it answers', async () => {
    const port = await closedPort();
    const neededUrl = `http://127.0.0.1:${port}/mcp`;
    const g = await startGateway({
      backendUrl: backend.url,
      name: 'gateway-readyz-required',
      config: {
        backends: [
          { name: 'conf', http: { url: backend.url } },
          { name: 'needed', required: true, http: { url: neededUrl, health_check: { interval: '100ms', timeout: '200ms', unhealthy_after: 1 } } },
        ],
        routes: [{ path: '/mcp', backend: 'conf' }, { path: '/needed', backend: 'needed' }],
      },
    });
    try {
      let r;
      await waitUntil(async () => {
        r = await request(`${g.adminUrl}/readyz`, { method: 'GET' });
        return r.status === 503;
      }, 5000, '/readyz 503');
      const body = JSON.parse(r.text);
      assert.equal(body.status, 'not ready');
      assert.match(body.reason, /required backend 'needed' unreachable/);
      assert.equal(body.checks.backends.needed.required, true);
      const m = await scrape(g);
      assert.equal(m.get(series('mcpgw_backend_replica_up', { backend: 'needed', replica: neededUrl })), 0);
      // The backend comes up on that port: the probe sees it and the replica is ready again.
      const late = await startConformanceBackend({ args: ['--port', String(port)] });
      try {
        await waitUntil(async () => {
          r = await request(`${g.adminUrl}/readyz`, { method: 'GET' });
          return r.status === 200;
        }, 5000, '/readyz 200 again');
        assert.equal(JSON.parse(r.text).checks.backends.needed.state, 'ok');
      } finally {
        await late.stop();
      }
    } finally {
      await g.stop();
    }
  });
});

describe('/readyz: a required stdio backend', () => {
  test('whose processes fail to start: 503 naming it and the error', async () => {
    const dir = makeTempDir('mcpgw-obs-stdio-');
    const script = path.join(dir, 'server.sh');
    writeFileSync(script, `#!/bin/sh\nexec ${JSON.stringify(NODE_BIN)} ${JSON.stringify(BACKEND_SCRIPT)} --stdio\n`);
    chmodSync(script, 0o755);
    const g = await startGateway({
      backendUrl: backend.url,
      name: 'gateway-readyz-stdio',
      config: {
        backends: [{ name: 'tool', required: true, stdio: { command: [script], pool: { warm: 0 } } }],
        routes: [{ path: '/mcp', backend: 'tool' }],
      },
    });
    try {
      const before = await request(`${g.adminUrl}/readyz`, { method: 'GET' });
      assert.equal(before.status, 200, before.text);
      chmodSync(script, 0o644);  // checked at start-up; the next spawn fails
      const r = await mcpPost(g.url, { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '0' } } });
      assert.ok(r.messages[0]?.error, r.text);
      const ready = await request(`${g.adminUrl}/readyz`, { method: 'GET' });
      assert.equal(ready.status, 503, ready.text);
      const body = JSON.parse(ready.text);
      assert.match(body.reason, /required backend 'tool' cannot start: /);
      assert.match(body.checks.backends.tool.state, /^cannot start: .*(denied|permission)/i);
    } finally {
      await g.stop();
    }
  });
});

describe('logs and request ids', () => {
  test('X-Request-Id: a valid one is echoed and logged; an invalid one is replaced by a minted one', async () => {
    const s = await initialize(gw.url, { headers: AUTH });
    const given = `req-${randomBytes(6).toString('hex')}`;
    const r = await callTool(gw.url, s, 'echo', { text: 'x' }, { headers: { ...AUTH, 'x-request-id': given } });
    assert.equal(r.headers['x-request-id'], given);
    const bad = await callTool(gw.url, s, 'echo', { text: 'y' }, { headers: { ...AUTH, 'x-request-id': 'x'.repeat(200) } });
    assert.match(bad.headers['x-request-id'], /^[0-9a-f]{16}$/);
    await waitUntil(() => gw.logs().some((l) => l.msg === 'request' && l.request_id === given), 3000, 'access log line');
    const line = gw.logs().find((l) => l.msg === 'request' && l.request_id === given);
    assert.equal(line.level, 'info');
    assert.match(line.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(line.session, s.sessionId);
    assert.equal(line.tenant, 'acme');
    assert.equal(line.backend, 'conf');
    assert.equal(line.method, 'tools/call');
    assert.equal(line.name, 'echo');
    assert.equal(line.outcome, 'answered');
    assert.match(line.trace_id, /^[0-9a-f]{32}$/);
    assert.ok(Number(line.duration_ms) >= Number(line.backend_ms));
  });
});

describe('trace context', () => {
  let s;
  before(async () => { s = await initialize(gw.url, { headers: AUTH }); });

  const headersSeen = async (headers, meta) => {
    const id = Math.floor(Math.random() * 1e9);
    const r = await mcpPost(gw.url, { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'request_headers', arguments: {}, ...(meta ? { _meta: meta } : {}) } },
      { ...s, headers: { ...AUTH, ...headers } });
    return JSON.parse(r.messages.find((m) => m.id === id).result.content[0].text);
  };
  const metaSeen = async (url, session, headers, meta) => {
    const id = Math.floor(Math.random() * 1e9);
    const r = await mcpPost(url, { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'request_meta', arguments: {}, ...(meta ? { _meta: meta } : {}) } },
      { ...session, headers: { ...AUTH, ...headers } });
    return JSON.parse(r.messages.find((m) => m.id === id).result.content[0].text);
  };

  test('a traceparent header continues: same trace, the gateway\'s span as parent, in the backend\'s headers and _meta', async () => {
    const h = await headersSeen({ traceparent: TRACEPARENT, tracestate: 'vendor=abc' });
    const [, trace, span, flags] = TRACEPARENT_RE.exec(h.traceparent);
    assert.equal(trace, TRACE);
    assert.notEqual(span, PARENT);
    assert.equal(flags, '01');
    assert.equal(h.tracestate, 'vendor=abc');
    const meta = await metaSeen(gw.url, s, { traceparent: TRACEPARENT, tracestate: 'vendor=abc' }, { progressToken: 'p1' });
    assert.equal(TRACEPARENT_RE.exec(meta.traceparent)[1], TRACE);
    assert.equal(meta.tracestate, 'vendor=abc');
    assert.equal(meta.progressToken !== undefined, true, JSON.stringify(meta));
  });

  test('params._meta.traceparent wins over the header, and is replaced by the gateway\'s span', async () => {
    const mine = `00-${'a'.repeat(32)}-${'b'.repeat(16)}-00`;
    const meta = await metaSeen(gw.url, s, { traceparent: TRACEPARENT }, { traceparent: mine, tracestate: 'k=v' });
    const [, trace, span, flags] = TRACEPARENT_RE.exec(meta.traceparent);
    assert.deepEqual([trace, flags, meta.tracestate], ['a'.repeat(32), '00', 'k=v']);
    assert.notEqual(span, 'b'.repeat(16));
    const h = await headersSeen({ traceparent: TRACEPARENT }, { traceparent: mine });
    assert.equal(TRACEPARENT_RE.exec(h.traceparent)[1], 'a'.repeat(32));
  });

  test('no or an invalid traceparent: a new trace is begun and sent on', async () => {
    for (const given of [undefined, `00-${'0'.repeat(32)}-${PARENT}-01`, 'garbage', `00-${TRACE.toUpperCase()}-${PARENT}-01`]) {
      const h = await headersSeen(given ? { traceparent: given } : {});
      const [, trace] = TRACEPARENT_RE.exec(h.traceparent) ?? [];
      assert.ok(trace && trace !== TRACE && !/^0+$/.test(trace), `${given} → ${h.traceparent}`);
    }
  });

  test('a stdio backend gets the trace context in params._meta', async () => {
    const url = gw.url.replace('/mcp', '/stdio');
    const st = await initialize(url, { headers: AUTH });
    const meta = await metaSeen(url, st, { traceparent: TRACEPARENT });
    assert.equal(TRACEPARENT_RE.exec(meta.traceparent)[1], TRACE);
  });

  test('the audit record names the trace, the gateway\'s span and the caller\'s', async () => {
    const h = await headersSeen({ traceparent: TRACEPARENT, 'x-request-id': 'audit-trace-1' });
    const span = TRACEPARENT_RE.exec(h.traceparent)[2];
    let record;
    await waitUntil(() => {
      record = readFileSync(auditFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l))
        .find((r) => r.request_id === 'audit-trace-1');
      return record;
    }, 5000, 'the audit record');
    assert.equal(record.trace_id, TRACE);
    assert.equal(record.span_id, span);
    assert.equal(record.parent_span_id, PARENT);
  });

  test('tracing.generate: false and tracing.meta: false: nothing is invented, and _meta is left alone', async () => {
    const g = await startGateway({
      backendUrl: backend.url,
      name: 'gateway-no-trace',
      config: { observability: { tracing: { generate: false, meta: false } } },
    });
    try {
      const st = await initialize(g.url);
      const call = async (headers) => {
        const r = await mcpPost(g.url, { jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'request_headers', arguments: {} } }, { ...st, headers });
        return JSON.parse(r.messages.find((m) => m.id === 5).result.content[0].text);
      };
      assert.equal((await call({})).traceparent, undefined);
      assert.equal(TRACEPARENT_RE.exec((await call({ traceparent: TRACEPARENT })).traceparent)[1], TRACE);
      const r = await mcpPost(g.url, { jsonrpc: '2.0', id: 6, method: 'tools/call', params: { name: 'request_meta', arguments: {} } }, { ...st, headers: { traceparent: TRACEPARENT } });
      assert.equal(JSON.parse(r.messages.find((m) => m.id === 6).result.content[0].text), null);
      const m = await request(`${g.adminUrl}/metrics`, { method: 'GET' });
      assert.equal(m.status, 200);
    } finally {
      await g.stop();
    }
  });
});

describe('config', () => {
  test('observability.metrics: false: /metrics answers 404 saying so', async () => {
    const backendUrl = backend.url;
    const g = await startGateway({ backendUrl, name: 'gateway-no-metrics', config: { observability: { metrics: false } } });
    try {
      const r = await request(`${g.adminUrl}/metrics`, { method: 'GET' });
      assert.equal(r.status, 404);
      assert.match(r.text, /observability\.metrics: false/);
    } finally {
      await g.stop();
    }
  });

  test('--check-config names bad observability keys and values', async () => {
    const dir = makeTempDir('mcpgw-obs-cfg-');
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(file, [
      'backends:',
      '  - { name: b, required: maybe, http: { url: "http://127.0.0.1:1/mcp" } }',
      'routes:',
      '  - { path: /mcp, backend: b }',
      'observability:',
      '  metrics: yes please',
      '  tracing: { generate: true, sample: 0.5 }',
      '  colour: blue',
    ].join('\n'));
    const r = await runGateway(['--check-config', file]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /bad\.yaml:2: backends\[0\]\.required: .*maybe/);
    assert.match(r.stderr, /bad\.yaml:6: observability\.metrics: .*yes please/);
    assert.match(r.stderr, /bad\.yaml:7: observability\.tracing\.sample: /);
    assert.match(r.stderr, /bad\.yaml:8: observability\.colour: /);
  });
});
