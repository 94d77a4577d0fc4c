// End-to-end tests of a legacy HTTP+SSE (MCP 2024-11-05) *backend* behind the gateway, with
// the official TypeScript SDK Client over Streamable HTTP (StreamableHTTPClientTransport) on
// the client side.
//
// The harness starts a second instance of tests/backends/conformance-server.mjs with
// --legacy-sse (SDK SSEServerTransport: GET /sse opens a session's stream, whose first event
// `endpoint` names /messages?sessionId=…; every answer comes back on that stream) and gives it
// to the gateway as `sse: { url: <backend>/sse }` on the route /mcp-sse-backend
// (T.gateway.sseBackendUrl). For each client session the gateway opens one backend stream, so
// a client session and a backend session (GET /debug/sessions of the legacy backend) are 1:1.
//
// Gateway only: with E2E_TARGET=direct everything here is skipped.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

import { useTarget } from './lib/harness.mjs';
import { CLIENT_INFO, connect, expectSlowProgress, sleep, textOf, waitUntil } from './lib/client.mjs';
import { LATEST, rawPost } from './lib/raw-http.mjs';
import * as F from './lib/fixtures.mjs';

const T = useTarget({ legacyBackend: true });
const TEST_TIMEOUT = { timeout: 25_000 };
const SESSION_ID = /^[0-9a-f]{32}$/;

const EXPECTED_TOOLS = [
  'test_simple_text', 'test_image_content', 'test_audio_content', 'test_embedded_resource',
  'test_multiple_content_types', 'test_tool_with_logging', 'test_error_handling', 'test_tool_with_progress',
  'test_sampling', 'test_elicitation', 'test_elicitation_sep1034_defaults', 'test_elicitation_sep1330_enums',
  F.JSON_SCHEMA_2020_12_TOOL, 'test_reconnection', 'echo', 'slow', 'last_cancelled', 'emit_logs',
  'trigger_resource_update', 'session_info', 'remember', 'recall',
];

function withDiagnostics(fn) {
  return async (t) => {
    try {
      await fn(t);
    } catch (err) {
      t.diagnostic(`e2e target=${T.mode} route=${T.gateway?.sseBackendUrl} legacy backend=${T.legacyBackendUrl}`);
      for (const line of T.diagnostics().split('\n')) t.diagnostic(line);
      throw err;
    }
  };
}
const it = (name, fn, opts = TEST_TIMEOUT) => test(name, opts, withDiagnostics(fn));

// An SDK client on the sse-backend route, closed when the test ends (pass or fail).
async function open(t, options) {
  const c = await connect(T.gateway.sseBackendUrl, options);
  t.after(() => c.close());
  return c;
}

const sessionInfo = async (c) => JSON.parse(textOf(await c.call('session_info', {})));
const backendSessions = async () => (await fetch(`${T.legacyBackend.origin}/debug/sessions`)).json();

describe('SDK Streamable HTTP client → gateway → legacy HTTP+SSE backend', {
  skip: T.mode === 'direct' ? 'gateway only: the sse backend is only reachable through the gateway' : false,
}, () => {
  it('initialize: 2025-11-25, a gateway session id, the backend\'s exact serverInfo/instructions/capabilities; one backend session that saw the client', async (t) => {
    const before = await backendSessions();
    const c = await open(t);
    assert.equal(c.transport.protocolVersion, LATEST);
    assert.match(c.transport.sessionId, SESSION_ID);
    // The backend's initialize result passes through unchanged.
    assert.deepEqual(c.client.getServerVersion(), F.SERVER_INFO);
    assert.equal(c.client.getInstructions(), F.SERVER_INSTRUCTIONS);
    assert.deepEqual(c.client.getServerCapabilities(), {
      tools: { listChanged: true },
      resources: { subscribe: true, listChanged: true },
      prompts: { listChanged: true },
      logging: {},
      completions: {},
    });

    const s = await sessionInfo(c);
    assert.notEqual(s.sessionId, c.transport.sessionId, 'the backend\'s session id must not be the client\'s');
    assert.deepEqual(s.clientInfo, CLIENT_INFO);
    assert.ok(s.clientCapabilities?.sampling, JSON.stringify(s.clientCapabilities));
    assert.ok(s.clientCapabilities?.elicitation, JSON.stringify(s.clientCapabilities));
    const after = await backendSessions();
    assert.ok(after.active.includes(s.sessionId), `backend session ${s.sessionId} not active: ${JSON.stringify(after)}`);
    assert.deepEqual(after.active.filter((id) => !before.active.includes(id)), [s.sessionId], 'exactly one new backend stream for one client session');
    assert.deepEqual(await c.client.ping({ timeout: 10_000 }), {});
  });

  it('tools/list: the 22 tools, echo and the 2020-12 schema exact', async (t) => {
    const c = await open(t);
    const { tools } = await c.client.listTools();
    assert.deepEqual(tools.map((x) => x.name).sort(), [...EXPECTED_TOOLS].sort());
    assert.deepEqual(tools.find((x) => x.name === 'echo').inputSchema,
      { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] });
    assert.deepEqual(tools.find((x) => x.name === F.JSON_SCHEMA_2020_12_TOOL).inputSchema, F.JSON_SCHEMA_2020_12_INPUT);
  });

  it('callTool echo: UTF-8, escapes, \\u0000 and 256 KiB unchanged; content types; errors', async (t) => {
    const c = await open(t);
    for (const s of ['hello', 'héllo wörld — 世界 🚀 "quoted" \\ back\nslash\ttab\u0000nul', 'x'.repeat(256 * 1024)]) {
      const r = await c.call('echo', { text: s });
      assert.deepEqual(r.content, [{ type: 'text', text: s }]);
    }
    assert.deepEqual((await c.call('test_multiple_content_types', {})).content, F.MIXED_CONTENT);
    const e = await c.call('test_error_handling', {});
    assert.equal(e.isError, true);
    await assert.rejects(c.call('no_such_tool', {}), (err) => err instanceof McpError && err.code === ErrorCode.InvalidParams);
  });

  it('progress: slow 500 ms → progress 100..500 in order, all before the result', async (t) => {
    const c = await open(t);
    await expectSlowProgress(assert, c, `p-${randomUUID().slice(0, 8)}`);
  });

  it('sampling round trip: the backend\'s request reaches the client handler, the answer reaches the tool', async (t) => {
    const prompt = 'What is 2+2? (sse backend)';
    const reply = 'four, via the legacy backend — ✓';
    const c = await open(t, {
      sampling: async () => ({ role: 'assistant', content: { type: 'text', text: reply }, model: 'e2e-model', stopReason: 'endTurn' }),
    });
    const r = await c.call('test_sampling', { prompt });
    assert.deepEqual(r.content, [{ type: 'text', text: `LLM response: ${reply}` }]);
    assert.equal(c.samplingRequests.length, 1);
    assert.deepEqual(c.samplingRequests[0].params.messages, [{ role: 'user', content: { type: 'text', text: prompt } }]);
    assert.equal(c.samplingRequests[0].params.maxTokens, 100);
  });

  it('elicitation round trip: accept and decline', async (t) => {
    let answer = { action: 'accept', content: { username: 'e2e-user', email: 'e2e@example.com' } };
    const c = await open(t, { elicitation: async () => answer });
    const r = await c.call('test_elicitation', { message: 'Who are you? (sse backend)' });
    assert.deepEqual(r.content, [{ type: 'text', text: 'User response: action=accept, content={"username":"e2e-user","email":"e2e@example.com"}' }]);
    assert.deepEqual(c.elicitationRequests[0].params.requestedSchema, F.ELICITATION_SCHEMA);
    answer = { action: 'decline' };
    const d = await c.call('test_elicitation', { message: 'again' });
    assert.deepEqual(d.content, [{ type: 'text', text: 'User response: action=decline, content={}' }]);
  });

  it('logging: setLevel error → exactly error..emergency, in order', async (t) => {
    const c = await open(t);
    await c.client.setLoggingLevel('error');
    const r = await c.call('emit_logs', {});
    assert.deepEqual(JSON.parse(textOf(r)).sent, ['error', 'critical', 'alert', 'emergency']);
    await waitUntil(() => c.logs.length >= 4, { what: '4 log notifications' });
    await sleep(100);
    assert.deepEqual(c.logs.map((l) => l.level), ['error', 'critical', 'alert', 'emergency']);
  });

  it('cancellation: aborting a call rejects it promptly and the backend sees notifications/cancelled', async (t) => {
    const c = await open(t);
    const tag = `c-${randomUUID()}`;
    const ac = new AbortController();
    const started = Date.now();
    const call = c.call('slow', { ms: 10_000, tag }, { signal: ac.signal });
    setTimeout(() => ac.abort('e2e-abort'), 300);
    await assert.rejects(call, (err) => err instanceof McpError && /e2e-abort/.test(err.message));
    assert.ok(Date.now() - started < 2000, 'the abort must reject the call promptly');
    const rec = await waitUntil(async () => {
      const x = JSON.parse(textOf(await c.call('last_cancelled', { tag })));
      return x.state === 'cancelled' ? x : undefined;
    }, { timeoutMs: 5000, intervalMs: 100, what: 'the backend to record the cancellation' });
    assert.equal(rec.viaCancelledNotification, true);
    assert.equal(rec.reason, 'e2e-abort');
  });

  it('two sessions: two backend sessions, own state', async (t) => {
    const [a, b] = await Promise.all([open(t), open(t)]);
    const [ia, ib] = await Promise.all([sessionInfo(a), sessionInfo(b)]);
    assert.notEqual(ia.sessionId, ib.sessionId);
    await Promise.all([a.call('remember', { value: 'alpha' }), b.call('remember', { value: 'beta' })]);
    assert.equal(textOf(await a.call('recall', {})), 'alpha');
    assert.equal(textOf(await b.call('recall', {})), 'beta');
  });

  it('terminateSession: the backend\'s session is closed (its stream ended); the old id gets 404', async (t) => {
    const c = await open(t);
    const sid = c.transport.sessionId;
    const backendSid = (await sessionInfo(c)).sessionId;
    assert.ok((await backendSessions()).active.includes(backendSid));
    await c.transport.terminateSession();
    assert.equal(c.transport.sessionId, undefined);
    const started = Date.now();
    const s = await waitUntil(async () => {
      const x = await backendSessions();
      return x.closed.some((e) => e.id === backendSid && e.how === 'stream closed') && !x.active.includes(backendSid) ? x : undefined;
    }, { timeoutMs: 5000, intervalMs: 50, what: `backend session ${backendSid} to be closed` });
    t.diagnostic(`backend session closed ${Date.now() - started} ms after DELETE; closed: ${JSON.stringify(s.closed.filter((e) => e.id === backendSid))}`);

    const r = await rawPost(T.gateway.sseBackendUrl, { body: { jsonrpc: '2.0', id: 7, method: 'tools/list', params: {} }, sessionId: sid, protocolVersion: LATEST });
    assert.equal(r.status, 404, `POST on a deleted session: ${r.status} ${r.text}`);
    const resumed = await connect(T.gateway.sseBackendUrl, { sessionId: sid });
    t.after(() => resumed.close());
    await assert.rejects(resumed.client.listTools(undefined, { timeout: 10_000 }),
      (err) => err instanceof StreamableHTTPError && err.code === 404);
  });
});
