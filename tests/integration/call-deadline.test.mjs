// limits.max_call_duration: a backend's `timeout` bounds its silence and progress restarts
// it, so a call that keeps reporting progress would otherwise run without end. The maximum
// ends it with -32051 naming both deadlines, on an HTTP (SSE) backend and a stdio backend.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { BACKEND_SCRIPT, NODE_BIN, mcpPost, initialize, requireBackend, startConformanceBackend, startGateway } from './lib.mjs';

let backend;
let gw;
before(async () => {
  requireBackend();
  backend = await startConformanceBackend();
  gw = await startGateway({
    backendUrl: backend.url,
    name: 'gateway-call-deadline',
    config: {
      limits: { max_call_duration: '1s' },
      backends: [
        { name: 'conf', http: { url: backend.url, timeout: '10s' } },
        { name: 'conf-stdio', stdio: { command: [NODE_BIN, BACKEND_SCRIPT, '--stdio'], timeout: '10s', pool: { warm: 0 } } },
      ],
      routes: [{ path: '/mcp', backend: 'conf' }, { path: '/mcp-stdio', backend: 'conf-stdio' }],
    },
  });
}, { timeout: 30_000 });

after(async () => {
  await gw?.stop();
  await backend?.stop();
});

// A 4 s call reporting progress every 100 ms: never silent for `timeout` (10 s).
async function longCall(url) {
  const s = await initialize(url);
  const t0 = Date.now();
  const r = await mcpPost(url, { jsonrpc: '2.0', id: 'long', method: 'tools/call', params: { name: 'slow', arguments: { ms: 4000 }, _meta: { progressToken: 'p' } } },
    { sessionId: s.sessionId, protocolVersion: s.protocolVersion, timeoutMs: 8000 });
  return { r, elapsed: Date.now() - t0, answer: r.messages.find((m) => m.id === 'long') };
}

describe('limits.max_call_duration 1s', () => {
  for (const [kind, path] of [['HTTP (SSE) backend', '/mcp'], ['stdio backend', '/mcp-stdio']]) {
    test(`${kind}: a call that keeps reporting progress ends after ~1 s with -32051`, async () => {
      const { r, elapsed, answer } = await longCall(`${gw.origin}${path}`);
      assert.equal(r.status, 200, r.text);
      assert.ok(r.messages.some((m) => m.method === 'notifications/progress'), 'progress reached the client first');
      assert.equal(answer?.error?.code, -32051, r.text);
      assert.match(answer.error.message, /limits\.max_call_duration 1000 ms in all/);
      assert.ok(elapsed >= 900 && elapsed < 3000, `ended after ${elapsed} ms`);
    });
  }
});
