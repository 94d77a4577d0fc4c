// The rate_limit filter against the real binary: a tenant's call budget, per-principal tool
// limits, in-flight limits released however a call ends, and HTTP-level limits (429 with
// Retry-After and RateLimit headers). Limits are per gateway process (store: local).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import {
  callTool, initialize, mcpPost, requireBackend, startConformanceBackend, startGateway,
} from './lib.mjs';

const key = (label) => `${label}-${randomBytes(12).toString('hex')}`;
const digest = (k) => `sha256:${createHash('sha256').update(k).digest('hex')}`;
const ACME = key('acme');
const ACME2 = key('acme-two');
const GLOBEX = key('globex');
const bearer = (k) => ({ authorization: `Bearer ${k}` });

let backend;
let gw;

before(async () => {
  requireBackend();
  backend = await startConformanceBackend();
  gw = await startGateway({
    backendUrl: backend.url,
    name: 'gateway-rate-limit',
    config: {
      tenants: [
        { name: 'acme', api_keys: [digest(ACME), digest(ACME2)] },
        { name: 'globex', api_keys: [digest(GLOBEX)] },
      ],
      filters: [
        { auth: null },
        {
          rate_limit: {
            store: 'local',
            rules: [
              { match: { tenant: 'acme', method: 'tools/call' }, limit: 6, per: '1m' },
              { match: { tool: 'test_simple_text' }, key: 'principal', limit: 2, per: '1m' },
              { match: { tenant: 'globex', method: 'tools/call' }, key: 'tenant', concurrency: 1 },
              { match: { tenant: 'globex' }, key: 'principal', limit: 40, per: '10s' },
            ],
          },
        },
      ],
    },
  });
}, { timeout: 30_000 });

after(async () => {
  await gw?.stop();
  await backend?.stop?.();
});

describe('rate_limit', () => {
  test('a tenant\'s tools/call budget: the 7th call in a minute gets -32029 naming the rule and a retry time; tools/list is not counted', async () => {
    const s = await initialize(gw.url, { headers: bearer(ACME) });
    for (let i = 0; i < 6; i++) {
      const r = await callTool(gw.url, s, 'echo', { text: `n${i}` }, { headers: bearer(ACME) });
      assert.equal(r.message?.result?.content?.[0]?.text, `n${i}`, r.text);
    }
    const refused = await callTool(gw.url, s, 'echo', { text: 'over' }, { headers: bearer(ACME) });
    assert.equal(refused.status, 200, refused.text);
    assert.equal(refused.message?.error?.code, -32029, refused.text);
    assert.match(refused.message.error.message,
      /^rate limit rules\[0\] \(6 tools\/call per 1m per tenant\) exceeded; retry after \d+\.\d s$/);
    // The second key of the same tenant draws on the same budget.
    const s2 = await initialize(gw.url, { headers: bearer(ACME2) });
    const other = await callTool(gw.url, s2, 'echo', { text: 'x' }, { headers: bearer(ACME2) });
    assert.equal(other.message?.error?.code, -32029, other.text);
    const list = await mcpPost(gw.url, { jsonrpc: '2.0', id: 'l', method: 'tools/list' },
      { sessionId: s.sessionId, protocolVersion: s.protocolVersion, headers: bearer(ACME) });
    assert.ok(list.messages.find((m) => m.id === 'l')?.result?.tools, list.text);
  });

  test('a per-principal tool limit counts each key on its own', async () => {
    const a = await initialize(gw.url, { headers: bearer(GLOBEX) });
    const results = [];
    for (let i = 0; i < 3; i++) {
      results.push(await callTool(gw.url, a, 'test_simple_text', {}, { headers: bearer(GLOBEX) }));
    }
    assert.ok(results[0].message?.result, results[0].text);
    assert.ok(results[1].message?.result, results[1].text);
    assert.equal(results[2].message?.error?.code, -32029, results[2].text);
    assert.match(results[2].message.error.message, /rules\[1\] \(2 tools\/call per 1m per principal\)/);
  });

  test('an in-flight limit: a second concurrent call is refused, and the slot comes back when the first ends', async () => {
    const s = await initialize(gw.url, { headers: bearer(GLOBEX) });
    const slow = callTool(gw.url, s, 'slow', { ms: 800 }, { headers: bearer(GLOBEX), timeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 200));
    const second = await callTool(gw.url, s, 'echo', { text: 'x' }, { headers: bearer(GLOBEX) });
    assert.equal(second.message?.error?.code, -32029, second.text);
    assert.match(second.message.error.message, /concurrency limit rules\[2\] \(1 calls in flight per tenant\)/);
    const done = await slow;
    assert.equal(done.message?.result?.content?.[0]?.text, 'done', done.text);
    const third = await callTool(gw.url, s, 'echo', { text: 'again' }, { headers: bearer(GLOBEX) });
    assert.equal(third.message?.result?.content?.[0]?.text, 'again', third.text);
  });

  test('an HTTP-level rule answers 429 with Retry-After and RateLimit headers', async () => {
    const s = await initialize(gw.url, { headers: bearer(GLOBEX) });
    let refused;
    for (let i = 0; i < 60 && !refused; i++) {
      const r = await mcpPost(gw.url, { jsonrpc: '2.0', id: i, method: 'ping' },
        { sessionId: s.sessionId, protocolVersion: s.protocolVersion, headers: bearer(GLOBEX) });
      if (r.status === 429) refused = r;
    }
    assert.ok(refused, 'no 429 within 60 requests for a limit of 40 per 10 s');
    assert.match(refused.headers['retry-after'], /^\d+$/);
    assert.match(refused.headers['ratelimit-policy'], /^"rules\[3\]";q=40;w=10$/);
    assert.match(refused.headers.ratelimit, /^"rules\[3\]";r=0;t=\d+$/);
    assert.equal(JSON.parse(refused.text).error.code, -32029);
  });
});
