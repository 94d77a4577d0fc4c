// End-to-end tests of the gateway's auth filter (plugins/auth) with the official TypeScript
// SDK client: API keys (`Authorization: Bearer <key>` and the configured `X-Api-Key` header)
// and RS256 JWTs, over Streamable HTTP on the HTTP route (/mcp) and the stdio route
// (/mcp-stdio), and over the legacy HTTP+SSE transport; tenant policy (a denied tool is
// missing from tools/list and "not found" when called); unauthenticated clients get 401;
// sessions are bound to the principal that created them (anyone else gets 404).
//
// Gateway only: with E2E_TARGET=direct everything here is skipped (the backend has no auth).
//
// The config (next to the harness's default backends and routes):
//   tenants:  acme    (API key A; no policy)
//             globex  (API key B; deny: { tools: ["test_simple_*"] }, i.e. test_simple_text)
//             initech (no API key; reached with JWTs whose org claim is "initech")
//   filters:  - auth: { resource, authorization_servers, api_key_header: X-Api-Key,
//                       jwt: { issuer, jwks_file, tenant_claim: org, algorithms: [RS256] } }
// The RSA key pair is generated here (node:crypto); its public JWK goes to a temp JWKS file,
// the private key signs the tokens.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, randomUUID, sign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport, SseError } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';

import { STDIO_ROUTE, useTarget } from './lib/harness.mjs';
import { CLIENT_INFO, REQUEST_TIMEOUT_MS, textOf, waitUntil } from './lib/client.mjs';
import { LATEST, rawPost, rawRequest } from './lib/raw-http.mjs';
import * as F from './lib/fixtures.mjs';

// ---------------------------------------------------------------------------------------
// Credentials and config.

const API_KEYS = {
  acme: `acme-${randomBytes(24).toString('hex')}`,
  globex: `globex-${randomBytes(24).toString('hex')}`,
};
const digest = (key) => `sha256:${createHash('sha256').update(key).digest('hex')}`;

const RESOURCE = 'https://mcp.e2e.example/mcp';
const ISSUER = 'https://auth.e2e.example';
const KID = 'e2e-rs256';
const DENIED_TOOL = 'test_simple_text';
const DENY_GLOB = 'test_simple_*'; // matches exactly one tool (test_simple_prompt is a prompt)

// Made as PEM and read back: exporting a KeyObject straight from generateKeyPairSync can
// deadlock Node when a garbage collection during the export destroys the generation job
// (tests/integration/lib.mjs, keyPair).
function keyPair() {
  const pem = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { publicKey: createPublicKey(pem.publicKey), privateKey: createPrivateKey(pem.privateKey) };
}
const { publicKey, privateKey } = keyPair();
const jwksDir = mkdtempSync(path.join(tmpdir(), 'mcpgw-e2e-auth-'));
const JWKS_FILE = path.join(jwksDir, 'jwks.json');
writeFileSync(JWKS_FILE, JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid: KID, alg: 'RS256', use: 'sig' }] }));
after(() => rmSync(jwksDir, { recursive: true, force: true }));

const b64url = (x) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');
/** An RS256 JWT signed with the JWKS's key; `claims` override the defaults. */
function jwt(claims = {}, { key = privateKey, kid = KID } = {}) {
  const now = Math.floor(Date.now() / 1000);
  const header = { alg: 'RS256', typ: 'JWT', kid };
  const body = { iss: ISSUER, aud: RESOURCE, sub: 'alice', org: 'initech', iat: now, exp: now + 600, ...claims };
  const input = `${b64url(header)}.${b64url(body)}`;
  return `${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`;
}
const bearer = (credential) => ({ Authorization: `Bearer ${credential}` });

const AUTH_CONFIG = {
  tenants: [
    { name: 'acme', api_keys: [digest(API_KEYS.acme)] },
    { name: 'globex', api_keys: [digest(API_KEYS.globex)], deny: { tools: [DENY_GLOB] } },
    { name: 'initech' },
  ],
  filters: [
    {
      auth: {
        resource: RESOURCE,
        authorization_servers: [ISSUER],
        api_key_header: 'X-Api-Key',
        jwt: { issuer: ISSUER, jwks_file: JWKS_FILE, tenant_claim: 'org', algorithms: ['RS256'] },
      },
    },
  ],
};

const T = useTarget({ gatewayOptions: { extraConfig: AUTH_CONFIG } });
const TEST_TIMEOUT = { timeout: 20_000 };

function withDiagnostics(fn) {
  return async (t) => {
    try {
      await fn(t);
    } catch (err) {
      t.diagnostic(`e2e target=${T.mode} gateway=${T.gateway?.origin} backend=${T.backendUrl}`);
      for (const line of T.diagnostics().split('\n')) t.diagnostic(line);
      throw err;
    }
  };
}
const it = (name, fn, opts = TEST_TIMEOUT) => test(name, opts, withDiagnostics(fn));

// The backend's 22 tools (see sdk-client.test.mjs), in its order.
const EXPECTED_TOOLS = [
  'test_simple_text', 'test_image_content', 'test_audio_content', 'test_embedded_resource',
  'test_multiple_content_types', 'test_tool_with_logging', 'test_error_handling', 'test_tool_with_progress',
  'test_sampling', 'test_elicitation', 'test_elicitation_sep1034_defaults', 'test_elicitation_sep1330_enums',
  F.JSON_SCHEMA_2020_12_TOOL, 'test_reconnection', 'echo', 'slow', 'last_cancelled', 'emit_logs',
  'trigger_resource_update', 'session_info', 'remember', 'recall',
];
// The stdio backend lists its stdio-only helpers too (tests/backends/conformance-server.mjs).
const STDIO_ONLY_TOOLS = ['pid', 'env', 'crash', 'stdout_garbage', 'stderr_line', 'big', 'hang'];
/** The tools the backend behind `route` lists, minus `without`. */
const toolsOf = (route, without = []) =>
  [...EXPECTED_TOOLS, ...(route === STDIO_ROUTE ? STDIO_ONLY_TOOLS : [])].filter((n) => !without.includes(n));
const EXPECTED_PROMPTS = ['test_prompt_with_arguments', 'test_prompt_with_embedded_resource', 'test_prompt_with_image', 'test_simple_prompt'];

// ---------------------------------------------------------------------------------------
// SDK clients.

/**
 * SDK Client over Streamable HTTP with extra request headers (the credentials). With
 * `sessionId` the transport resumes that session: connect() then sends nothing.
 */
async function connectHttp(url, headers, { sessionId } = {}) {
  const client = new Client({ ...CLIENT_INFO }, { capabilities: {} });
  const errors = [];
  client.onerror = (e) => errors.push(e);
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers }, ...(sessionId ? { sessionId } : {}) });
  await client.connect(transport, { timeout: REQUEST_TIMEOUT_MS });
  return wrap(client, transport, errors);
}

/**
 * SDK Client over the legacy HTTP+SSE transport (`<route>/sse`). In SDK 1.32.2 the
 * SSEClientTransport builds the headers of both the EventSource GET and the message POSTs
 * from `requestInit.headers` (_commonHeaders()); `eventSourceInit` only contributes a
 * `fetch` override, and EventSource itself takes no headers. So `requestInit` carries the
 * credential, and a recording `fetch` proves it was on every request.
 */
async function connectSse(url, headers) {
  const requests = [];
  const recordingFetch = async (input, init) => {
    const h = new Headers(init?.headers);
    const entry = { method: init?.method ?? 'GET', url: String(input), headers: Object.fromEntries(h), status: undefined };
    requests.push(entry);
    const res = await fetch(input, init);
    entry.status = res.status;
    return res;
  };
  const client = new Client({ ...CLIENT_INFO }, { capabilities: {} });
  const errors = [];
  client.onerror = (e) => errors.push(e);
  const transport = new SSEClientTransport(new URL(url), { requestInit: { headers }, fetch: recordingFetch });
  await client.connect(transport, { timeout: REQUEST_TIMEOUT_MS });
  return { ...wrap(client, transport, errors), requests };
}

function wrap(client, transport, errors) {
  return {
    client,
    transport,
    errors,
    call: (name, args = {}) => client.callTool({ name, arguments: args }, undefined, { timeout: REQUEST_TIMEOUT_MS }),
    close: async () => { await client.close().catch(() => {}); },
  };
}

async function open(t, url, headers, options) {
  const c = await connectHttp(url, headers, options);
  t.after(() => c.close());
  return c;
}

/** The JSON-RPC error in a StreamableHTTPError's message ("... endpoint: <body>"). */
function bodyOf(err) {
  const i = err.message.indexOf('{');
  try { return i >= 0 ? JSON.parse(err.message.slice(i)) : undefined; } catch { return undefined; }
}

/** Connecting must fail with StreamableHTTPError `status`; returns the error. */
async function expectConnectRefused(url, headers, status) {
  const client = new Client({ ...CLIENT_INFO }, { capabilities: {} });
  const transport = new StreamableHTTPClientTransport(new URL(url), headers ? { requestInit: { headers } } : undefined);
  let caught;
  await assert.rejects(client.connect(transport, { timeout: REQUEST_TIMEOUT_MS }), (err) => {
    caught = err;
    assert.ok(err instanceof StreamableHTTPError, `expected StreamableHTTPError, got ${err?.constructor?.name}: ${err}`);
    assert.equal(err.code, status, err.message);
    return true;
  });
  assert.equal(transport.sessionId, undefined, 'a refused initialize must not yield a session id');
  await client.close().catch(() => {});
  return caught;
}

/**
 * The basics every authenticated client must get, exactly as the backend sends them:
 * tools/list (all the backend's tools, or all but the denied one), tools/call, prompts, resources.
 */
async function expectBasics(c, { route, tools = toolsOf(route) }) {
  const info = c.client.getServerVersion();
  assert.equal(typeof info?.name, 'string');
  const caps = c.client.getServerCapabilities();
  assert.ok(caps?.tools && caps?.prompts && caps?.resources, `capabilities: ${JSON.stringify(caps)}`);

  const listed = (await c.client.listTools(undefined, { timeout: REQUEST_TIMEOUT_MS })).tools;
  assert.deepEqual(listed.map((x) => x.name), tools);
  assert.deepEqual(listed.find((x) => x.name === 'echo').inputSchema, { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] });
  assert.deepEqual(listed.find((x) => x.name === F.JSON_SCHEMA_2020_12_TOOL).inputSchema, F.JSON_SCHEMA_2020_12_INPUT);

  const text = `auth ${route} ✓ ${randomUUID()}`;
  assert.deepEqual((await c.call('echo', { text })).content, [{ type: 'text', text }]);
  if (tools.includes(DENIED_TOOL)) assert.equal(textOf(await c.call(DENIED_TOOL)), F.SIMPLE_TEXT);

  const { prompts } = await c.client.listPrompts(undefined, { timeout: REQUEST_TIMEOUT_MS });
  assert.deepEqual(prompts.map((p) => p.name).sort(), EXPECTED_PROMPTS);
  assert.deepEqual((await c.client.getPrompt({ name: 'test_simple_prompt' })).messages,
    [{ role: 'user', content: { type: 'text', text: F.PROMPT_SIMPLE_TEXT } }]);
  const a1 = 'ünï "one"';
  assert.deepEqual((await c.client.getPrompt({ name: 'test_prompt_with_arguments', arguments: { arg1: a1, arg2: 'two' } })).messages,
    [{ role: 'user', content: { type: 'text', text: F.promptWithArgsText(a1, 'two') } }]);

  const { resources } = await c.client.listResources(undefined, { timeout: REQUEST_TIMEOUT_MS });
  const byUri = Object.fromEntries(resources.map((r) => [r.uri, r]));
  for (const r of Object.values(F.RESOURCES)) assert.deepEqual(byUri[r.uri], r);
  assert.deepEqual((await c.client.readResource({ uri: F.RESOURCES.staticText.uri })).contents,
    [{ uri: F.RESOURCES.staticText.uri, mimeType: 'text/plain', text: F.STATIC_TEXT }]);
  const { resourceTemplates } = await c.client.listResourceTemplates(undefined, { timeout: REQUEST_TIMEOUT_MS });
  assert.deepEqual(resourceTemplates, [F.TEMPLATE]);
  assert.deepEqual((await c.client.readResource({ uri: 'test://template/42/data' })).contents,
    [{ uri: 'test://template/42/data', mimeType: 'application/json', text: F.templateText('42') }]);
  assert.deepEqual(c.errors.map(String), []);
}

/** On the HTTP route: the backend must not have received the client's credentials. */
async function expectNoCredentialsAtBackend(c) {
  const h = JSON.parse(textOf(await c.call('request_headers')));
  assert.ok(h && typeof h === 'object', `request_headers: ${JSON.stringify(h)}`);
  assert.equal(h.authorization, undefined, `Authorization reached the backend: ${JSON.stringify(h)}`);
  assert.equal(h['x-api-key'], undefined, `X-Api-Key reached the backend: ${JSON.stringify(h)}`);
  const all = JSON.stringify(h);
  for (const secret of Object.values(API_KEYS)) assert.ok(!all.includes(secret), 'an API key reached the backend');
}

// ---------------------------------------------------------------------------------------
describe('auth filter through the gateway (SDK clients)', {
  skip: T.mode === 'direct' ? 'gateway only: the backend has no auth' : false,
}, () => {
  const url = (route) => `${T.gateway.origin}${route}`;
  const ROUTES = [{ label: 'HTTP route', route: '/mcp' }, { label: 'stdio route', route: STDIO_ROUTE }];

  describe('1. API key (Authorization: Bearer <key>), Streamable HTTP', () => {
    for (const { label, route } of ROUTES) {
      it(`${label} ${route}: initialize, tools, prompts, resources`, async (t) => {
        const c = await open(t, url(route), bearer(API_KEYS.acme));
        assert.ok(c.transport.sessionId);
        await expectBasics(c, { route });
        if (route === '/mcp') await expectNoCredentialsAtBackend(c);
      });
    }

    it('the configured api_key_header (X-Api-Key) works too', async (t) => {
      const c = await open(t, url('/mcp'), { 'X-Api-Key': API_KEYS.acme });
      assert.equal(textOf(await c.call('echo', { text: 'via X-Api-Key' })), 'via X-Api-Key');
      await expectNoCredentialsAtBackend(c);
    });
  });

  describe('2. JWT (RS256, org claim names the tenant), Streamable HTTP', () => {
    for (const { label, route } of ROUTES) {
      it(`${label} ${route}: initialize, tools, prompts, resources`, async (t) => {
        const c = await open(t, url(route), bearer(jwt()));
        assert.ok(c.transport.sessionId);
        await expectBasics(c, { route });
        if (route === '/mcp') await expectNoCredentialsAtBackend(c);
      });
    }

    it('refused tokens: expired, wrong audience, wrong issuer, bad signature → 401; unknown tenant → 403', async () => {
      const other = keyPair().privateKey;
      const now = Math.floor(Date.now() / 1000);
      const cases = [
        ['expired', jwt({ exp: now - 3600, iat: now - 7200 }), 401],
        ['wrong audience', jwt({ aud: 'https://elsewhere.example/mcp' }), 401],
        ['wrong issuer', jwt({ iss: 'https://evil.example' }), 401],
        ['bad signature', jwt({}, { key: other }), 401],
        ['unknown tenant', jwt({ org: 'umbrella' }), 403],
      ];
      for (const [what, token, status] of cases) {
        const err = await expectConnectRefused(url('/mcp'), bearer(token), status).catch((e) => { throw new Error(`${what}: ${e.message}`); });
        const body = bodyOf(err);
        assert.equal(body?.error?.code, status === 401 ? -32041 : -32043, `${what}: body ${err.message}`);
      }
    });
  });

  describe('3. tenant policy: deny { tools: ["test_simple_*"] }', () => {
    for (const { label, route } of ROUTES) {
      it(`${label} ${route}: the restricted tenant neither sees nor calls ${DENIED_TOOL}; the other tenant does`, async (t) => {
        const [restricted, full] = await Promise.all([
          open(t, url(route), bearer(API_KEYS.globex)),
          open(t, url(route), bearer(API_KEYS.acme)),
        ]);
        // Everything else works for the restricted tenant, prompts and resources included.
        await expectBasics(restricted, { route, tools: toolsOf(route, [DENIED_TOOL]) });
        // The remaining tool entries are exactly the unrestricted tenant's.
        const [r, f] = await Promise.all([restricted.client.listTools(), full.client.listTools()]);
        assert.deepEqual(r.tools, f.tools.filter((x) => x.name !== DENIED_TOOL));

        await assert.rejects(restricted.call(DENIED_TOOL), (err) => {
          assert.ok(err instanceof McpError, `expected McpError, got ${err}`);
          assert.equal(err.code, ErrorCode.InvalidParams);
          assert.match(err.message, new RegExp(`Tool ${DENIED_TOOL} not found`));
          return true;
        });
        // The refusal does not break the session.
        assert.equal(textOf(await restricted.call('echo', { text: 'still here' })), 'still here');

        await expectBasics(full, { route });
        assert.equal(textOf(await full.call(DENIED_TOOL)), F.SIMPLE_TEXT);
      });
    }
  });

  describe('4. no credentials', () => {
    for (const { label, route } of ROUTES) {
      it(`${label} ${route}: connect fails with StreamableHTTPError 401 and a Bearer challenge`, async () => {
        const err = await expectConnectRefused(url(route), undefined, 401);
        assert.equal(bodyOf(err)?.error?.code, -32041, err.message);

        // The same request on the wire: 401 with WWW-Authenticate pointing at the route's metadata.
        const raw = await rawPost(url(route), {
          body: { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: LATEST, capabilities: {}, clientInfo: CLIENT_INFO } },
        });
        assert.equal(raw.status, 401, raw.text);
        const challenge = raw.headers.get('www-authenticate') ?? '';
        assert.match(challenge, /^Bearer /, challenge);
        assert.match(challenge, new RegExp(`resource_metadata="[^"]*/\\.well-known/oauth-protected-resource${route}"`), challenge);
        assert.equal(raw.headers.get('mcp-session-id'), null);
      });
    }

    it('an unknown API key is 401 (invalid_token); the legacy /sse without credentials is SseError 401', async () => {
      const unknown = bearer(`nobody-${randomBytes(16).toString('hex')}`);
      const err = await expectConnectRefused(url('/mcp'), unknown, 401);
      assert.equal(bodyOf(err)?.error?.code, -32041, err.message);
      const raw = await rawPost(url('/mcp'), {
        body: { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: LATEST, capabilities: {}, clientInfo: CLIENT_INFO } },
        headers: unknown,
      });
      assert.equal(raw.status, 401, raw.text);
      assert.match(raw.headers.get('www-authenticate') ?? '', /^Bearer .*error="invalid_token"/);
      assert.ok(!raw.text.includes(unknown.Authorization.slice(7)), 'the presented key is echoed in the error');

      const client = new Client({ ...CLIENT_INFO }, { capabilities: {} });
      await assert.rejects(client.connect(new SSEClientTransport(new URL(url('/mcp/sse'))), { timeout: REQUEST_TIMEOUT_MS }), (e) => {
        assert.ok(e instanceof SseError, `expected SseError, got ${e?.constructor?.name}: ${e}`);
        assert.equal(e.code, 401, e.message);
        return true;
      });
      await client.close().catch(() => {});
    });
  });

  describe('5. legacy HTTP+SSE (SSEClientTransport) with the API key', () => {
    for (const { label, route } of ROUTES) {
      it(`${label} ${route}/sse: connect, tools/list, tools/call`, async (t) => {
        const c = await connectSse(url(`${route}/sse`), bearer(API_KEYS.acme));
        t.after(() => c.close());
        const { tools } = await c.client.listTools(undefined, { timeout: REQUEST_TIMEOUT_MS });
        assert.deepEqual(tools.map((x) => x.name), toolsOf(route));
        const text = `legacy ${route} ✓`;
        assert.deepEqual((await c.call('echo', { text })).content, [{ type: 'text', text }]);
        assert.equal(textOf(await c.call(DENIED_TOOL)), F.SIMPLE_TEXT);

        // The credential was on the EventSource GET and on every POST, and all were accepted.
        const get = c.requests.find((r) => r.method === 'GET');
        assert.equal(get?.status, 200, JSON.stringify(c.requests));
        // (A reply on the stream can overtake the 202 of its POST: wait for every status.)
        const posts = await waitUntil(() => {
          const ps = c.requests.filter((r) => r.method === 'POST');
          return ps.every((r) => r.status !== undefined) ? ps : undefined;
        }, { what: 'the responses to the transport\'s POSTs' });
        assert.ok(posts.length >= 4, JSON.stringify(c.requests));
        for (const r of [get, ...posts]) assert.equal(r.headers.authorization, `Bearer ${API_KEYS.acme}`, `${r.method} ${r.url}`);
        for (const r of posts) assert.equal(r.status, 202, `${r.method} ${r.url}`);

        // The message endpoint is bound to the principal: no credentials → 401, another tenant → 404.
        const endpoint = posts[0].url;
        const ping = JSON.stringify({ jsonrpc: '2.0', id: 99, method: 'ping' });
        const anon = await fetch(endpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body: ping });
        assert.equal(anon.status, 401, await anon.text());
        const other = await fetch(endpoint, { method: 'POST', headers: { 'content-type': 'application/json', ...bearer(API_KEYS.globex) }, body: ping });
        assert.equal(other.status, 404, await other.text());
        // ... and the session still works for its owner.
        assert.equal(textOf(await c.call('echo', { text: 'after' })), 'after');
        assert.deepEqual(c.errors.map(String), []);
      });

      it(`${label} ${route}/sse: the restricted tenant's policy applies on this transport too`, async (t) => {
        const c = await connectSse(url(`${route}/sse`), bearer(API_KEYS.globex));
        t.after(() => c.close());
        const { tools } = await c.client.listTools(undefined, { timeout: REQUEST_TIMEOUT_MS });
        assert.deepEqual(tools.map((x) => x.name), toolsOf(route, [DENIED_TOOL]));
        await assert.rejects(c.call(DENIED_TOOL), (err) => {
          assert.ok(err instanceof McpError, `expected McpError, got ${err}`);
          assert.equal(err.code, ErrorCode.InvalidParams);
          assert.match(err.message, new RegExp(`Tool ${DENIED_TOOL} not found`));
          return true;
        });
        assert.equal(textOf(await c.call('echo', { text: 'globex' })), 'globex');
      });
    }
  });

  describe('6. sessions are bound to their principal', () => {
    it('two tenants at once: each works; B reusing A\'s session id gets 404 (SDK and raw POST/GET/DELETE)', async (t) => {
      const [a, b] = await Promise.all([
        open(t, url('/mcp'), bearer(API_KEYS.acme)),
        open(t, url('/mcp'), bearer(API_KEYS.globex)),
      ]);
      const sid = a.transport.sessionId;
      assert.ok(sid);
      assert.notEqual(sid, b.transport.sessionId);
      await Promise.all([a.call('remember', { value: 'alpha' }), b.call('remember', { value: 'beta' })]);
      assert.equal(textOf(await a.call('recall')), 'alpha');
      assert.equal(textOf(await b.call('recall')), 'beta');
      assert.equal((await a.client.listTools()).tools.length, EXPECTED_TOOLS.length);
      assert.equal((await b.client.listTools()).tools.length, EXPECTED_TOOLS.length - 1);

      // An SDK client with B's key resuming A's session id.
      const hijack = await open(t, url('/mcp'), bearer(API_KEYS.globex), { sessionId: sid });
      await assert.rejects(hijack.call('recall'), (err) => {
        assert.ok(err instanceof StreamableHTTPError, `expected StreamableHTTPError, got ${err?.constructor?.name}: ${err}`);
        assert.equal(err.code, 404, err.message);
        return true;
      });

      // Raw, with other principals: B's key, the X-Api-Key header with B's key, and a JWT of
      // A's own tenant (same tenant, different principal). DELETE last: it must not end A's session.
      const others = [bearer(API_KEYS.globex), { 'X-Api-Key': API_KEYS.globex }, bearer(jwt({ org: 'acme', sub: 'mallory' }))];
      for (const headers of others) {
        const p = await rawPost(url('/mcp'), { body: { jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'recall', arguments: {} } }, sessionId: sid, protocolVersion: LATEST, headers });
        assert.equal(p.status, 404, `POST ${JSON.stringify(Object.keys(headers))}: ${p.status} ${p.text}`);
        assert.ok(!p.text.includes('alpha'), 'A\'s state leaked');
        const g = await rawRequest(url('/mcp'), 'GET', { sessionId: sid, protocolVersion: LATEST, headers });
        assert.equal(g.status, 404, `GET ${JSON.stringify(Object.keys(headers))}`);
        const d = await rawRequest(url('/mcp'), 'DELETE', { sessionId: sid, protocolVersion: LATEST, headers });
        assert.equal(d.status, 404, `DELETE ${JSON.stringify(Object.keys(headers))}`);
      }
      // Without credentials: 401 before any session lookup.
      const anon = await rawPost(url('/mcp'), { body: { jsonrpc: '2.0', id: 6, method: 'ping' }, sessionId: sid, protocolVersion: LATEST });
      assert.equal(anon.status, 401, anon.text);

      // A's session is untouched, and its owner can end it.
      assert.equal(textOf(await a.call('recall')), 'alpha');
      assert.equal(textOf(await b.call('recall')), 'beta');
      await a.transport.terminateSession();
      const gone = await rawPost(url('/mcp'), { body: { jsonrpc: '2.0', id: 7, method: 'ping' }, sessionId: sid, protocolVersion: LATEST, headers: bearer(API_KEYS.acme) });
      assert.equal(gone.status, 404, gone.text);
    });

    it('JWT sessions: another subject of the same tenant gets 404; the same subject with a fresh token keeps the session', async (t) => {
      const alice = await open(t, url('/mcp'), bearer(jwt({ sub: 'alice' })));
      const sid = alice.transport.sessionId;
      await alice.call('remember', { value: 'alice-state' });

      const bob = await open(t, url('/mcp'), bearer(jwt({ sub: 'bob' })), { sessionId: sid });
      await assert.rejects(bob.call('recall'), (err) => err instanceof StreamableHTTPError && err.code === 404);

      // A new token for the same principal (token refresh) may continue the session.
      const refreshed = await open(t, url('/mcp'), bearer(jwt({ sub: 'alice', jti: randomUUID() })), { sessionId: sid });
      assert.equal(textOf(await refreshed.call('recall')), 'alice-state');
    });
  });
});
