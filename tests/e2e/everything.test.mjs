// End-to-end tests with the reference MCP "everything" server
// (@modelcontextprotocol/server-everything, a third-party stdio server) as a stdio backend
// behind mcpgw, used by the official SDK client over Streamable HTTP (and once over the
// legacy HTTP+SSE transport).
//
// The gateway gets a backend `everything` (`node <server-everything>/dist/index.js stdio`,
// pool warm 1 / max 20, shutdown_timeout 1s) on the route /everything, next to the
// harness's default backends. What the server lists is compared with a direct stdio
// connection to the same server (SDK StdioClientTransport), so the checks are pass-through
// checks. Server behaviour relied on: on notifications/initialized it registers its
// client-capability-dependent tools (get-roots-list when the client has `roots`) and, if the
// client declares roots, sends roots/list ~350 ms later and logs "Roots updated: N root(s)
// received from client"; it does not exit on stdin EOF while a request it sent is unanswered
// (the gateway then escalates to SIGTERM after shutdown_timeout).
//
// Gateway only: skipped with E2E_TARGET=direct.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ListRootsRequestSchema, LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';

import { E2E_DIR, childPids, procStat, useTarget } from './lib/harness.mjs';
import { REQUEST_TIMEOUT_MS, sleep, waitUntil } from './lib/client.mjs';

const EVERYTHING_DIR = path.join(E2E_DIR, 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist');
const EVERYTHING = path.join(EVERYTHING_DIR, 'index.js');
const ROUTE = '/everything';
const SHUTDOWN_TIMEOUT_MS = 1000;

const T = useTarget({
  gatewayOptions: {
    addBackends: [{
      name: 'everything',
      stdio: { command: [process.execPath, EVERYTHING, 'stdio'], pool: { warm: 1, max: 20 }, shutdown_timeout: `${SHUTDOWN_TIMEOUT_MS}ms` },
    }],
    addRoutes: [{ path: ROUTE, backend: 'everything' }],
  },
});
const TEST_TIMEOUT = { timeout: 30_000 };
const CLIENT_INFO = Object.freeze({ name: 'mcpgw-e2e-everything', version: '0.1.0' });
const ROOTS = Object.freeze([
  { uri: 'file:///tmp/mcpgw-e2e/root-one', name: 'Root one — ✓' },
  { uri: 'file:///tmp/mcpgw-e2e/root-two', name: 'Root two' },
]);
const ROOTS_LOG = (n) => `Roots updated: ${n} root(s) received from client`;

function withDiagnostics(fn) {
  return async (t) => {
    try {
      await fn(t);
    } catch (err) {
      t.diagnostic(`e2e gateway=${T.gateway?.origin}${ROUTE}`);
      for (const line of T.diagnostics().split('\n')) t.diagnostic(line);
      throw err;
    }
  };
}
const it = (name, fn, opts = TEST_TIMEOUT) => test(name, opts, withDiagnostics(fn));

/**
 * An SDK client with the `roots` capability. `roots()` gives the answer to roots/list (may
 * return a never-settling promise to leave the request unanswered). Records roots/list
 * requests and log messages.
 */
function makeClient({ roots = () => ({ roots: [...ROOTS] }), clientInfo = CLIENT_INFO } = {}) {
  const client = new Client({ ...clientInfo }, { capabilities: { roots: { listChanged: true } } });
  const rec = { rootsRequests: [], logs: [], errors: [] };
  client.setRequestHandler(ListRootsRequestSchema, async (req) => {
    rec.rootsRequests.push({ at: Date.now(), req });
    return roots(req);
  });
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => { rec.logs.push(n.params); });
  client.onerror = (e) => rec.errors.push(e);
  return { client, ...rec };
}

/** Connect over Streamable HTTP to the gateway's /everything route. */
async function open(t, options) {
  const c = makeClient(options);
  const transport = new StreamableHTTPClientTransport(new URL(`${T.gateway.origin}${ROUTE}`));
  c.connectedAt = Date.now();
  await c.client.connect(transport, { timeout: REQUEST_TIMEOUT_MS });
  c.transport = transport;
  c.call = (name, args = {}, opts = {}) => c.client.callTool({ name, arguments: args }, undefined, { timeout: REQUEST_TIMEOUT_MS, ...opts });
  // DELETE the session (the SDK's close() alone leaves it to idle expiry), then close.
  c.close = async () => {
    if (transport.sessionId) await transport.terminateSession().catch(() => {});
    await c.client.close().catch(() => {});
  };
  t.after(() => c.close());
  return c;
}

/** Connect directly to a fresh server-everything over stdio (the reference to compare with). */
async function openDirect() {
  const c = makeClient();
  const transport = new StdioClientTransport({ command: process.execPath, args: [EVERYTHING, 'stdio'], stderr: 'ignore' });
  await c.client.connect(transport, { timeout: REQUEST_TIMEOUT_MS });
  return c;
}

/** The gateway's "session started" log line for a Streamable HTTP session (pid, warm). */
async function sessionLog(sessionId) {
  return waitUntil(() => T.gateway.logs().find((l) => l.msg === 'session started' && l.session === sessionId),
    { timeoutMs: 3000, what: `the gateway's "session started" log for ${sessionId}` });
}

async function sessionPid(c) {
  const pid = Number((await sessionLog(c.transport.sessionId)).pid);
  assert.ok(Number.isInteger(pid) && pid > 0);
  assert.equal(procStat(pid)?.ppid, T.gateway.proc.child.pid, `process ${pid} is not a child of the gateway`);
  return pid;
}

const gatewayChildren = () => childPids(T.gateway.proc.child.pid);
const textItems = (r) => r.content.map((x) => { assert.equal(x.type, 'text', JSON.stringify(r)); return x.text; });

describe(`server-everything as a stdio backend (${ROUTE})`, {
  skip: T.mode === 'direct' ? 'gateway only' : false,
}, () => {
  let d; // one direct stdio connection, same client info and capabilities, for comparisons
  before(async () => { d = await openDirect(); }, { timeout: 20_000 });
  after(async () => { await d?.client.close().catch(() => {}); });

  it('initialize: server info, capabilities and instructions are those of a direct stdio connection', async (t) => {
    const c = await open(t);
    assert.deepEqual(c.client.getServerVersion(), { name: 'mcp-servers/everything', title: 'Everything Reference Server', version: '2.0.0' });
    assert.deepEqual(c.client.getServerVersion(), d.client.getServerVersion());
    assert.deepEqual(c.client.getServerCapabilities(), d.client.getServerCapabilities());
    assert.equal(c.client.getInstructions(), readFileSync(path.join(EVERYTHING_DIR, 'docs', 'instructions.md'), 'utf8'));
    assert.match(c.transport.sessionId, /^[0-9a-f]{32}$/);
  });

  it('tools/list, prompts/list, resources/list and resources/templates/list equal a direct stdio connection', async (t) => {
    const c = await open(t);
    const lists = async (x) => ({
      tools: (await x.client.listTools()).tools,
      prompts: (await x.client.listPrompts()).prompts,
      resources: (await x.client.listResources()).resources,
      templates: (await x.client.listResourceTemplates()).resourceTemplates,
    });
    const via = await lists(c);
    const direct = await lists(d);
    assert.deepEqual(via, direct);
    const names = via.tools.map((x) => x.name);
    for (const want of ['echo', 'get-sum', 'get-tiny-image', 'trigger-long-running-operation', 'get-roots-list']) {
      assert.ok(names.includes(want), `${want} missing: ${names.join(',')}`);
    }
    assert.deepEqual(via.prompts.map((p) => p.name).sort(), ['args-prompt', 'completable-prompt', 'resource-prompt', 'simple-prompt']);
    const docs = readdirSync(path.join(EVERYTHING_DIR, 'docs')).sort();
    assert.deepEqual(via.resources.map((r) => r.uri).sort(), docs.map((f) => `demo://resource/static/document/${encodeURIComponent(f)}`).sort());
  });

  it('tools: echo, get-sum, get-tiny-image', async (t) => {
    const c = await open(t);
    for (const message of ['hello', 'héllo wörld — 世界 🚀 "q" \\ \n\t', 'z'.repeat(100_000)]) {
      assert.deepEqual(textItems(await c.call('echo', { message })), [`Echo: ${message}`]);
    }
    assert.deepEqual(textItems(await c.call('get-sum', { a: 2, b: 40 })), ['The sum of 2 and 40 is 42.']);
    assert.deepEqual(textItems(await c.call('get-sum', { a: -1.5, b: 0.25 })), ['The sum of -1.5 and 0.25 is -1.25.']);
    const img = await c.call('get-tiny-image');
    assert.deepEqual(img.content.map((x) => x.type), ['text', 'image', 'text']);
    assert.equal(img.content[1].mimeType, 'image/png');
    assert.ok(Buffer.from(img.content[1].data, 'base64').subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), 'PNG signature');
    assert.deepEqual(img, await d.client.callTool({ name: 'get-tiny-image', arguments: {} }));
    // invalid arguments: the same answer (result or JSON-RPC error) as directly
    const settle = (p) => p.then((result) => ({ result }), (err) => ({ error: { code: err.code, message: err.message } }));
    const bad = await settle(c.call('get-sum', { a: 'x', b: 1 }));
    assert.deepEqual(bad, await settle(d.client.callTool({ name: 'get-sum', arguments: { a: 'x', b: 1 } })));
    assert.ok(bad.error || bad.result.isError === true, JSON.stringify(bad));
  });

  it('prompts: simple-prompt and args-prompt', async (t) => {
    const c = await open(t);
    assert.deepEqual((await c.client.getPrompt({ name: 'simple-prompt' })).messages,
      [{ role: 'user', content: { type: 'text', text: 'This is a simple prompt without arguments.' } }]);
    assert.deepEqual((await c.client.getPrompt({ name: 'args-prompt', arguments: { city: 'Zürich', state: 'ZH' } })).messages,
      [{ role: 'user', content: { type: 'text', text: "What's weather in Zürich, ZH?" } }]);
  });

  it('resources: read a static document (exact file text) and a templated resource', async (t) => {
    const c = await open(t);
    const { resources } = await c.client.listResources();
    const doc = resources.find((r) => r.uri.endsWith('/instructions.md'));
    assert.ok(doc, JSON.stringify(resources.map((r) => r.uri)));
    assert.equal(doc.mimeType, 'text/markdown');
    const read = await c.client.readResource({ uri: doc.uri });
    assert.deepEqual(read.contents, [{ uri: doc.uri, mimeType: 'text/markdown', text: readFileSync(path.join(EVERYTHING_DIR, 'docs', 'instructions.md'), 'utf8') }]);
    const dyn = await c.client.readResource({ uri: 'demo://resource/dynamic/text/7' });
    assert.equal(dyn.contents.length, 1);
    assert.equal(dyn.contents[0].uri, 'demo://resource/dynamic/text/7');
    assert.match(dyn.contents[0].text, /^Resource 7: This is a plaintext resource created at /);
  });

  it('progress: trigger-long-running-operation reports every step before the result', async (t) => {
    const c = await open(t);
    const events = [];
    const r = await c.call('trigger-long-running-operation', { duration: 0.5, steps: 5 }, { onprogress: (p) => events.push(p) });
    assert.deepEqual(textItems(r), ['Long running operation completed. Duration: 0.5 seconds, Steps: 5.']);
    assert.deepEqual(events, [1, 2, 3, 4, 5].map((progress) => ({ progress, total: 5 })));
  });

  it('roots: the server\'s roots/list reaches the client and the answer reaches the server; roots/list_changed triggers another round trip', async (t) => {
    let roots = [...ROOTS];
    const c = await open(t, { roots: () => ({ roots }) });
    const log = await sessionLog(c.transport.sessionId);
    t.diagnostic(`session pid ${log.pid} warm=${log.warm}`);
    await waitUntil(() => c.rootsRequests.length >= 1, { timeoutMs: 5000, what: 'the server\'s roots/list request' });
    await waitUntil(() => c.logs.some((l) => l.data === ROOTS_LOG(2)), { timeoutMs: 5000, what: `the log "${ROOTS_LOG(2)}"` });
    assert.deepEqual(c.logs.find((l) => l.data === ROOTS_LOG(2)), { level: 'info', logger: 'everything-server', data: ROOTS_LOG(2) });
    const [listed] = textItems(await c.call('get-roots-list'));
    assert.match(listed, /^Current MCP Roots \(2 total\):/);
    for (const r of ROOTS) {
      assert.ok(listed.includes(r.name) && listed.includes(`URI: ${r.uri}`), `${r.uri} missing from:\n${listed}`);
    }
    assert.equal(c.rootsRequests.length, 1, 'one roots/list per session until the roots change');

    // the client's roots change: notifications/roots/list_changed → a new roots/list
    roots = [{ uri: 'file:///tmp/mcpgw-e2e/changed', name: 'Changed root' }];
    await c.client.sendRootsListChanged();
    await waitUntil(() => c.rootsRequests.length >= 2, { timeoutMs: 5000, what: 'a second roots/list after roots/list_changed' });
    await waitUntil(() => c.logs.some((l) => l.data === ROOTS_LOG(1)), { timeoutMs: 5000, what: `the log "${ROOTS_LOG(1)}"` });
    const [relisted] = textItems(await c.call('get-roots-list'));
    assert.match(relisted, /^Current MCP Roots \(1 total\):/);
    assert.ok(relisted.includes('URI: file:///tmp/mcpgw-e2e/changed'), relisted);
    assert.deepEqual(c.errors.map(String), []);
  });

  it('roots on a warm process: a request the server sent before the client attached is delivered and answered', async (t) => {
    // The pool (warm: 1) initializes a spare process with the last client's initialize, so
    // an identical client gets a process whose roots/list went out before the client came.
    // Try a few sessions until one is served warm (the pool refills in the background).
    let c;
    for (let attempt = 0; attempt < 6 && !c; attempt++) {
      await sleep(attempt === 0 ? 0 : 800);
      const x = await open(t);
      const log = await sessionLog(x.transport.sessionId);
      if (log.warm === 'true') c = x;
      else await x.close();
    }
    assert.ok(c, 'no session was served by a warm process in 6 attempts');
    await waitUntil(() => c.rootsRequests.length >= 1, { timeoutMs: 5000, what: 'the roots/list request of the warm process' });
    t.diagnostic(`roots/list reached the client ${c.rootsRequests[0].at - c.connectedAt} ms after connect() started`);
    const [listed] = textItems(await c.call('get-roots-list'));
    assert.match(listed, /^Current MCP Roots \(2 total\):/);
    assert.ok(listed.includes(`URI: ${ROOTS[0].uri}`), listed);
    assert.equal(c.rootsRequests.length, 1);
  });

  it('legacy HTTP+SSE client on /everything/sse: echo, get-sum, roots round trip', async (t) => {
    const c = makeClient();
    await c.client.connect(new SSEClientTransport(new URL(`${T.gateway.origin}${ROUTE}/sse`)), { timeout: REQUEST_TIMEOUT_MS });
    t.after(() => c.client.close().catch(() => {}));
    const call = (name, args = {}) => c.client.callTool({ name, arguments: args }, undefined, { timeout: REQUEST_TIMEOUT_MS });
    assert.deepEqual(c.client.getServerVersion().name, 'mcp-servers/everything');
    assert.deepEqual(textItems(await call('echo', { message: 'over SSE' })), ['Echo: over SSE']);
    assert.deepEqual(textItems(await call('get-sum', { a: 1, b: 2 })), ['The sum of 1 and 2 is 3.']);
    await waitUntil(() => c.rootsRequests.length >= 1, { timeoutMs: 5000, what: 'roots/list over the SSE stream' });
    await waitUntil(() => c.logs.some((l) => l.data === ROOTS_LOG(2)), { timeoutMs: 5000, what: `the log "${ROOTS_LOG(2)}"` });
    const [listed] = textItems(await call('get-roots-list'));
    assert.match(listed, /^Current MCP Roots \(2 total\):/);
  });

  it('DELETE (terminateSession) ends the session\'s process within a few seconds', async (t) => {
    const c = await open(t);
    const pid = await sessionPid(c);
    await waitUntil(() => c.rootsRequests.length >= 1, { timeoutMs: 5000, what: 'the roots/list request (answered)' });
    assert.ok(gatewayChildren().includes(pid));
    const started = Date.now();
    await c.transport.terminateSession();
    await waitUntil(() => !gatewayChildren().includes(pid), { timeoutMs: 3000, intervalMs: 20, what: `process ${pid} to end after DELETE` });
    t.diagnostic(`process ${pid} gone ${Date.now() - started} ms after DELETE`);
  });

  it('DELETE while the server waits for an unanswered roots/list: the gateway stops the process (SIGTERM after shutdown_timeout)', async (t) => {
    // A different clientInfo: not the warm template, so this session's process is the
    // one that sends roots/list to this client, which never answers it.
    const c = await open(t, { roots: () => new Promise(() => {}), clientInfo: { name: 'mcpgw-e2e-everything-mute', version: '0.1.0' } });
    const pid = await sessionPid(c);
    await waitUntil(() => c.rootsRequests.length >= 1, { timeoutMs: 5000, what: 'the roots/list request (left unanswered)' });
    const started = Date.now();
    await c.transport.terminateSession();
    await waitUntil(() => !gatewayChildren().includes(pid), { timeoutMs: 2 * SHUTDOWN_TIMEOUT_MS + 3000, intervalMs: 20, what: `process ${pid} to end after DELETE` });
    const took = Date.now() - started;
    t.diagnostic(`process ${pid} gone ${took} ms after DELETE (stdin EOF ignored; SIGTERM after ${SHUTDOWN_TIMEOUT_MS} ms)`);
  });

  it('after all sessions are closed only the warm pools are left', async (t) => {
    // Every session of this file is closed by now (t.after). What remains are the warm
    // processes: 1 for everything + 2 for conf-stdio (never used here).
    await waitUntil(() => gatewayChildren().length <= 3, { timeoutMs: 8000, intervalMs: 100, what: `at most 3 children; have ${gatewayChildren().join(',')}` });
    t.diagnostic(`children now: ${gatewayChildren().join(' ')}`);
  });
});
