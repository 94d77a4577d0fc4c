// TLS on both sides, with real certificates made by the openssl CLI for this run:
// gateway A terminates TLS from clients; gateway B reaches A as an https backend and verifies
// its certificate (ca_file), so one chain exercises the listener and the backend client.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import https from 'node:https';
import path from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { before, describe, test } from 'node:test';

import {
  LATEST, callTool, initialize, initializeBody, makeTempDir, mcpPost, rawExchange, runGateway,
  startConformanceBackend, startGateway,
} from './lib.mjs';

const BACKEND_DOWN = -32050;

function makeCertificate(dir) {
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1',
  ], { stdio: 'ignore' });
  return { cert, key };
}

function httpsPost(url, body, { ca, headers = {} } = {}) {
  const u = new URL(url);
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: u.hostname, port: u.port, path: u.pathname, method: 'POST', ca, agent: false,
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'content-length': payload.length, ...headers },
      timeout: 10_000,
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(payload);
  });
}

/** The JSON-RPC messages of a JSON or SSE body. */
function messages(text) {
  const trimmed = text.trim();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) return [JSON.parse(trimmed)].flat();
  return text.split('\n').filter((l) => l.startsWith('data: ') && l.length > 6).map((l) => JSON.parse(l.slice(6)));
}

describe('TLS', () => {
  let dir;
  let cert;
  let key;
  let backend;
  let front; // gateway A: TLS listener in front of the conformance backend

  before(async () => {
    dir = makeTempDir('mcpgw-tls-');
    ({ cert, key } = makeCertificate(dir));
    backend = await startConformanceBackend();
    front = await startGateway({ backendUrl: backend.url, config: { tls: { cert, key } }, name: 'tls-front' });
    assert.equal(front.listening.tls, 'on');
  });

  test('the listener serves MCP over TLS to a client that trusts the certificate', async () => {
    const r = await httpsPost(`https://127.0.0.1:${front.port}/mcp`, initializeBody(LATEST), { ca: readFileSync(cert) });
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers['mcp-session-id'], /^[0-9a-f]{32}$/);
    const init = messages(r.text).find((m) => m.id === 0);
    assert.equal(init?.result?.protocolVersion, LATEST, r.text);
  });

  test('a client that does not trust the certificate is refused by its own TLS check', async () => {
    await assert.rejects(httpsPost(`https://127.0.0.1:${front.port}/mcp`, initializeBody(LATEST)),
      (err) => /self.signed|unable to verify|certificate/i.test(String(err?.code ?? '') + err?.message));
  });

  test('plain HTTP on the TLS port gets no HTTP answer', async () => {
    const r = await rawExchange(front.port, { data: 'GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', timeoutMs: 3000 });
    assert.ok(!/^HTTP\/1\.1 200/.test(r.text ?? ''), `unexpected answer: ${r.text}`);
  });

  test('an https backend with a verified certificate (ca_file) works end to end', async () => {
    const gw = await startGateway({
      backendUrl: `https://127.0.0.1:${front.port}/mcp`,
      config: { backends: [{ name: 'conf', http: { url: `https://127.0.0.1:${front.port}/mcp`, timeout: '10s', ca_file: cert } }] },
      name: 'tls-client',
    });
    const s = await initialize(gw.url);
    const r = await callTool(gw.url, s, 'echo', { text: 'over tls' });
    assert.deepEqual(r.message?.result?.content, [{ type: 'text', text: 'over tls' }], r.text);
    await gw.stop();
  });

  test('an https backend whose certificate is not trusted fails with -32050 naming the backend', async () => {
    const gw = await startGateway({
      backendUrl: `https://127.0.0.1:${front.port}/mcp`,
      config: { backends: [{ name: 'untrusted', http: { url: `https://127.0.0.1:${front.port}/mcp`, timeout: '5s' } }], routes: [{ path: '/mcp', backend: 'untrusted' }] },
      name: 'tls-untrusted',
    });
    const r = await mcpPost(gw.url, initializeBody(LATEST));
    assert.equal(r.status, 200, r.text);
    const msg = r.messages.find((m) => m.id === 0);
    assert.equal(msg?.error?.code, BACKEND_DOWN, r.text);
    assert.match(msg.error.message, /'untrusted'/);
    assert.ok(gw.logs().some((l) => l.msg === 'backend TLS handshake failed' && l.backend === 'untrusted'), 'the log says why');
    await gw.stop();
  });

  test('a certificate for another host name fails verification (localhost vs IP:127.0.0.1)', async () => {
    const gw = await startGateway({
      backendUrl: `https://localhost:${front.port}/mcp`,
      config: { backends: [{ name: 'conf', http: { url: `https://localhost:${front.port}/mcp`, timeout: '5s', ca_file: cert } }] },
      name: 'tls-wrong-name',
    });
    const r = await mcpPost(gw.url, initializeBody(LATEST));
    assert.equal(r.messages.find((m) => m.id === 0)?.error?.code, BACKEND_DOWN, r.text);
    await gw.stop();
  });

  test('tls_verify: false accepts the untrusted certificate', async () => {
    const gw = await startGateway({
      backendUrl: `https://127.0.0.1:${front.port}/mcp`,
      config: { backends: [{ name: 'conf', http: { url: `https://127.0.0.1:${front.port}/mcp`, timeout: '5s', tls_verify: false } }] },
      name: 'tls-noverify',
    });
    const s = await initialize(gw.url);
    assert.match(s.sessionId, /^[0-9a-f]{32}$/);
    await gw.stop();
  });

  test('a missing certificate file stops start-up with an error naming tls.cert', async () => {
    const cfg = path.join(dir, 'bad-tls.yaml');
    writeFileSync(cfg, [
      'listen: 127.0.0.1:0', 'admin_listen: 127.0.0.1:0',
      `tls: { cert: ${path.join(dir, 'missing.pem')}, key: ${key} }`,
      'backends:', `  - name: conf`, `    http: { url: ${backend.url} }`,
      'routes:', '  - path: /mcp', '    backend: conf', '',
    ].join('\n'));
    const r = await runGateway(['--config', cfg]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /tls\.cert/);
    assert.match(r.stderr, /missing\.pem/);
  });
});
