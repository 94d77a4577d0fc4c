// Backend failures: a backend that is down (-32050), one that never answers and one that is
// too slow (-32051 within about http.timeout), and a backend that dies under a live session.
// The error is a JSON-RPC error for the request (HTTP 200) whose message names the backend.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';

import {
  callTool, closedPort, initialize, initializeBody, mcpPost, request, startConformanceBackend, startGateway, startSilentServer,
} from './lib.mjs';

const BACKEND_DOWN = -32050;
const BACKEND_TIMEOUT = -32051;

/** The JSON-RPC error answering request `id` (JSON body or SSE), with HTTP 200. */
function assertBackendError(r, { id, code, backendName }) {
  const where = `HTTP ${r.status} ${r.contentType} body=${r.text}`;
  assert.equal(r.status, 200, where);
  const msg = r.messages.find((m) => m && m.id === id && !('method' in m));
  assert.ok(msg, `no response with id ${JSON.stringify(id)}: ${where}`);
  assert.equal(msg.jsonrpc, '2.0', where);
  assert.ok(msg.error, `expected an error: ${where}`);
  assert.equal(msg.error.code, code, where);
  assert.match(msg.error.message, new RegExp(backendName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), `message should name backend "${backendName}": ${where}`);
  return msg;
}

describe('backend down (connection refused)', () => {
  let gw;
  before(async () => {
    const port = await closedPort();
    gw = await startGateway({
      backendUrl: `http://127.0.0.1:${port}/mcp`,
      name: 'gateway-down',
      config: { backends: [{ name: 'search-v2', http: { url: `http://127.0.0.1:${port}/mcp`, timeout: '5s', connect_timeout: '2s' } }], routes: [{ path: '/mcp', backend: 'search-v2' }] },
    });
  });

  test('initialize → 200 with JSON-RPC error -32050 naming the backend, promptly', async () => {
    const r = await mcpPost(gw.url, initializeBody('2025-11-25', 'init-1'), { timeoutMs: 5000 });
    assertBackendError(r, { id: 'init-1', code: BACKEND_DOWN, backendName: 'search-v2' });
    assert.ok(r.elapsedMs < 2500, `took ${r.elapsedMs} ms for a refused connection`);
    assert.equal(r.headers['mcp-session-id'], undefined, 'no session for a failed initialize');
  });

  test('the gateway stays healthy while the backend is down', async () => {
    const h = await request(`${gw.adminUrl}/healthz`, { method: 'GET' });
    assert.equal(h.status, 200);
  });
});

describe('backend dies under a live session', () => {
  let backend;
  let gw;
  let session;
  before(async () => {
    backend = await startConformanceBackend();
    gw = await startGateway({
      backendUrl: backend.url,
      name: 'gateway-dies',
      config: { backends: [{ name: 'flaky-one', http: { url: backend.url, timeout: '5s', connect_timeout: '2s' } }], routes: [{ path: '/mcp', backend: 'flaky-one' }] },
    });
    session = await initialize(gw.url);
    const ok = await callTool(gw.url, session, 'echo', { text: 'before' });
    assert.equal(ok.message?.result?.content?.[0]?.text, 'before', ok.text);
    await backend.stop();
  });

  test('a tools/call → 200 with -32050 naming the backend, for that request id', async () => {
    const r = await callTool(gw.url, session, 'echo', { text: 'after' }, { id: 'after-1', timeoutMs: 8000 });
    assertBackendError(r, { id: 'after-1', code: BACKEND_DOWN, backendName: 'flaky-one' });
    assert.ok(r.elapsedMs < 4000, `took ${r.elapsedMs} ms`);
  });

  test('the gateway survives its reconnect attempts to the dead backend GET stream', async () => {
    // The backend GET stream ended with the backend; the gateway retries it after 1 s, 2 s, ...
    // and each attempt fails. (A null exchange after a failed attempt once crashed it here.)
    await new Promise((r) => setTimeout(r, 3500));
    assert.equal(gw.proc.exited ?? false, false, `gateway exited:\n${gw.diagnostics()}`);
    const health = await request(`${gw.adminUrl}/healthz`, { method: 'GET' });
    assert.equal(health.status, 200);
    const r = await callTool(gw.url, session, 'echo', { text: 'later' }, { id: 'after-2', timeoutMs: 8000 });
    assertBackendError(r, { id: 'after-2', code: BACKEND_DOWN, backendName: 'flaky-one' });
  });
});

describe('backend never answers (accepts, then silence; http.timeout 1s)', () => {
  let silent;
  let gw;
  before(async () => {
    silent = await startSilentServer();
    gw = await startGateway({
      backendUrl: silent.url,
      name: 'gateway-silent',
      config: { backends: [{ name: 'hung-backend', http: { url: silent.url, timeout: '1s', connect_timeout: '1s' } }], routes: [{ path: '/mcp', backend: 'hung-backend' }] },
    });
  });

  test('initialize → 200 with -32051 naming the backend after about 1 s', async () => {
    const r = await mcpPost(gw.url, initializeBody('2025-11-25', 7), { timeoutMs: 6000 });
    assertBackendError(r, { id: 7, code: BACKEND_TIMEOUT, backendName: 'hung-backend' });
    assert.ok(r.elapsedMs >= 900, `answered after ${r.elapsedMs} ms, before the 1 s timeout`);
    assert.ok(r.elapsedMs < 3000, `answered after ${r.elapsedMs} ms, long after the 1 s timeout`);
    assert.ok(silent.accepted() >= 1, 'the gateway never connected to the silent backend');
  });
});

describe('backend too slow (slow tool, http.timeout 1s)', () => {
  let backend;
  let gw;
  let session;
  before(async () => {
    backend = await startConformanceBackend();
    gw = await startGateway({
      backendUrl: backend.url,
      name: 'gateway-slow',
      config: { backends: [{ name: 'slowpoke', http: { url: backend.url, timeout: '1s' } }], routes: [{ path: '/mcp', backend: 'slowpoke' }] },
    });
    session = await initialize(gw.url);
  });

  test('a tools/call that takes 4 s → 200 with -32051 naming the backend after about 1 s', async () => {
    const r = await callTool(gw.url, session, 'slow', { ms: 4000 }, { id: 'slow-1', timeoutMs: 6000 });
    assertBackendError(r, { id: 'slow-1', code: BACKEND_TIMEOUT, backendName: 'slowpoke' });
    assert.ok(r.elapsedMs >= 900, `answered after ${r.elapsedMs} ms, before the 1 s timeout`);
    assert.ok(r.elapsedMs < 3000, `answered after ${r.elapsedMs} ms, long after the 1 s timeout`);
  });

  test('a call faster than the timeout on the same session still succeeds afterwards', async () => {
    const r = await callTool(gw.url, session, 'echo', { text: 'still alive' }, { timeoutMs: 5000 });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.message?.result?.content, [{ type: 'text', text: 'still alive' }], r.text);
  });

  test('events reset the timeout: a 1.5 s call with progress every 100 ms completes', async () => {
    const id = 'prog-1';
    const r = await mcpPost(gw.url, { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'slow', arguments: { ms: 1500 }, _meta: { progressToken: 'keep' } } },
      { sessionId: session.sessionId, protocolVersion: session.protocolVersion, timeoutMs: 6000 });
    assert.equal(r.status, 200, r.text);
    const msg = r.messages.find((m) => m.id === id);
    assert.deepEqual(msg?.result?.content, [{ type: 'text', text: 'done' }], r.text);
  });
});
