// Backend replicas (http.urls): new sessions spread over the replicas and stay on theirs;
// health probes take a dead replica out of rotation and its sessions answer 404 so clients
// initialize again; a recovered replica rejoins. With the Redis session store, another
// gateway replica serves a session on the backend replica it is pinned to.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  backendSessions, callTool, closedPort, initialize, startConformanceBackend, startGateway, startRedis,
  waitUntil,
} from './lib.mjs';

let b1;
let b2;
let b2Port;
let gw;
let redis;
const extra = [];

const backendConfig = () => ({
  name: 'conf',
  http: {
    urls: [b1.url, `http://127.0.0.1:${b2Port}/mcp`],
    balance: 'round_robin',
    timeout: '5s',
    connect_timeout: '500ms',
    health_check: { interval: '100ms', timeout: '300ms', unhealthy_after: 2 },
  },
});

const backendSessionId = async (url, s) => {
  const r = await callTool(url, s, 'session_info', {});
  assert.equal(r.status, 200, r.text);
  return JSON.parse(r.message.result.content[0].text).sessionId;
};
// Which replica holds a backend session id.
const replicaOf = async (bid) => {
  if ((await backendSessions(b1)).active.includes(bid)) return 'b1';
  if ((await backendSessions(b2)).active.includes(bid)) return 'b2';
  return 'none';
};

before(async () => {
  b1 = await startConformanceBackend();
  b2Port = await closedPort();
  b2 = await startConformanceBackend({ args: ['--port', String(b2Port)] });
  redis = await startRedis();
  gw = await startGateway({
    backendUrl: b1.url,
    name: 'gateway-replicas',
    config: { backends: [backendConfig()], session_store: { type: 'redis', url: redis.url, cache_ttl: '50ms' } },
  });
}, { timeout: 30_000 });

after(async () => {
  await gw?.stop();
  for (const g of extra) await g.stop();
  await b1?.stop();
  await b2?.stop();
  await redis?.stop();
});

describe('backend replicas', () => {
  test('round robin: four sessions, two on each replica, each staying on its own', async () => {
    const where = [];
    for (let i = 0; i < 4; i++) {
      const s = await initialize(gw.url);
      const bid = await backendSessionId(gw.url, s);
      assert.equal(await backendSessionId(gw.url, s), bid, 'the session stays on its replica');
      where.push(await replicaOf(bid));
    }
    assert.deepEqual(where.sort(), ['b1', 'b1', 'b2', 'b2']);
  });

  test('another gateway replica serves a session on the backend replica it is pinned to', async () => {
    const other = await startGateway({
      backendUrl: b1.url,
      name: 'gateway-replicas-2',
      config: { backends: [backendConfig()], session_store: { type: 'redis', url: redis.url, cache_ttl: '50ms' } },
    });
    extra.push(other);
    for (let i = 0; i < 2; i++) { // one session per backend replica
      const s = await initialize(gw.url);
      const bid = await backendSessionId(gw.url, s);
      assert.equal(await backendSessionId(other.url, s), bid);
    }
  });

  test('a dead replica leaves rotation, its sessions answer 404, the others go on; it rejoins when back', async () => {
    const sessions = [];
    for (let i = 0; i < 4; i++) {
      const s = await initialize(gw.url);
      sessions.push({ s, on: await replicaOf(await backendSessionId(gw.url, s)) });
    }
    await b2.stop();
    await waitUntil(() => gw.logs().some((l) => l.msg === 'backend replica down; its sessions end'), 5000, 'replica down');
    for (const { s, on } of sessions) {
      const r = await callTool(gw.url, s, 'session_info', {});
      if (on === 'b2') {
        assert.equal(r.status, 404, r.text);
        assert.match(r.text, /backend replica is down/);
      } else {
        assert.equal(r.status, 200, r.text);
      }
    }
    for (let i = 0; i < 3; i++) {
      const s = await initialize(gw.url);
      assert.equal(await replicaOf(await backendSessionId(gw.url, s)), 'b1');
    }
    b2 = await startConformanceBackend({ args: ['--port', String(b2Port)] });
    await waitUntil(() => gw.logs().some((l) => l.msg === 'backend replica up'), 5000, 'replica up');
    const back = [];
    for (let i = 0; i < 2; i++) {
      const s = await initialize(gw.url);
      back.push(await replicaOf(await backendSessionId(gw.url, s)));
    }
    assert.ok(back.includes('b2'), `new sessions reach the recovered replica: ${back}`);
  });
});
