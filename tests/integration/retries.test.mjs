// Retries of safe methods: a backend that answers 503 (or is not there) gets initialize,
// ping and the list methods again, with back-off; tools/call is never sent twice unless the
// backend's http.retry.tools_call says so.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import { callTool, initialize, mcpPost, startGateway } from './lib.mjs';

// Answers 503 to the next `failNext` requests of each method, then like an MCP server.
const failNext = new Map();
const seen = new Map();
const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    const msg = JSON.parse(body || '{}');
    seen.set(msg.method, (seen.get(msg.method) ?? 0) + 1);
    if ((failNext.get(msg.method) ?? 0) > 0) {
      failNext.set(msg.method, failNext.get(msg.method) - 1);
      res.writeHead(503, { 'content-type': 'text/plain' }).end('busy');
      return;
    }
    if (!('id' in msg)) { res.writeHead(202).end(); return; }
    const result = msg.method === 'initialize'
      ? { protocolVersion: msg.params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: 'busy', version: '1' } }
      : msg.method === 'tools/list' ? { tools: [{ name: 'echo', inputSchema: { type: 'object' } }] }
        : { content: [{ type: 'text', text: 'ok' }] };
    res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'busy-1' });
    res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result }));
  });
});

let gw;
let gwCalls;
before(async () => {
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}/mcp`;
  gw = await startGateway({
    backendUrl: url,
    name: 'gateway-retries',
    config: { backends: [{ name: 'conf', http: { url, retry: { attempts: 3, backoff: '50ms' } } }] },
  });
  gwCalls = await startGateway({
    backendUrl: url,
    name: 'gateway-retries-calls',
    config: { backends: [{ name: 'conf', http: { url, retry: { attempts: 2, backoff: '50ms', tools_call: true } } }] },
  });
}, { timeout: 20_000 });

after(async () => {
  await gw?.stop();
  await gwCalls?.stop();
  server.close();
});

describe('retries of safe methods', () => {
  test('initialize and tools/list answered 503 twice succeed on the third try', async () => {
    failNext.set('initialize', 2);
    seen.clear();
    const s = await initialize(gw.url);
    assert.equal(seen.get('initialize'), 3);
    failNext.set('tools/list', 2);
    const r = await mcpPost(gw.url, { jsonrpc: '2.0', id: 'l', method: 'tools/list' },
      { sessionId: s.sessionId, protocolVersion: s.protocolVersion });
    assert.equal(r.messages.find((m) => m.id === 'l')?.result?.tools?.[0]?.name, 'echo', r.text);
    assert.equal(seen.get('tools/list'), 3);
  });

  test('more failures than attempts: the client gets the error after exactly `attempts` tries', async () => {
    const s = await initialize(gw.url);
    failNext.set('tools/list', 5);
    seen.clear();
    const r = await mcpPost(gw.url, { jsonrpc: '2.0', id: 'l2', method: 'tools/list' },
      { sessionId: s.sessionId, protocolVersion: s.protocolVersion });
    assert.equal(r.messages.find((m) => m.id === 'l2')?.error?.code, -32052, r.text);
    assert.equal(seen.get('tools/list'), 3);
    failNext.set('tools/list', 0);
  });

  test('tools/call is sent once, unless tools_call is set for the backend', async () => {
    const s = await initialize(gw.url);
    failNext.set('tools/call', 1);
    seen.clear();
    const once = await callTool(gw.url, s, 'echo');
    assert.equal(once.message?.error?.code, -32052, once.text);
    assert.equal(seen.get('tools/call'), 1, 'a tools/call must not run twice');

    const c = await initialize(gwCalls.url);
    failNext.set('tools/call', 1);
    seen.clear();
    const retried = await callTool(gwCalls.url, c, 'echo');
    assert.equal(retried.message?.result?.content?.[0]?.text, 'ok', retried.text);
    assert.equal(seen.get('tools/call'), 2);
  });
});
