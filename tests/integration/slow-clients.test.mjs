// Connection-level limits against misbehaving clients, over raw TCP: header_timeout (silent,
// half a header, trickled header), body_timeout, idle_connection_timeout, max_connections.
import assert from 'node:assert/strict';
import net from 'node:net';
import { before, describe, test } from 'node:test';

import { initialize, parseRawResponse, rawExchange, request, sleep, startConformanceBackend, startGateway } from './lib.mjs';

let backend;
let gw;

// header_timeout 1s, body_timeout 1s, idle_connection_timeout 2s (distinct from header_timeout).
before(async () => {
  backend = await startConformanceBackend();
  gw = await startGateway({
    backendUrl: backend.url,
    config: { limits: { header_timeout: '1s', body_timeout: '1s', idle_connection_timeout: '2s' } },
  });
}, { timeout: 30_000 });

// Lower bound: not before the timeout (small slack for timer granularity); upper bound: the
// timeout plus generous scheduling slack on a loaded 2-core machine.
const assertClosedAround = (r, ms, what) => {
  assert.equal(r.closedByPeer, true, `${what}: the gateway did not close the connection within the test's wait; got: ${JSON.stringify(r.text.slice(0, 300))}`);
  assert.ok(r.elapsedMs >= ms - 150, `${what}: closed after ${r.elapsedMs} ms, before the ${ms} ms timeout`);
  assert.ok(r.elapsedMs <= ms + 1500, `${what}: closed after ${r.elapsedMs} ms, long after the ${ms} ms timeout`);
  // either nothing or an error status (e.g. 408) — never a success
  if (r.text) assert.ok(r.status >= 400, `${what}: unexpected response ${JSON.stringify(r.text.slice(0, 200))}`);
};

describe('limits.header_timeout 1s', { concurrency: true }, () => {
  test('a client that connects and sends nothing is disconnected after ~1 s', async () => {
    const r = await rawExchange(gw.port, { timeoutMs: 4000 });
    assertClosedAround(r, 1000, 'silent client');
  });

  test('a client that sends half a header is disconnected after ~1 s', async () => {
    const r = await rawExchange(gw.port, { data: `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${gw.port}\r\nContent-Type: appl`, timeoutMs: 4000 });
    assertClosedAround(r, 1000, 'half header');
  });

  test('a client trickling header lines (slowloris) is disconnected after ~1 s in total', async () => {
    const writes = [];
    for (let i = 0; i < 12; i++) writes.push([i * 250, `X-Trickle-${i}: ${i}\r\n`]);
    const r = await rawExchange(gw.port, { data: `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${gw.port}\r\n`, writes, timeoutMs: 4000 });
    assertClosedAround(r, 1000, 'trickled header');
  });

  test('slow clients do not block others: a normal request is served while 5 silent clients hang', async () => {
    const hangers = await Promise.all(Array.from({ length: 5 }, () => new Promise((resolve, reject) => {
      const s = net.connect({ port: gw.port, host: '127.0.0.1' }, () => resolve(s));
      s.on('error', () => {});
      s.once('error', reject);
    })));
    try {
      const r = await request(`${gw.adminUrl}/healthz`, { method: 'GET', timeoutMs: 2000 });
      assert.equal(r.status, 200);
      const s = await initialize(gw.url);
      assert.match(s.sessionId, /^[0-9a-f]{32}$/);
    } finally {
      for (const s of hangers) s.destroy();
    }
  });
});

describe('limits.body_timeout 1s', { concurrency: true }, () => {
  test('a client that sends the header and part of the body is disconnected ~1 s after the header', async () => {
    const head = `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${gw.port}\r\nContent-Type: application/json\r\n` +
      'Accept: application/json, text/event-stream\r\nContent-Length: 200\r\n\r\n{"jsonrpc":"2.0",';
    const r = await rawExchange(gw.port, { data: head, timeoutMs: 4000 });
    assertClosedAround(r, 1000, 'partial body');
  });

  test('a body trickled in small pieces is cut off after ~1 s in total', async () => {
    const head = `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${gw.port}\r\nContent-Type: application/json\r\n` +
      'Accept: application/json, text/event-stream\r\nContent-Length: 200\r\n\r\n';
    const writes = [];
    for (let i = 1; i <= 12; i++) writes.push([i * 250, ' ']);
    const r = await rawExchange(gw.port, { data: head, writes, timeoutMs: 4000 });
    assertClosedAround(r, 1000, 'trickled body');
  });
});

describe('limits.idle_connection_timeout 2s', () => {
  test('a keep-alive connection with no further request is closed ~2 s after the response', async () => {
    const req = `GET /not-a-route HTTP/1.1\r\nHost: 127.0.0.1:${gw.port}\r\n\r\n`;
    const started = Date.now();
    let responseAt;
    const r = await new Promise((resolve, reject) => {
      const sock = net.connect({ port: gw.port, host: '127.0.0.1' }, () => sock.write(req));
      let text = '';
      sock.setEncoding('latin1');
      sock.on('data', (d) => { text += d; if (!responseAt && text.includes('\r\n\r\n')) responseAt = Date.now(); });
      const timer = setTimeout(() => { sock.destroy(); resolve({ text, closed: false }); }, 5000);
      sock.on('close', () => { clearTimeout(timer); resolve({ text, closed: true, closedAt: Date.now() }); });
      sock.on('error', (err) => { if (err.code !== 'ECONNRESET') reject(err); });
    });
    const p = parseRawResponse(r.text);
    assert.equal(p.status, 404, r.text.slice(0, 300));
    assert.notEqual((p.headers.connection ?? '').toLowerCase(), 'close', 'the 404 should keep the connection alive');
    assert.ok(r.closed, 'the idle keep-alive connection was still open after 5 s');
    const idle = r.closedAt - responseAt;
    assert.ok(idle >= 1800, `closed ${idle} ms after the response: before idle_connection_timeout (2s) — header_timeout (1s) used instead?`);
    assert.ok(idle <= 3500, `closed ${idle} ms after the response, long after idle_connection_timeout (2s)`);
    assert.ok(responseAt - started < 1000);
  });

  test('a keep-alive connection that sends a second request in time is served again', async () => {
    const req = `GET /not-a-route HTTP/1.1\r\nHost: 127.0.0.1:${gw.port}\r\n\r\n`;
    const r = await rawExchange(gw.port, { data: req, writes: [[1200, req]], timeoutMs: 2000 });
    const statuses = [...r.text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
    assert.deepEqual(statuses, [404, 404], r.text.slice(0, 500));
  });
});

describe('limits.max_connections 3', () => {
  let gm;
  before(async () => {
    gm = await startGateway({ backendUrl: backend.url, name: 'gateway-max-conns', config: { limits: { max_connections: 3 } } });
  });

  test('a connection beyond the limit is closed at once; after one closes there is room again', async () => {
    const open = [];
    try {
      for (let i = 0; i < 3; i++) {
        open.push(await new Promise((resolve, reject) => {
          const s = net.connect({ port: gm.port, host: '127.0.0.1' }, () => resolve(s));
          s.on('error', () => {});
          s.once('error', reject);
        }));
      }
      await sleep(200); // let the gateway register them
      const extra = await rawExchange(gm.port, { data: `GET /x HTTP/1.1\r\nHost: 127.0.0.1:${gm.port}\r\n\r\n`, timeoutMs: 3000 });
      assert.equal(extra.closedByPeer, true, 'the 4th connection was not closed');
      assert.ok(extra.elapsedMs < 1000, `4th connection closed only after ${extra.elapsedMs} ms`);
      assert.ok(!extra.text.startsWith('HTTP/1.1 404'), `the 4th connection was served: ${extra.text.slice(0, 200)}`);
      open.pop().destroy();
      await sleep(200);
      const again = await rawExchange(gm.port, { data: `GET /x HTTP/1.1\r\nHost: 127.0.0.1:${gm.port}\r\nConnection: close\r\n\r\n`, timeoutMs: 3000 });
      assert.equal(again.status, 404, `after a slot freed up: ${JSON.stringify(again.text.slice(0, 200))}`);
    } finally {
      for (const s of open) s.destroy();
    }
  });
});
