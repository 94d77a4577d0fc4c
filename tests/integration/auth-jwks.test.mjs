// The auth filter's JWKS URL (`auth.jwt.jwks_url`, plugins/auth/jwks_source.{h,cc}) seen from
// outside: the issuer's keys are fetched in the background once the gateway listens (GET with
// `Accept: application/json, application/jwk-set+json`), refetched every `jwks_refresh`, and
// early for an unknown `kid` but never more often than min(30 s, jwks_refresh); without keys a
// token is answered 503 + `Retry-After: 5`; failed fetches are retried with a backoff from 1 s
// (doubling, capped at jwks_refresh); cached keys stay in use while the issuer is down; the
// `--check-config` rules of the keys (https unless loopback, not with jwks_file, refresh > 0);
// SIGTERM while a fetch hangs.
//
// The issuer is a node:http server on 127.0.0.1:0 in this file: it serves whichever keys a
// test sets, or a status code, resets connections or never answers, and records every request
// (time, method, target, headers). One conformance backend (HTTP); one gateway per test.
import assert from 'node:assert/strict';
import { randomBytes, sign as cryptoSign } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { before, describe, test } from 'node:test';

import {
  callTool, initialize, initializeBody, keyPair, makeTempDir, mcpPost, onCleanup, runGateway, sleep, startConformanceBackend,
  startGateway, startSilentServer, waitUntil,
} from './lib.mjs';

// ---------------------------------------------------------------------------------------
// Keys and tokens.

const RESOURCE = 'https://mcp.example.com/mcp';
const ISSUER = 'https://auth.example.com';
const ACCEPT = 'application/json, application/jwk-set+json';

const K1 = { kid: 'k1', pair: keyPair('rsa', { modulusLength: 2048 }) };
const K2 = { kid: 'k2', pair: keyPair('rsa', { modulusLength: 2048 }) };
const jwk = (k) => ({ ...k.pair.publicKey.export({ format: 'jwk' }), kid: k.kid, use: 'sig', alg: 'RS256' });

const b64u = (v) => Buffer.from(v).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);
/** An RS256 token signed with `key`, naming `kid` (default: the key's own). */
function token(key, { kid = key.kid, ...extra } = {}) {
  const header = { alg: 'RS256', typ: 'JWT', kid };
  const claims = { iss: ISSUER, aud: RESOURCE, sub: 'alice', org: 'acme', iat: now(), exp: now() + 600, ...extra };
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(claims))}`;
  return `${input}.${b64u(cryptoSign('sha256', Buffer.from(input), key.pair.privateKey))}`;
}
const bearer = (t) => ({ authorization: `Bearer ${t}` });
const randomKid = () => `unknown-${randomBytes(6).toString('hex')}`;

// ---------------------------------------------------------------------------------------
// The issuer's JWKS endpoint.

/**
 * A JWKS server. `mode`: 'keys' (200 + { keys }), a number (that status, JSON body), 'reset'
 * (the connection is destroyed unanswered), 'hang' (never answers). `respond(req, n)` may
 * override per request (n: 1-based request count). Every request is recorded.
 */
async function startJwksServer({ keys = [], mode = 'keys', respond } = {}) {
  const state = { keys, mode, respond, requests: [] };
  const sockets = new Set();
  const server = http.createServer((req, res) => {
    const n = state.requests.push({ at: Date.now(), method: req.method, url: req.url, headers: req.headers });
    req.resume();
    const m = state.respond?.(req, n) ?? state.mode;
    if (m === 'hang') return;
    if (m === 'reset') { req.socket.destroy(); return; }
    if (typeof m === 'number') {
      res.writeHead(m, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'temporarily_unavailable' }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: state.keys.map(jwk) }));
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise((resolve, reject) => { server.once('error', reject); server.listen(0, '127.0.0.1', resolve); });
  const { port } = server.address();
  const close = () => new Promise((resolve) => {
    for (const s of sockets) s.destroy();
    server.close(() => resolve());
  });
  onCleanup(close);
  return {
    state,
    port,
    url: `http://127.0.0.1:${port}/issuer/jwks.json`,
    fetches: () => state.requests.length,
    set: (patch) => Object.assign(state, patch),
    close,
  };
}

// ---------------------------------------------------------------------------------------
// Gateway and assertions.

let backend;
before(async () => {
  backend = await startConformanceBackend();
}, { timeout: 20_000 });

/** A gateway with the auth filter fetching its keys from `jwksUrl`; `jwt` merges into auth.jwt. */
function startJwksGateway(name, jwksUrl, { jwt = {}, config = {} } = {}) {
  return startGateway({
    backendUrl: backend.url,
    name,
    config: {
      tenants: [{ name: 'acme' }],
      filters: [{
        auth: {
          resource: RESOURCE,
          authorization_servers: [ISSUER],
          jwt: { issuer: ISSUER, jwks_url: jwksUrl, jwks_refresh: '1s', tenant_claim: 'org', ...jwt },
        },
      }],
      ...config,
    },
  });
}

/** The gateway's log objects with msg `msg`. */
const logsOf = (gw, msg) => gw.logs().filter((o) => o.msg === msg);
/** Resolve with the first log object matching pred (already logged, or within timeoutMs). */
const waitLog = (gw, pred, timeoutMs, what) => gw.proc.waitForLine((s, l) => {
  if (s !== 'stderr' || !l.startsWith('{')) return undefined;
  const o = JSON.parse(l);
  return pred(o) ? o : undefined;
}, timeoutMs, what);
const waitLoaded = (gw, timeoutMs = 5000) => waitLog(gw, (o) => o.msg === 'jwks loaded', timeoutMs, '"jwks loaded" log');

const tryInitialize = (gw, t) => mcpPost(gw.url, initializeBody(), { headers: bearer(t), timeoutMs: 5000 });

/** initialize with `t` succeeds (200, a session id, a result). */
function assertAccepted(r, what) {
  const where = `${what}: HTTP ${r.status} www-authenticate=${r.headers['www-authenticate']} body=${r.text}`;
  assert.equal(r.status, 200, where);
  assert.match(r.headers['mcp-session-id'] ?? '', /^[0-9a-f]{32}$/, where);
  assert.ok(r.messages.find((m) => m.id === 0)?.result, where);
}

/** 401 + JSON-RPC -32041 + `WWW-Authenticate: Bearer … error="invalid_token"`. */
function assertInvalidToken(r, what) {
  const where = `${what}: HTTP ${r.status} www-authenticate=${r.headers['www-authenticate']} body=${r.text}`;
  assert.equal(r.status, 401, where);
  assert.equal(r.json?.jsonrpc, '2.0', where);
  assert.equal(r.json?.error?.code, -32041, where);
  assert.match(r.headers['www-authenticate'] ?? '', /^Bearer .*error="invalid_token"/, where);
  assert.equal(r.headers['mcp-session-id'], undefined, where);
}

/** Poll initialize with `t` until accepted; returns { response, afterMs }. */
async function waitAccepted(gw, t, timeoutMs, what) {
  const started = Date.now();
  let last;
  const response = await waitUntil(async () => {
    last = await tryInitialize(gw, t);
    return last.status === 200 ? last : undefined;
  }, timeoutMs, what, 100).catch((err) => {
    throw new Error(`${err.message}; last answer HTTP ${last?.status} ${last?.text}`);
  });
  assertAccepted(response, what);
  return { response, afterMs: Date.now() - started };
}

const gaps = (requests) => requests.slice(1).map((r, i) => r.at - requests[i].at);

// ---------------------------------------------------------------------------------------
describe('jwks_url: fetching the issuer\'s keys', () => {
  test('keys are fetched in the background after start (GET, Accept: application/json, application/jwk-set+json); an RS256 token (kid k1) is accepted', async () => {
    const jwks = await startJwksServer({ keys: [K1] });
    const gw = await startJwksGateway('gateway-fetch', jwks.url);
    // no client request has been made: the gateway fetches on its own
    await waitUntil(() => jwks.fetches() >= 1, 5000, 'a JWKS request');
    const req = jwks.state.requests[0];
    assert.equal(req.method, 'GET', JSON.stringify(req));
    assert.equal(req.url, '/issuer/jwks.json', JSON.stringify(req));
    assert.equal(req.headers.accept, ACCEPT, JSON.stringify(req.headers));
    assert.equal(req.headers.host, `127.0.0.1:${jwks.port}`, JSON.stringify(req.headers));
    const loaded = await waitLoaded(gw);
    assert.equal(loaded.url, jwks.url, JSON.stringify(loaded));
    assert.equal(String(loaded.keys), '1', JSON.stringify(loaded));

    const t = token(K1);
    const s = await initialize(gw.url, { headers: bearer(t) });
    const r = await callTool(gw.url, s, 'echo', { text: 'keys from a URL' }, { headers: bearer(t) });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.message?.result?.content?.[0]?.text, 'keys from a URL', r.text);
    // a token signed by a key the issuer does not publish, under the published kid
    assertInvalidToken(await tryInitialize(gw, token(K2, { kid: 'k1' })), 'k2 signature under kid k1');
    // every later fetch (jwks_refresh 1s) is the same GET
    for (const q of jwks.state.requests) {
      assert.equal(q.method, 'GET');
      assert.equal(q.headers.accept, ACCEPT);
    }
    await gw.stop();
  });

  test('issuer down at start (HTTP 500): a token → 503, Retry-After: 5, JSON-RPC error body; retries ~1 s apart (jwks_refresh 1s); once the issuer serves keys the same token is accepted within a few seconds', async () => {
    const jwks = await startJwksServer({ keys: [K1], mode: 500 });
    const gw = await startJwksGateway('gateway-down-at-start', jwks.url);
    const failed = await waitLog(gw, (o) => o.msg === 'jwks fetch failed', 5000, '"jwks fetch failed" log');
    assert.equal(failed.cached, 'none yet', JSON.stringify(failed));
    assert.equal(failed.url, jwks.url, JSON.stringify(failed));

    const t = token(K1);
    const r = await tryInitialize(gw, t);
    const where = `HTTP ${r.status} headers=${JSON.stringify(r.headers)} body=${r.text}`;
    assert.equal(r.status, 503, where);
    assert.equal(r.headers['retry-after'], '5', where);
    assert.match(r.headers['content-type'] ?? '', /^application\/json/, where);
    assert.equal(r.json?.jsonrpc, '2.0', where);
    assert.equal(typeof r.json?.error?.code, 'number', where);
    assert.equal(typeof r.json?.error?.message, 'string', where);
    assert.equal(r.json?.id, null, where);
    assert.equal(r.headers['mcp-session-id'], undefined, where);
    // a token with an unknown kid gets the same answer: without keys nothing can be checked
    const r2 = await tryInitialize(gw, token(K1, { kid: randomKid() }));
    assert.equal(r2.status, 503, r2.text);
    assert.equal(r2.headers['retry-after'], '5', JSON.stringify(r2.headers));

    // the retries: backoff from 1 s, capped at jwks_refresh (1s): about one a second
    await waitUntil(() => jwks.fetches() >= 3, 5000, 'three JWKS attempts');
    for (const g of gaps(jwks.state.requests)) assert.ok(g >= 800 && g <= 2000, `retry gaps ${gaps(jwks.state.requests)} ms`);

    jwks.set({ mode: 'keys' });
    const { afterMs } = await waitAccepted(gw, t, 4000, 'the token accepted once the issuer is back');
    assert.ok(afterMs <= 4000, `accepted ${afterMs} ms after the issuer came back`);
    await waitLoaded(gw, 1000);
    await gw.stop();
  });

  test('backoff after failed fetches doubles from 1 s (jwks_refresh 1h): attempts ~1 s, then ~2 s apart; a token is accepted after the third', async () => {
    const jwks = await startJwksServer({ keys: [K1], respond: (_req, n) => (n <= 2 ? 500 : 'keys') });
    const gw = await startJwksGateway('gateway-backoff', jwks.url, { jwt: { jwks_refresh: '1h' } });
    await waitLoaded(gw, 6000);
    assert.equal(jwks.fetches(), 3, JSON.stringify(jwks.state.requests.map((q) => q.at)));
    const [g1, g2] = gaps(jwks.state.requests);
    assert.ok(g1 >= 800 && g1 <= 1700, `first retry after ${g1} ms (expected ~1 s)`);
    assert.ok(g2 >= 1700 && g2 <= 3000, `second retry after ${g2} ms (expected ~2 s)`);
    assert.equal(logsOf(gw, 'jwks fetch failed').length, 2, JSON.stringify(logsOf(gw, 'jwks fetch failed')));
    assertAccepted(await tryInitialize(gw, token(K1)), 'k1 token after the keys loaded');
    await gw.stop();
  });

  test('key rotation: the issuer swaps k1 for k2; a k2 token is accepted within a few seconds, then a k1 token → 401 invalid_token', async () => {
    const jwks = await startJwksServer({ keys: [K1] });
    const gw = await startJwksGateway('gateway-rotation', jwks.url);
    await waitLoaded(gw);
    const t1 = token(K1);
    const s1 = await initialize(gw.url, { headers: bearer(t1) });

    jwks.set({ keys: [K2] });
    const fetchesBefore = jwks.fetches();
    const t2 = token(K2);
    await waitAccepted(gw, t2, 4000, 'the k2 token accepted after the rotation');
    assert.ok(jwks.fetches() > fetchesBefore, 'no fetch after the rotation');
    // the new set holds k2 only
    assertInvalidToken(await tryInitialize(gw, t1), 'new initialize with the k1 token');
    assertInvalidToken(await tryInitialize(gw, token(K1)), 'a freshly signed k1 token');
    const onSession = await callTool(gw.url, s1, 'echo', { text: 'x' }, { headers: bearer(t1) });
    assertInvalidToken(onSession, 'the k1 token on the session it opened');
    await gw.stop();
  });

  test('refreshes that fetch the same JWKS keep the key set: a token is verified once and then found in the credential cache', async () => {
    const jwks = await startJwksServer({ keys: [K1] });
    const gw = await startJwksGateway('gateway-same-jwks', jwks.url);
    await waitLoaded(gw);
    const t1 = token(K1);
    assertAccepted(await tryInitialize(gw, t1), 'first initialize');
    const fetched = jwks.fetches();
    await waitUntil(async () => jwks.fetches() >= fetched + 2, 5000, 'two more fetches (jwks_refresh 1s)');
    assertAccepted(await tryInitialize(gw, t1), 'initialize after the refreshes');
    const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    const count = (result) => Number(metrics.match(new RegExp(`^mcpgw_auth_cache_lookups_total\\{result="${result}"\\} (\\S+)$`, 'm'))?.[1]);
    assert.equal(count('miss'), 1, metrics);
    assert.equal(count('hit'), 1, metrics);
    await gw.stop();
  });

  test('no fetch flood (jwks_refresh 1h, so at most one early fetch per 30 s): 30 tokens with unknown kids within 2 s → all 401 invalid_token, at most 2 fetches in all', async () => {
    const jwks = await startJwksServer({ keys: [K1] });
    const gw = await startJwksGateway('gateway-flood', jwks.url, { jwt: { jwks_refresh: '1h' } });
    await waitLoaded(gw);
    assert.equal(jwks.fetches(), 1);
    const pending = [];
    for (let i = 0; i < 30; i++) {
      pending.push(tryInitialize(gw, token(i % 2 ? K2 : K1, { kid: randomKid(), sub: `flood-${i}` })));
      await sleep(60);
    }
    const answers = await Promise.all(pending);
    answers.forEach((r, i) => assertInvalidToken(r, `flood token ${i}`));
    await sleep(500); // a fetch the flood may have started
    assert.ok(jwks.fetches() <= 2, `the JWKS server saw ${jwks.fetches()} fetches`);
    assertAccepted(await tryInitialize(gw, token(K1)), 'the k1 token after the flood');
    await gw.stop();
  });

  test('unknown kids with jwks_refresh 1s: no more than about one fetch a second', async () => {
    const jwks = await startJwksServer({ keys: [K1] });
    const gw = await startJwksGateway('gateway-flood-1s', jwks.url);
    await waitLoaded(gw);
    const from = Date.now();
    const startCount = jwks.fetches();
    const pending = [];
    for (let i = 0; i < 30; i++) {
      pending.push(tryInitialize(gw, token(K1, { kid: randomKid(), sub: `flood1s-${i}` })));
      await sleep(70);
    }
    const answers = await Promise.all(pending);
    answers.forEach((r, i) => assertInvalidToken(r, `flood token ${i}`));
    const windowMs = Date.now() - from;
    const during = jwks.fetches() - startCount;
    assert.ok(during <= Math.ceil(windowMs / 1000) + 1, `${during} fetches in ${windowMs} ms`);
    const g = gaps(jwks.state.requests);
    assert.ok(g.every((x) => x >= 800), `fetch gaps ${g} ms`);
    await gw.stop();
  });

  test('cached keys survive an issuer outage (HTTP 500, then reset connections): tokens accepted throughout, "jwks fetch failed" with cached "kept"; refreshed when it is back', async () => {
    const jwks = await startJwksServer({ keys: [K1] });
    const gw = await startJwksGateway('gateway-outage', jwks.url);
    await waitLoaded(gw);
    const t = token(K1);
    const s = await initialize(gw.url, { headers: bearer(t) });

    const probe = async (phase, ms) => {
      const until = Date.now() + ms;
      let i = 0;
      while (Date.now() < until) {
        assertAccepted(await tryInitialize(gw, t), `${phase}: initialize #${i}`);
        const r = await callTool(gw.url, s, 'echo', { text: `${phase}-${i}` }, { headers: bearer(t) });
        assert.equal(r.status, 200, `${phase}: call #${i}: ${r.text}`);
        assert.equal(r.message?.result?.content?.[0]?.text, `${phase}-${i}`, r.text);
        i += 1;
        await sleep(150);
      }
    };
    const before500 = jwks.fetches();
    jwks.set({ mode: 500 });
    await probe('HTTP 500', 1600);
    assert.ok(jwks.fetches() > before500, 'no fetch during the HTTP 500 phase');
    const failed500 = await waitLog(gw, (o) => o.msg === 'jwks fetch failed', 2000, '"jwks fetch failed" log');
    assert.equal(failed500.cached, 'kept', JSON.stringify(failed500));

    const failedBefore = logsOf(gw, 'jwks fetch failed').length;
    jwks.set({ mode: 'reset' });
    await probe('reset', 1600);
    await waitUntil(() => logsOf(gw, 'jwks fetch failed').length > failedBefore, 2000, 'a failure logged for the reset phase');
    for (const o of logsOf(gw, 'jwks fetch failed')) {
      assert.equal(o.cached, 'kept', JSON.stringify(o));
      assert.equal(o.url, jwks.url, JSON.stringify(o));
    }
    assert.ok(gw.proc.stderr.some((l) => l.includes('jwks fetch failed')), 'the output mentions "jwks fetch failed"');

    jwks.set({ mode: 'keys', keys: [K1, K2] });
    const refreshed = await waitLog(gw, (o) => o.msg === 'jwks refreshed' && String(o.keys) === '2', 4000, '"jwks refreshed" with 2 keys');
    assert.equal(refreshed.url, jwks.url);
    assertAccepted(await tryInitialize(gw, token(K2)), 'a k2 token after the issuer is back');
    await gw.stop();
  });

  test('SIGTERM while a JWKS fetch hangs (the issuer accepts and never answers): exit 0 within shutdown_grace + 2 s', async () => {
    const silent = await startSilentServer();
    const gw = await startJwksGateway('gateway-shutdown', `http://127.0.0.1:${silent.port}/jwks`, { config: { shutdown_grace: '1s' } });
    await waitUntil(() => silent.accepted() >= 1, 5000, 'the gateway connecting to the JWKS server');
    const r = await tryInitialize(gw, token(K1));
    assert.equal(r.status, 503, r.text);
    const sigtermAt = Date.now();
    process.kill(gw.proc.pid, 'SIGTERM');
    const { code, signal } = await Promise.race([gw.proc.exitPromise, sleep(4000).then(() => ({ code: 'still running', signal: null }))]);
    assert.equal(signal, null, `killed by ${signal}`);
    assert.equal(code, 0, `exit code ${code}`);
    const took = gw.proc.exitedAt - sigtermAt;
    assert.ok(took <= 3000, `exited ${took} ms after SIGTERM (shutdown_grace 1s)`);
  });
});

// ---------------------------------------------------------------------------------------
describe('jwks_url: --check-config', () => {
  const dir = makeTempDir('mcpgw-it-jwks-check-');
  const jwksFile = path.join(dir, 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [jwk(K1)] }));
  let n = 0;
  /** A config whose jwt block ends with `lines` (the first on line 19). */
  const write = (lines) => {
    const file = path.join(dir, `check-${n++}.yaml`);
    writeFileSync(file, `listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
backends:
  - name: conf
    http:
      url: http://127.0.0.1:1/mcp
routes:
  - path: /mcp
    backend: conf
tenants:
  - name: acme
filters:
  - auth:
      resource: ${RESOURCE}
      authorization_servers: [${ISSUER}]
      jwt:
        issuer: ${ISSUER}
        tenant_claim: org
${lines.map((l) => `        ${l}\n`).join('')}`);
    return file;
  };
  const check = async (lines) => {
    const file = write(lines);
    const r = await runGateway(['--check-config', file]);
    return { ...r, file, out: `config:\n${lines.join('\n')}\nexit=${r.code}\nstdout=${r.stdout}\nstderr=${r.stderr}` };
  };
  /** Exit 1 and a line `file:line: key: …` matching `message`. */
  const assertRefusedAt = (r, line, key, message) => {
    assert.equal(r.code, 1, r.out);
    const prefix = `${r.file}:${line}: ${key}: `;
    const hit = r.stderr.split('\n').find((l) => l.startsWith(prefix));
    assert.ok(hit, `expected a line starting "${prefix}": ${r.out}`);
    if (message) assert.match(hit.slice(prefix.length), message, r.out);
  };

  test('jwks_url on loopback over http (127.0.0.1, 127.x, localhost, [::1]) or https anywhere → ok', async () => {
    for (const url of ['http://127.0.0.1:9/jwks', 'http://127.1.2.3:9/jwks', 'http://localhost:9/jwks', 'http://[::1]:9/jwks', 'https://auth.example.com/.well-known/jwks.json']) {
      const r = await check([`jwks_url: ${url}`, 'jwks_refresh: 10m']);
      assert.equal(r.code, 0, r.out);
    }
  });

  test('jwks_url http://example.com/jwks (plain http, not loopback) → file:19: filters[0].auth.jwt.jwks_url, exit 1', async () => {
    const r = await check(['jwks_url: http://example.com/jwks']);
    assertRefusedAt(r, 19, 'filters[0].auth.jwt.jwks_url', /https/);
  });

  test('jwks_file and jwks_url together → refused, exit 1', async () => {
    const r = await check([`jwks_file: ${jwksFile}`, 'jwks_url: http://127.0.0.1:9/jwks']);
    assert.equal(r.code, 1, r.out);
    const hit = r.stderr.split('\n').find((l) => l.startsWith(`${r.file}:19: filters[0].auth.jwt.jwks_file: `) || l.startsWith(`${r.file}:20: filters[0].auth.jwt.jwks_url: `));
    assert.ok(hit, r.out);
    assert.match(hit, /jwks_file/, r.out);
    assert.match(hit, /jwks_url/, r.out);
  });

  test('jwks_refresh: 0s → file:20: filters[0].auth.jwt.jwks_refresh, exit 1', async () => {
    const r = await check(['jwks_url: http://127.0.0.1:9/jwks', 'jwks_refresh: 0s']);
    assertRefusedAt(r, 20, 'filters[0].auth.jwt.jwks_refresh');
  });

  test('neither jwks_file nor jwks_url → refused naming both, exit 1', async () => {
    const r = await check([]);
    assert.equal(r.code, 1, r.out);
    const hit = r.stderr.split('\n').find((l) => l.startsWith(`${r.file}:`) && l.includes('filters[0].auth.jwt'));
    assert.ok(hit, r.out);
    assert.match(hit, /jwks_file/, r.out);
    assert.match(hit, /jwks_url/, r.out);
  });

  test('plain http to a host name that only starts like loopback (127.evil.example, localhost.evil.example) → refused like any non-loopback host', async () => {
    const accepted = [];
    for (const url of ['http://127.evil.example/jwks', 'http://localhost.evil.example/jwks', 'http://127.0.0.1.evil.example/jwks']) {
      const r = await check([`jwks_url: ${url}`]);
      if (r.code === 0) { accepted.push(url); continue; }
      assertRefusedAt(r, 19, 'filters[0].auth.jwt.jwks_url', /https/);
    }
    assert.deepEqual(accepted, [], `accepted as loopback: ${accepted.join(', ')}`);
  });
});
