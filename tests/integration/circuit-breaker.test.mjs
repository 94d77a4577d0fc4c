// The circuit_breaker filter against the real binary: a backend that fails (HTTP 500, no
// JSON-RPC answer) trips its breaker after consecutive failures; calls are then refused at
// once, naming the backend and the wait; after open_for one probe goes through, and a backend
// that recovered closes the breaker again. Tool results with isError never count.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import { callTool, initialize, sleep, startGateway } from './lib.mjs';

// A minimal Streamable HTTP MCP server answering JSON; `failing` makes tools/call answer 500.
let failing = false;
let callsSeen = 0;
const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    if (req.method !== 'POST') { res.writeHead(405).end(); return; }
    const msg = JSON.parse(body);
    if (!('id' in msg)) { res.writeHead(202).end(); return; }
    const reply = (result) => {
      res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'flaky-1' });
      res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result }));
    };
    if (msg.method === 'initialize') {
      reply({ protocolVersion: msg.params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: 'flaky', version: '1' } });
    } else if (msg.method === 'tools/call') {
      callsSeen++;
      if (failing) { res.writeHead(500, { 'content-type': 'text/plain' }).end('down'); return; }
      reply({ content: [{ type: 'text', text: 'ok' }], isError: msg.params.name === 'broken_tool' });
    } else {
      reply({});
    }
  });
});

let gw;
before(async () => {
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  gw = await startGateway({
    backendUrl: `http://127.0.0.1:${server.address().port}/mcp`,
    name: 'gateway-breaker',
    config: { filters: [{ circuit_breaker: { consecutive_failures: 3, open_for: '1s', half_open_probes: 1 } }] },
  });
}, { timeout: 20_000 });

after(async () => {
  await gw?.stop();
  server.close();
});

describe('circuit_breaker', () => {
  test('isError tool results do not trip it; three backend failures do; then calls are refused without reaching the backend; a recovered backend closes it', async () => {
    const s = await initialize(gw.url);
    for (let i = 0; i < 5; i++) {
      const r = await callTool(gw.url, s, 'broken_tool');
      assert.equal(r.message?.result?.isError, true, r.text);
    }
    failing = true;
    for (let i = 0; i < 3; i++) {
      const r = await callTool(gw.url, s, 'echo');
      assert.equal(r.message?.error?.code, -32052, r.text);
    }
    const before = callsSeen;
    const refused = await callTool(gw.url, s, 'echo');
    assert.equal(refused.message?.error?.code, -32050, refused.text);
    assert.match(refused.message.error.message,
      /^backend 'conf' is failing and the gateway stopped sending it calls \(circuit open\); it will be tried again in \d\.\d s$/);
    assert.equal(callsSeen, before, 'the backend saw nothing while the circuit was open');

    await sleep(1100);
    const probeFails = await callTool(gw.url, s, 'echo');
    assert.equal(probeFails.message?.error?.code, -32052, 'the probe reached the still-failing backend');
    const reopened = await callTool(gw.url, s, 'echo');
    assert.match(reopened.message?.error?.message ?? '', /circuit open/, reopened.text);

    failing = false;
    await sleep(1100);
    const probe = await callTool(gw.url, s, 'echo');
    assert.equal(probe.message?.result?.content?.[0]?.text, 'ok', probe.text);
    const after = await callTool(gw.url, s, 'echo');
    assert.equal(after.message?.result?.content?.[0]?.text, 'ok', after.text);
    assert.ok(gw.logs().some((l) => l.msg === 'circuit breaker' && l.state === 'open'));
    assert.ok(gw.logs().some((l) => l.msg === 'circuit breaker' && l.state === 'closed'));
  });
});
