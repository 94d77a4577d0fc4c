// Stream ownership and session edges: server-ended GET streams end cleanly, a resumption takes
// a stream over, Last-Event-ID and route checks, HEAD, max_sessions under concurrency, a
// backend negotiating a version the gateway does not speak, DELETE during an in-flight call.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import {
  LATEST, initialize, initializeBody, mcpPost, openGetStream, rawExchange, request, sleep,
  startConformanceBackend, startGateway,
} from './lib.mjs';

const sessionHeaders = (s) => ({ 'mcp-session-id': s.sessionId, 'mcp-protocol-version': s.protocolVersion });

/** GET a stream and report how it ended: 'clean' (complete chunked body) or 'broken'. */
function getAndWatchEnd(url, headers) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: 'GET', agent: false,
      headers: { accept: 'text/event-stream', ...headers } });
    req.on('error', reject);
    req.on('response', (res) => {
      let text = '';
      let settled = false;
      const finish = (how) => { if (!settled) { settled = true; resolveEnd({ how, text }); } };
      let resolveEnd;
      const ended = new Promise((r) => { resolveEnd = r; });
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => finish(res.complete ? 'clean' : 'broken'));
      res.on('aborted', () => finish('broken'));
      res.on('error', () => finish('broken'));
      resolve({ status: res.statusCode, ended, text: () => text });
    });
    req.end();
  });
}

/** POST tools/call slow on a raw connection; resolves with the priming id and the live response. */
function postSlow(url, s, ms, id) {
  const u = new URL(url);
  const body = JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'slow', arguments: { ms }, _meta: { progressToken: `p-${id}` } } });
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', agent: false,
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'content-length': Buffer.byteLength(body), ...sessionHeaders(s) } });
    req.on('error', reject);
    req.on('response', (res) => {
      let text = '';
      let resolved = false;
      const ended = new Promise((r) => { res.on('end', () => r(text)); res.on('aborted', () => r(text)); res.on('error', () => r(text)); });
      res.setEncoding('utf8');
      res.on('data', (d) => {
        text += d;
        const m = /^id: (\S+)$/m.exec(text);
        if (m && !resolved) { resolved = true; resolve({ primingId: m[1], res, req, ended, text: () => text }); }
      });
    });
    req.end(body);
  });
}

let backend;
before(async () => { backend = await startConformanceBackend(); });

describe('GET streams and resumption', () => {
  let gw;
  before(async () => { gw = await startGateway({ backendUrl: backend.url, name: 'gw-streams' }); });
  after(() => gw?.stop());

  test('a GET stream the server ends (session deleted) ends with a complete chunked body', async () => {
    const s = await initialize(gw.url);
    const stream = await getAndWatchEnd(gw.url, sessionHeaders(s));
    assert.equal(stream.status, 200);
    await sleep(100);
    const del = await request(gw.url, { method: 'DELETE', headers: sessionHeaders(s) });
    assert.equal(del.status, 200);
    const { how } = await Promise.race([stream.ended, sleep(3000).then(() => ({ how: 'still open' }))]);
    assert.equal(how, 'clean');
  });

  test('a plain second GET gets 409 naming Last-Event-ID', async () => {
    const s = await initialize(gw.url);
    const first = await openGetStream(gw.url, { headers: sessionHeaders(s) });
    assert.equal(first.status, 200);
    const second = await request(gw.url, { method: 'GET', headers: { accept: 'text/event-stream', ...sessionHeaders(s) } });
    assert.equal(second.status, 409, second.text);
    assert.match(second.text, /Last-Event-ID/);
    first.close();
  });

  test('a resumption takes over a POST stream whose reader stopped reading', async () => {
    const s = await initialize(gw.url);
    const call = await postSlow(gw.url, s, 1500, 'take-1');
    assert.match(call.primingId, /^\d+_0$/);
    call.res.pause(); // connected but not reading: the gateway cannot tell it is gone
    const resumed = await openGetStream(gw.url, { headers: { ...sessionHeaders(s), 'last-event-id': call.primingId } });
    assert.equal(resumed.status, 200, 'previously 409: the stream counted as attached');
    const result = await resumed.waitFor(({ events }) => events.map((e) => { try { return JSON.parse(e.data); } catch { return null; } })
      .find((m) => m && m.id === 'take-1' && m.result), 5000);
    assert.deepEqual(result.result.content, [{ type: 'text', text: 'done' }]);
    const progress = resumed.events().filter((e) => /notifications\/progress/.test(e.data ?? ''));
    assert.ok(progress.length >= 3, `progress on the resumed stream: ${progress.length}`);
    resumed.close();
    call.req.destroy();
  });

  test('a Last-Event-ID naming no stream of the session gets 400 quoting it', async () => {
    const s = await initialize(gw.url);
    for (const id of ['999_1', 'abc']) {
      const r = await request(gw.url, { method: 'GET', headers: { accept: 'text/event-stream', 'last-event-id': id, ...sessionHeaders(s) } });
      assert.equal(r.status, 400, r.text);
      const body = JSON.parse(r.text);
      assert.equal(body.error.code, -32000);
      assert.ok(body.error.message.includes(`'${id}'`), body.error.message);
    }
  });

  test('DELETE during an in-flight call ends its stream promptly', async () => {
    const s = await initialize(gw.url);
    const call = await postSlow(gw.url, s, 3000, 'cut-1');
    await sleep(300);
    const deletedAt = Date.now();
    const del = await request(gw.url, { method: 'DELETE', headers: sessionHeaders(s) });
    assert.equal(del.status, 200);
    await Promise.race([call.ended, sleep(2500).then(() => { throw new Error('POST stream still open 2.5 s after DELETE'); })]);
    assert.ok(Date.now() - deletedAt < 1500, `ended ${Date.now() - deletedAt} ms after DELETE`);
  });
});

describe('sessions belong to their route', () => {
  let gw;
  before(async () => {
    gw = await startGateway({ backendUrl: backend.url, name: 'gw-routes',
      config: { routes: [{ path: '/a', backend: 'conf' }, { path: '/b', backend: 'conf' }] } });
  });
  after(() => gw?.stop());

  test('GET and DELETE with the session id on another route get 404; the session lives on', async () => {
    const a = `${gw.origin}/a`;
    const b = `${gw.origin}/b`;
    const s = await initialize(a);
    const get = await request(b, { method: 'GET', headers: { accept: 'text/event-stream', ...sessionHeaders(s) } });
    assert.equal(get.status, 404, get.text);
    assert.equal(JSON.parse(get.text).error.code, -32001);
    const del = await request(b, { method: 'DELETE', headers: sessionHeaders(s) });
    assert.equal(del.status, 404, del.text);
    const ping = await mcpPost(a, { jsonrpc: '2.0', id: 'p', method: 'ping' }, { sessionId: s.sessionId, protocolVersion: s.protocolVersion });
    assert.deepEqual(ping.messages.find((m) => m.id === 'p')?.result, {}, ping.text);
  });
});

describe('HEAD', () => {
  let gw;
  before(async () => { gw = await startGateway({ backendUrl: backend.url, name: 'gw-head' }); });
  after(() => gw?.stop());

  test('HEAD answers carry headers and no body, so the next pipelined answer is intact', async () => {
    const r = await rawExchange(gw.adminPort, {
      data: 'HEAD /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n',
    });
    const answers = r.text.split(/(?=HTTP\/1\.1 )/);
    assert.equal(answers.length, 2, r.text);
    assert.match(answers[0], /^HTTP\/1\.1 200/);
    assert.match(answers[0], /Content-Length: [1-9]/i);
    assert.ok(answers[0].endsWith('\r\n\r\n'), `HEAD answer has a body: ${JSON.stringify(answers[0])}`);
    assert.match(answers[1], /^HTTP\/1\.1 200[\s\S]*\r\n\r\n\{"status":"ok"\}$/);

    const mcp = await rawExchange(gw.port, {
      data: 'HEAD /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n',
    });
    const two = mcp.text.split(/(?=HTTP\/1\.1 )/);
    assert.equal(two.length, 2, mcp.text);
    assert.match(two[0], /^HTTP\/1\.1 405/);
    assert.ok(two[0].endsWith('\r\n\r\n'), two[0]);
    assert.match(two[1], /^HTTP\/1\.1 404/);
  });
});

describe('max_sessions under concurrent initializes', () => {
  let gw;
  before(async () => {
    gw = await startGateway({ backendUrl: backend.url, name: 'gw-max', config: { session_store: { type: 'memory', max_sessions: 2 } } });
  });
  after(() => gw?.stop());

  test('six at once: exactly two sessions, four 503 naming the limit', async () => {
    const all = await Promise.all(Array.from({ length: 6 }, (_, i) => mcpPost(gw.url, initializeBody(LATEST, i))));
    const ok = all.filter((r) => r.status === 200 && r.headers['mcp-session-id']);
    const refused = all.filter((r) => r.status === 503);
    assert.equal(ok.length, 2, all.map((r) => r.status).join(','));
    assert.equal(refused.length, 4);
    for (const r of refused) assert.match(r.text, /session_store\.max_sessions/);
  });
});

describe('a backend that negotiates a version the gateway does not speak', () => {
  let fake;
  let gw;
  const deletes = [];
  before(async () => {
    fake = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d) => { body += d; });
      req.on('end', () => {
        if (req.method === 'DELETE') {
          deletes.push(req.headers['mcp-session-id']);
          res.writeHead(200).end();
          return;
        }
        const msg = JSON.parse(body);
        if (msg.method === 'initialize') {
          res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'up-1' });
          res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { protocolVersion: '1999-01-01', capabilities: {}, serverInfo: { name: 'odd', version: '1' } } }));
          return;
        }
        res.writeHead(202).end();
      });
    });
    await new Promise((r) => fake.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${fake.address().port}/mcp`;
    gw = await startGateway({ backendUrl: url, name: 'gw-odd',
      config: { backends: [{ name: 'odd-one', http: { url, timeout: '5s' } }], routes: [{ path: '/mcp', backend: 'odd-one' }] } });
  });
  after(async () => { await gw?.stop(); fake?.close(); });

  test('the client gets -32052 naming backend and version; the upstream session is deleted', async () => {
    const r = await mcpPost(gw.url, initializeBody(LATEST, 'i1'));
    assert.equal(r.status, 200, r.text);
    const msg = r.messages.find((m) => m.id === 'i1');
    assert.equal(msg?.error?.code, -32052, r.text);
    assert.match(msg.error.message, /'odd-one'/);
    assert.match(msg.error.message, /1999-01-01/);
    const sid = r.headers['mcp-session-id'];
    if (sid) {
      const ping = await mcpPost(gw.url, { jsonrpc: '2.0', id: 'p', method: 'ping' }, { sessionId: sid });
      assert.equal(ping.status, 404, 'the failed session must not be usable');
    }
    for (let i = 0; i < 40 && deletes.length === 0; i++) await sleep(50);
    assert.deepEqual(deletes, ['up-1']);
  });
});
