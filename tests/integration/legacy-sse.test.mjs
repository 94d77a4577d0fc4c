// The legacy HTTP+SSE transport (MCP 2024-11-05) on the client side, seen raw: GET
// <route>/sse opens a session's stream whose first event names the message endpoint;
// POST <route>/message?sessionId=<id> is answered 202 at once and every reply goes on the
// stream as `event: message`. Every error path of both endpoints (400/404/405/406/415/403,
// -32700/-32600), the messages on the stream (initialize at 2024-11-05, requests before
// initialize, a second initialize, batches), keep-alive comments, idle expiry while the
// stream is open, the end of the session with its stream (HTTP backend session DELETEd,
// stdio process ended), max_sessions and SIGTERM.
//
// One conformance backend; one gateway with an HTTP route (/mcp) and a stdio route
// (/mcp-stdio, the same backend as one process per session), plus small gateways for
// max_sessions and shutdown.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  BACKEND_SCRIPT, LATEST, NODE_BIN, assertJsonRpcError, backendSessions, childPids, initialize, mcpPost, openGetStream,
  procStat, request, requireBackend, safeJson, sleep, startConformanceBackend, startGateway, waitUntil,
} from './lib.mjs';

const LEGACY_VERSION = '2024-11-05';
const SESSION_ID = /^[0-9a-f]{32}$/;
const JSON_CT = { 'content-type': 'application/json' };
const ROUTES = [
  { label: 'HTTP backend', route: '/mcp', kind: 'http' },
  { label: 'stdio backend', route: '/mcp-stdio', kind: 'stdio' },
];

let backend;
let gw;

/** Both routes; idle_timeout 1s (an open stream must keep a session), keep-alive 300ms. */
function gatewayConfig(extra = {}) {
  return {
    backends: [
      { name: 'conf', http: { url: backend.url, timeout: '10s', connect_timeout: '2s' } },
      { name: 'conf-stdio', stdio: { command: [NODE_BIN, BACKEND_SCRIPT, '--stdio'], pool: { warm: 1, max: 20 }, timeout: '10s' } },
    ],
    routes: [{ path: '/mcp', backend: 'conf' }, { path: '/mcp-stdio', backend: 'conf-stdio' }],
    ...extra,
  };
}

before(async () => {
  requireBackend();
  backend = await startConformanceBackend();
  gw = await startGateway({
    config: gatewayConfig({ session_store: { idle_timeout: '1s' }, limits: { sse_keepalive: '300ms' } }),
  });
}, { timeout: 30_000 });

// ---------------------------------------------------------------------------------------
// Helpers.

const messageEvents = (events) => events.filter((e) => e.event === 'message' && e.data !== undefined);

/**
 * GET <route>/sse on `g` and wait for the endpoint event. Returns the stream plus
 * { endpoint (absolute URL), sessionId, post(body, headers), messages(), waitMessage(pred) }.
 */
async function openLegacy(g, route, { headers = {} } = {}) {
  const stream = await openGetStream(`${g.origin}${route}/sse`, { headers });
  assert.equal(stream.status, 200, `GET ${route}/sse: ${stream.status} ${stream.text()}`);
  const ev = await stream.waitFor(({ events }) => events.find((e) => e.event === 'endpoint'), 5000);
  const endpoint = new URL(ev.data, g.origin);
  const l = {
    stream,
    endpointEvent: ev,
    endpoint: endpoint.href,
    sessionId: endpoint.searchParams.get('sessionId'),
    post: (body, hdrs = JSON_CT) => request(endpoint.href, { method: 'POST', headers: hdrs, body }),
    /** The JSON-RPC messages on the stream so far. */
    messages: () => messageEvents(stream.events()).map((e) => safeJson(e.data)),
    waitMessage: (pred, ms = 5000) => stream.waitFor(({ events }) => messageEvents(events).map((e) => safeJson(e.data)).find((m) => m && pred(m)), ms),
    close: () => stream.close(),
  };
  return l;
}

const response = (id) => (m) => m.id === id && !('method' in m);

/** initialize (+ notifications/initialized) over a legacy session; returns the result. */
async function legacyInitialize(l, { protocolVersion = LEGACY_VERSION, id = 0 } = {}) {
  const r = await l.post({ jsonrpc: '2.0', id, method: 'initialize', params: { protocolVersion, capabilities: {}, clientInfo: { name: 'mcpgw-integration-legacy', version: '0.0.0' } } });
  assert.equal(r.status, 202, `initialize POST: ${r.status} ${r.text}`);
  const msg = await l.waitMessage(response(id), 10_000);
  assert.ok(msg.result, `initialize failed: ${JSON.stringify(msg)}`);
  const ack = await l.post({ jsonrpc: '2.0', method: 'notifications/initialized' });
  assert.equal(ack.status, 202, `notifications/initialized: ${ack.status} ${ack.text}`);
  return msg.result;
}

let nextId = 100;
/** A request on a legacy session: 202 for the POST, then its response from the stream. */
async function legacyCall(l, method, params = {}, ms = 10_000) {
  const id = nextId++;
  const r = await l.post({ jsonrpc: '2.0', id, method, params });
  assert.equal(r.status, 202, `${method}: ${r.status} ${r.text}`);
  return l.waitMessage(response(id), ms);
}

async function openInitialized(t, g, route) {
  const l = await openLegacy(g, route);
  t.after(() => l.close());
  await legacyInitialize(l);
  return l;
}

const ping = (id = 1) => ({ jsonrpc: '2.0', id, method: 'ping' });
const unknownId = () => [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, '0')).join('');

/** Poll with a ping until the legacy endpoint answers 404 (the session ended). */
const waitSessionGone = (l, ms = 3000) => waitUntil(async () => {
  const r = await request(l.endpoint, { method: 'POST', headers: JSON_CT, body: ping(9) });
  return r.status === 404 ? r : undefined;
}, ms, `POST ${l.endpoint} to get 404`);

// ---------------------------------------------------------------------------------------
describe('GET <route>/sse: the stream', () => {
  for (const { label, route } of ROUTES) {
    test(`${label}: 200 text/event-stream, first event "endpoint" naming ${route}/message?sessionId=<32 hex>, no event id`, async (t) => {
      const l = await openLegacy(gw, route);
      t.after(() => l.close());
      assert.match(l.stream.headers['content-type'], /^text\/event-stream/);
      assert.match(l.stream.headers['cache-control'] ?? '', /no-cache/);
      const [first] = l.stream.events();
      assert.equal(first.event, 'endpoint');
      assert.equal(first.id, undefined, 'the legacy transport has no event ids');
      assert.match(first.data, new RegExp(`^${route}/message\\?sessionId=[0-9a-f]{32}$`));
      assert.match(l.sessionId, SESSION_ID);
      // nothing else before the client says anything
      await sleep(200);
      assert.deepEqual(l.messages(), []);
    });
  }

  test('every stream is its own session (distinct ids)', async (t) => {
    const ls = await Promise.all([openLegacy(gw, '/mcp'), openLegacy(gw, '/mcp'), openLegacy(gw, '/mcp-stdio')]);
    t.after(() => ls.forEach((l) => l.close()));
    assert.equal(new Set(ls.map((l) => l.sessionId)).size, 3);
  });

  test('Accept without text/event-stream → 406; no Accept and Accept */* are fine', async (t) => {
    const r = await request(`${gw.origin}/mcp/sse`, { method: 'GET', headers: { accept: 'application/json' }, timeoutMs: 3000 });
    assertJsonRpcError(r, { status: 406, mentions: ['text/event-stream'] });
    for (const accept of [undefined, '*/*']) {
      const l = await openLegacy(gw, '/mcp', { headers: accept ? { accept } : {} });
      t.after(() => l.close());
      assert.match(l.sessionId, SESSION_ID, `Accept ${accept}`);
    }
  });

  test('an idle stream gets keep-alive comments (limits.sse_keepalive 300ms)', async (t) => {
    const l = await openInitialized(t, gw, '/mcp');
    const before = l.stream.text();
    await sleep(1100);
    const comments = l.stream.text().slice(before.length).split('\n').filter((line) => line.startsWith(':')).length;
    assert.ok(comments >= 2, `expected >= 2 comment lines in 1.1 s of silence, got ${comments}:\n${l.stream.text().slice(before.length)}`);
    assert.deepEqual((await legacyCall(l, 'ping')).result, {}, 'the session still answers');
  });

  test('an open stream keeps the session alive past session_store.idle_timeout (1s)', async (t) => {
    const ls = await Promise.all(ROUTES.map(({ route }) => openInitialized(t, gw, route)));
    await sleep(2500);
    for (const l of ls) {
      assert.deepEqual((await legacyCall(l, 'ping')).result, {}, l.endpoint);
      assert.equal(l.stream.ended(), false);
    }
  });

  for (const method of ['POST', 'DELETE', 'PUT']) {
    test(`${method} <route>/sse → 405 with Allow: GET`, async () => {
      const r = await request(`${gw.origin}/mcp/sse`, { method, headers: JSON_CT, body: method === 'DELETE' ? undefined : ping() });
      assertJsonRpcError(r, { status: 405, mentions: [method, 'GET'] });
      assert.equal(r.headers.allow, 'GET');
    });
  }
});

// ---------------------------------------------------------------------------------------
describe('POST <route>/message: errors', () => {
  let l; // an initialized session on /mcp
  before(async () => {
    l = await openLegacy(gw, '/mcp');
    await legacyInitialize(l);
  });
  after(() => l?.close());

  test('no sessionId → 400 (-32000) naming sessionId and the /sse endpoint', async () => {
    for (const q of ['', '?sessionId=', '?session=abc', `?foo=1&sessionid=${l.sessionId}`]) {
      const r = await request(`${gw.origin}/mcp/message${q}`, { headers: JSON_CT, body: ping() });
      assertJsonRpcError(r, { status: 400, code: -32000, mentions: ['sessionId', '/mcp/sse'] });
    }
  });

  test('the sessionId may come with other query parameters', async () => {
    const r = await request(`${gw.origin}/mcp/message?x=1&sessionId=${l.sessionId}&y=2`, { headers: JSON_CT, body: ping(11) });
    assert.equal(r.status, 202, r.text);
    await l.waitMessage(response(11));
  });

  test('unknown sessionId → 404 (-32001)', async () => {
    for (const id of [unknownId(), 'not-hex', l.sessionId.toUpperCase()]) {
      const r = await request(`${gw.origin}/mcp/message?sessionId=${id}`, { headers: JSON_CT, body: ping() });
      assertJsonRpcError(r, { status: 404, code: -32001, mentions: ['/mcp/sse'] });
    }
  });

  test('a Streamable HTTP session id is not a legacy session → 404', async () => {
    const s = await initialize(gw.url);
    const r = await request(`${gw.origin}/mcp/message?sessionId=${s.sessionId}`, { headers: JSON_CT, body: ping() });
    assertJsonRpcError(r, { status: 404, code: -32001 });
    await request(gw.url, { method: 'DELETE', headers: { 'mcp-session-id': s.sessionId } });
  });

  test('a session belongs to its route: the same id on another route\'s endpoint → 404', async () => {
    const r = await request(`${gw.origin}/mcp-stdio/message?sessionId=${l.sessionId}`, { headers: JSON_CT, body: ping() });
    assertJsonRpcError(r, { status: 404, code: -32001, mentions: ['/mcp-stdio/sse'] });
  });

  for (const method of ['GET', 'PUT', 'DELETE', 'PATCH']) {
    test(`${method} <route>/message → 405 with Allow: POST`, async () => {
      const r = await request(l.endpoint, { method, timeoutMs: 3000 });
      assertJsonRpcError(r, { status: 405, mentions: [method, 'POST'] });
      assert.equal(r.headers.allow, 'POST');
    });
  }

  test('Content-Type other than application/json → 415; with parameters it is accepted', async () => {
    for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'text/event-stream']) {
      const r = await l.post(ping(), { 'content-type': ct });
      assertJsonRpcError(r, { status: 415, mentions: ['Content-Type', ct] });
    }
    const none = await request(l.endpoint, { headers: {}, body: JSON.stringify(ping()) });
    assertJsonRpcError(none, { status: 415, mentions: ['Content-Type'] });
    const ok = await l.post(ping(12), { 'content-type': 'application/json; charset=utf-8' });
    assert.equal(ok.status, 202, ok.text);
    await l.waitMessage(response(12));
  });

  test('malformed JSON → 400 (-32700); nothing goes on the stream; the session still works', async () => {
    const before = l.messages().length;
    for (const body of ['{"jsonrpc":', 'not json', '{"jsonrpc":"2.0","id":1,"method":"ping"']) {
      const r = await l.post(body);
      assertJsonRpcError(r, { status: 400, code: -32700 });
    }
    assert.deepEqual((await legacyCall(l, 'ping')).result, {});
    assert.equal(l.messages().length, before + 1, `only the ping answer: ${JSON.stringify(l.messages().slice(before))}`);
  });

  test('valid JSON that is not JSON-RPC (no jsonrpc, empty batch) → 400 (-32600)', async () => {
    for (const body of [{ foo: 1 }, [], { jsonrpc: '1.0', id: 1, method: 'ping' }]) {
      const r = await l.post(body);
      assertJsonRpcError(r, { status: 400, code: -32600 });
    }
  });

  test('Host/Origin not allowed → 403 on GET /sse and on POST /message', async () => {
    const g = await request(`${gw.origin}/mcp/sse`, { method: 'GET', headers: { accept: 'text/event-stream', host: 'evil.example.com' }, timeoutMs: 3000 });
    assertJsonRpcError(g, { status: 403, mentions: ['evil.example.com'] });
    const g2 = await request(`${gw.origin}/mcp/sse`, { method: 'GET', headers: { accept: 'text/event-stream', origin: 'http://evil.example.com' }, timeoutMs: 3000 });
    assertJsonRpcError(g2, { status: 403, mentions: ['Origin'] });
    const p = await l.post(ping(), { ...JSON_CT, origin: 'http://evil.example.com' });
    assertJsonRpcError(p, { status: 403, mentions: ['Origin'] });
    const ok = await l.post(ping(13), { ...JSON_CT, origin: gw.origin });
    assert.equal(ok.status, 202, ok.text);
    await l.waitMessage(response(13));
  });
});

// ---------------------------------------------------------------------------------------
describe('messages on the stream', () => {
  for (const { label, route, kind } of ROUTES) {
    test(`${label}: a request before initialize → 202, then -32600 on the stream with its id`, async (t) => {
      const l = await openLegacy(gw, route);
      t.after(() => l.close());
      const r = await l.post({ jsonrpc: '2.0', id: 'early', method: 'tools/list' });
      assert.equal(r.status, 202, r.text);
      const m = await l.waitMessage(response('early'));
      assert.equal(m.error?.code, -32600, JSON.stringify(m));
      assert.match(m.error.message, /initialize/);
      // initialize still works afterwards
      await legacyInitialize(l);
    });

    test(`${label}: initialize at ${LEGACY_VERSION} negotiates ${LEGACY_VERSION}; a second initialize → -32600`, async (t) => {
      const l = await openLegacy(gw, route);
      t.after(() => l.close());
      const result = await legacyInitialize(l);
      assert.equal(result.protocolVersion, LEGACY_VERSION);
      assert.deepEqual(result.serverInfo, { name: 'mcpgw-conformance-backend', version: '1.0.0' });
      const again = await legacyCall(l, 'initialize', { protocolVersion: LEGACY_VERSION, capabilities: {}, clientInfo: { name: 'x', version: '0' } });
      assert.equal(again.error?.code, -32600, JSON.stringify(again));
      assert.match(again.error.message, /already initialized/);
      const info = JSON.parse((await legacyCall(l, 'tools/call', { name: 'session_info', arguments: {} })).result.content[0].text);
      assert.equal(info.protocolVersion, LEGACY_VERSION, 'the backend negotiated 2024-11-05 too');
      assert.equal(info.transport, kind);
    });

    test(`${label}: initialize at ${LATEST} negotiates ${LATEST}`, async (t) => {
      const l = await openLegacy(gw, route);
      t.after(() => l.close());
      assert.equal((await legacyInitialize(l, { protocolVersion: LATEST })).protocolVersion, LATEST);
    });

    test(`${label}: a batch (requests + a notification) → one 202, every answer on the stream`, async (t) => {
      const l = await openInitialized(t, gw, route);
      const before = l.messages().length;
      const r = await l.post([
        { jsonrpc: '2.0', id: 'b1', method: 'ping' },
        { jsonrpc: '2.0', method: 'notifications/roots/list_changed' },
        { jsonrpc: '2.0', id: 'b2', method: 'tools/call', params: { name: 'echo', arguments: { text: 'batched ✓' } } },
      ]);
      assert.equal(r.status, 202, r.text);
      assert.equal(r.text, 'Accepted');
      assert.deepEqual((await l.waitMessage(response('b1'))).result, {});
      assert.deepEqual((await l.waitMessage(response('b2'))).result, { content: [{ type: 'text', text: 'batched ✓' }] });
      await sleep(200);
      assert.equal(l.messages().length, before + 2, JSON.stringify(l.messages().slice(before)));
    });

    test(`${label}: progress notifications and the result come on the stream in order`, async (t) => {
      const l = await openInitialized(t, gw, route);
      const before = l.messages().length;
      const m = await legacyCall(l, 'tools/call', { name: 'slow', arguments: { ms: 300, tag: 'L' }, _meta: { progressToken: 'tok-1' } });
      assert.deepEqual(m.result, { content: [{ type: 'text', text: 'done' }] });
      const got = l.messages().slice(before);
      assert.deepEqual(got.slice(0, 3).map((x) => [x.method, x.params?.progressToken, x.params?.progress]),
        [100, 200, 300].map((p) => ['notifications/progress', 'tok-1', p]));
      assert.equal(got.length, 4, JSON.stringify(got));
    });

    test(`${label}: a server→client request (sampling) on the stream, answered by a POST (202)`, async (t) => {
      const l = await openLegacy(gw, route);
      t.after(() => l.close());
      const init = await l.post({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: LEGACY_VERSION, capabilities: { sampling: {} }, clientInfo: { name: 'legacy-sampler', version: '0' } } });
      assert.equal(init.status, 202);
      await l.waitMessage(response(0));
      assert.equal((await l.post({ jsonrpc: '2.0', method: 'notifications/initialized' })).status, 202);
      const id = nextId++;
      assert.equal((await l.post({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'test_sampling', arguments: { prompt: 'raw?' } } })).status, 202);
      const req = await l.waitMessage((m) => m.method === 'sampling/createMessage');
      assert.ok(req.id !== undefined);
      assert.deepEqual(req.params.messages, [{ role: 'user', content: { type: 'text', text: 'raw?' } }]);
      const ans = await l.post({ jsonrpc: '2.0', id: req.id, result: { role: 'assistant', content: { type: 'text', text: 'raw!' }, model: 'm' } });
      assert.equal(ans.status, 202, ans.text);
      const res = await l.waitMessage(response(id));
      assert.deepEqual(res.result, { content: [{ type: 'text', text: 'LLM response: raw!' }] });
    });
  }
});

// ---------------------------------------------------------------------------------------
describe('the session ends with its stream', () => {
  test('HTTP backend: closing the stream → POST 404 (-32001), the backend session is DELETEd', async (t) => {
    const l = await openInitialized(t, gw, '/mcp');
    const info = JSON.parse((await legacyCall(l, 'tools/call', { name: 'session_info', arguments: {} })).result.content[0].text);
    const closed = Date.now();
    l.close();
    const r = await waitSessionGone(l);
    assertJsonRpcError(r, { status: 404, code: -32001, mentions: ['/mcp/sse'] });
    await waitUntil(async () => {
      const s = await backendSessions(backend);
      return s.closed.some((x) => x.id === info.sessionId && x.how === 'delete') && !s.active.includes(info.sessionId);
    }, 5000, `backend session ${info.sessionId} to be DELETEd`);
    t.diagnostic(`ended ${Date.now() - closed} ms after the stream closed`);
  });

  test('stdio backend: closing the stream → POST 404, the session\'s process ends', async (t) => {
    const l = await openInitialized(t, gw, '/mcp-stdio');
    const pid = Number((await legacyCall(l, 'tools/call', { name: 'pid', arguments: {} })).result.content[0].text);
    assert.equal(procStat(pid)?.ppid, gw.proc.pid, `process ${pid} is not the gateway's child`);
    l.close();
    await waitSessionGone(l);
    await waitUntil(() => !childPids(gw.proc.pid).includes(pid), 5000, `process ${pid} to end`);
  });

  test('stdio backend: closing the stream during a call ends the session (POST 404) and its process', async (t) => {
    const l = await openInitialized(t, gw, '/mcp-stdio');
    const pid = Number((await legacyCall(l, 'tools/call', { name: 'pid', arguments: {} })).result.content[0].text);
    assert.equal((await l.post({ jsonrpc: '2.0', id: 'long', method: 'tools/call', params: { name: 'slow', arguments: { ms: 5000 } } })).status, 202);
    await sleep(200);
    l.close();
    await waitSessionGone(l);
    await waitUntil(() => !childPids(gw.proc.pid).includes(pid), 5000, `process ${pid} to end`);
  });

  test('a legacy session id is unknown on the Streamable HTTP endpoint (POST, GET, DELETE → 404); the stream is unaffected',
    async (t) => {
      const l = await openInitialized(t, gw, '/mcp');
      const headers = { 'mcp-session-id': l.sessionId, 'mcp-protocol-version': LATEST };
      const p = await mcpPost(gw.url, ping(21), { headers });
      assert.equal(p.status, 404, `POST /mcp with a legacy session id: ${p.status} ${p.text}`);
      const g = await request(gw.url, { method: 'GET', headers: { ...headers, accept: 'text/event-stream', 'last-event-id': '0_1' }, timeoutMs: 1000 });
      assert.equal(g.status, 404, `GET /mcp (Last-Event-ID) with a legacy session id: ${g.status}`);
      const d = await request(gw.url, { method: 'DELETE', headers });
      assert.equal(d.status, 404, `DELETE /mcp with a legacy session id: ${d.status}`);
      assert.equal(l.stream.ended(), false, 'the legacy stream was ended');
      assert.deepEqual((await legacyCall(l, 'ping')).result, {});
    });
});

// ---------------------------------------------------------------------------------------
describe('limits and shutdown', () => {
  test('session_store.max_sessions counts legacy sessions: GET /sse → 503 when full, room again once a stream closes', async (t) => {
    const g = await startGateway({ name: 'gateway-max1', config: gatewayConfig({ session_store: { max_sessions: 1 } }) });
    t.after(() => g.stop());
    const a = await openLegacy(g, '/mcp');
    const full = await request(`${g.origin}/mcp/sse`, { method: 'GET', headers: { accept: 'text/event-stream' }, timeoutMs: 3000 });
    assertJsonRpcError(full, { status: 503, mentions: ['max_sessions'] });
    const streamable = await mcpPost(g.url, { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: LATEST, capabilities: {}, clientInfo: { name: 'x', version: '0' } } });
    assert.equal(streamable.status, 503, `a Streamable HTTP initialize while the legacy session holds the only slot: ${streamable.status}`);
    a.close();
    await waitSessionGone(a);
    const b = await openLegacy(g, '/mcp');
    b.close();
  });

  test('SIGTERM: open legacy streams end, the gateway exits 0 promptly and leaves no child', async (t) => {
    const g = await startGateway({ name: 'gateway-sigterm', config: gatewayConfig({ shutdown_grace: '2s' }) });
    let stopped = false;
    t.after(() => { if (!stopped) return g.stop(); });
    const ls = [];
    for (const { route } of ROUTES) {
      const l = await openLegacy(g, route);
      t.after(() => l.close());
      await legacyInitialize(l);
      ls.push(l);
    }
    const started = Date.now();
    process.kill(g.proc.pid, 'SIGTERM');
    await Promise.all(ls.map((l) => l.stream.waitEnded(5000)));
    const { code, signal } = await g.proc.exitPromise;
    stopped = true;
    const took = Date.now() - started;
    assert.equal(code, 0, `exit code ${code} signal ${signal}`);
    assert.ok(took < 4000, `exit took ${took} ms`);
    assert.deepEqual(childPids(g.proc.pid), []);
  });
});
