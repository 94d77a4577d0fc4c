// Sessions and streams: the GET SSE stream (priming, one per session, reconnect), relaying of
// backend events, SSE keep-alive, DELETE (also at the backend), idle expiry and max_sessions.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';

import {
  assertJsonRpcError, backendSessions, callTool, initialize, initializeBody, mcpPost, openGetStream, request, sleep,
  startConformanceBackend, startGateway,
} from './lib.mjs';

let backend;
let gw; // defaults (sse_keepalive 15s, idle_timeout 30m)

before(async () => {
  backend = await startConformanceBackend();
  gw = await startGateway({ backendUrl: backend.url });
}, { timeout: 30_000 });

const sessionHeaders = (s) => ({ 'mcp-session-id': s.sessionId, 'mcp-protocol-version': s.protocolVersion });
const getStream = (url, s, extra = {}) => openGetStream(url, { headers: { ...sessionHeaders(s), ...extra } });
const ping = (id) => ({ jsonrpc: '2.0', id, method: 'ping' });
const backendSessionId = async (url, s) => {
  const r = await callTool(url, s, 'session_info', {});
  return JSON.parse(r.message.result.content[0].text).sessionId;
};

describe('GET stream', () => {
  test('2025-11-25 session: 200 text/event-stream, priming event "id: 0_N" + retry with empty data first', async () => {
    const s = await initialize(gw.url);
    const g = await getStream(gw.url, s);
    try {
      assert.equal(g.status, 200, g.text());
      assert.match(g.headers['content-type'] ?? '', /^text\/event-stream/);
      const first = await g.waitFor(({ events }) => events.find((e) => e.id !== undefined || e.data !== undefined), 3000);
      assert.match(first.id ?? '', /^0_\d+$/, `priming id: ${g.text()}`);
      assert.ok(Number.isInteger(first.retry) && first.retry > 0, `retry: ${g.text()}`);
      assert.ok(first.data === undefined || first.data === '', `priming data must be empty: ${g.text()}`);
    } finally {
      g.close();
    }
  });

  test('2025-06-18 session: no priming event (older clients choke on empty data)', async () => {
    const s = await initialize(gw.url, { protocolVersion: '2025-06-18' });
    const g = await getStream(gw.url, s);
    try {
      assert.equal(g.status, 200);
      // Deliver something through the stream so there is a definite point to look back from.
      const r = await callTool(gw.url, s, 'emit_logs', { via: 'get' });
      assert.equal(r.status, 200, r.text);
      await g.waitFor(({ events }) => events.some((e) => e.data?.includes('"emergency"')), 3000);
      const events = g.events().filter((e) => e.id !== undefined || e.data !== undefined || e.retry !== undefined);
      assert.ok(events[0]?.data?.length > 0, `first event must carry data, got:\n${g.text()}`);
      assert.ok(!events.some((e) => e.data === undefined || e.data === ''), `no empty-data events:\n${g.text()}`);
    } finally {
      g.close();
    }
  });

  test('backend notifications sent on its GET stream arrive on the client GET stream, in order', async () => {
    const s = await initialize(gw.url);
    const g = await getStream(gw.url, s);
    try {
      const r = await callTool(gw.url, s, 'emit_logs', { via: 'get' });
      assert.equal(r.status, 200, r.text);
      await g.waitFor(({ events }) => events.some((e) => e.data?.includes('"emergency"')), 3000);
      const levels = g.events().filter((e) => e.data).map((e) => JSON.parse(e.data)).filter((m) => m.method === 'notifications/message').map((m) => m.params.level);
      assert.deepEqual(levels, ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency']);
      const ids = g.events().filter((e) => e.id !== undefined).map((e) => e.id);
      assert.equal(new Set(ids).size, ids.length, `event ids must be unique: ${ids}`);
    } finally {
      g.close();
    }
  });

  test('a second concurrent GET on the same session → 409', async () => {
    const s = await initialize(gw.url);
    const g = await getStream(gw.url, s);
    try {
      assert.equal(g.status, 200);
      const second = await request(gw.url, { method: 'GET', headers: { accept: 'text/event-stream', ...sessionHeaders(s) }, timeoutMs: 3000 });
      assertJsonRpcError(second, { status: 409, mentions: [/stream/] });
      // the first stream is unaffected
      assert.equal(g.ended(), false);
    } finally {
      g.close();
    }
  });

  test('GET streams of different sessions do not conflict', async () => {
    const a = await initialize(gw.url);
    const b = await initialize(gw.url);
    const ga = await getStream(gw.url, a);
    const gb = await getStream(gw.url, b);
    try {
      assert.equal(ga.status, 200);
      assert.equal(gb.status, 200);
    } finally {
      ga.close();
      gb.close();
    }
  });

  test('after the client drops its GET stream, a new GET is accepted promptly (< 1.5 s, sse_keepalive 15s)', async () => {
    const s = await initialize(gw.url);
    const g = await getStream(gw.url, s);
    assert.equal(g.status, 200);
    await g.waitFor(({ events }) => events.length > 0, 2000);
    g.close();
    const deadline = Date.now() + 1500;
    let last;
    while (Date.now() < deadline) {
      await sleep(100);
      const g2 = await getStream(gw.url, s);
      last = g2.status;
      g2.close();
      if (last === 200) break;
    }
    assert.equal(last, 200, `a new GET still got ${last} 1.5 s after the previous stream was closed`);
  });
});

describe('POST stream relaying', () => {
  test('progress notifications reach the client while the call runs, before the result', async () => {
    const s = await initialize(gw.url);
    const arrivals = [];
    const started = Date.now();
    const id = 4242;
    const r = await mcpPost(gw.url, { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'slow', arguments: { ms: 800 }, _meta: { progressToken: 'p1' } } }, {
      ...{ sessionId: s.sessionId, protocolVersion: s.protocolVersion },
      onMessages: (msgs) => {
        for (const m of msgs.slice(arrivals.length)) arrivals.push({ at: Date.now() - started, m });
      },
    });
    assert.equal(r.status, 200, r.text);
    const progress = arrivals.filter((a) => a.m.method === 'notifications/progress');
    const result = arrivals.find((a) => a.m.id === id);
    assert.ok(result, r.text);
    assert.equal(progress.length, 8, r.text);
    assert.deepEqual(progress.map((p) => p.m.params.progress), [100, 200, 300, 400, 500, 600, 700, 800]);
    // the first progress (sent by the backend at ~100 ms) must arrive well before the result (~800 ms)
    assert.ok(result.at - progress[0].at >= 400, `first progress at ${progress[0].at} ms, result at ${result.at} ms: events were not streamed`);
  });

  test('all progress notifications and the result are relayed, in order, with unique event ids', async () => {
    const s = await initialize(gw.url);
    const id = 4343;
    const r = await mcpPost(gw.url, { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'slow', arguments: { ms: 300 }, _meta: { progressToken: 'p2' } } },
      { sessionId: s.sessionId, protocolVersion: s.protocolVersion });
    assert.equal(r.status, 200, r.text);
    assert.match(r.contentType, /^text\/event-stream/);
    const methods = r.messages.map((m) => m.method ?? `response:${m.id}`);
    assert.deepEqual(methods, ['notifications/progress', 'notifications/progress', 'notifications/progress', `response:${id}`], r.text);
    assert.deepEqual(r.messages.slice(0, 3).map((m) => m.params.progressToken), ['p2', 'p2', 'p2']);
    assert.deepEqual(r.messages[3].result.content, [{ type: 'text', text: 'done' }]);
    const ids = r.events.filter((e) => e.id !== undefined).map((e) => e.id);
    assert.equal(new Set(ids).size, ids.length, `event ids: ${ids}`);
  });
});

describe('SSE keep-alive (limits.sse_keepalive 300ms)', () => {
  let gka;
  before(async () => {
    gka = await startGateway({ backendUrl: backend.url, name: 'gateway-keepalive', config: { limits: { sse_keepalive: '300ms' } } });
  });

  test('an idle GET stream gets a comment line about every sse_keepalive', async () => {
    const s = await initialize(gka.url);
    const g = await getStream(gka.url, s);
    try {
      const t0 = Date.now();
      await g.waitFor(({ text }) => (text.match(/^:/gm) ?? []).length >= 2, 2500);
      const took = Date.now() - t0;
      assert.ok(took >= 400, `two keep-alives after ${took} ms: faster than sse_keepalive`);
    } finally {
      g.close();
    }
  });

  test('an idle POST stream (a slow tool call) gets keep-alive comment lines', async () => {
    const s = await initialize(gka.url);
    const r = await callTool(gka.url, s, 'slow', { ms: 1200 });
    assert.equal(r.message?.result?.content?.[0]?.text, 'done', r.text);
    const comments = (r.text.match(/^:/gm) ?? []).length;
    assert.ok(comments >= 2, `expected >= 2 comment lines during a 1.2 s silence with sse_keepalive 300ms, got ${comments}:\n${r.text}`);
  });
});

describe('DELETE', () => {
  test('→ 200; the session then answers 404 (-32001) to POST, GET and DELETE', async () => {
    const s = await initialize(gw.url);
    const d = await request(gw.url, { method: 'DELETE', headers: sessionHeaders(s) });
    assert.equal(d.status, 200, d.text);
    const p = await mcpPost(gw.url, ping(1), { sessionId: s.sessionId, protocolVersion: s.protocolVersion });
    assertJsonRpcError(p, { status: 404, code: -32001 });
    const g = await request(gw.url, { method: 'GET', headers: { accept: 'text/event-stream', ...sessionHeaders(s) }, timeoutMs: 3000 });
    assertJsonRpcError(g, { status: 404, code: -32001 });
    const d2 = await request(gw.url, { method: 'DELETE', headers: sessionHeaders(s) });
    assertJsonRpcError(d2, { status: 404, code: -32001 });
  });

  test('the backend session is deleted too', async () => {
    const s = await initialize(gw.url);
    const bid = await backendSessionId(gw.url, s);
    assert.notEqual(bid, s.sessionId, 'the backend session id must not be exposed');
    assert.ok((await backendSessions(backend)).active.includes(bid));
    const d = await request(gw.url, { method: 'DELETE', headers: sessionHeaders(s) });
    assert.equal(d.status, 200, d.text);
    let info;
    for (let i = 0; i < 30; i++) {
      info = await backendSessions(backend);
      if (info.closed.some((c) => c.id === bid)) break;
      await sleep(100);
    }
    assert.ok(!info.active.includes(bid), `backend session ${bid} still active: ${JSON.stringify(info)}`);
    assert.deepEqual(info.closed.find((c) => c.id === bid), { id: bid, how: 'delete' });
  });

  test('DELETE ends an open GET stream of that session', async () => {
    const s = await initialize(gw.url);
    const g = await getStream(gw.url, s);
    assert.equal(g.status, 200);
    const d = await request(gw.url, { method: 'DELETE', headers: sessionHeaders(s) });
    assert.equal(d.status, 200, d.text);
    await g.waitEnded(2000);
  });

  test('other sessions are unaffected by a DELETE', async () => {
    const a = await initialize(gw.url);
    const b = await initialize(gw.url);
    assert.equal((await request(gw.url, { method: 'DELETE', headers: sessionHeaders(a) })).status, 200);
    const r = await mcpPost(gw.url, ping(5), { sessionId: b.sessionId, protocolVersion: b.protocolVersion });
    assert.equal(r.status, 200, r.text);
  });
});

describe('idle expiry (session_store.idle_timeout 1s)', () => {
  let gi;
  before(async () => {
    gi = await startGateway({ backendUrl: backend.url, name: 'gateway-idle', config: { session_store: { idle_timeout: '1s' } } });
  });

  test('an idle session expires → 404 (-32001), and its backend session is deleted', async () => {
    const s = await initialize(gi.url);
    const bid = await backendSessionId(gi.url, s);
    const lastUse = Date.now();
    await gi.proc.waitForLine((w, l) => w === 'stderr' && l.includes('"session expired"') && l.includes(s.sessionId), 4000, `"session expired" log for ${s.sessionId}`);
    const idleFor = Date.now() - lastUse;
    assert.ok(idleFor >= 900, `expired after only ${idleFor} ms idle (idle_timeout 1s)`);
    const p = await mcpPost(gi.url, ping(1), { sessionId: s.sessionId, protocolVersion: s.protocolVersion });
    assertJsonRpcError(p, { status: 404, code: -32001 });
    let info;
    for (let i = 0; i < 20; i++) {
      info = await backendSessions(backend);
      if (info.closed.some((c) => c.id === bid)) break;
      await sleep(100);
    }
    assert.ok(info.closed.some((c) => c.id === bid && c.how === 'delete'), `backend session ${bid} not deleted: ${JSON.stringify(info)}`);
  });

  test('requests keep a session alive past idle_timeout', async () => {
    const s = await initialize(gi.url);
    const t0 = Date.now();
    for (let i = 0; i < 4; i++) {
      await sleep(450);
      const r = await mcpPost(gi.url, ping(10 + i), { sessionId: s.sessionId, protocolVersion: s.protocolVersion });
      assert.equal(r.status, 200, `ping after ${Date.now() - t0} ms: ${r.text}`);
    }
  });

  test('a session with a call in flight longer than idle_timeout is not expired under it', async () => {
    const s = await initialize(gi.url);
    const r = await callTool(gi.url, s, 'slow', { ms: 1600 }, { timeoutMs: 5000 });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.message?.result?.content?.[0]?.text, 'done', r.text);
    const p = await mcpPost(gi.url, ping(2), { sessionId: s.sessionId, protocolVersion: s.protocolVersion });
    assert.equal(p.status, 200, p.text);
  });
});

describe('session_store.max_sessions 2', () => {
  let gm;
  before(async () => {
    gm = await startGateway({ backendUrl: backend.url, name: 'gateway-max-sessions', config: { session_store: { max_sessions: 2 } } });
  });

  test('a third initialize → 503 naming session_store.max_sessions; after a DELETE there is room again', async () => {
    const a = await initialize(gm.url);
    await initialize(gm.url);
    const third = await mcpPost(gm.url, initializeBody());
    assertJsonRpcError(third, { status: 503, mentions: ['session_store.max_sessions'] });
    assert.equal(third.headers['mcp-session-id'], undefined);
    assert.equal((await request(gm.url, { method: 'DELETE', headers: sessionHeaders(a) })).status, 200);
    const again = await mcpPost(gm.url, initializeBody());
    assert.equal(again.status, 200, again.text);
  });
});
