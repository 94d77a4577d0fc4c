// The auth filter (plugins/auth/README.md) seen from outside: credentials (API keys in
// `Authorization: Bearer` and in `api_key_header`, JWTs signed with RS256 and ES256 keys from
// a JWKS file), every refusal with its exact status, JSON-RPC code and WWW-Authenticate
// challenge, authentication of every request (POST, GET, DELETE, the 2024-11-05 endpoints),
// sessions bound to their principal (404 like an unknown id), tenant policy (tools cut from
// tools/list, "Tool <name> not found", routes), token scopes (403 insufficient_scope), the
// RFC 9728 protected resource metadata, credentials for backends (no client credential
// reaches a backend; `headers`, `tenant_headers`, `${VAR}`, stdio `tenant_env`), the filter
// chain with method_filter after auth, `--check-config` of a plain API key, and no secret in
// the gateway's output at --log-level debug.
//
// One conformance backend (HTTP, with the `request_headers` tool), one main gateway at
// --log-level debug (routes /mcp and /mcp2 → the HTTP backend, /mcp-stdio → the stdio
// conformance server, three tenants, API keys and JWTs, the method_filter after auth), and a
// small API-key-only gateway without scopes for the bare 401 challenge. Keys and tokens are
// made here with node:crypto; the JWKS is written to a temp dir.
import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes, sign as cryptoSign } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  BACKEND_SCRIPT, MCPGW_BIN, NODE_BIN, addDiagnostics, callTool, deepMerge, initialize, initializeBody, keyPair, makeTempDir,
  mcpPost, openGetStream, procStat, request, requireBackend, requireGatewayBinary, runGateway, safeJson, spawnTracked,
  startConformanceBackend, stopChild, toYaml,
} from './lib.mjs';

// ---------------------------------------------------------------------------------------
// Constants, keys and tokens.

const RESOURCE = 'https://mcp.example.com/mcp';
const ISSUER = 'https://auth.example.com';
const METADATA_MCP = 'https://mcp.example.com/.well-known/oauth-protected-resource/mcp';
const METADATA_MCP2 = 'https://mcp.example.com/.well-known/oauth-protected-resource/mcp2';
const SCOPED_TOOL = 'test_tool_with_progress'; // acme's rule: needs scope "deploy" (JWT principals)
const DENIED_TOOL = 'test_simple_text'; // gamma's deny glob "*simple*" matches only this tool

const secret = (label) => `${label}-${randomBytes(12).toString('hex')}`;
const KEY_A1 = secret('acme-key-one');
const KEY_A2 = secret('acme-key-two');
const KEY_B = secret('beta-key');
const KEY_G = secret('gamma-key');
const KEY_SOLO = secret('solo-key');
const UNKNOWN_KEY = secret('unknown-key');
const HEADER_SECRET = secret('header-env'); // ${MCPGW_IT_HEADER_SECRET} in a backend header
const TENANT_SECRET = secret('tenant-env'); // ${MCPGW_IT_TENANT_SECRET} in acme's stdio tenant_env
const ACME_BACKEND_KEY = 'acme-secret'; // tenant_headers.acme.X-Backend-Key

const digest = (key) => `sha256:${createHash('sha256').update(key).digest('hex')}`;

const rsa = keyPair('rsa', { modulusLength: 2048 });
const ec = keyPair('ec', { namedCurve: 'P-256' });
const RSA_KID = 'rsa-1';
const EC_KID = 'ec-1';

const b64u = (v) => Buffer.from(v).toString('base64url');
/** Every token made here, so the log check can look for all of them. */
const issuedTokens = new Set();
function makeJwt(header, claims, signer) {
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(claims))}`;
  const token = `${input}.${signer ? b64u(signer(input)) : ''}`;
  issuedTokens.add(token);
  return token;
}
const rs256 = (input) => cryptoSign('sha256', Buffer.from(input), rsa.privateKey);
const es256 = (input) => cryptoSign('sha256', Buffer.from(input), { key: ec.privateKey, dsaEncoding: 'ieee-p1363' });
const hs256 = (key) => (input) => createHmac('sha256', key).update(input).digest();

const now = () => Math.floor(Date.now() / 1000);
const claims = (extra = {}) => ({ iss: ISSUER, aud: RESOURCE, sub: 'alice', org: 'acme', iat: now(), exp: now() + 600, scope: 'read', ...extra });
const rsToken = (extra) => makeJwt({ alg: 'RS256', typ: 'JWT', kid: RSA_KID }, claims(extra), rs256);
const esToken = (extra) => makeJwt({ alg: 'ES256', typ: 'JWT', kid: EC_KID }, claims(extra), es256);

// ---------------------------------------------------------------------------------------
// Helpers.

const bearer = (credential) => ({ authorization: `Bearer ${credential}` });
const apiKeyHeader = (key) => ({ 'x-api-key': key });
const sessionHeaders = (s) => ({ 'mcp-session-id': s.sessionId, 'mcp-protocol-version': s.protocolVersion });
const textOf = (r) => r.message?.result?.content?.[0]?.text;
const SESSION_ID = /^[0-9a-f]{32}$/;
const unknownSessionId = () => randomBytes(16).toString('hex');

/** Parse `Bearer k="v", k2="v2"` into { scheme, params }; throws on anything else. */
function parseChallenge(value) {
  assert.equal(typeof value, 'string', 'expected a WWW-Authenticate header');
  const m = /^(\S+)(?: (.*))?$/.exec(value);
  assert.ok(m, `WWW-Authenticate: ${value}`);
  const params = {};
  const rest = m[2] ?? '';
  const re = /\s*([A-Za-z_]+)="((?:[^"\\]|\\.)*)"\s*(?:,|$)/y;
  let pos = 0;
  while (pos < rest.length) {
    re.lastIndex = pos;
    const p = re.exec(rest);
    assert.ok(p, `WWW-Authenticate parameters unparsable at ${pos}: ${value}`);
    assert.ok(!(p[1] in params), `parameter ${p[1]} twice: ${value}`);
    params[p[1]] = p[2].replace(/\\(.)/g, '$1');
    pos = re.lastIndex;
  }
  return { scheme: m[1], params };
}

/**
 * An HTTP error from the auth filter: status, a JSON-RPC error body with `code` (id null), and
 * the WWW-Authenticate challenge (`challenge`: exact params expected, with `true` meaning
 * "present, any value"; null: no header). `id`: the JSON-RPC id of the body, null when the
 * request was refused before its body was read. Returns the parsed challenge.
 */
function assertRefused(r, { status, code, challenge, id = null }) {
  const where = `HTTP ${r.status} www-authenticate=${r.headers['www-authenticate']} body=${r.text}`;
  assert.equal(r.status, status, `status: ${where}`);
  assert.match(r.headers['content-type'] ?? '', /^application\/json/, `content-type: ${where}`);
  const body = r.json;
  assert.ok(body && body.jsonrpc === '2.0' && body.error, `expected a JSON-RPC error body: ${where}`);
  assert.equal(body.error.code, code, `error.code: ${where}`);
  assert.equal(typeof body.error.message, 'string', where);
  assert.equal(body.id, id, `id: ${where}`);
  if (challenge === null) {
    assert.equal(r.headers['www-authenticate'], undefined, `no WWW-Authenticate expected: ${where}`);
    return undefined;
  }
  const c = parseChallenge(r.headers['www-authenticate']);
  assert.equal(c.scheme, 'Bearer', where);
  assert.deepEqual(Object.keys(c.params).sort(), Object.keys(challenge).sort(), `challenge parameters: ${where}`);
  for (const [k, v] of Object.entries(challenge)) {
    if (v === true) assert.ok(c.params[k].length > 0, `${k} empty: ${where}`);
    else assert.equal(c.params[k], v, `${k}: ${where}`);
  }
  return c;
}

/** The 401 invalid_token challenge of the main gateway on /mcp. */
const INVALID_TOKEN = { resource_metadata: METADATA_MCP, error: 'invalid_token', error_description: true, scope: 'deploy' };
const INVALID_REQUEST_400 = { resource_metadata: METADATA_MCP, error: 'invalid_request', error_description: true };

/** Neither the response (status line aside: headers and body) nor anything else shows `secrets`. */
function assertNoSecretsIn(text, secrets, where) {
  for (const s of secrets) {
    if (!s) continue;
    assert.ok(!text.includes(s), `${where} contains a secret (${s.slice(0, 12)}…)`);
  }
}
const responseText = (r) => `${JSON.stringify(r.headers)}\n${r.text}`;

/** The answer to an unknown session and the answer to a foreign one must be the same. */
function assertLikeUnknown(foreign, unknown, what) {
  const where = `${what}: foreign=HTTP ${foreign.status} ${foreign.text} | unknown=HTTP ${unknown.status} ${unknown.text}`;
  assert.equal(unknown.status, 404, where);
  assert.equal(foreign.status, 404, where);
  assert.equal(foreign.headers['content-type'], unknown.headers['content-type'], where);
  assert.equal(foreign.headers['www-authenticate'], unknown.headers['www-authenticate'], where);
  if (unknown.text.length) {
    assert.equal(unknown.json?.error?.code, -32001, where);
    assert.deepEqual(foreign.json, unknown.json, where);
  } else {
    assert.equal(foreign.text, unknown.text, where);
  }
}

const listTools = async (url, s, headers, id = 7) => {
  const r = await mcpPost(url, { jsonrpc: '2.0', id, method: 'tools/list', params: {} }, { ...s && { sessionId: s.sessionId, protocolVersion: s.protocolVersion }, headers });
  return { ...r, message: r.messages.find((m) => m && m.id === id && !('method' in m)) };
};
const toolNames = (r) => {
  assert.equal(r.status, 200, r.text);
  assert.ok(Array.isArray(r.message?.result?.tools), r.text);
  return r.message.result.tools.map((t) => t.name).sort();
};

async function echo(url, s, headers, text = 'through the gateway') {
  const r = await callTool(url, s, 'echo', { text }, { headers });
  assert.equal(r.status, 200, r.text);
  assert.equal(textOf(r), text, r.text);
}

/** The headers the HTTP backend saw on a tools/call of `request_headers`. */
async function backendHeaders(url, s, headers) {
  const r = await callTool(url, s, 'request_headers', {}, { headers });
  assert.equal(r.status, 200, r.text);
  const h = safeJson(textOf(r));
  assert.ok(h && typeof h === 'object', `request_headers answered ${r.text}`);
  return h;
}

// ---------------------------------------------------------------------------------------
// A gateway started here rather than with lib's startGateway, for the extra command-line
// arguments (--log-level debug) and a complete transcript of its output (lib keeps the last
// 5000 lines only).
async function startAuthGateway({ name, config, env = {}, args = [], timeoutMs = 15_000 }) {
  requireGatewayBinary();
  const dir = makeTempDir('mcpgw-it-auth-');
  const cfg = deepMerge({ listen: '127.0.0.1:0', admin_listen: '127.0.0.1:0', log_level: 'info' }, config);
  const configPath = path.join(dir, 'gateway.yaml');
  const yaml = `# generated by tests/integration/auth.test.mjs\n${toYaml(cfg)}`;
  writeFileSync(configPath, yaml);
  const entry = spawnTracked(name, MCPGW_BIN, ['--config', configPath, ...args], { cwd: dir, env: { ...process.env, ...env } });
  const transcript = [];
  entry.listeners.add((which, line) => transcript.push(`${which}: ${line}`));
  const listening = await entry.waitForLine((s, l) => {
    if (s !== 'stderr' || !l.startsWith('{')) return undefined;
    const o = JSON.parse(l);
    return o.msg === 'listening' && typeof o.listen === 'string' ? o : undefined;
  }, timeoutMs, 'gateway {"msg":"listening"} line on stderr').catch(async (err) => { await stopChild(entry); throw err; });
  const port = Number(listening.listen.slice(listening.listen.lastIndexOf(':') + 1));
  const origin = `http://127.0.0.1:${port}`;
  const gw = {
    name, port, origin, url: `${origin}/mcp`, proc: entry, configPath, yaml, transcript,
    logs: () => entry.stderr.flatMap((l) => { try { return [JSON.parse(l)]; } catch { return []; } }),
    stop: () => stopChild(entry),
    diagnostics: () => `${entry.diagnostics(40)}\n--- config ${configPath}\n${yaml}`,
  };
  addDiagnostics(gw.diagnostics);
  return gw;
}

/** The gateway's log object matching pred (already logged or within timeoutMs). */
const waitLog = (gw, pred, timeoutMs, what) => gw.proc.waitForLine((s, l) => {
  if (s !== 'stderr' || !l.startsWith('{')) return undefined;
  const o = JSON.parse(l);
  return pred(o) ? o : undefined;
}, timeoutMs, what);

// ---------------------------------------------------------------------------------------
// Set-up: backend, JWKS, gateways.

let backend;
let gw; // main gateway, --log-level debug
let solo; // API keys only, no scopes
let gwUrl2; // /mcp2
let gwStdio; // /mcp-stdio
let rsaPublicPem;

before(async () => {
  requireBackend();
  const dir = makeTempDir('mcpgw-it-auth-jwks-');
  const jwksPath = path.join(dir, 'jwks.json');
  const jwk = (key, kid) => ({ ...key.export({ format: 'jwk' }), kid, use: 'sig' });
  writeFileSync(jwksPath, JSON.stringify({ keys: [jwk(rsa.publicKey, RSA_KID), jwk(ec.publicKey, EC_KID)] }));
  rsaPublicPem = rsa.publicKey.export({ type: 'spki', format: 'pem' });

  backend = await startConformanceBackend();
  const httpBackend = (extra = {}) => ({ url: backend.url, timeout: '10s', connect_timeout: '2s', ...extra });
  gw = await startAuthGateway({
    name: 'gateway-auth',
    args: ['--log-level', 'debug'],
    env: { MCPGW_IT_HEADER_SECRET: HEADER_SECRET, MCPGW_IT_TENANT_SECRET: TENANT_SECRET },
    config: {
      backends: [
        {
          name: 'conf',
          http: httpBackend({
            headers: { 'X-Backend-Key': 'static', 'X-Env-Secret': 'env-${MCPGW_IT_HEADER_SECRET}' },
            tenant_headers: { acme: { 'X-Backend-Key': ACME_BACKEND_KEY } },
          }),
        },
        {
          name: 'files',
          stdio: {
            command: [NODE_BIN, BACKEND_SCRIPT, '--stdio'],
            pool: { warm: 1, max: 10 },
            timeout: '10s',
            tenant_env: { acme: { TENANT_SECRET: '${MCPGW_IT_TENANT_SECRET}' } },
          },
        },
      ],
      routes: [{ path: '/mcp', backend: 'conf' }, { path: '/mcp2', backend: 'conf' }, { path: '/mcp-stdio', backend: 'files' }],
      tenants: [
        { name: 'acme', api_keys: [digest(KEY_A1), digest(KEY_A2)], scopes: [{ tools: SCOPED_TOOL, scopes: ['deploy'] }] },
        { name: 'beta', api_keys: [digest(KEY_B)] },
        { name: 'gamma', api_keys: [digest(KEY_G)], allow: { routes: ['/mcp'] }, deny: { tools: ['*simple*'] } },
      ],
      filters: [
        {
          auth: {
            resource: RESOURCE,
            authorization_servers: [ISSUER],
            api_key_header: 'X-Api-Key',
            jwt: { issuer: ISSUER, jwks_file: jwksPath, tenant_claim: 'org', leeway: '60s' },
          },
        },
        { method_filter: { deny: ['prompts/*'] } },
      ],
    },
  });
  gwUrl2 = `${gw.origin}/mcp2`;
  gwStdio = `${gw.origin}/mcp-stdio`;

  solo = await startAuthGateway({
    name: 'gateway-solo',
    config: {
      backends: [{ name: 'conf', http: httpBackend() }],
      routes: [{ path: '/mcp', backend: 'conf' }],
      tenants: [{ name: 'solo', api_keys: [digest(KEY_SOLO)] }],
      filters: [{ auth: { resource: RESOURCE, authorization_servers: [ISSUER], api_key_header: 'X-Api-Key' } }],
    },
  });
}, { timeout: 30_000 });

after(async () => {
  await solo?.stop();
  await gw?.stop();
  await backend?.stop();
});

// ---------------------------------------------------------------------------------------
describe('no or malformed credentials', () => {
  test('no credentials → 401, WWW-Authenticate names the route\'s metadata document, JSON-RPC -32041', async () => {
    const r = await mcpPost(solo.url, initializeBody());
    assertRefused(r, { status: 401, code: -32041, challenge: { resource_metadata: METADATA_MCP } });
    assert.equal(r.headers['www-authenticate'], `Bearer resource_metadata="${METADATA_MCP}"`);
    assert.equal(r.headers['mcp-session-id'], undefined);
    // the same request with the key goes through
    const s = await initialize(solo.url, { headers: bearer(KEY_SOLO) });
    await echo(solo.url, s, apiKeyHeader(KEY_SOLO));
  });

  test('no credentials on a gateway whose tenants name scopes → the challenge adds scope="deploy"; /mcp2 points at its own document', async () => {
    const r = await mcpPost(gw.url, initializeBody());
    assertRefused(r, { status: 401, code: -32041, challenge: { resource_metadata: METADATA_MCP, scope: 'deploy' } });
    assert.equal(r.headers['www-authenticate'], `Bearer resource_metadata="${METADATA_MCP}", scope="deploy"`);
    const r2 = await mcpPost(gwUrl2, initializeBody());
    assertRefused(r2, { status: 401, code: -32041, challenge: { resource_metadata: METADATA_MCP2, scope: 'deploy' } });
  });

  test('Authorization "Bearer" alone, "Bearer a b" and bad characters → 400 error="invalid_request", JSON-RPC -32600', async () => {
    for (const value of ['Bearer', 'Bearer ', 'Bearer a b', `Bearer ${KEY_A1} extra`, 'Bearer ab"c', 'Bearer a,b']) {
      const r = await mcpPost(gw.url, initializeBody(), { headers: { authorization: value } });
      assertRefused(r, { status: 400, code: -32600, challenge: INVALID_REQUEST_400 });
      assertNoSecretsIn(responseText(r), [KEY_A1], `answer to ${JSON.stringify(value)}`);
    }
  });

  test('another scheme (Basic …) → 401 error="invalid_request"', async () => {
    const basic = `Basic ${Buffer.from(`acme:${KEY_A1}`).toString('base64')}`;
    const r = await mcpPost(gw.url, initializeBody(), { headers: { authorization: basic } });
    assertRefused(r, { status: 401, code: -32041, challenge: { resource_metadata: METADATA_MCP, error: 'invalid_request', error_description: true, scope: 'deploy' } });
  });

  test('?access_token= in the URL → 400 error="invalid_request", even with a valid key and with a valid header', async () => {
    for (const [url, headers] of [
      [`${gw.url}?access_token=${KEY_A1}`, {}],
      [`${gw.url}?x=1&access_token=${KEY_A1}`, {}],
      [`${gw.url}?access_token=${KEY_A1}`, bearer(KEY_A1)],
    ]) {
      const r = await mcpPost(url, initializeBody(), { headers });
      assertRefused(r, { status: 400, code: -32600, challenge: INVALID_REQUEST_400 });
      assertNoSecretsIn(responseText(r), [KEY_A1], `answer to ${url}`);
      assert.equal(r.headers['mcp-session-id'], undefined);
    }
  });

  test('unknown API key (Bearer and X-Api-Key) → 401 error="invalid_token"; the key is neither in the answer nor in the gateway\'s output', async () => {
    for (const headers of [bearer(UNKNOWN_KEY), apiKeyHeader(UNKNOWN_KEY)]) {
      const r = await mcpPost(gw.url, initializeBody(), { headers });
      assertRefused(r, { status: 401, code: -32041, challenge: INVALID_TOKEN });
      assertNoSecretsIn(responseText(r), [UNKNOWN_KEY], 'the answer');
    }
    // the refusal is logged (so the output was written) and the key is not in it
    await waitLog(gw, (o) => o.msg === 'request refused' && o.status === '401', 3000, '"request refused" log');
    assertNoSecretsIn(gw.transcript.join('\n'), [UNKNOWN_KEY], 'the gateway\'s output');
  });
});

// ---------------------------------------------------------------------------------------
describe('JWT verification', () => {
  const refusedToken = async (token, what) => {
    const r = await mcpPost(gw.url, initializeBody(), { headers: bearer(token) });
    assertRefused(r, { status: 401, code: -32041, challenge: INVALID_TOKEN });
    assert.equal(r.headers['mcp-session-id'], undefined, what);
    assertNoSecretsIn(responseText(r), [token, token.split('.')[2]], `answer to ${what}`);
    return r;
  };

  test('RS256 and ES256 tokens from the JWKS are accepted (initialize, tools/list, tools/call)', async () => {
    for (const token of [rsToken(), esToken()]) {
      const s = await initialize(gw.url, { headers: bearer(token) });
      assert.match(s.sessionId, SESSION_ID);
      assert.ok(toolNames(await listTools(gw.url, s, bearer(token))).includes('echo'));
      await echo(gw.url, s, bearer(token));
    }
  });

  test('expired beyond the 60s leeway → 401 invalid_token (within the leeway: accepted)', async () => {
    await refusedToken(rsToken({ iat: now() - 7200, exp: now() - 3600 }), 'expired an hour ago');
    await refusedToken(esToken({ iat: now() - 7200, exp: now() - 120 }), 'expired two minutes ago');
    const s = await initialize(gw.url, { headers: bearer(rsToken({ exp: now() - 20 })) });
    assert.match(s.sessionId, SESSION_ID);
  });

  test('nbf in the future → 401 invalid_token', async () => {
    await refusedToken(rsToken({ nbf: now() + 3600 }), 'nbf in an hour');
  });

  test('wrong issuer → 401 invalid_token', async () => {
    await refusedToken(rsToken({ iss: 'https://evil.example.com' }), 'wrong iss');
    await refusedToken(esToken({ iss: `${ISSUER}/` }), 'iss with a trailing slash');
  });

  test('wrong audience → 401 invalid_token (the route\'s own URL is accepted)', async () => {
    await refusedToken(rsToken({ aud: 'https://other.example.com/mcp' }), 'wrong aud');
    await refusedToken(rsToken({ aud: ['https://other.example.com/mcp', 'https://mcp.example.com'] }), 'wrong aud list');
    const s = await initialize(gwUrl2, { headers: bearer(rsToken({ aud: ['https://other.example.com', 'https://mcp.example.com/mcp2'] })) });
    assert.match(s.sessionId, SESSION_ID);
  });

  test('another route\'s URL as the audience → 401 invalid_token (a route\'s own URL counts on that route only)', async () => {
    const forMcp2 = rsToken({ aud: 'https://mcp.example.com/mcp2' });
    await refusedToken(forMcp2, 'aud of /mcp2 on /mcp');
    const r = await mcpPost(gwStdio, initializeBody(), { headers: bearer(esToken({ aud: 'https://mcp.example.com/mcp2' })) });
    assertRefused(r, { status: 401, code: -32041, challenge: { ...INVALID_TOKEN, resource_metadata: 'https://mcp.example.com/.well-known/oauth-protected-resource/mcp-stdio' } });
    // the same token on its own route
    const s = await initialize(gwUrl2, { headers: bearer(forMcp2) });
    assert.match(s.sessionId, SESSION_ID);
  });

  test('bad signature (payload tampered after signing) → 401 invalid_token', async () => {
    for (const token of [rsToken(), esToken()]) {
      const [h, , sig] = token.split('.');
      const forged = `${h}.${b64u(JSON.stringify(claims({ sub: 'mallory', scope: 'read deploy' })))}.${sig}`;
      issuedTokens.add(forged);
      await refusedToken(forged, 'tampered payload');
    }
  });

  test('alg "none" → 401 invalid_token', async () => {
    await refusedToken(makeJwt({ alg: 'none', typ: 'JWT' }, claims()), 'alg none without kid');
    await refusedToken(makeJwt({ alg: 'none', typ: 'JWT', kid: RSA_KID }, claims()), 'alg none with the RSA kid');
    await refusedToken(makeJwt({ alg: 'none', typ: 'JWT', kid: RSA_KID }, claims(), rs256), 'alg none with an RS256 signature');
  });

  test('key confusion: HS256 keyed with the RSA public key PEM, kid of the RSA key → 401 invalid_token', async () => {
    await refusedToken(makeJwt({ alg: 'HS256', typ: 'JWT', kid: RSA_KID }, claims(), hs256(rsaPublicPem)), 'HS256 with the RSA PEM');
    // and an ES256 header on the RSA key, an RS256 header on the EC key
    await refusedToken(makeJwt({ alg: 'ES256', typ: 'JWT', kid: RSA_KID }, claims(), es256), 'ES256 on the RSA kid');
    await refusedToken(makeJwt({ alg: 'RS256', typ: 'JWT', kid: EC_KID }, claims(), rs256), 'RS256 on the EC kid');
  });

  test('a valid token whose tenant claim names an unknown tenant → 403, JSON-RPC -32043, no challenge', async () => {
    for (const token of [rsToken({ org: 'nosuch' }), esToken({ org: 'nosuch' })]) {
      const r = await mcpPost(gw.url, initializeBody(), { headers: bearer(token) });
      assertRefused(r, { status: 403, code: -32043, challenge: null });
      assert.equal(r.headers['mcp-session-id'], undefined);
    }
  });
});

// ---------------------------------------------------------------------------------------
describe('happy paths', () => {
  test('API key in Authorization: Bearer → initialize, tools/list, tools/call on the HTTP backend', async () => {
    const s = await initialize(gw.url, { headers: bearer(KEY_A1) });
    assert.match(s.sessionId, SESSION_ID);
    const names = toolNames(await listTools(gw.url, s, bearer(KEY_A1)));
    for (const t of ['echo', DENIED_TOOL, SCOPED_TOOL]) assert.ok(names.includes(t), names.join(' '));
    await echo(gw.url, s, bearer(KEY_A1));
  });

  test('API key in the configured api_key_header (X-Api-Key) → initialize, tools/list, tools/call', async () => {
    const s = await initialize(gw.url, { headers: apiKeyHeader(KEY_B) });
    assert.match(s.sessionId, SESSION_ID);
    assert.ok(toolNames(await listTools(gw.url, s, apiKeyHeader(KEY_B))).includes('echo'));
    await echo(gw.url, s, apiKeyHeader(KEY_B));
    const r = await callTool(gw.url, s, DENIED_TOOL, {}, { headers: apiKeyHeader(KEY_B) });
    assert.equal(r.status, 200, r.text);
    assert.ok(r.message?.result?.content?.length, r.text);
  });

  test('stdio backend route: initialize, tools/list, tools/call with an API key', async () => {
    const s = await initialize(gwStdio, { headers: bearer(KEY_B) });
    assert.match(s.sessionId, SESSION_ID);
    const names = toolNames(await listTools(gwStdio, s, bearer(KEY_B)));
    assert.ok(names.includes('pid') && names.includes('echo'), names.join(' '));
    await echo(gwStdio, s, bearer(KEY_B), 'through a stdio process');
  });
});

// ---------------------------------------------------------------------------------------
describe('every request is authenticated', () => {
  test('after initialize, tools/list, the GET stream and DELETE without credentials → 401; the session lives on', async () => {
    const s = await initialize(gw.url, { headers: bearer(KEY_A1) });
    const list = await listTools(gw.url, s, {});
    assertRefused(list, { status: 401, code: -32041, challenge: { resource_metadata: METADATA_MCP, scope: 'deploy' } });
    const get = await request(gw.url, { method: 'GET', headers: { accept: 'text/event-stream', ...sessionHeaders(s) }, timeoutMs: 3000 });
    assertRefused(get, { status: 401, code: -32041, challenge: { resource_metadata: METADATA_MCP, scope: 'deploy' } });
    const del = await request(gw.url, { method: 'DELETE', headers: sessionHeaders(s), timeoutMs: 3000 });
    assertRefused(del, { status: 401, code: -32041, challenge: { resource_metadata: METADATA_MCP, scope: 'deploy' } });
    // an unknown key is no better than none
    const del2 = await request(gw.url, { method: 'DELETE', headers: { ...sessionHeaders(s), ...bearer(UNKNOWN_KEY) }, timeoutMs: 3000 });
    assertRefused(del2, { status: 401, code: -32041, challenge: INVALID_TOKEN });
    await echo(gw.url, s, bearer(KEY_A1), 'not deleted');
  });

  test('2024-11-05: GET /mcp/sse and POST /mcp/message without credentials → 401', async () => {
    const sse = await request(`${gw.origin}/mcp/sse`, { method: 'GET', headers: { accept: 'text/event-stream' }, timeoutMs: 3000 });
    assertRefused(sse, { status: 401, code: -32041, challenge: { resource_metadata: METADATA_MCP, scope: 'deploy' } });
    const l = await openLegacy(gw.url, bearer(KEY_A1));
    try {
      const r = await request(l.endpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body: { jsonrpc: '2.0', id: 1, method: 'ping' } });
      assertRefused(r, { status: 401, code: -32041, challenge: { resource_metadata: METADATA_MCP, scope: 'deploy' } });
    } finally {
      l.close();
    }
  });
});

/** GET <route>/sse with headers; resolves once the endpoint event arrived. */
async function openLegacy(routeUrl, headers) {
  const stream = await openGetStream(`${routeUrl}/sse`, { headers });
  assert.equal(stream.status, 200, `GET ${routeUrl}/sse: ${stream.status} ${stream.text()}`);
  const ev = await stream.waitFor(({ events }) => events.find((e) => e.event === 'endpoint'), 5000);
  const endpoint = new URL(ev.data, routeUrl);
  return {
    stream,
    endpoint: endpoint.href,
    sessionId: endpoint.searchParams.get('sessionId'),
    post: (body, hdrs) => request(endpoint.href, { method: 'POST', headers: { 'content-type': 'application/json', ...hdrs }, body }),
    waitMessage: (pred, ms = 5000) => stream.waitFor(({ events }) => events.filter((e) => e.event === 'message' && e.data)
      .map((e) => safeJson(e.data)).find((m) => m && pred(m)), ms),
    close: () => stream.close(),
  };
}

// ---------------------------------------------------------------------------------------
describe('sessions belong to their principal', () => {
  const call = (url, s, headers, id, sessionId = s.sessionId) => mcpPost(url, { jsonrpc: '2.0', id, method: 'tools/list', params: {} },
    { sessionId, protocolVersion: s.protocolVersion, headers });
  const get = (url, sessionId, s, headers) => request(url, { method: 'GET', headers: { accept: 'text/event-stream', 'mcp-session-id': sessionId, 'mcp-protocol-version': s.protocolVersion, ...headers }, timeoutMs: 3000 });
  const del = (url, sessionId, s, headers) => request(url, { method: 'DELETE', headers: { 'mcp-session-id': sessionId, 'mcp-protocol-version': s.protocolVersion, ...headers }, timeoutMs: 3000 });

  /** POST, GET and DELETE of s with `other` answered exactly like an unknown id with `other`. */
  async function assertForeign(url, s, other, what) {
    const unknown = unknownSessionId();
    assertLikeUnknown(await call(url, s, other, 41), await call(url, s, other, 41, unknown), `POST ${what}`);
    assertLikeUnknown(await get(url, s.sessionId, s, other), await get(url, unknown, s, other), `GET ${what}`);
    assertLikeUnknown(await del(url, s.sessionId, s, other), await del(url, unknown, s, other), `DELETE ${what}`);
  }

  test('tenant A\'s session with tenant B\'s key (POST, GET, DELETE) → 404 exactly like an unknown session', async () => {
    const s = await initialize(gw.url, { headers: bearer(KEY_A1) });
    await assertForeign(gw.url, s, bearer(KEY_B), 'with beta\'s key in Authorization');
    await assertForeign(gw.url, s, apiKeyHeader(KEY_B), 'with beta\'s key in X-Api-Key');
    await echo(gw.url, s, bearer(KEY_A1), 'still mine'); // the foreign DELETE did nothing
  });

  test('same tenant, a second key (another principal) → 404 like an unknown session; the owner\'s key in X-Api-Key still works', async () => {
    const s = await initialize(gw.url, { headers: bearer(KEY_A1) });
    await assertForeign(gw.url, s, bearer(KEY_A2), 'with acme\'s second key');
    await echo(gw.url, s, apiKeyHeader(KEY_A1), 'same key, other header');
  });

  test('JWT sessions: another subject of the same tenant, or an API key of the tenant → 404; a fresh token of the same subject works', async () => {
    const s = await initialize(gw.url, { headers: bearer(rsToken({ sub: 'carol' })) });
    await assertForeign(gw.url, s, bearer(rsToken({ sub: 'dave' })), 'with another subject');
    await assertForeign(gw.url, s, bearer(KEY_A1), 'with an acme API key');
    await echo(gw.url, s, bearer(esToken({ sub: 'carol' })), 'same subject, other key and token');
  });

  test('2024-11-05: GET /mcp/sse with A, POST /mcp/message?sessionId=… with B or A\'s second key → 404 like an unknown id', async () => {
    const l = await openLegacy(gw.url, bearer(KEY_A1));
    try {
      assert.match(l.sessionId, SESSION_ID);
      const init = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2024-11-05', capabilities: {}, clientInfo: { name: 'auth-legacy', version: '0' } } };
      const unknownUrl = new URL(l.endpoint);
      unknownUrl.searchParams.set('sessionId', unknownSessionId());
      for (const other of [bearer(KEY_B), bearer(KEY_A2), apiKeyHeader(KEY_B)]) {
        const foreign = await l.post(init, other);
        const unknown = await request(unknownUrl.href, { method: 'POST', headers: { 'content-type': 'application/json', ...other }, body: init });
        assertLikeUnknown(foreign, unknown, `legacy POST with ${Object.keys(other)[0]}`);
      }
      const ok = await l.post(init, bearer(KEY_A1));
      assert.equal(ok.status, 202, ok.text);
      const msg = await l.waitMessage((m) => m.id === 0 && !('method' in m), 10_000);
      assert.ok(msg.result, JSON.stringify(msg));
    } finally {
      l.close();
    }
  });
});

// ---------------------------------------------------------------------------------------
describe('tenant policy', () => {
  test(`deny { tools: ["*simple*"] }: tools/list lacks ${DENIED_TOOL}, its call → 200 + -32602 "Tool ${DENIED_TOOL} not found", other tools work; a tenant without rules sees every tool`, async () => {
    const g = await initialize(gw.url, { headers: bearer(KEY_G) });
    const gammaNames = toolNames(await listTools(gw.url, g, bearer(KEY_G)));
    assert.ok(!gammaNames.includes(DENIED_TOOL), gammaNames.join(' '));
    assert.ok(gammaNames.includes('echo'), gammaNames.join(' '));

    const b = await initialize(gw.url, { headers: bearer(KEY_B) });
    const betaNames = toolNames(await listTools(gw.url, b, bearer(KEY_B)));
    assert.deepEqual(betaNames, [...gammaNames, DENIED_TOOL].sort());

    const r = await callTool(gw.url, g, DENIED_TOOL, {}, { headers: bearer(KEY_G) });
    assert.equal(r.status, 200, r.text);
    assert.ok(r.message, r.text);
    assert.equal(r.message.error?.code, -32602, r.text);
    assert.equal(r.message.error.message, `Tool ${DENIED_TOOL} not found`, r.text);
    assert.equal(r.message.result, undefined, r.text);

    await echo(gw.url, g, bearer(KEY_G), 'allowed');
    const other = await callTool(gw.url, g, 'test_error_handling', {}, { headers: bearer(KEY_G) });
    assert.equal(other.status, 200, other.text);
    assert.equal(other.message?.result?.isError, true, other.text);
  });

  test('params carrying both name and uri: the policy checks the one the backend acts on; a repeated name → 400 -32602', async () => {
    const g = await initialize(gw.url, { headers: bearer(KEY_G) });
    const both = await mcpPost(gw.url,
      { jsonrpc: '2.0', id: 51, method: 'tools/call', params: { name: DENIED_TOOL, uri: 'echo', arguments: {} } },
      { sessionId: g.sessionId, protocolVersion: g.protocolVersion, headers: bearer(KEY_G) });
    const answer = both.messages.find((m) => m && m.id === 51);
    assert.equal(answer?.error?.code, -32602, both.text);
    assert.equal(answer.error.message, `Tool ${DENIED_TOOL} not found`, both.text);
    const body = `{"jsonrpc":"2.0","id":52,"method":"tools/call","params":{"name":"echo","name":"${DENIED_TOOL}","arguments":{}}}`;
    const twice = await request(gw.url, {
      method: 'POST', body,
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...sessionHeaders(g), ...bearer(KEY_G) },
      timeoutMs: 3000,
    });
    assert.equal(twice.status, 400, twice.text);
    assert.equal(safeJson(twice.text)?.error?.code, -32602, twice.text);
    assert.match(twice.text, /params\.name appears twice/);
    // Two sets of arguments: the audit log would keep one and the backend might run the other.
    const args = await request(gw.url, {
      method: 'POST',
      body: '{"jsonrpc":"2.0","id":53,"method":"tools/call","params":{"name":"echo","arguments":{"text":"a"},"arguments":{"text":"b"}}}',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...sessionHeaders(g), ...bearer(KEY_G) },
      timeoutMs: 3000,
    });
    assert.equal(args.status, 400, args.text);
    assert.equal(safeJson(args.text)?.error?.code, -32602, args.text);
    assert.match(args.text, /params\.arguments appears twice/);
  });

  test('a request id already in flight on the session is refused (-32600) and the first call still completes', async () => {
    const g = await initialize(gw.url, { headers: bearer(KEY_G) });
    const first = callTool(gw.url, g, 'slow', { ms: 600 }, { id: 77, headers: bearer(KEY_G), timeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 150));
    const second = await callTool(gw.url, g, 'echo', { text: 'x' }, { id: 77, headers: bearer(KEY_G) });
    assert.equal(second.message?.error?.code, -32600, second.text);
    assert.match(second.message.error.message, /already in use by a request in flight/);
    const done = await first;
    assert.equal(done.message?.result?.content?.[0]?.text, 'done', done.text);
  });

  test('allow { routes: ["/mcp"] }: the same key on /mcp2 and /mcp-stdio → 403, JSON-RPC -32043', async () => {
    for (const url of [gwUrl2, gwStdio]) {
      const r = await mcpPost(url, initializeBody(), { headers: bearer(KEY_G) });
      assertRefused(r, { status: 403, code: -32043, challenge: null });
      assert.equal(r.headers['mcp-session-id'], undefined);
    }
    const sse = await request(`${gwUrl2}/sse`, { method: 'GET', headers: { accept: 'text/event-stream', ...bearer(KEY_G) }, timeoutMs: 3000 });
    assertRefused(sse, { status: 403, code: -32043, challenge: null });
    // other tenants may use /mcp2
    const s = await initialize(gwUrl2, { headers: bearer(KEY_B) });
    await echo(gwUrl2, s, bearer(KEY_B));
  });
});

// ---------------------------------------------------------------------------------------
describe('token scopes', () => {
  const INSUFFICIENT = { error: 'insufficient_scope', scope: 'deploy', resource_metadata: METADATA_MCP, error_description: true };
  const assertInsufficient = (r) => {
    assertRefused(r, { status: 403, code: -32043, id: r.id, challenge: INSUFFICIENT });
    assert.match(r.headers['www-authenticate'], /^Bearer error="insufficient_scope", scope="deploy", /);
  };
  const callScoped = (s, token) => callTool(gw.url, s, SCOPED_TOOL, {}, { headers: bearer(token) });
  const assertCalled = (r) => {
    assert.equal(r.status, 200, r.text);
    assert.equal(textOf(r), 'Tool with progress executed successfully', r.text);
  };

  test(`scopes [{ tools: ${SCOPED_TOOL}, scopes: [deploy] }]: a token without deploy → 403 insufficient_scope, scope="deploy"; other tools work`, async () => {
    for (const token of [rsToken({ sub: 'erin', scope: 'read write' }), esToken({ sub: 'erin2', scope: undefined }), rsToken({ sub: 'erin3', scope: undefined, scp: ['read'] })]) {
      const s = await initialize(gw.url, { headers: bearer(token) });
      assertInsufficient(await callScoped(s, token));
      await echo(gw.url, s, bearer(token), 'other tools need no scope');
    }
  });

  test(`a session opened with a token that has scope "deploy" (scope string or scp list) → ${SCOPED_TOOL} succeeds`, async () => {
    for (const token of [rsToken({ sub: 'ivan', scope: 'deploy' }), esToken({ sub: 'ivan', scope: 'read deploy' }), rsToken({ sub: 'ivan', scope: undefined, scp: ['deploy'] })]) {
      const s = await initialize(gw.url, { headers: bearer(token) });
      assertCalled(await callScoped(s, token));
    }
  });

  test('step-up: after 403 insufficient_scope, the same session with a new token of the same subject that has "deploy" → the call succeeds', async () => {
    const narrow = rsToken({ sub: 'judy', scope: 'read' });
    const s = await initialize(gw.url, { headers: bearer(narrow) });
    assertInsufficient(await callScoped(s, narrow));
    // the client re-authorizes with the scope the challenge named and retries (MCP
    // authorization, scope challenge handling): the token on the request has "deploy"
    assertCalled(await callScoped(s, rsToken({ sub: 'judy', scope: 'read deploy' })));
  });

  test('the scopes checked are those of the token on the request: a session opened with "deploy", then a token of the same subject without it → 403', async () => {
    const wide = rsToken({ sub: 'kate', scope: 'read deploy' });
    const s = await initialize(gw.url, { headers: bearer(wide) });
    assertCalled(await callScoped(s, wide));
    assertInsufficient(await callScoped(s, rsToken({ sub: 'kate', scope: 'read' })));
  });
});

// ---------------------------------------------------------------------------------------
describe('protected resource metadata (RFC 9728)', () => {
  const expected = (resource) => ({
    resource, authorization_servers: [ISSUER], bearer_methods_supported: ['header'], scopes_supported: ['deploy'], resource_name: 'mcpgw',
  });

  test('GET /.well-known/oauth-protected-resource and …/mcp, …/mcp2 → 200 JSON without credentials', async () => {
    for (const [p, resource] of [
      ['/.well-known/oauth-protected-resource', RESOURCE],
      ['/.well-known/oauth-protected-resource/mcp', RESOURCE],
      ['/.well-known/oauth-protected-resource/mcp2', 'https://mcp.example.com/mcp2'],
      ['/.well-known/oauth-protected-resource/mcp-stdio', 'https://mcp.example.com/mcp-stdio'],
    ]) {
      const r = await request(`${gw.origin}${p}`, { method: 'GET', headers: { accept: 'application/json' }, timeoutMs: 3000 });
      assert.equal(r.status, 200, `${p}: ${r.status} ${r.text}`);
      assert.match(r.headers['content-type'] ?? '', /^application\/json/, p);
      assert.deepEqual(r.json, expected(resource), `${p}: ${r.text}`);
    }
    const s = await request(`${solo.origin}/.well-known/oauth-protected-resource/mcp`, { method: 'GET', timeoutMs: 3000 });
    assert.equal(s.status, 200, s.text);
    assert.equal(s.json?.resource, RESOURCE, s.text);
    assert.deepEqual(s.json?.authorization_servers, [ISSUER], s.text);
    assert.deepEqual(s.json?.bearer_methods_supported, ['header'], s.text);
  });

  test('POST to the metadata documents → 405', async () => {
    for (const p of ['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/mcp']) {
      const r = await request(`${gw.origin}${p}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: {}, timeoutMs: 3000 });
      assert.equal(r.status, 405, `${p}: ${r.status} ${r.text}`);
    }
  });
});

// ---------------------------------------------------------------------------------------
describe('credentials for backends', () => {
  test('no client credential reaches the HTTP backend; X-Backend-Key is tenant_headers.acme for acme, headers\' "static" for others; ${VAR} expanded', async () => {
    const cases = [
      { tenant: 'acme (Bearer API key)', headers: bearer(KEY_A1), key: ACME_BACKEND_KEY, secrets: [KEY_A1] },
      { tenant: 'acme (X-Api-Key)', headers: apiKeyHeader(KEY_A2), key: ACME_BACKEND_KEY, secrets: [KEY_A2] },
      { tenant: 'beta (Bearer API key)', headers: bearer(KEY_B), key: 'static', secrets: [KEY_B] },
      { tenant: 'beta (X-Api-Key)', headers: apiKeyHeader(KEY_B), key: 'static', secrets: [KEY_B] },
      // a client cannot set the backend's credentials itself
      { tenant: 'beta (sending X-Backend-Key and X-Env-Secret itself)', headers: { ...bearer(KEY_B), 'x-backend-key': 'forged', 'x-env-secret': 'forged' }, key: 'static', secrets: [KEY_B, 'forged'] },
    ];
    const jwt = rsToken({ sub: 'frank' });
    cases.push({ tenant: 'acme (JWT)', headers: bearer(jwt), key: ACME_BACKEND_KEY, secrets: [jwt, jwt.split('.')[2]] });
    for (const c of cases) {
      const s = await initialize(gw.url, { headers: c.headers });
      const h = await backendHeaders(gw.url, s, c.headers);
      const where = `${c.tenant}: ${JSON.stringify(h)}`;
      assert.equal(h.authorization, undefined, where);
      assert.equal(h['x-api-key'], undefined, where);
      assert.equal(h['x-backend-key'], c.key, where);
      assert.equal(h['x-env-secret'], `env-${HEADER_SECRET}`, where);
      assertNoSecretsIn(JSON.stringify(h), c.secrets, `headers the backend got for ${c.tenant}`);
    }
  });

  test('stdio tenant_env: acme\'s process has TENANT_SECRET (its own process, not a warm one); beta\'s has not', async () => {
    const envOf = async (headers) => {
      const s = await initialize(gwStdio, { headers });
      const r = await callTool(gwStdio, s, 'env', {}, { headers });
      assert.equal(r.status, 200, r.text);
      const names = JSON.parse(r.message.result.content[0].text);
      const p = await callTool(gwStdio, s, 'pid', {}, { headers });
      const pid = Number(textOf(p));
      assert.equal(procStat(pid)?.ppid, gw.proc.pid, `pid ${pid} is not a child of the gateway`);
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      return { s, names, environ };
    };
    const beta = await envOf(bearer(KEY_B));
    assert.ok(!beta.names.includes('TENANT_SECRET'), beta.names.join(' '));
    assert.ok(!beta.environ.some((e) => e.includes(TENANT_SECRET)));

    const acme = await envOf(bearer(KEY_A1));
    assert.ok(acme.names.includes('TENANT_SECRET'), acme.names.join(' '));
    assert.ok(acme.environ.includes(`TENANT_SECRET=${TENANT_SECRET}`), 'TENANT_SECRET value in /proc/<pid>/environ');
    const started = await waitLog(gw, (o) => o.msg === 'session started' && o.session === acme.s.sessionId, 3000, 'acme\'s "session started"');
    assert.equal(started.warm, 'false', JSON.stringify(started));

    // and beta again (a warm process may serve it): still no TENANT_SECRET
    const beta2 = await envOf(apiKeyHeader(KEY_B));
    assert.ok(!beta2.names.includes('TENANT_SECRET'), beta2.names.join(' '));
  });
});

// ---------------------------------------------------------------------------------------
describe('the filter chain: auth, then method_filter { deny: ["prompts/*"] }', () => {
  test('prompts/list → 200 + JSON-RPC -32601; without credentials → 401 (auth runs first)', async () => {
    const s = await initialize(gw.url, { headers: bearer(KEY_B) });
    const body = { jsonrpc: '2.0', id: 51, method: 'prompts/list', params: {} };
    const r = await mcpPost(gw.url, body, { sessionId: s.sessionId, protocolVersion: s.protocolVersion, headers: bearer(KEY_B) });
    assert.equal(r.status, 200, r.text);
    const msg = r.messages.find((m) => m.id === 51);
    assert.equal(msg?.error?.code, -32601, r.text);

    const anon = await mcpPost(gw.url, body, { sessionId: s.sessionId, protocolVersion: s.protocolVersion });
    assertRefused(anon, { status: 401, code: -32041, challenge: { resource_metadata: METADATA_MCP, scope: 'deploy' } });
    const bad = await mcpPost(gw.url, body, { sessionId: s.sessionId, protocolVersion: s.protocolVersion, headers: bearer(UNKNOWN_KEY) });
    assertRefused(bad, { status: 401, code: -32041, challenge: INVALID_TOKEN });
    assert.ok(toolNames(await listTools(gw.url, s, bearer(KEY_B))).includes('echo'));
  });
});

// ---------------------------------------------------------------------------------------
describe('--check-config', () => {
  test('an API key that is not a digest → "file:line: tenants[0].api_keys[0]: …", exit 1, the key not printed', async () => {
    const plain = secret('plain-api-key');
    const dir = makeTempDir('mcpgw-it-auth-check-');
    const file = path.join(dir, 'plain-key.yaml');
    // the key is on line 13
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
    api_keys:
      - "${plain}"
filters:
  - auth:
      api_key_header: X-Api-Key
`);
    const r = await runGateway(['--check-config', file]);
    const out = `stdout=${r.stdout}\nstderr=${r.stderr}`;
    assert.equal(r.code, 1, out);
    assert.equal(r.stdout, '', out);
    const line = r.stderr.split('\n').find((l) => l.includes('tenants[0].api_keys[0]'));
    assert.ok(line, out);
    assert.ok(line.startsWith(`${file}:13: tenants[0].api_keys[0]: `), out);
    assertNoSecretsIn(`${r.stdout}\n${r.stderr}`, [plain, plain.slice(-24)], '--check-config output');
  });
  test('an unset ${VAR} in a backend header and weak JWKS keys (RSA 1024 bits, 12-byte HMAC secret) → file:line errors, exit 1', async () => {
    const dir = makeTempDir('mcpgw-it-auth-check-');
    const weakRsa = keyPair('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' });
    const jwks = {
      'weak-rsa.json': { keys: [{ ...weakRsa, kid: 'weak' }] },
      'short-hmac.json': { keys: [{ kty: 'oct', k: b64u('short-secret'), kid: 'hs' }] },
    };
    for (const [name, doc] of Object.entries(jwks)) {
      const jwksPath = path.join(dir, name);
      writeFileSync(jwksPath, JSON.stringify(doc));
      const file = path.join(dir, `${name}.yaml`);
      // the header is on line 8, jwks_file on line 20
      writeFileSync(file, `listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
backends:
  - name: conf
    http:
      url: http://127.0.0.1:1/mcp
      headers:
        X-Backend-Key: "\${MCPGW_IT_SURELY_UNSET_VAR}"
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
        jwks_file: ${jwksPath}
`);
      const r = await runGateway(['--check-config', file]);
      const out = `stdout=${r.stdout}\nstderr=${r.stderr}`;
      assert.equal(r.code, 1, out);
      const lines = r.stderr.split('\n');
      assert.ok(lines.some((l) => l.startsWith(`${file}:8: backends[0].http.headers.X-Backend-Key: `) && l.includes('MCPGW_IT_SURELY_UNSET_VAR')), out);
      assert.ok(lines.some((l) => l.startsWith(`${file}:20: filters[0].auth.jwt.jwks_file: `)), out);
    }
  });
});

// ---------------------------------------------------------------------------------------
describe('secrets never in the output (--log-level debug)', () => {
  test('after failures and successes of every kind, no API key, JWT, backend header or tenant_env secret is in the gateway\'s output', async () => {
    // a few more of each, so the check does not depend on the order of the tests above
    const jwt = esToken({ sub: 'grace' });
    const s = await initialize(gw.url, { headers: bearer(jwt) });
    await echo(gw.url, s, bearer(jwt));
    await mcpPost(gw.url, initializeBody(), { headers: bearer(rsToken({ exp: now() - 3600 })) });
    await mcpPost(gw.url, initializeBody(), { headers: bearer(makeJwt({ alg: 'none' }, claims())) });
    await mcpPost(gw.url, initializeBody(), { headers: bearer(UNKNOWN_KEY) });
    await mcpPost(gw.url, initializeBody(), { headers: { authorization: `Bearer ${KEY_A1} ${KEY_B}` } });
    await mcpPost(`${gw.url}?access_token=${KEY_G}`, initializeBody());
    const a = await initialize(gw.url, { headers: apiKeyHeader(KEY_A2) });
    await backendHeaders(gw.url, a, apiKeyHeader(KEY_A2));
    await callTool(gw.url, a, DENIED_TOOL, {}, { headers: bearer(KEY_G) }); // foreign session
    const st = await initialize(gwStdio, { headers: bearer(KEY_A1) });
    await echo(gwStdio, st, bearer(KEY_A1));
    await request(gw.url, { method: 'DELETE', headers: { ...sessionHeaders(s), ...bearer(jwt) }, timeoutMs: 3000 });

    // debug logging is on (the JWT rejections above are logged at debug)
    await waitLog(gw, (o) => o.level === 'debug' || o.lvl === 'debug' || o.severity === 'debug', 3000, 'a debug line');
    const output = gw.transcript.join('\n');
    const secrets = [
      KEY_A1, KEY_A2, KEY_B, KEY_G, UNKNOWN_KEY, HEADER_SECRET, TENANT_SECRET, ACME_BACKEND_KEY,
      ...[...issuedTokens].flatMap((t) => [t, t.split('.')[2]]),
    ];
    assert.ok(issuedTokens.size >= 20, `only ${issuedTokens.size} tokens were issued`);
    assertNoSecretsIn(output, secrets, 'the main gateway\'s output');
    assertNoSecretsIn(solo.transcript.join('\n'), [KEY_SOLO], 'the API-key gateway\'s output');
  });
});
