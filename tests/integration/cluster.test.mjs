// Replicas forwarding to each other (cluster:): a stdio-backed session lives in the replica
// that spawned its process; another replica receiving its requests forwards them, SSE
// streams included, over the internal listener with the shared secret. An owner that stops
// takes its sessions with it: 503 while it may only be unreachable, 404 once its
// registration is gone. All on loopback with a real redis-server.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  BACKEND_SCRIPT, NODE_BIN, callTool, closedPort, initialize, mcpPost, openGetStream, request, requireBackend,
  startGateway, startRedis, waitUntil,
} from './lib.mjs';

const SECRET = 'cluster-test-secret-0123456789abcdef';
let redis;
const gateways = [];

async function replica(name, { heartbeat = '200ms' } = {}) {
  const port = await closedPort();
  const gw = await startGateway({
    backendUrl: 'http://127.0.0.1:9/unused',
    name,
    env: { MCPGW_CLUSTER_SECRET: SECRET },
    config: {
      session_store: { type: 'redis', url: redis.url, key_prefix: 'cl:', cache_ttl: '100ms' },
      cluster: { listen: `127.0.0.1:${port}`, advertise: `127.0.0.1:${port}`, secret_env: 'MCPGW_CLUSTER_SECRET', heartbeat },
      backends: [{ name: 'conf', stdio: { command: [NODE_BIN, BACKEND_SCRIPT, '--stdio'], pool: { warm: 0 } } }],
      routes: [{ path: '/mcp', backend: 'conf' }],
      limits: { sse_keepalive: '200ms' },
    },
  });
  gw.clusterPort = port;
  gateways.push(gw);
  await waitUntil(() => gw.logs().some((l) => l.msg === 'replica registered'), 5000, `${name} registered`);
  return gw;
}

const sessionInfo = async (url, s) => {
  const r = await callTool(url, s, 'session_info', {});
  return r;
};

let gwA;
let gwB;
before(async () => {
  requireBackend();
  redis = await startRedis();
  gwA = await replica('gateway-owner');
  gwB = await replica('gateway-forwarder');
}, { timeout: 30_000 });

after(async () => {
  for (const gw of gateways) await gw.stop();
  await redis?.stop();
});

describe('cluster forwarding of stdio sessions', () => {
  test('a stdio session created on A is served through B, by the same process', async () => {
    const s = await initialize(gwA.url);
    const viaB = await sessionInfo(gwB.url, s);
    assert.equal(viaB.status, 200, viaB.text);
    assert.equal(viaB.headers['mcp-session-id'], s.sessionId);
    // The process is A's; B started none.
    assert.ok(gwB.logs().every((l) => l.msg !== 'session started' || l.session !== s.sessionId));
    const list = await mcpPost(gwB.url, { jsonrpc: '2.0', id: 5, method: 'tools/list' }, { sessionId: s.sessionId, protocolVersion: s.protocolVersion });
    assert.equal(list.status, 200, list.text);
    assert.ok(list.messages[0].result.tools.some((t) => t.name === 'session_info'));
  });

  test("B relays the owner's GET stream: notifications from the process reach a client listening on B", async () => {
    const s = await initialize(gwA.url);
    const g = await openGetStream(gwB.url, { headers: { 'mcp-session-id': s.sessionId, 'mcp-protocol-version': s.protocolVersion } });
    try {
      assert.equal(g.status, 200);
      const r = await callTool(gwB.url, s, 'emit_logs', { via: 'get' });
      assert.equal(r.status, 200, r.text);
      await g.waitFor(({ events }) => events.some((e) => e.data?.includes('"emergency"')), 5000);
    } finally {
      g.close();
    }
  });

  test('a client leaving a relayed GET stream frees the owner\'s stream within a keep-alive', async () => {
    const s = await initialize(gwA.url);
    const headers = { 'mcp-session-id': s.sessionId, 'mcp-protocol-version': s.protocolVersion };
    const g = await openGetStream(gwB.url, { headers });
    assert.equal(g.status, 200);
    g.close();
    // B notices at the next keep-alive it relays and lets go of A's stream; A then takes a
    // new GET for the session (while one is attached it answers 409).
    await waitUntil(async () => {
      const again = await openGetStream(gwA.url, { headers });
      again.close();
      return again.status === 200;
    }, 3000, "the owner's GET stream released");
  });

  test('DELETE through B ends the session on A', async () => {
    const s = await initialize(gwA.url);
    const d = await request(gwB.url, { method: 'DELETE', headers: { 'mcp-session-id': s.sessionId, 'mcp-protocol-version': s.protocolVersion } });
    assert.equal(d.status, 200, d.text);
    const r = await sessionInfo(gwA.url, s);
    assert.equal(r.status, 404, r.text);
  });

  test("another principal's request for the session is not forwarded into it", async () => {
    // Without auth every principal is the same; the route binding still holds.
    const s = await initialize(gwA.url);
    const r = await callTool(`${gwB.origin}/elsewhere`, s, 'session_info', {});
    assert.equal(r.status, 404, r.text);
  });

  test('the internal listener refuses a wrong secret (401) and a missing principal (400)', async () => {
    const url = `http://127.0.0.1:${gwA.clusterPort}/mcp`;
    const wrong = await mcpPost(url, { jsonrpc: '2.0', id: 1, method: 'ping' }, { headers: { 'mcpgw-cluster-token': 'not-the-secret', 'mcpgw-principal': '' } });
    assert.equal(wrong.status, 401, wrong.text);
    const none = await mcpPost(url, { jsonrpc: '2.0', id: 1, method: 'ping' }, { headers: { 'mcpgw-cluster-token': SECRET, 'mcpgw-principal': 'zz' } });
    assert.equal(none.status, 400, none.text);
    assert.ok(gwA.logs().some((l) => l.msg === 'cluster request refused: wrong or missing secret'));
  });

  test('an owner stopped with SIGTERM: its sessions answer 404 on the other replica at once', async () => {
    const owner = await replica('gateway-owner-2');
    const s = await initialize(owner.url);
    assert.equal((await sessionInfo(gwB.url, s)).status, 200);
    const { code } = await owner.stop();
    assert.equal(code, 0);
    const r = await sessionInfo(gwB.url, s);
    assert.equal(r.status, 404, r.text);
    // Which 404 depends on timing, and both are right: a clean shutdown erases the session's
    // record, so B answers "not found" from the store, unless B's forwarding cache
    // (cache_ttl 100 ms) still points at the owner: then the forward fails and B names the
    // stopped replica. A slow shutdown (sanitizer build, loaded machine) outlasts the cache.
    assert.match(r.text, /replica that held its process has stopped|session not found \(expired or deleted\)/);
  });

  test('an owner killed with SIGKILL: 503 while its registration lives, then 404; never a hang', async () => {
    const owner = await replica('gateway-owner-3');
    const s = await initialize(owner.url);
    assert.equal((await sessionInfo(gwB.url, s)).status, 200);
    process.kill(owner.proc.pid, 'SIGKILL');
    await owner.proc.exitPromise;
    const first = await sessionInfo(gwB.url, s);
    assert.ok([503, 404].includes(first.status), first.text);
    if (first.status === 503) {
      assert.equal(first.headers['retry-after'], '1');
    }
    // heartbeat 200 ms: the registration expires within 600 ms.
    let last;
    await waitUntil(async () => { last = await sessionInfo(gwB.url, s); return last.status === 404; }, 3000, '404 after the registration expired');
    assert.match(last.text, /replica that held its process has stopped/);
  });
});
