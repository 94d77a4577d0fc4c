// Streams and sessions at their edges: how a server-ended GET stream is framed, taking over a
// POST stream whose reader stopped reading (Last-Event-ID), 409/400 for GETs that cannot be
// served, sessions bound to their route, HEAD framing on a kept-alive connection, max_sessions
// under concurrent initializes, a backend that negotiates an unsupported protocol version, and
// DELETE ending an in-flight call's stream.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { before, describe, test } from 'node:test';

import {
  LATEST, assertJsonRpcError, initialize, initializeBody, mcpPost, onCleanup, openGetStream, parseRawResponse,
  rawExchange, request, safeJson, sleep, startConformanceBackend, startGateway,
} from './lib.mjs';

let backend;
let gw; // defaults, route /mcp

before(async () => {
  backend = await startConformanceBackend();
  gw = await startGateway({ backendUrl: backend.url });
}, { timeout: 30_000 });

const sessionHeaders = (s) => ({ 'mcp-session-id': s.sessionId, 'mcp-protocol-version': s.protocolVersion });
const ping = (id) => ({ jsonrpc: '2.0', id, method: 'ping' });
const deleteSession = (url, s) => request(url, { method: 'DELETE', headers: sessionHeaders(s), timeoutMs: 5000 });

/**
 * GET stream through node:http that records how the response ended: 'end' (complete chunked
 * message), 'aborted', 'error'. Resolves once the headers are in.
 */
function watchedGet(url, headers, timeoutMs = 5000) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: 'GET', agent: false, headers: { accept: 'text/event-stream', ...headers } });
    const timer = setTimeout(() => { req.destroy(); reject(new Error(`GET ${url}: no response headers within ${timeoutMs} ms`)); }, timeoutMs);
    const seen = { ended: false, aborted: false, error: null, complete: undefined, text: '' };
    req.on('error', (err) => { seen.error = seen.error ?? err.code ?? err.message; if (!seen.res) { clearTimeout(timer); reject(err); } });
    req.on('response', (res) => {
      clearTimeout(timer);
      seen.res = res;
      res.setEncoding('utf8');
      let settle;
      const closed = new Promise((r) => { settle = r; });
      res.on('data', (d) => { seen.text += d; });
      res.on('end', () => { seen.ended = true; });
      res.on('aborted', () => { seen.aborted = true; });
      res.on('error', (err) => { seen.error = seen.error ?? err.code ?? err.message; });
      res.on('close', () => { seen.complete = res.complete; settle(); });
      resolve({
        status: res.statusCode,
        seen,
        text: () => seen.text,
        /** Resolves with the outcome once the response closed; rejects after ms. */
        closed: (ms) => Promise.race([
          closed.then(() => ({ ended: seen.ended, aborted: seen.aborted, error: seen.error, complete: seen.complete })),
          sleep(ms).then(() => { throw new Error(`GET stream still open after ${ms} ms; so far:\n${seen.text}`); }),
        ]),
        waitText: async (re, ms) => {
          const deadline = Date.now() + ms;
          while (!re.test(seen.text)) {
            if (Date.now() > deadline) throw new Error(`no ${re} within ${ms} ms; so far:\n${seen.text}`);
            await sleep(20);
          }
        },
        close: () => req.destroy(),
      });
    });
    req.end();
  });
}

/** Raw-TCP GET: everything the gateway sends until it closes the connection (or timeoutMs). */
function rawGetUntilClose(port, s, { onOpen, timeoutMs = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    let text = '';
    let opened = false;
    const finish = (how) => { clearTimeout(timer); sock.destroy(); resolve({ text, how }); };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    sock.setEncoding('latin1');
    sock.on('connect', () => sock.write(`GET /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\n` +
      `Mcp-Session-Id: ${s.sessionId}\r\nMCP-Protocol-Version: ${s.protocolVersion}\r\n\r\n`));
    sock.on('data', (d) => {
      text += d;
      if (!opened && /\r\n\r\n[\s\S]*id: 0_\d+/.test(text)) { opened = true; onOpen?.(); }
    });
    sock.on('end', () => finish('closed'));
    sock.on('close', () => finish('closed'));
    sock.on('error', (err) => { if (err.code === 'ECONNRESET' || err.code === 'EPIPE') finish('reset'); else { clearTimeout(timer); reject(err); } });
  });
}

// ---------------------------------------------------------------------------------------
// 1. A GET stream the server ends is a complete chunked message.

describe('GET stream ended by the server', () => {
  test('DELETE on another connection: the GET response ends cleanly (\'end\', complete, no abort/reset)', { timeout: 15_000 }, async () => {
    const s = await initialize(gw.url);
    const g = await watchedGet(gw.url, sessionHeaders(s));
    assert.equal(g.status, 200, g.text());
    await g.waitText(/id: 0_\d+/, 3000); // the priming event: the stream is running
    const d = await deleteSession(gw.url, s);
    assert.equal(d.status, 200, d.text);
    const outcome = await g.closed(3000);
    assert.deepEqual(outcome, { ended: true, aborted: false, error: null, complete: true },
      `the stream must end with the final chunk, not a dropped connection; got:\n${g.text()}`);
  });

  test('the same on the wire: the bytes end with the zero-length chunk "0\\r\\n\\r\\n"', { timeout: 15_000 }, async () => {
    const s = await initialize(gw.url);
    let deleted;
    const r = await rawGetUntilClose(gw.port, s, {
      onOpen: () => { deleted = deleteSession(gw.url, s); },
      timeoutMs: 5000,
    });
    assert.ok(deleted, `the GET stream never opened: ${JSON.stringify(r.text)}`);
    assert.equal((await deleted).status, 200);
    assert.equal(r.how, 'closed', `the gateway must close the connection after ending the stream: ${JSON.stringify(r.text)}`);
    const res = parseRawResponse(r.text);
    assert.equal(res.status, 200, r.text);
    assert.match(res.headers['transfer-encoding'] ?? '', /chunked/i, r.text);
    assert.ok(r.text.endsWith('\r\n0\r\n\r\n'), `the response must end with the last chunk; its tail: ${JSON.stringify(r.text.slice(-80))}`);
  });
});

// ---------------------------------------------------------------------------------------
// 2-4. GET with and without Last-Event-ID.

/**
 * On a 2025-11-25 session, POST tools/call slow {ms} with a progress token on a raw connection,
 * read up to the priming event, then stop reading WITHOUT closing the connection.
 * Returns { primingId, token, id, sock, text() }; the socket is destroyed at cleanup.
 */
function startSlowThenStopReading(port, s, ms) {
  const token = `tok-${randomUUID()}`;
  const id = `slow-${randomUUID()}`;
  const payload = Buffer.from(JSON.stringify({
    jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'slow', arguments: { ms }, _meta: { progressToken: token } },
  }));
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    onCleanup(() => sock.destroy());
    let text = '';
    let found = false;
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`no priming event within 5 s; got: ${text}`)); }, 5000);
    sock.setEncoding('latin1');
    sock.on('connect', () => {
      sock.write(`POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\n` +
        `Accept: application/json, text/event-stream\r\nMcp-Session-Id: ${s.sessionId}\r\n` +
        `MCP-Protocol-Version: ${s.protocolVersion}\r\nContent-Length: ${payload.length}\r\n\r\n`);
      sock.write(payload);
    });
    sock.on('data', (d) => {
      text += d;
      const m = /\nid: (\d+_0)\r?\n/.exec(text);
      if (m && !found) {
        found = true;
        clearTimeout(timer);
        sock.pause(); // still connected, no longer reading
        resolve({ primingId: m[1], token, id, sock, text: () => text });
      }
    });
    sock.on('error', (err) => { if (!found) { clearTimeout(timer); reject(err); } });
    sock.on('close', () => { if (!found) { clearTimeout(timer); reject(new Error(`connection closed before the priming event; got: ${text}`)); } });
  });
}

describe('GET with Last-Event-ID', () => {
  test('takes over a POST stream whose reader is still connected but not reading: 200, progress + result', { timeout: 15_000 }, async () => {
    const s = await initialize(gw.url);
    assert.equal(s.protocolVersion, LATEST);
    const call = await startSlowThenStopReading(gw.port, s, 1500);
    assert.match(call.primingId, /^[1-9]\d*_0$/, 'a POST stream (number > 0) primed with sequence 0');
    const r = await request(gw.url, {
      method: 'GET',
      headers: { accept: 'text/event-stream', ...sessionHeaders(s), 'last-event-id': call.primingId },
      until: (msgs) => msgs.some((m) => m && m.id === call.id && !('method' in m)),
      timeoutMs: 6000,
    });
    const where = `HTTP ${r.status} ${r.contentType} timedOut=${r.timedOut}\n${r.text}`;
    assert.equal(r.status, 200, `a resumption must take the stream over from the silent reader: ${where}`);
    assert.match(r.contentType, /^text\/event-stream/, where);
    assert.equal(r.timedOut, false, where);
    const stream = call.primingId.split('_')[0];
    const events = r.events.filter((e) => e.data !== undefined && e.data !== '');
    for (const e of events) assert.match(e.id ?? '', new RegExp(`^${stream}_\\d+$`), `event on stream ${stream}: ${where}`);
    const messages = events.map((e) => JSON.parse(e.data));
    const result = messages.find((m) => m.id === call.id);
    assert.deepEqual(result?.result?.content, [{ type: 'text', text: 'done' }], where);
    const progress = messages.filter((m) => m.method === 'notifications/progress');
    assert.ok(progress.length >= 1, `progress events on the GET stream: ${where}`);
    for (const p of progress) assert.equal(p.params.progressToken, call.token, where);
    assert.deepEqual(progress.map((p) => p.params.progress), [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1100, 1200, 1300, 1400, 1500],
      `every progress event after the priming id, in order: ${where}`);
    assert.equal(messages.at(-1).id, call.id, `the result comes last: ${where}`);
  });

  test('a plain GET while the GET stream is open → 409 pointing to Last-Event-ID', { timeout: 15_000 }, async () => {
    const s = await initialize(gw.url);
    const g = await openGetStream(gw.url, { headers: sessionHeaders(s) });
    try {
      assert.equal(g.status, 200);
      const second = await request(gw.url, { method: 'GET', headers: { accept: 'text/event-stream', ...sessionHeaders(s) }, timeoutMs: 3000 });
      assertJsonRpcError(second, { status: 409, code: -32000, mentions: ['Last-Event-ID'] });
      assert.equal(g.ended(), false, 'the open stream is unaffected');
    } finally {
      g.close();
    }
  });

  for (const bad of ['999_1', 'abc']) {
    test(`Last-Event-ID "${bad}" (no such stream) → 400 -32000 quoting it`, { timeout: 15_000 }, async () => {
      const s = await initialize(gw.url);
      const r = await request(gw.url, {
        method: 'GET', headers: { accept: 'text/event-stream', ...sessionHeaders(s), 'last-event-id': bad }, timeoutMs: 3000,
      });
      assert.equal(r.timedOut, false, `must be answered, not served as a stream: HTTP ${r.status} ${r.contentType} ${r.text}`);
      assertJsonRpcError(r, { status: 400, code: -32000, mentions: [`'${bad}'`, 'Last-Event-ID'] });
      // the session's GET stream is still free
      const g = await openGetStream(gw.url, { headers: sessionHeaders(s) });
      g.close();
      assert.equal(g.status, 200);
    });
  }
});

// ---------------------------------------------------------------------------------------
// 5. Sessions belong to their route.

describe('two routes to one backend', () => {
  test('a session from /a is unknown on /b for GET and DELETE (404 -32001) and keeps working on /a', { timeout: 20_000 }, async () => {
    const g2 = await startGateway({
      backendUrl: backend.url, name: 'gateway-two-routes',
      config: { routes: [{ path: '/a', backend: 'conf' }, { path: '/b', backend: 'conf' }] },
    });
    const a = `${g2.origin}/a`;
    const b = `${g2.origin}/b`;
    const s = await initialize(a);
    const get = await request(b, { method: 'GET', headers: { accept: 'text/event-stream', ...sessionHeaders(s) }, timeoutMs: 3000 });
    assert.equal(get.timedOut, false, `GET on /b must not open a stream: HTTP ${get.status} ${get.text}`);
    assertJsonRpcError(get, { status: 404, code: -32001 });
    const del = await request(b, { method: 'DELETE', headers: sessionHeaders(s), timeoutMs: 3000 });
    assertJsonRpcError(del, { status: 404, code: -32001 });
    const post = await mcpPost(b, ping(1), { sessionId: s.sessionId, protocolVersion: s.protocolVersion });
    assertJsonRpcError(post, { status: 404, code: -32001 });
    // still alive on its own route
    const p = await mcpPost(a, ping(2), { sessionId: s.sessionId, protocolVersion: s.protocolVersion });
    assert.equal(p.status, 200, p.text);
    assert.deepEqual(p.messages.find((m) => m?.id === 2)?.result, {}, p.text);
    const g = await openGetStream(a, { headers: sessionHeaders(s) });
    g.close();
    assert.equal(g.status, 200);
    assert.equal((await request(a, { method: 'DELETE', headers: sessionHeaders(s) })).status, 200);
  });
});

// ---------------------------------------------------------------------------------------
// 6. HEAD: headers only, and the connection stays in step.

/** Two pipelined requests on one connection; the second closes it. Returns both responses. */
async function headThenNext(port, head, next) {
  const r = await rawExchange(port, { data: head + next, timeoutMs: 5000 });
  const text = r.text;
  const i = text.indexOf('\r\n\r\n');
  assert.ok(i > 0, `no response head: ${JSON.stringify(text)}`);
  const first = parseRawResponse(text.slice(0, i + 4));
  const rest = text.slice(i + 4);
  return { r, first, rest, second: parseRawResponse(rest) };
}

describe('HEAD', () => {
  test('HEAD /healthz on the admin port: headers with Content-Length, no body; a pipelined GET gets a full 200', { timeout: 10_000 }, async () => {
    const host = `Host: 127.0.0.1:${gw.adminPort}\r\n`;
    const { r, first, rest, second } = await headThenNext(gw.adminPort,
      `HEAD /healthz HTTP/1.1\r\n${host}\r\n`,
      `GET /healthz HTTP/1.1\r\n${host}Connection: close\r\n\r\n`);
    const where = JSON.stringify(r.text);
    assert.equal(first.status, 200, where);
    assert.ok(Number(first.headers['content-length']) > 0, `HEAD carries the GET's Content-Length: ${where}`);
    assert.match(rest, /^HTTP\/1\.1 200 /, `nothing may follow the HEAD response's head but the next response: ${where}`);
    assert.equal(second.status, 200, where);
    assert.equal(second.body, '{"status":"ok"}', where);
    assert.equal(Number(second.headers['content-length']), second.body.length, where);
  });

  test('HEAD on the MCP path: 405 with Allow and Content-Length, no body; a pipelined request is answered in step', { timeout: 10_000 }, async () => {
    const host = `Host: 127.0.0.1:${gw.port}\r\n`;
    const { r, first, rest, second } = await headThenNext(gw.port,
      `HEAD /mcp HTTP/1.1\r\n${host}\r\n`,
      `GET /nope HTTP/1.1\r\n${host}Connection: close\r\n\r\n`);
    const where = JSON.stringify(r.text);
    assert.equal(first.status, 405, where);
    assert.match(first.headers.allow ?? '', /POST/, where);
    assert.ok(Number(first.headers['content-length']) > 0, where);
    assert.match(rest, /^HTTP\/1\.1 404 /, `nothing may follow the HEAD response's head but the next response: ${where}`);
    assert.equal(second.status, 404, where);
    assert.equal(Number(second.headers['content-length']), second.body.length, where);
    assert.match(second.json?.error?.message ?? '', /\/nope/, where);
  });
});

// ---------------------------------------------------------------------------------------
// 7. max_sessions holds under concurrent initializes.

describe('session_store.max_sessions 2 under concurrency', () => {
  test('6 concurrent initializes: exactly 2 sessions, 4 × 503 naming session_store.max_sessions', { timeout: 20_000 }, async () => {
    const gm = await startGateway({ backendUrl: backend.url, name: 'gateway-max2-concurrent', config: { session_store: { type: 'memory', max_sessions: 2 } } });
    const results = await Promise.all(Array.from({ length: 6 }, () => mcpPost(gm.url, initializeBody(), { timeoutMs: 8000 })));
    const summary = results.map((r) => `${r.status} ${r.headers['mcp-session-id'] ?? '-'} ${r.text.slice(0, 160)}`).join('\n');
    const ok = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status !== 200);
    assert.equal(ok.length, 2, `exactly max_sessions initializes succeed:\n${summary}`);
    for (const r of ok) {
      assert.match(r.headers['mcp-session-id'] ?? '', /^[0-9a-f]{32}$/, summary);
      assert.ok(r.messages.find((m) => m.id === 0)?.result, summary);
    }
    assert.equal(new Set(ok.map((r) => r.headers['mcp-session-id'])).size, 2, summary);
    for (const r of refused) {
      assertJsonRpcError(r, { status: 503, mentions: ['session_store.max_sessions'] });
      assert.equal(r.headers['mcp-session-id'], undefined, summary);
    }
    const ready = await request(`${gm.adminUrl}/readyz`, { method: 'GET' });
    assert.equal(ready.json?.sessions, 2, ready.text);
  });
});

// ---------------------------------------------------------------------------------------
// 8. A backend that negotiates a protocol version the gateway does not speak.

/**
 * A fake MCP backend on node:http. `onPost(msg, res)` answers POSTs (msg: the parsed body);
 * notifications get 202, DELETE 200 (and nothing else: streams the backend has open go on),
 * GET 405. Every request is recorded in `seen`; open responses are destroyed at cleanup.
 */
async function startFakeBackend(onPost) {
  const seen = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      const msg = safeJson(body);
      seen.push({ method: req.method, sessionId: req.headers['mcp-session-id'], rpc: msg?.method, at: Date.now() });
      if (req.method === 'POST' && msg && msg.method && msg.id !== undefined) {
        onPost(msg, res);
      } else if (req.method === 'POST' && msg) {
        res.writeHead(202, { 'content-length': 0 });
        res.end();
      } else if (req.method === 'DELETE') {
        res.writeHead(200, { 'content-length': 0 });
        res.end();
      } else {
        res.writeHead(405, { allow: 'POST, DELETE', 'content-length': 0 });
        res.end();
      }
    });
  });
  await new Promise((resolve, reject) => { server.once('error', reject); server.listen(0, '127.0.0.1', resolve); });
  const close = () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(() => resolve()); });
  onCleanup(close);
  return { url: `http://127.0.0.1:${server.address().port}/mcp`, seen, close };
}

const jsonReply = (res, obj, headers = {}) => {
  const out = JSON.stringify(obj);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out), ...headers });
  res.end(out);
};

/**
 * initialize → result with protocolVersion 1999-01-01 and mcp-session-id up-1, as
 * application/json or (sse) as one SSE event.
 */
function startOddBackend({ sse = false } = {}) {
  return startFakeBackend((msg, res) => {
    const result = { jsonrpc: '2.0', id: msg.id, result: { protocolVersion: '1999-01-01', capabilities: {}, serverInfo: { name: 'odd', version: '1' } } };
    if (!sse) { jsonReply(res, result, { 'mcp-session-id': 'up-1' }); return; }
    const out = `event: message\ndata: ${JSON.stringify(result)}\n\n`;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'mcp-session-id': 'up-1', 'content-length': Buffer.byteLength(out) });
    res.end(out);
  });
}

/** initialize through a gateway in front of the odd backend; returns the client's view. */
async function initializeOdd({ sse }) {
  const odd = await startOddBackend({ sse });
  const go = await startGateway({ backendUrl: odd.url, name: `gateway-odd-version-${sse ? 'sse' : 'json'}` });
  const r = await mcpPost(go.url, initializeBody(), {
    timeoutMs: 5000,
    until: (msgs) => msgs.some((m) => m && !('method' in m) && (m.id === 0 || m.error)),
  });
  const where = `HTTP ${r.status} ${r.contentType} session=${r.headers['mcp-session-id']} ${r.text}`;
  // the answer to the initialize (id 0); an error with another id is caught by the id check
  const msg = r.messages.find((m) => m && !('method' in m) && (m.id === 0 || m.error));
  return { odd, go, r, msg, where };
}

describe('backend negotiates an unsupported protocol version', () => {
  for (const sse of [false, true]) {
    const how = sse ? 'SSE' : 'JSON';
    test(`${how} answer → 200 with -32052 naming backend and version, no usable session, backend session up-1 deleted`, { timeout: 20_000 }, async () => {
      const { odd, go, r, msg, where } = await initializeOdd({ sse });
      assert.equal(r.status, 200, where);
      assert.match(r.contentType, sse ? /^text\/event-stream/ : /^application\/json/, where);
      assert.ok(msg, where);
      assert.equal(msg.result, undefined, `the unsupported result must not reach the client: ${where}`);
      assert.equal(msg.error?.code, -32052, where);
      assert.match(msg.error.message, /'conf'/, `names the backend: ${where}`);
      assert.match(msg.error.message, /1999-01-01/, `names the version: ${where}`);
      assert.equal(msg.id, 0, `the error answers the initialize (id 0): ${where}`);
      const sid = r.headers['mcp-session-id'];
      if (sid !== undefined) {
        const p = await mcpPost(go.url, ping(1), { sessionId: sid, protocolVersion: LATEST });
        assertJsonRpcError(p, { status: 404, code: -32001 });
        const g = await request(go.url, { method: 'GET', headers: { accept: 'text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': LATEST }, timeoutMs: 3000 });
        assertJsonRpcError(g, { status: 404, code: -32001 });
      }
      const deadline = Date.now() + 2000;
      while (!odd.seen.some((x) => x.method === 'DELETE') && Date.now() < deadline) await sleep(25);
      const deletes = odd.seen.filter((x) => x.method === 'DELETE');
      assert.deepEqual(deletes.map((x) => x.sessionId), ['up-1'], `the backend session must be deleted within 2 s; backend saw ${JSON.stringify(odd.seen)}`);
    });
  }

});

// ---------------------------------------------------------------------------------------
// 9. DELETE ends an in-flight call's stream.

/**
 * A backend whose tools/call answers on an SSE stream: a progress event every 100 ms and the
 * result after 3 s, whatever happens to its session meanwhile (its DELETE does not end the
 * stream, unlike the conformance backend's), so only the gateway can end the client's stream early.
 */
function startStubbornBackend() {
  return startFakeBackend((msg, res) => {
    if (msg.method === 'initialize') {
      jsonReply(res, { jsonrpc: '2.0', id: msg.id, result: { protocolVersion: LATEST, capabilities: { tools: {} }, serverInfo: { name: 'stubborn', version: '1' } } },
        { 'mcp-session-id': 'up-2' });
      return;
    }
    if (msg.method !== 'tools/call') { jsonReply(res, { jsonrpc: '2.0', id: msg.id, result: {} }); return; }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const token = msg.params?._meta?.progressToken;
    let elapsed = 0;
    const tick = setInterval(() => {
      elapsed += 100;
      if (elapsed < 3000) {
        if (token !== undefined) res.write(`event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: token, progress: elapsed, total: 3000 } })}\n\n`);
        return;
      }
      clearInterval(tick);
      res.end(`event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { content: [{ type: 'text', text: 'done' }] } })}\n\n`);
    }, 100);
    res.on('close', () => clearInterval(tick));
  });
}

describe('DELETE during an in-flight SSE call', () => {
  test('the POST stream of a 3 s call ends within 1 s of the DELETE, though the backend keeps streaming', { timeout: 15_000 }, async () => {
    const stubborn = await startStubbornBackend();
    const gs = await startGateway({ backendUrl: stubborn.url, name: 'gateway-stubborn' });
    const s = await initialize(gs.url);
    const id = `slow-${randomUUID()}`;
    const started = Date.now();
    let progressBeforeDelete = 0;
    let deletedAt;
    const post = mcpPost(gs.url, { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'slow', arguments: { ms: 3000 }, _meta: { progressToken: 'del' } } }, {
      sessionId: s.sessionId, protocolVersion: s.protocolVersion, timeoutMs: 8000,
      onMessages: (msgs) => { if (deletedAt === undefined) progressBeforeDelete = msgs.filter((m) => m.method === 'notifications/progress').length; },
    });
    await sleep(300);
    deletedAt = Date.now();
    const d = await request(gs.url, { method: 'DELETE', headers: sessionHeaders(s), timeoutMs: 5000 });
    assert.equal(d.status, 200, d.text);
    const r = await post;
    const endedAt = started + r.elapsedMs;
    const where = `HTTP ${r.status} ${r.contentType}, ${progressBeforeDelete} progress events before the DELETE, ended ${endedAt - deletedAt} ms after it (${r.elapsedMs} ms in all) timedOut=${r.timedOut}\n${r.text}`;
    assert.equal(r.status, 200, where);
    assert.match(r.contentType, /^text\/event-stream/, where);
    assert.ok(progressBeforeDelete >= 1, `the call was streaming when the DELETE came: ${where}`);
    assert.equal(r.timedOut, false, where);
    assert.ok(endedAt - deletedAt < 1000, `the stream must end promptly after the DELETE: ${where}`);
    assert.ok(r.elapsedMs < 2500, `well before the call's 3 s: ${where}`);
    assert.equal(r.messages.find((m) => m && m.id === id)?.result, undefined, `the call did not complete: ${where}`);
    assert.deepEqual(stubborn.seen.filter((x) => x.method === 'DELETE').map((x) => x.sessionId), ['up-2'], `the backend session was deleted: ${JSON.stringify(stubborn.seen)}`);
  });
});
