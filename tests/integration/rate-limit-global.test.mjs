// Global rate limits (rate_limit store: redis): two gateway replicas share one real
// redis-server, started here on a free loopback port, and together accept no more calls
// than the limit; with Redis stopped, on_store_error decides (local buckets, or deny).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { callTool, initialize, mcpPost, startConformanceBackend, startGateway, startRedis } from './lib.mjs';

let redis;
let backend;
const gateways = [];

async function replica(name, onStoreError) {
  const gw = await startGateway({
    backendUrl: backend.url,
    name,
    config: {
      session_store: { type: 'redis', url: redis.url, key_prefix: 'rl-it:', timeout: '300ms', connect_timeout: '300ms' },
      routes: [{ path: '/mcp', backend: 'conf' }, { path: '/counted', backend: 'conf' }],
      filters: [{
        rate_limit: {
          store: 'redis',
          on_store_error: onStoreError,
          rules: [
            { match: { method: 'tools/call', route: '/mcp' }, key: 'global', limit: 10, per: '1m' },
            { match: { route: '/counted' }, key: 'route', limit: 6, per: '1m' },
          ],
        },
      }],
    },
  });
  gateways.push(gw);
  return gw;
}

let gwA;
let gwB;
before(async () => {
  redis = await startRedis();
  backend = await startConformanceBackend();
  gwA = await replica('gateway-rl-a', 'local');
  gwB = await replica('gateway-rl-b', 'deny');
}, { timeout: 30_000 });

after(async () => {
  for (const gw of gateways) await gw.stop();
  await backend?.stop();
  await redis?.stop();
});

describe('global rate limits', () => {
  test('two replicas together answer no more than 10 of 30 concurrent tools/call; the rest get -32029', async () => {
    const sa = await initialize(gwA.url);
    const sb = await initialize(gwB.url);
    const calls = [];
    for (let i = 0; i < 30; i++) {
      calls.push(i % 2 ? callTool(gwA.url, sa, 'session_info', {}) : callTool(gwB.url, sb, 'session_info', {}));
    }
    const results = await Promise.all(calls);
    const ok = results.filter((r) => r.message?.result);
    const limited = results.filter((r) => r.message?.error?.code === -32029);
    assert.equal(ok.length, 10, results.map((r) => r.text).join('\n'));
    assert.equal(limited.length, 20);
    assert.match(limited[0].message.error.message, /rate limit rules\[0\] \(10 tools\/call per 1m per global\) exceeded; retry after \d+\.\d s/);
    // One budget: local limits would have let each replica answer ten. Both refuse now.
    for (const [url, s] of [[gwA.url, sa], [gwB.url, sb]]) {
      const r = await callTool(url, s, 'session_info', {});
      assert.equal(r.message?.error?.code, -32029, r.text);
    }
  });

  test('an HTTP-level rule counts the requests of both replicas: the 7th gets 429', async () => {
    const statuses = [];
    for (let i = 0; i < 8; i++) {
      const gw = i % 2 ? gwA : gwB;
      const r = await mcpPost(`${gw.origin}/counted`, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } });
      statuses.push(r.status);
      if (r.status === 429) {
        assert.ok(Number(r.headers['retry-after']) >= 1);
        assert.match(r.headers.ratelimit, /^"rules\[1\]";r=0;t=\d+$/);
      }
    }
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200, 429, 429]);
  });

  test('Redis stopped: on_store_error local counts in the replica, deny refuses', async () => {
    const sa = await initialize(gwA.url);
    const sb = await initialize(gwB.url);
    await redis.stop();
    try {
      const a = await callTool(gwA.url, sa, 'session_info', {});
      assert.ok(a.message?.result, `local fallback should allow: ${a.text}`);
      const b = await callTool(gwB.url, sb, 'session_info', {});
      assert.equal(b.message?.error?.code, -32029, b.text);
      assert.match(b.message.error.message, /rate-limit store \(Redis\) is unavailable and on_store_error is deny/);
      assert.ok(gwA.logs().some((l) => l.msg === 'rate-limit store unavailable' && l.on_store_error === 'local'));
    } finally {
      await redis.restart();
    }
  });
});
