// Backends speaking the legacy HTTP+SSE transport (MCP 2024-11-05), `sse: { url }`, seen raw.
// For each client session the gateway opens the backend's SSE stream, waits (up to
// sse.timeout) for its `endpoint` event (same origin only; relative URLs resolved against the
// stream's URL), POSTs every message there in order and reads every answer from the stream.
//
// Backends: tests/backends/conformance-server.mjs --legacy-sse (SDK SSEServerTransport: GET
// /sse, POST /messages?sessionId=, GET /debug/sessions), and a small fake legacy server in this
// file for what a real one does not do: no endpoint event, an endpoint on another origin, a
// non-SSE answer, a stream that closes at once, relative and absolute endpoint URLs, and a
// message endpoint that forgets the session (404).
//
// Covered: initialize errors (-32050 naming the backend and the reason, HTTP 200); endpoint
// resolution; the exchange (tools, progress, sampling, 2024-11-05 negotiation and header);
// the legacy client transport on an sse-backend route; the end of the session (backend
// killed mid-call, 404 from the message endpoint, DELETE closes the backend's stream);
// sse.timeout (-32051); --check-config errors of the sse key.
import assert from 'node:assert/strict';
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  LATEST, assertJsonRpcError, backendSessions, callTool, closedPort, initialize, initializeBody, makeTempDir, mcpPost,
  onCleanup, openGetStream, request, requireBackend, runGateway, safeJson, startConformanceBackend, startGateway, waitUntil,
} from './lib.mjs';

const BACKEND_DOWN = -32050;
const BACKEND_TIMEOUT = -32051;
const SESSION_NOT_FOUND = -32001;
const LEGACY_VERSION = '2024-11-05';
const JSON_CT = { 'content-type': 'application/json' };

/** The JSON-RPC error answering request `id` (JSON body or SSE), with HTTP 200. */
function assertRequestError(r, { id, code, mentions = [] }) {
  const where = `HTTP ${r.status} ${r.contentType} body=${r.text}`;
  assert.equal(r.status, 200, where);
  const msg = r.messages.find((m) => m && m.id === id && !('method' in m));
  assert.ok(msg, `no response with id ${JSON.stringify(id)}: ${where}`);
  assert.equal(msg.jsonrpc, '2.0', where);
  assert.ok(msg.error, `expected an error: ${where}`);
  assert.equal(msg.error.code, code, where);
  for (const m of mentions) {
    const re = m instanceof RegExp ? m : new RegExp(m.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'i');
    assert.match(msg.error.message, re, `error.message should mention ${re}: ${where}`);
  }
  return msg;
}

const sessionOpts = (s) => ({ sessionId: s.sessionId, protocolVersion: s.protocolVersion });
const toolCall = (id, name, args, meta) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args, ...(meta ? { _meta: meta } : {}) } });

// ---------------------------------------------------------------------------------------
// A fake legacy HTTP+SSE server. GET /<variant>/sse:
//   silent     200 text/event-stream, a comment, never an endpoint event
//   foreign    endpoint event naming http://127.0.0.2:1/x (another origin)
//   json       200 application/json (no event stream)
//   closes     200 text/event-stream, ended at once (before any endpoint event)
//   relative   endpoint "messages?sessionId=<id>" (relative to /relative/sse)
//   absolute   endpoint "http://127.0.0.1:<port>/absolute/post-here?sessionId=<id>" (same origin)
//   forgetful  endpoint "/forgetful/messages?sessionId=<id>"; answers initialize, then 404s
//   query      endpoint "?sessionId=<id>" (query-only reference: RFC 3986 → /query/sse?sessionId=<id>)
//   dotdot     endpoint "../up/messages?sessionId=<id>" (RFC 3986 → /up/messages?sessionId=<id>)
//   schemerel  endpoint "//127.0.0.2:1/x?sessionId=<id>" (network-path reference: another origin)
// The mini MCP server behind relative/absolute/forgetful answers initialize (with the
// client's version), ping and tools/call echo on the stream; POSTs are answered 202 and recorded
// with their raw request-target (`target`, as sent: no normalisation).
async function startFakeLegacyServer() {
  const posts = []; // { variant (of the session), target (raw request-target), message }
  const sessions = new Map(); // id -> { variant, res, closed }
  let seq = 0;
  let port;
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://fake');
    const [, variant, leaf] = u.pathname.split('/');
    const sse = () => res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const event = (type, data) => res.write(`event: ${type}\ndata: ${data}\n\n`);
    if (req.method === 'GET' && leaf === 'sse') {
      if (variant === 'silent') { sse(); res.write(': no endpoint event will come\n\n'); return; }
      if (variant === 'foreign') { sse(); event('endpoint', 'http://127.0.0.2:1/x'); return; }
      if (variant === 'json') { res.writeHead(200, JSON_CT); res.end('{}'); return; }
      if (variant === 'closes') { sse(); res.end(); return; }
      const id = `fake-${++seq}`;
      const s = { variant, res, closed: false };
      sessions.set(id, s);
      res.on('close', () => { s.closed = true; });
      sse();
      if (variant === 'relative') event('endpoint', `messages?sessionId=${id}`);
      else if (variant === 'absolute') event('endpoint', `http://127.0.0.1:${port}/absolute/post-here?sessionId=${id}`);
      else if (variant === 'query') event('endpoint', `?sessionId=${id}`);
      else if (variant === 'dotdot') event('endpoint', `../up/messages?sessionId=${id}`);
      else if (variant === 'schemerel') event('endpoint', `//127.0.0.2:1/x?sessionId=${id}`);
      else event('endpoint', `/${variant}/messages?sessionId=${id}`);
      return;
    }
    if (req.method === 'POST') {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d) => { body += d; });
      req.on('end', () => {
        const s = sessions.get(u.searchParams.get('sessionId') ?? '');
        const message = safeJson(body);
        posts.push({ variant: s?.variant ?? variant, target: req.url, message });
        if (!s || s.closed) { res.writeHead(404, JSON_CT); res.end('{"error":"unknown session"}'); return; }
        if (s.variant === 'forgetful' && message?.method !== 'initialize' && message?.method !== 'notifications/initialized') {
          res.writeHead(404, JSON_CT);
          res.end('{"error":"session forgotten"}');
          return;
        }
        res.writeHead(202);
        res.end('Accepted');
        if (!message || message.id === undefined || !message.method) return;
        let result = {};
        if (message.method === 'initialize') {
          result = { protocolVersion: message.params?.protocolVersion ?? LEGACY_VERSION, capabilities: { tools: {} }, serverInfo: { name: 'fake-legacy', version: '0.0.1' } };
        } else if (message.method === 'tools/call') {
          result = { content: [{ type: 'text', text: String(message.params?.arguments?.text ?? '') }] };
        }
        s.res.write(`event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: message.id, result })}\n\n`);
      });
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = server.address().port;
  const close = () => new Promise((resolve) => {
    for (const s of sessions.values()) s.res.destroy();
    server.closeAllConnections?.();
    server.close(() => resolve());
  });
  onCleanup(close);
  return { port, origin: `http://127.0.0.1:${port}`, posts, sessions, close };
}

// ---------------------------------------------------------------------------------------
describe('initialize against a legacy SSE backend that cannot serve the session', () => {
  let gw;
  let downPort;
  const VARIANTS = ['silent', 'foreign', 'json', 'closes'];
  before(async () => {
    const fake = await startFakeLegacyServer();
    downPort = await closedPort();
    gw = await startGateway({
      name: 'gateway-sse-errors',
      config: {
        backends: [
          { name: 'old-down', sse: { url: `http://127.0.0.1:${downPort}/sse`, timeout: '5s', connect_timeout: '2s' } },
          ...VARIANTS.map((v) => ({ name: `old-${v}`, sse: { url: `${fake.origin}/${v}/sse`, timeout: v === 'silent' ? '1s' : '5s', connect_timeout: '2s' } })),
        ],
        routes: [{ path: '/down', backend: 'old-down' }, ...VARIANTS.map((v) => ({ path: `/${v}`, backend: `old-${v}` }))],
      },
    });
  }, { timeout: 30_000 });

  const init = (route, id) => mcpPost(`${gw.origin}${route}`, initializeBody(LATEST, id), { timeoutMs: 8000 });

  test('backend port closed → 200 + -32050 naming the backend and its URL, promptly, no session', async () => {
    const r = await init('/down', 'down-1');
    assertRequestError(r, { id: 'down-1', code: BACKEND_DOWN, mentions: ["backend 'old-down'", 'unavailable', `127.0.0.1:${downPort}/sse`] });
    assert.ok(r.elapsedMs < 2500, `took ${r.elapsedMs} ms for a refused connection`);
    assert.equal(r.headers['mcp-session-id'], undefined, 'no session for a failed initialize');
  });

  test('an event stream without an endpoint event + sse.timeout 1s → -32050 mentioning "endpoint" after ~1 s', async () => {
    const r = await init('/silent', 'silent-1');
    assertRequestError(r, { id: 'silent-1', code: BACKEND_DOWN, mentions: ["backend 'old-silent'", 'endpoint', 'timeout'] });
    assert.ok(r.elapsedMs >= 900 && r.elapsedMs < 4000, `took ${r.elapsedMs} ms (sse.timeout is 1 s)`);
    assert.equal(r.headers['mcp-session-id'], undefined);
  });

  test('an endpoint event naming another origin (http://127.0.0.2:1/x) → -32050 mentioning "another origin"', async () => {
    const r = await init('/foreign', 'foreign-1');
    assertRequestError(r, { id: 'foreign-1', code: BACKEND_DOWN, mentions: ["backend 'old-foreign'", 'another origin', 'http://127.0.0.2:1/x'] });
    assert.equal(r.headers['mcp-session-id'], undefined);
  });

  test('a non-SSE answer on the SSE URL → -32050 mentioning the status and "no event stream"', async () => {
    const r = await init('/json', 'json-1');
    assertRequestError(r, { id: 'json-1', code: BACKEND_DOWN, mentions: ["backend 'old-json'", 'HTTP 200', 'no event stream'] });
  });

  test('a stream that ends before the endpoint event → -32050 saying so', async () => {
    const r = await init('/closes', 'closes-1');
    assertRequestError(r, { id: 'closes-1', code: BACKEND_DOWN, mentions: ["backend 'old-closes'", 'before the endpoint event'] });
  });

  test('the gateway stays healthy', async () => {
    const h = await request(`${gw.adminUrl}/healthz`, { method: 'GET' });
    assert.equal(h.status, 200);
  });
});

// ---------------------------------------------------------------------------------------
describe('endpoint resolution and a message endpoint that forgets the session (fake legacy server)', () => {
  let gw;
  let fake;
  before(async () => {
    fake = await startFakeLegacyServer();
    const variants = ['relative', 'absolute', 'forgetful', 'query', 'dotdot', 'schemerel'];
    gw = await startGateway({
      name: 'gateway-sse-fake',
      config: {
        backends: variants.map((v) => ({ name: `fake-${v}`, sse: { url: `${fake.origin}/${v}/sse`, timeout: '5s', connect_timeout: '2s' } })),
        routes: variants.map((v) => ({ path: `/${v}`, backend: `fake-${v}` })),
      },
    });
  }, { timeout: 30_000 });

  for (const [variant, expected] of [
    ['relative', /^\/relative\/messages\?sessionId=fake-\d+$/],
    ['absolute', /^\/absolute\/post-here\?sessionId=fake-\d+$/],
  ]) {
    test(`${variant} endpoint URL: every message is POSTed to ${expected}`, async () => {
      const url = `${gw.origin}/${variant}`;
      const s = await initialize(url);
      assert.equal(s.result.serverInfo.name, 'fake-legacy');
      const r = await callTool(url, s, 'echo', { text: `via ${variant}` });
      assert.deepEqual(r.message?.result?.content, [{ type: 'text', text: `via ${variant}` }], r.text);
      const mine = fake.posts.filter((p) => p.variant === variant);
      assert.deepEqual(mine.map((p) => p.message?.method), ['initialize', 'notifications/initialized', 'tools/call']);
      for (const p of mine) assert.match(p.target, expected);
      await request(url, { method: 'DELETE', headers: { 'mcp-session-id': s.sessionId } });
    });
  }

  // Resolution as RFC 3986 section 5 (and the SDK's client) does it. These once failed: the
  // gateway appended anything not starting with "/" to the stream URL's directory.
  for (const [variant, expected] of [
    ['query', /^\/query\/sse\?sessionId=fake-\d+$/, 'a query-only endpoint "?sessionId=…" is POSTed to "/query/?sessionId=…" instead of "/query/sse?sessionId=…"'],
    ['dotdot', /^\/up\/messages\?sessionId=fake-\d+$/, 'dot segments are not removed: "../up/messages?…" against /dotdot/sse is POSTed to "/dotdot/../up/messages?…"'],
  ]) {
    test(`${variant} endpoint reference resolves per RFC 3986 (${expected})`, async () => {
      const url = `${gw.origin}/${variant}`;
      const s = await initialize(url);
      // notifications/initialized is answered 202 before the gateway has posted it upstream.
      const posted = () => fake.posts.filter((p) => p.variant === variant);
      await waitUntil(() => posted().length >= 2, 3000, `two posts for ${variant}`).catch(() => {});
      const mine = posted();
      await request(url, { method: 'DELETE', headers: { 'mcp-session-id': s.sessionId } });
      assert.ok(mine.length >= 2, JSON.stringify(fake.posts));
      for (const p of mine) assert.match(p.target, expected);
    });
  }

  test('a network-path endpoint reference "//127.0.0.2:1/x" names another origin → -32050', async () => {
    const r = await mcpPost(`${gw.origin}/schemerel`, initializeBody(LATEST, 'sr-1'), { timeoutMs: 8000 });
    if (r.headers['mcp-session-id']) await request(`${gw.origin}/schemerel`, { method: 'DELETE', headers: { 'mcp-session-id': r.headers['mcp-session-id'] } });
    assertRequestError(r, { id: 'sr-1', code: BACKEND_DOWN, mentions: ['another origin'] });
  });

  test('404 from the message endpoint: the request gets -32050, the session ends (404/-32001), the backend stream is closed', async () => {
    const url = `${gw.origin}/forgetful`;
    const s = await initialize(url);
    const backendSession = [...fake.sessions.entries()].find(([, v]) => v.variant === 'forgetful' && !v.closed);
    assert.ok(backendSession, 'no open fake session');
    const r = await mcpPost(url, toolCall('f-1', 'echo', { text: 'x' }), { ...sessionOpts(s), timeoutMs: 8000 });
    assertRequestError(r, { id: 'f-1', code: BACKEND_DOWN, mentions: ["backend 'fake-forgetful'", 'no longer knows the session', '404'] });
    assert.ok(r.elapsedMs < 3000, `took ${r.elapsedMs} ms`);
    const later = await mcpPost(url, toolCall('f-2', 'echo', { text: 'y' }), sessionOpts(s));
    assertJsonRpcError(later, { status: 404, code: SESSION_NOT_FOUND });
    await waitUntil(() => backendSession[1].closed, 3000, 'the gateway to close the forgotten session\'s stream');
  });
});

// ---------------------------------------------------------------------------------------
describe('through the gateway to conformance-server --legacy-sse', () => {
  let backend;
  let gw;
  before(async () => {
    requireBackend();
    backend = await startConformanceBackend({ args: ['--legacy-sse'] });
    assert.match(backend.url, /^http:\/\/127\.0\.0\.1:\d+\/sse$/);
    gw = await startGateway({
      name: 'gateway-sse',
      config: {
        backends: [
          { name: 'old', sse: { url: backend.url, timeout: '10s', connect_timeout: '2s' } },
          { name: 'old-1s', sse: { url: backend.url, timeout: '1s', connect_timeout: '2s' } },
        ],
        routes: [{ path: '/mcp', backend: 'old' }, { path: '/mcp-1s', backend: 'old-1s' }],
      },
    });
  }, { timeout: 30_000 });

  const sessionInfo = async (url, s) => JSON.parse((await callTool(url, s, 'session_info', {})).message.result.content[0].text);

  test('initialize at 2025-11-25: JSON answer, a gateway session id, one new backend session', async () => {
    const before = await backendSessions(backend);
    const s = await initialize(gw.url);
    assert.equal(s.protocolVersion, LATEST);
    assert.match(s.sessionId, /^[0-9a-f]{32}$/);
    assert.match(s.response.contentType, /^application\/json/);
    assert.equal(s.result.serverInfo.name, 'mcpgw-conformance-backend');
    const info = await sessionInfo(gw.url, s);
    assert.notEqual(info.sessionId, s.sessionId);
    const now = await backendSessions(backend);
    assert.deepEqual(now.active.filter((id) => !before.active.includes(id)), [info.sessionId]);
    const log = gw.logs().find((l) => l.msg === 'session started' && l.session === s.sessionId);
    assert.equal(log?.backend, 'old', JSON.stringify(log));
    assert.equal(log?.channel, backend.url, JSON.stringify(log));
  });

  test('2024-11-05 is negotiated and its MCP-Protocol-Version header accepted on that session only', async () => {
    const s = await initialize(gw.url, { protocolVersion: LEGACY_VERSION });
    assert.equal(s.protocolVersion, LEGACY_VERSION);
    const r = await callTool(gw.url, s, 'echo', { text: 'old version' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.message?.result?.content, [{ type: 'text', text: 'old version' }], r.text);
    // A 2025-11-25 session behind the same backend does not accept the 2024-11-05 header.
    const modern = await initialize(gw.url);
    const bad = await callTool(gw.url, { ...modern, protocolVersion: LEGACY_VERSION }, 'echo', { text: 'x' });
    assertJsonRpcError(bad, { status: 400, mentions: ['2024-11-05'] });
  });

  test('progress is streamed (SSE) before the result; sampling round-trips through the backend\'s stream', async () => {
    // initialize with the sampling capability (the lib's initialize declares none).
    const body = initializeBody(LATEST, 0);
    body.params.capabilities = { sampling: {} };
    const init = await mcpPost(gw.url, body);
    assert.equal(init.messages.find((m) => m.id === 0)?.result?.protocolVersion, LATEST, init.text);
    const s = { sessionId: init.headers['mcp-session-id'], protocolVersion: LATEST };
    assert.equal((await mcpPost(gw.url, { jsonrpc: '2.0', method: 'notifications/initialized' }, sessionOpts(s))).status, 202);
    const r = await mcpPost(gw.url, toolCall('p-1', 'slow', { ms: 400, tag: 'it' }, { progressToken: 'tok-1' }), sessionOpts(s));
    assert.match(r.contentType, /^text\/event-stream/, r.text);
    assert.deepEqual(r.messages.map((m) => m.method ?? `result:${m.id}`),
      ['notifications/progress', 'notifications/progress', 'notifications/progress', 'notifications/progress', 'result:p-1']);
    assert.deepEqual(r.messages.slice(0, 4).map((m) => [m.params.progressToken, m.params.progress]), [['tok-1', 100], ['tok-1', 200], ['tok-1', 300], ['tok-1', 400]]);

    // test_sampling: the backend's sampling/createMessage arrives on the POST stream; answer it.
    let answered;
    const call = mcpPost(gw.url, toolCall('s-1', 'test_sampling', { prompt: 'two plus two?' }), {
      ...sessionOpts(s),
      onMessages: (msgs) => {
        const req = msgs.find((m) => m.method === 'sampling/createMessage');
        if (req && !answered) {
          answered = mcpPost(gw.url, { jsonrpc: '2.0', id: req.id, result: { role: 'assistant', content: { type: 'text', text: 'four' }, model: 'it', stopReason: 'endTurn' } }, sessionOpts(s));
        }
      },
    });
    const done = await call;
    assert.ok(answered, `no sampling request on the stream: ${done.text}`);
    assert.equal((await answered).status, 202);
    const result = done.messages.find((m) => m.id === 's-1');
    assert.deepEqual(result?.result?.content, [{ type: 'text', text: 'LLM response: four' }], done.text);
  });

  test('DELETE closes the backend\'s stream: the backend sees its session closed; the id is then 404', async () => {
    const s = await initialize(gw.url);
    const backendSid = (await sessionInfo(gw.url, s)).sessionId;
    const d = await request(gw.url, { method: 'DELETE', headers: { 'mcp-session-id': s.sessionId } });
    assert.ok(d.status >= 200 && d.status < 300, `DELETE: ${d.status} ${d.text}`);
    await waitUntil(async () => {
      const x = await backendSessions(backend);
      return !x.active.includes(backendSid) && x.closed.some((c) => c.id === backendSid && c.how === 'stream closed');
    }, 3000, `backend session ${backendSid} to be closed`);
    const later = await mcpPost(gw.url, { jsonrpc: '2.0', id: 2, method: 'ping' }, sessionOpts(s));
    assertJsonRpcError(later, { status: 404, code: SESSION_NOT_FOUND });
  });

  test('legacy client transport too: GET <route>/sse → endpoint; answers on the stream; closing it closes the backend session', async () => {
    const stream = await openGetStream(`${gw.url}/sse`);
    assert.equal(stream.status, 200);
    const ev = await stream.waitFor(({ events }) => events.find((e) => e.event === 'endpoint'), 5000);
    const endpoint = new URL(ev.data, gw.origin).href;
    const onStream = (id) => stream.waitFor(({ events }) => events.filter((e) => e.event === 'message').map((e) => safeJson(e.data)).find((m) => m?.id === id), 5000);
    const p = await request(endpoint, { method: 'POST', headers: JSON_CT, body: initializeBody(LEGACY_VERSION, 1) });
    assert.equal(p.status, 202, p.text);
    assert.equal((await onStream(1)).result?.protocolVersion, LEGACY_VERSION);
    assert.equal((await request(endpoint, { method: 'POST', headers: JSON_CT, body: { jsonrpc: '2.0', method: 'notifications/initialized' } })).status, 202);
    assert.equal((await request(endpoint, { method: 'POST', headers: JSON_CT, body: toolCall(2, 'session_info', {}) })).status, 202);
    const backendSid = JSON.parse((await onStream(2)).result.content[0].text).sessionId;
    assert.ok((await backendSessions(backend)).active.includes(backendSid));
    stream.close();
    await waitUntil(async () => !(await backendSessions(backend)).active.includes(backendSid), 3000, 'the backend session to close with the client stream');
  });

  test('sse.timeout 1s and a silent call (slow 3000 ms, no progressToken) → -32051 mentioning sse.timeout after ~1 s', async () => {
    const url = `${gw.origin}/mcp-1s`;
    const s = await initialize(url);
    const r = await mcpPost(url, toolCall('t-1', 'slow', { ms: 3000, tag: 'timeout-1s' }), { ...sessionOpts(s), timeoutMs: 8000 });
    assertRequestError(r, { id: 't-1', code: BACKEND_TIMEOUT, mentions: ["backend 'old-1s'", 'sse.timeout'] });
    assert.ok(r.elapsedMs >= 900 && r.elapsedMs < 2900, `took ${r.elapsedMs} ms (sse.timeout is 1 s)`);
    // The gateway cancelled the request at the backend.
    const seen = JSON.parse((await callTool(url, s, 'last_cancelled', { tag: 'timeout-1s' })).message.result.content[0].text);
    assert.equal(seen.state, 'cancelled', JSON.stringify(seen));
    assert.equal(seen.viaCancelledNotification, true, JSON.stringify(seen));
    // The session survives; with a progressToken progress keeps a longer call alive.
    const ok = await mcpPost(url, toolCall('t-2', 'slow', { ms: 1800 }, { progressToken: 'keep' }), { ...sessionOpts(s), timeoutMs: 8000 });
    const res = ok.messages.find((m) => m.id === 't-2');
    assert.deepEqual(res?.result?.content, [{ type: 'text', text: 'done' }], ok.text);
  });
});

// ---------------------------------------------------------------------------------------
// SIGKILL: the backend's connections are cut (no terminating chunk on the SSE stream);
// SIGTERM: the SDK closes its transports, so the stream ends cleanly first.
for (const signal of ['SIGKILL', 'SIGTERM']) {
  describe(`the legacy backend gets ${signal} during a call`, () => {
    let backend;
    let gw;
    let inFlightError; // error.message the in-flight call got
    before(async () => {
      requireBackend();
      backend = await startConformanceBackend({ args: ['--legacy-sse'] });
      gw = await startGateway({
        name: `gateway-sse-${signal.toLowerCase()}`,
        config: { backends: [{ name: 'doomed', sse: { url: backend.url, timeout: '10s', connect_timeout: '2s' } }], routes: [{ path: '/mcp', backend: 'doomed' }] },
      });
    }, { timeout: 30_000 });
    after(() => backend?.stop());

    test(`${signal} mid-call → the in-flight call gets -32050 quickly; the next request 404/-32001; a new session -32050`, async () => {
      const s = await initialize(gw.url);
      let killedAt;
      const r = await mcpPost(gw.url, toolCall('k-1', 'slow', { ms: 8000, tag: 'kill' }, { progressToken: 'k' }), {
        ...sessionOpts(s),
        timeoutMs: 9000,
        onMessages: (msgs) => {
          // Kill once the call is visibly running at the backend (its second progress notification).
          if (!killedAt && msgs.filter((m) => m.method === 'notifications/progress').length >= 2) {
            killedAt = Date.now();
            process.kill(backend.proc.pid, signal);
          }
        },
      });
      assert.ok(killedAt, `the call never showed progress: ${r.text}`);
      assert.equal(r.timedOut, false, `no answer for the in-flight call: ${r.text}`);
      const msg = assertRequestError(r, { id: 'k-1', code: BACKEND_DOWN, mentions: ["backend 'doomed'"] });
      inFlightError = msg.error.message;
      const latency = Date.now() - killedAt;
      assert.ok(latency < 2000, `the error came ${latency} ms after the kill: ${msg.error.message}`);
      await backend.proc.exitPromise;
      const later = await mcpPost(gw.url, { jsonrpc: '2.0', id: 'k-2', method: 'ping' }, sessionOpts(s));
      assertJsonRpcError(later, { status: 404, code: SESSION_NOT_FOUND });
      const again = await mcpPost(gw.url, initializeBody(LATEST, 'k-3'), { timeoutMs: 5000 });
      assertRequestError(again, { id: 'k-3', code: BACKEND_DOWN, mentions: ["backend 'doomed'", 'unavailable'] });
    });

    // After SIGKILL the in-flight error once read "sent an SSE event the gateway cannot use
    // (over limits.max_backend_message?)": a stream cut mid-body was taken for bad framing.
    test('the in-flight error names the real cause: the SSE stream ended, not max_backend_message', () => {
      assert.ok(inFlightError, 'the previous test did not get an error');
      assert.doesNotMatch(inFlightError, /max_backend_message/);
      assert.match(inFlightError, /(closed|lost) its SSE stream/);
    });
  });
}

// ---------------------------------------------------------------------------------------
describe('--check-config: the sse key', () => {
  const dir = makeTempDir('mcpgw-it-sse-cli-');
  const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const check = async (name, backendLines) => {
    const file = path.join(dir, `${name}.yaml`);
    writeFileSync(file, `listen: 127.0.0.1:0\nbackends:\n${backendLines.join('\n')}\nroutes:\n  - path: /mcp\n    backend: old\n`);
    return { file, ...(await runGateway(['--check-config', file])) };
  };
  const expectError = (r, line, key, message) => {
    assert.notEqual(r.code, 0, `exit code: ${r.stderr}`);
    assert.doesNotMatch(r.stdout, /: ok/);
    assert.match(r.stderr, new RegExp(`^${escape(r.file)}:${line}: ${escape(key)}: .*${message}`, 'm'), r.stderr);
  };

  test('a valid sse backend → ok', async () => {
    const r = await check('good', ['  - name: old', '    sse: { url: "http://127.0.0.1:1/sse", timeout: 30s, connect_timeout: 2s }']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), `${r.file}: ok`);
  });

  test('a backend with both http and sse → "one of http, sse or stdio"', async () => {
    const r = await check('both', ['  - name: old', '    http: { url: "http://127.0.0.1:1/mcp" }', '    sse: { url: "http://127.0.0.1:1/sse" }']);
    expectError(r, 5, 'backends[0].sse', 'one of http, sse or stdio');
  });

  test('an sse url without http:// → error naming the url', async () => {
    const r = await check('no-scheme', ['  - name: old', '    sse: { url: "127.0.0.1:1/sse" }']);
    expectError(r, 4, 'backends[0].sse.url', 'http:// or https:// URL.*"127\\.0\\.0\\.1:1/sse"');
  });

  test('an unknown key under sse', async () => {
    const r = await check('unknown', ['  - name: old', '    sse: { url: "http://127.0.0.1:1/sse", bogus: 1 }']);
    expectError(r, 4, 'backends[0].sse.bogus', 'unknown key "bogus"');
  });
});

