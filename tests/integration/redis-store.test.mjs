// The Redis session store: two gateway replicas share one real redis-server (started here on
// a free loopback port). A session created on one replica continues on the other, from its
// record; DELETE on one ends it on both; a killed or stopped replica does not end the
// sessions the other can serve; Redis outages and restarts give 503s and clean 404s, never
// a hang.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import {
  backendSessions, callTool, initialize, mcpPost, openGetStream, request, sleep, startConformanceBackend,
  startGateway, startRedis, waitUntil,
} from './lib.mjs';

const digest = (key) => `sha256:${createHash('sha256').update(key).digest('hex')}`;
const KEY_A = 'redis-test-key-alpha-0123456789';
const KEY_B = 'redis-test-key-beta-9876543210';

let redis;
let backend;
const gateways = [];

async function replica(name, extra = {}) {
  const idle = name.startsWith('gateway-short-ttl') ? '1s' : '10m';
  const gw = await startGateway({
    backendUrl: `${backend.url}`,
    name,
    config: {
      session_store: {
        type: 'redis', url: redis.url, key_prefix: 'it:', cache_ttl: '100ms', idle_timeout: idle,
        timeout: '300ms', connect_timeout: '300ms',
      },
      routes: [{ path: '/mcp', backend: 'conf' }, { path: '/other', backend: 'conf' }],
      ...extra,
    },
  });
  gateways.push(gw);
  return gw;
}

const backendSessionId = async (url, s, opts = {}) => {
  const r = await callTool(url, s, 'session_info', {}, opts);
  assert.equal(r.status, 200, r.text);
  return JSON.parse(r.message.result.content[0].text).sessionId;
};

let gwA;
let gwB;
before(async () => {
  redis = await startRedis();
  backend = await startConformanceBackend();
  gwA = await replica('gateway-a');
  gwB = await replica('gateway-b');
}, { timeout: 30_000 });

after(async () => {
  for (const gw of gateways) await gw.stop();
  await backend?.stop();
  await redis?.stop();
});

describe('sessions shared through Redis', () => {
  test('a session created on replica A is served by replica B, alternately, on one backend session', async () => {
    const s = await initialize(gwA.url);
    const seen = new Set();
    for (let i = 0; i < 6; i++) {
      const url = i % 2 ? gwA.url : gwB.url;
      seen.add(await backendSessionId(url, s));
    }
    assert.equal(seen.size, 1, `one backend session, got ${[...seen]}`);
    const list = await mcpPost(gwB.url, { jsonrpc: '2.0', id: 7, method: 'tools/list' },
      { sessionId: s.sessionId, protocolVersion: s.protocolVersion });
    assert.equal(list.status, 200, list.text);
    assert.ok(list.messages[0].result.tools.length > 0);
    assert.ok(gwB.logs().some((l) => l.msg === 'session taken up from the session store' && l.session === s.sessionId));
  });

  test('the record is under key_prefix with a TTL of idle_timeout', async () => {
    const s = await initialize(gwA.url);
    const ttl = Number(await redis.cli('PTTL', `it:session:${s.sessionId}`));
    assert.ok(ttl > 9 * 60_000 && ttl <= 10 * 60_000, `PTTL ${ttl}`);
  });

  test('DELETE on B ends the session on A too (within cache_ttl) and deletes the backend session once', async () => {
    const s = await initialize(gwA.url);
    const bid = await backendSessionId(gwA.url, s);
    await backendSessionId(gwB.url, s); // B holds it too now
    const d = await request(gwB.url, { method: 'DELETE', headers: { 'mcp-session-id': s.sessionId, 'mcp-protocol-version': s.protocolVersion } });
    assert.equal(d.status, 200, d.text);
    assert.equal(await redis.cli('EXISTS', `it:session:${s.sessionId}`), '0');
    await sleep(150); // A's cached copy is re-checked after cache_ttl
    const r = await callTool(gwA.url, s, 'session_info', {});
    assert.equal(r.status, 404, r.text);
    await waitUntil(async () => !(await backendSessions(backend)).active.includes(bid), 3000, 'backend session deleted');
  });

  test('an id that is in no record answers 404 on every replica', async () => {
    const s = { sessionId: 'f'.repeat(32), protocolVersion: '2025-11-25' };
    for (const gw of [gwA, gwB]) {
      const r = await callTool(gw.url, s, 'session_info', {});
      assert.equal(r.status, 404, r.text);
    }
  });

  test('a session taken to another route of the other replica does not exist there', async () => {
    const s = await initialize(gwA.url);
    const r = await callTool(`${gwB.origin}/other`, s, 'session_info', {});
    assert.equal(r.status, 404, r.text);
  });

  test('SIGKILL of the replica that created a session does not end it: the other serves it', async () => {
    const gwC = await replica('gateway-c');
    const s = await initialize(gwC.url);
    const bid = await backendSessionId(gwC.url, s);
    process.kill(gwC.proc.pid, 'SIGKILL');
    await gwC.proc.exitPromise;
    assert.equal(await backendSessionId(gwB.url, s), bid);
  });

  test('a replica stopped with SIGTERM leaves the sessions it served to the others', async () => {
    const gwD = await replica('gateway-d');
    const s = await initialize(gwD.url);
    const bid = await backendSessionId(gwD.url, s);
    const { code } = await gwD.stop();
    assert.equal(code, 0);
    assert.ok((await backendSessions(backend)).active.includes(bid), 'backend session still open');
    assert.equal(await backendSessionId(gwA.url, s), bid);
  });

  test('/readyz reports the store', async () => {
    const r = await request(`${gwA.adminUrl}/readyz`, { method: 'GET' });
    assert.equal(r.status, 200, r.text);
  });
});

describe('Redis outages', () => {
  test('while Redis is stopped: known sessions keep working, unknown ones get 503, /readyz fails; none hangs', async () => {
    const s = await initialize(gwA.url);
    await backendSessionId(gwA.url, s);
    redis.pause();
    try {
      await sleep(150);
      let t = Date.now();
      const known = await callTool(gwA.url, s, 'session_info', {});
      assert.equal(known.status, 200, known.text);
      assert.ok(Date.now() - t < 2000, `took ${Date.now() - t} ms`);
      t = Date.now();
      const unknown = await callTool(gwB.url, s, 'session_info', {});
      assert.equal(unknown.status, 503, unknown.text);
      assert.equal(unknown.headers['retry-after'], '1');
      assert.match(unknown.text, /session store is unavailable/);
      assert.ok(Date.now() - t < 2000, `took ${Date.now() - t} ms`);
      const ready = await request(`${gwB.adminUrl}/readyz`, { method: 'GET' });
      assert.equal(ready.status, 503, ready.text);
      assert.match(ready.text, /session store unreachable/);
    } finally {
      redis.resume();
    }
    await waitUntil(async () => (await callTool(gwB.url, s, 'session_info', {})).status === 200, 5000, 'B serves the session again');
  });

  test('a session started while Redis was stopped is recorded once Redis is back: both replicas serve it', async () => {
    redis.pause();
    let s;
    try {
      s = await initialize(gwA.url); // answered from this replica; its record could not be written
      assert.ok(gwA.logs().some((l) => l.msg === 'session not recorded in the session store; it works on this replica only' && l.session === s.sessionId));
    } finally {
      redis.resume();
    }
    await sleep(150); // past cache_ttl: A checks the store again and writes the record
    const onA = await callTool(gwA.url, s, 'session_info', {});
    assert.equal(onA.status, 200, onA.text);
    const onB = await callTool(gwB.url, s, 'session_info', {});
    assert.equal(onB.status, 200, onB.text);
  });

  test('a Redis restart without persistence: sessions end with clean 404s and the client re-initializes', async () => {
    const s = await initialize(gwA.url);
    await backendSessionId(gwB.url, s);
    await redis.restart();
    await sleep(150);
    for (const gw of [gwA, gwB]) {
      let r;
      // The first command after the restart may find the old connection gone (503 on a
      // lookup); within a second every replica answers 404.
      await waitUntil(async () => { r = await callTool(gw.url, s, 'session_info', {}); return r.status === 404; }, 3000, `404 from ${gw.proc.name}`);
    }
    const again = await initialize(gwB.url);
    assert.ok(await backendSessionId(gwA.url, again));
  });
});

describe('a session busy only with its GET stream', () => {
  test('keeps its record past idle_timeout: a POST after it is served, also by another replica', async () => {
    const short = await replica('gateway-short-ttl', {});
    const other = await replica('gateway-short-ttl-2', {});
    for (const gw of [short, other]) assert.ok(gw);
    const s = await initialize(short.url);
    const g = await openGetStream(short.url, { headers: { 'mcp-session-id': s.sessionId, 'mcp-protocol-version': s.protocolVersion } });
    try {
      assert.equal(g.status, 200);
      await sleep(1600); // idle_timeout 1s: without the sweep's refresh the record would be gone
      assert.equal(await redis.cli('EXISTS', `it:session:${s.sessionId}`), '1');
      const r = await callTool(other.url, s, 'session_info', {});
      assert.equal(r.status, 200, r.text);
    } finally {
      g.close();
    }
  });
});

describe('sessions bound to a principal across replicas', () => {
  let gwE;
  let gwF;
  before(async () => {
    const auth = {
      tenants: [{ name: 'alpha', api_keys: [digest(KEY_A)] }, { name: 'beta', api_keys: [digest(KEY_B)] }],
      filters: [{ auth: { resource: 'http://127.0.0.1/mcp' } }],
    };
    gwE = await replica('gateway-e', auth);
    gwF = await replica('gateway-f', auth);
  }, { timeout: 20_000 });

  test("another tenant's key gets 404 on the other replica; the creator's key is served", async () => {
    const a = { authorization: `Bearer ${KEY_A}` };
    const b = { authorization: `Bearer ${KEY_B}` };
    const s = await initialize(gwE.url, { headers: a });
    const denied = await callTool(gwF.url, s, 'session_info', {}, { headers: b });
    assert.equal(denied.status, 404, denied.text);
    const served = await callTool(gwF.url, s, 'session_info', {}, { headers: a });
    assert.equal(served.status, 200, served.text);
  });
});
