// End-to-end tests with the official TypeScript SDK 1.x client.
//
// The same tests run against the backend directly (E2E_TARGET=direct) or through the
// gateway (E2E_TARGET=gateway, the default; needs MCPGW_BIN). Exact values come from
// lib/fixtures.mjs, which the backend also uses, so every assertion checks pass-through.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

import { useTarget } from './lib/harness.mjs';
import { connect, expectSlowProgress, sleep, textOf, waitUntil } from './lib/client.mjs';
import { LATEST, rawInitialize, rawPost, rawRequest } from './lib/raw-http.mjs';
import * as F from './lib/fixtures.mjs';

const T = useTarget();
const TEST_TIMEOUT = { timeout: 25_000 };

// Opens a client and closes it when the test ends (pass or fail).
async function open(t, options) {
  const c = await connect(T.url, options);
  t.after(() => c.close());
  return c;
}

// Fails with the processes' output attached, so a gateway failure is diagnosable.
function withDiagnostics(fn) {
  return async (t) => {
    try {
      await fn(t);
    } catch (err) {
      t.diagnostic(`e2e target=${T.mode} url=${T.url} backend=${T.backendUrl}`);
      for (const line of T.diagnostics().split('\n')) t.diagnostic(line);
      throw err;
    }
  };
}
const it = (name, fn, opts = TEST_TIMEOUT) => test(name, opts, withDiagnostics(fn));

const EXPECTED_TOOLS = [
  'test_simple_text', 'test_image_content', 'test_audio_content', 'test_embedded_resource',
  'test_multiple_content_types', 'test_tool_with_logging', 'test_error_handling', 'test_tool_with_progress',
  'test_sampling', 'test_elicitation', 'test_elicitation_sep1034_defaults', 'test_elicitation_sep1330_enums',
  F.JSON_SCHEMA_2020_12_TOOL, 'test_reconnection', 'echo', 'slow', 'last_cancelled', 'emit_logs',
  'trigger_resource_update', 'session_info', 'remember', 'recall',
];

async function sessionInfo(c) {
  return JSON.parse(textOf(await c.call('session_info', {})));
}

// ---------------------------------------------------------------------------------------
describe(`initialize (target=${process.env.E2E_TARGET ?? 'gateway'})`, () => {
  it('negotiates 2025-11-25 and returns server info, capabilities and a valid session id', async (t) => {
    const c = await open(t);
    assert.equal(c.transport.protocolVersion, LATEST);
    const sid = c.transport.sessionId;
    assert.equal(typeof sid, 'string');
    assert.match(sid, /^[\x21-\x7E]+$/, 'session id must be visible ASCII');
    assert.ok(sid.length >= 16, `session id too short to be secure: ${sid}`);

    const info = c.client.getServerVersion();
    const caps = c.client.getServerCapabilities();
    if (T.mode === 'direct') {
      assert.deepEqual(info, F.SERVER_INFO);
      assert.equal(c.client.getInstructions(), F.SERVER_INSTRUCTIONS);
      assert.deepEqual(caps, {
        tools: { listChanged: true },
        resources: { subscribe: true, listChanged: true },
        prompts: { listChanged: true },
        logging: {},
        completions: {},
      });
    } else {
      // The gateway may present its own serverInfo, but it must be well-formed and it
      // must advertise what the backend supports, or strict clients would refuse to use it.
      assert.equal(typeof info?.name, 'string');
      assert.ok(info.name.length > 0);
      assert.equal(typeof info?.version, 'string');
      assert.ok(caps?.tools, 'tools capability missing');
      assert.equal(caps?.resources?.subscribe, true, 'resources.subscribe capability missing');
      assert.ok(caps?.prompts, 'prompts capability missing');
      assert.ok(caps?.logging, 'logging capability missing');
      assert.ok(caps?.completions, 'completions capability missing');
    }
  });

  it('the backend sees the client capabilities and a 2025-11-25 session', async (t) => {
    const c = await open(t);
    const s = await sessionInfo(c);
    assert.equal(s.protocolVersion, LATEST);
    assert.ok(s.clientCapabilities?.sampling, `backend did not see the sampling capability: ${JSON.stringify(s.clientCapabilities)}`);
    assert.ok(s.clientCapabilities?.elicitation, `backend did not see the elicitation capability: ${JSON.stringify(s.clientCapabilities)}`);
    if (T.mode === 'direct') {
      assert.deepEqual(s.clientInfo, { name: 'mcpgw-e2e-client', version: '1.2.3' });
      assert.equal(s.sessionId, c.transport.sessionId);
    } else {
      assert.notEqual(s.sessionId, c.transport.sessionId, 'gateway must not expose the backend session id');
    }
  });

  it('negotiates older supported versions and answers unknown ones with a supported version', async () => {
    const old = await rawInitialize(T.url, { protocolVersion: '2025-06-18' });
    assert.equal(old.protocolVersion, '2025-06-18');
    assert.ok(old.sessionId);
    const unknown = await rawInitialize(T.url, { protocolVersion: '1999-01-01' });
    assert.equal(unknown.protocolVersion, LATEST);
    for (const s of [old, unknown]) {
      const d = await rawRequest(T.url, 'DELETE', { sessionId: s.sessionId, protocolVersion: s.protocolVersion });
      assert.ok(d.status >= 200 && d.status < 300, `DELETE of a live session: HTTP ${d.status}`);
    }
  });

  it('ping returns {}', async (t) => {
    const c = await open(t);
    assert.deepEqual(await c.client.ping({ timeout: 10_000 }), {});
  });
});

// ---------------------------------------------------------------------------------------
describe('tools', () => {
  it('tools/list has every tool with a description and an object inputSchema', async (t) => {
    const c = await open(t);
    const { tools } = await c.client.listTools();
    const names = tools.map((x) => x.name).sort();
    assert.deepEqual(names, [...EXPECTED_TOOLS].sort());
    for (const tool of tools) {
      assert.equal(typeof tool.description, 'string', `${tool.name}: description`);
      assert.ok(tool.description.length > 0, `${tool.name}: empty description`);
      assert.equal(tool.inputSchema?.type, 'object', `${tool.name}: inputSchema.type`);
    }
    const echo = tools.find((x) => x.name === 'echo');
    assert.deepEqual(echo.inputSchema, { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] });
  });

  it('json_schema_2020_12_tool inputSchema survives ($schema, $defs, additionalProperties)', async (t) => {
    const c = await open(t);
    const { tools } = await c.client.listTools();
    const tool = tools.find((x) => x.name === F.JSON_SCHEMA_2020_12_TOOL);
    assert.ok(tool, 'json_schema_2020_12_tool missing');
    assert.equal(tool.description, 'Tool with JSON Schema 2020-12 features');
    assert.deepEqual(tool.inputSchema, F.JSON_SCHEMA_2020_12_INPUT);
  });

  it('json_schema_2020_12_tool inputSchema is byte-for-byte identical on the wire (key order too)', async () => {
    const s = await rawInitialize(T.url);
    const r = await rawPost(T.url, {
      body: { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} },
      sessionId: s.sessionId,
      protocolVersion: s.protocolVersion,
    });
    assert.equal(r.status, 200);
    const msg = r.messages.find((m) => m.id === 1);
    assert.ok(msg?.result, `no tools/list result: ${r.text}`);
    const tool = msg.result.tools.find((x) => x.name === F.JSON_SCHEMA_2020_12_TOOL);
    assert.equal(JSON.stringify(tool.inputSchema), JSON.stringify(F.JSON_SCHEMA_2020_12_INPUT));
    await rawRequest(T.url, 'DELETE', { sessionId: s.sessionId, protocolVersion: s.protocolVersion });
  });

  it('echo returns its text unchanged (UTF-8, escapes, 256 KiB)', async (t) => {
    const c = await open(t);
    for (const s of ['hello', 'héllo wörld — 世界 🚀 "quoted" \\ back\nslash\ttab\u0000nul', 'x'.repeat(256 * 1024)]) {
      const r = await c.call('echo', { text: s });
      assert.deepEqual(r.content, [{ type: 'text', text: s }]);
      assert.notEqual(r.isError, true);
    }
  });

  it('content types: image, audio, embedded resource, mixed', async (t) => {
    const c = await open(t);
    assert.deepEqual((await c.call('test_simple_text', undefined)).content, [{ type: 'text', text: F.SIMPLE_TEXT }]);
    assert.deepEqual((await c.call('test_image_content', {})).content, [{ type: 'image', data: F.PNG_1X1_BASE64, mimeType: 'image/png' }]);
    assert.deepEqual((await c.call('test_audio_content', {})).content, [{ type: 'audio', data: F.WAV_BASE64, mimeType: 'audio/wav' }]);
    assert.deepEqual((await c.call('test_embedded_resource', {})).content, [{ type: 'resource', resource: F.EMBEDDED_RESOURCE }]);
    assert.deepEqual((await c.call('test_multiple_content_types', {})).content, F.MIXED_CONTENT);
  });

  it('tool execution errors come back as isError results, protocol errors as JSON-RPC errors', async (t) => {
    const c = await open(t);
    const r = await c.call('test_error_handling', {});
    assert.equal(r.isError, true);
    assert.deepEqual(r.content, [{ type: 'text', text: F.ERROR_TEXT }]);
    await assert.rejects(c.call('no_such_tool', {}), (err) => {
      assert.ok(err instanceof McpError, `expected McpError, got ${err}`);
      assert.equal(err.code, ErrorCode.InvalidParams);
      assert.match(err.message, /Unknown tool: no_such_tool/);
      return true;
    });
    await assert.rejects(c.call('echo', { text: 42 }), (err) => err instanceof McpError && err.code === ErrorCode.InvalidParams);
  });
});

// ---------------------------------------------------------------------------------------
describe('resources', () => {
  it('resources/list and resources/templates/list', async (t) => {
    const c = await open(t);
    const { resources } = await c.client.listResources();
    assert.equal(resources.length, 3, JSON.stringify(resources));
    for (const want of Object.values(F.RESOURCES)) {
      const got = resources.find((r) => r.uri === want.uri);
      assert.ok(got, `missing ${want.uri}`);
      assert.equal(got.name, want.name);
      assert.equal(got.mimeType, want.mimeType);
      assert.equal(got.description, want.description);
    }
    const { resourceTemplates } = await c.client.listResourceTemplates();
    assert.equal(resourceTemplates.length, 1);
    const [tpl] = resourceTemplates;
    assert.equal(tpl.uriTemplate, F.TEMPLATE.uriTemplate);
    assert.equal(tpl.name, F.TEMPLATE.name);
    assert.equal(tpl.mimeType, F.TEMPLATE.mimeType);
    assert.equal(tpl.description, F.TEMPLATE.description);
  });

  it('resources/read: text, binary, template, unknown', async (t) => {
    const c = await open(t);
    assert.deepEqual((await c.client.readResource({ uri: 'test://static-text' })).contents,
      [{ uri: 'test://static-text', mimeType: 'text/plain', text: F.STATIC_TEXT }]);
    assert.deepEqual((await c.client.readResource({ uri: 'test://static-binary' })).contents,
      [{ uri: 'test://static-binary', mimeType: 'image/png', blob: F.PNG_1X1_BASE64 }]);
    assert.deepEqual((await c.client.readResource({ uri: 'test://template/123/data' })).contents,
      [{ uri: 'test://template/123/data', mimeType: 'application/json', text: F.templateText('123') }]);
    await assert.rejects(c.client.readResource({ uri: 'test://does-not-exist' }),
      (err) => err instanceof McpError && err.code === ErrorCode.InvalidParams && /does-not-exist/.test(err.message));
  });

  it('resources/subscribe delivers notifications/resources/updated; unsubscribe stops them', async (t) => {
    const c = await open(t);
    const uri = F.RESOURCES.watched.uri;
    assert.deepEqual(await c.client.subscribeResource({ uri }), {});
    assert.equal(textOf(await c.call('trigger_resource_update', { uri })), 'sent');
    await waitUntil(() => c.resourceUpdates.length >= 1, { what: 'notifications/resources/updated', timeoutMs: 5000 });
    assert.deepEqual(c.resourceUpdates, [{ uri }]);
    assert.deepEqual((await c.client.readResource({ uri })).contents, [{ uri, mimeType: 'text/plain', text: 'Watched resource, version 1' }]);

    assert.deepEqual(await c.client.unsubscribeResource({ uri }), {});
    assert.equal(textOf(await c.call('trigger_resource_update', { uri })), 'not-subscribed');
    await sleep(300);
    assert.equal(c.resourceUpdates.length, 1, 'no update may arrive after unsubscribe');
  });
});

// ---------------------------------------------------------------------------------------
describe('prompts and completion', () => {
  it('prompts/list', async (t) => {
    const c = await open(t);
    const { prompts } = await c.client.listPrompts();
    const byName = Object.fromEntries(prompts.map((p) => [p.name, p]));
    assert.deepEqual(Object.keys(byName).sort(),
      ['test_prompt_with_arguments', 'test_prompt_with_embedded_resource', 'test_prompt_with_image', 'test_simple_prompt']);
    for (const p of prompts) assert.ok(p.description, `${p.name}: description`);
    assert.deepEqual(byName.test_prompt_with_arguments.arguments, [
      { name: 'arg1', description: 'First test argument', required: true },
      { name: 'arg2', description: 'Second test argument', required: true },
    ]);
    assert.deepEqual(byName.test_prompt_with_embedded_resource.arguments, [
      { name: 'resourceUri', description: 'URI of the resource to embed', required: true },
    ]);
  });

  it('prompts/get with and without arguments, embedded resource, image', async (t) => {
    const c = await open(t);
    assert.deepEqual((await c.client.getPrompt({ name: 'test_simple_prompt' })).messages,
      [{ role: 'user', content: { type: 'text', text: F.PROMPT_SIMPLE_TEXT } }]);
    const a1 = 'ünï "one"';
    const a2 = 'two\nlines';
    assert.deepEqual((await c.client.getPrompt({ name: 'test_prompt_with_arguments', arguments: { arg1: a1, arg2: a2 } })).messages,
      [{ role: 'user', content: { type: 'text', text: F.promptWithArgsText(a1, a2) } }]);
    const emb = await c.client.getPrompt({ name: 'test_prompt_with_embedded_resource', arguments: { resourceUri: 'test://example-resource' } });
    assert.deepEqual(emb.messages[0], {
      role: 'user',
      content: { type: 'resource', resource: { uri: 'test://example-resource', mimeType: 'text/plain', text: F.PROMPT_EMBEDDED_TEXT } },
    });
    const img = await c.client.getPrompt({ name: 'test_prompt_with_image' });
    assert.deepEqual(img.messages[0], { role: 'user', content: { type: 'image', data: F.PNG_1X1_BASE64, mimeType: 'image/png' } });
    await assert.rejects(c.client.getPrompt({ name: 'test_prompt_with_arguments', arguments: { arg1: 'only one' } }),
      (err) => err instanceof McpError && err.code === ErrorCode.InvalidParams);
  });

  it('completion/complete for a prompt argument and a resource template variable', async (t) => {
    const c = await open(t);
    const p = await c.client.complete({ ref: { type: 'ref/prompt', name: 'test_prompt_with_arguments' }, argument: { name: 'arg1', value: 'te' } });
    assert.deepEqual(p.completion.values, ['test1', 'test2', 'testValue1']);
    const r = await c.client.complete({ ref: { type: 'ref/resource', uri: F.TEMPLATE.uriTemplate }, argument: { name: 'id', value: '1' } });
    assert.deepEqual(r.completion.values, ['1', '12', '123']);
    const none = await c.client.complete({ ref: { type: 'ref/prompt', name: 'test_prompt_with_arguments' }, argument: { name: 'arg1', value: 'zzz' } });
    assert.deepEqual(none.completion.values, []);
  });
});

// ---------------------------------------------------------------------------------------
describe('server -> client requests', () => {
  for (const via of ['post', 'get']) {
    it(`sampling round trip (request on the ${via.toUpperCase()} stream)`, async (t) => {
      const prompt = `What is 2+2? (${via})`;
      const reply = `four, via ${via} — ✓`;
      const c = await open(t, {
        sampling: async () => ({ role: 'assistant', content: { type: 'text', text: reply }, model: 'e2e-model', stopReason: 'endTurn' }),
      });
      const r = await c.call('test_sampling', { prompt, via });
      assert.deepEqual(r.content, [{ type: 'text', text: `LLM response: ${reply}` }]);
      assert.equal(c.samplingRequests.length, 1);
      const { params } = c.samplingRequests[0];
      assert.deepEqual(params.messages, [{ role: 'user', content: { type: 'text', text: prompt } }]);
      assert.equal(params.maxTokens, 100);
    });

    it(`elicitation round trip, accept and decline (request on the ${via.toUpperCase()} stream)`, async (t) => {
      let answer = { action: 'accept', content: { username: 'e2e-user', email: 'e2e@example.com' } };
      const c = await open(t, { elicitation: async () => answer });
      const r = await c.call('test_elicitation', { message: `Who are you? (${via})`, via });
      assert.deepEqual(r.content, [{ type: 'text', text: 'User response: action=accept, content={"username":"e2e-user","email":"e2e@example.com"}' }]);
      assert.equal(c.elicitationRequests.length, 1);
      assert.equal(c.elicitationRequests[0].params.message, `Who are you? (${via})`);
      assert.deepEqual(c.elicitationRequests[0].params.requestedSchema, F.ELICITATION_SCHEMA);

      answer = { action: 'decline' };
      const d = await c.call('test_elicitation', { message: 'again', via });
      assert.deepEqual(d.content, [{ type: 'text', text: 'User response: action=decline, content={}' }]);
      assert.equal(c.elicitationRequests.length, 2);
    });
  }

  it('elicitation schemas with defaults (SEP-1034) and enums (SEP-1330) arrive intact', async (t) => {
    const c = await open(t, {
      elicitation: async (req) => ({
        action: 'accept',
        content: req.params.requestedSchema.properties.untitledSingle
          ? { untitledSingle: 'option1', titledSingle: 'value2', legacyEnum: 'opt3', untitledMulti: ['option1'], titledMulti: ['value1', 'value3'] }
          : { name: 'Jane', age: 25, score: 88.5, status: 'pending', verified: false },
      }),
    });
    const r1 = await c.call('test_elicitation_sep1034_defaults', {});
    assert.deepEqual(c.elicitationRequests[0].params.requestedSchema, F.SEP1034_SCHEMA);
    assert.equal(textOf(r1), 'Elicitation completed: action=accept, content={"name":"Jane","age":25,"score":88.5,"status":"pending","verified":false}');
    const r2 = await c.call('test_elicitation_sep1330_enums', {});
    assert.deepEqual(c.elicitationRequests[1].params.requestedSchema, F.SEP1330_SCHEMA);
    assert.equal(textOf(r2),
      'Elicitation completed: action=accept, content={"untitledSingle":"option1","titledSingle":"value2","legacyEnum":"opt3","untitledMulti":["option1"],"titledMulti":["value1","value3"]}');
  });
});

// ---------------------------------------------------------------------------------------
describe('progress, cancellation, logging, resumption', () => {
  it('progress notifications: >= 3, non-decreasing, all before the result, none after', async (t) => {
    const c = await open(t);
    await expectSlowProgress(assert, c, `p-${randomUUID().slice(0, 8)}`);
  });

  it('cancellation: aborting the call rejects it and the server sees notifications/cancelled', async (t) => {
    const c = await open(t);
    const tag = `c-${randomUUID()}`;
    const ac = new AbortController();
    const started = Date.now();
    const call = c.call('slow', { ms: 10_000, tag }, { signal: ac.signal });
    setTimeout(() => ac.abort('e2e-abort'), 300);
    await assert.rejects(call, (err) => {
      assert.ok(err instanceof McpError, `expected McpError, got ${err}`);
      assert.equal(err.code, ErrorCode.RequestTimeout);
      assert.match(err.message, /e2e-abort/);
      return true;
    });
    assert.ok(Date.now() - started < 2000, 'the abort must reject the call promptly');
    const rec = await waitUntil(async () => {
      const r = JSON.parse(textOf(await c.call('last_cancelled', { tag })));
      return r.state === 'cancelled' ? r : undefined;
    }, { timeoutMs: 5000, intervalMs: 100, what: 'the backend to record the cancellation' });
    assert.equal(rec.found, true);
    assert.equal(rec.viaCancelledNotification, true, 'backend did not receive notifications/cancelled for the request');
    assert.equal(rec.reason, 'e2e-abort');
    assert.ok(rec.elapsedMs < 3000, `backend kept running for ${rec.elapsedMs} ms`);
    // the session is still usable afterwards
    assert.equal(textOf(await c.call('echo', { text: 'still alive' })), 'still alive');
  });

  it('logging: notifications/message honour logging/setLevel, in order (POST stream)', async (t) => {
    const c = await open(t);
    assert.deepEqual(await c.client.setLoggingLevel('warning'), {});
    const r = JSON.parse(textOf(await c.call('emit_logs', {})));
    const expected = ['warning', 'error', 'critical', 'alert', 'emergency'];
    assert.deepEqual(r.sent, expected);
    await waitUntil(() => c.logs.length >= expected.length, { what: 'log notifications' });
    assert.deepEqual(c.logs, expected.map((level) => ({ level, logger: 'conformance-backend', data: { level, seq: F.LOG_LEVELS.indexOf(level) } })));

    c.logs.length = 0;
    await c.client.setLoggingLevel('debug');
    await c.call('emit_logs', {});
    await waitUntil(() => c.logs.length >= 8, { what: 'all 8 log notifications' });
    assert.deepEqual(c.logs.map((l) => l.level), F.LOG_LEVELS);
  });

  it('logging: notifications on the standalone GET stream arrive, in order', async (t) => {
    const c = await open(t);
    await c.client.setLoggingLevel('debug');
    const r = JSON.parse(textOf(await c.call('emit_logs', { via: 'get' })));
    assert.deepEqual(r.sent, F.LOG_LEVELS);
    await waitUntil(() => c.logs.length >= 8, { what: 'log notifications on the GET stream', timeoutMs: 5000 });
    assert.deepEqual(c.logs.map((l) => l.level), F.LOG_LEVELS);
    await sleep(200);
    assert.equal(c.logs.length, 8, 'duplicate log notifications');
  });

  it('test_tool_with_logging sends 3 info messages during the call', async (t) => {
    const c = await open(t);
    await c.client.setLoggingLevel('debug');
    const r = await c.call('test_tool_with_logging', {});
    assert.equal(textOf(r), 'Tool with logging executed successfully');
    await waitUntil(() => c.logs.length >= 3, { what: '3 log notifications' });
    assert.deepEqual(c.logs.map((l) => l.data), ['Tool execution started', 'Tool processing data', 'Tool execution completed']);
  });

  it('resumability: the backend closes the POST SSE stream mid-call and the result still arrives', async (t) => {
    const c = await open(t);
    const started = Date.now();
    const r = await c.call('test_reconnection', {});
    assert.equal(textOf(r), F.RECONNECTION_TEXT);
    assert.ok(Date.now() - started < 10_000);
  });
});

// ---------------------------------------------------------------------------------------
describe('sessions over HTTP', () => {
  it('DELETE via terminateSession ends the session; the old id then gets 404', async (t) => {
    const c = await open(t);
    const sid = c.transport.sessionId;
    const pv = c.transport.protocolVersion;
    assert.ok(sid);
    await c.transport.terminateSession();
    assert.equal(c.transport.sessionId, undefined);

    const r = await rawPost(T.url, { body: { jsonrpc: '2.0', id: 7, method: 'tools/list', params: {} }, sessionId: sid, protocolVersion: pv });
    assert.equal(r.status, 404, `POST on a deleted session: ${r.status} ${r.text}`);

    // An SDK client resuming the old session id gets the 404 as a StreamableHTTPError.
    const resumed = await connect(T.url, { sessionId: sid });
    t.after(() => resumed.close());
    await assert.rejects(resumed.client.listTools(undefined, { timeout: 10_000 }), (err) => {
      assert.ok(err instanceof StreamableHTTPError, `expected StreamableHTTPError, got ${err}`);
      assert.equal(err.code, 404);
      return true;
    });
  });

  it('DELETE reaches the backend: its session for this client is closed', async (t) => {
    const c = await open(t);
    const backendSid = (await sessionInfo(c)).sessionId;
    await c.transport.terminateSession();
    await waitUntil(async () => {
      const s = await (await fetch(`${T.backendOrigin}/debug/sessions`)).json();
      return s.closed.some((x) => x.id === backendSid && x.how === 'delete') && !s.active.includes(backendSid);
    }, { timeoutMs: 5000, intervalMs: 100, what: `backend session ${backendSid} to be DELETEd` });
  });

  it('a bogus Mcp-Session-Id gets 404 (POST and GET)', async () => {
    const bogus = `bogus-${randomUUID()}`;
    const r = await rawPost(T.url, { body: { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }, sessionId: bogus, protocolVersion: LATEST });
    assert.equal(r.status, 404, `POST: ${r.status} ${r.text}`);
    const g = await rawRequest(T.url, 'GET', { sessionId: bogus, protocolVersion: LATEST });
    assert.equal(g.status, 404, 'GET');
  });

  it('a non-initialize request without Mcp-Session-Id gets 400', async () => {
    const r = await rawPost(T.url, { body: { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }, protocolVersion: LATEST });
    assert.equal(r.status, 400, `${r.status} ${r.text}`);
  });

  it('two concurrent sessions are isolated (state, progress, log level, backend session)', async (t) => {
    const [a, b] = await Promise.all([open(t), open(t)]);
    assert.notEqual(a.transport.sessionId, b.transport.sessionId);
    const [ia, ib] = await Promise.all([sessionInfo(a), sessionInfo(b)]);
    assert.notEqual(ia.sessionId, ib.sessionId, 'both client sessions share one backend session');

    await Promise.all([a.call('remember', { value: 'alpha' }), b.call('remember', { value: 'beta' })]);
    assert.equal(textOf(await a.call('recall', {})), 'alpha');
    assert.equal(textOf(await b.call('recall', {})), 'beta');

    const pa = [];
    const pb = [];
    const [ra, rb] = await Promise.all([
      a.call('slow', { ms: 600, tag: 'AAA' }, { onprogress: (p) => pa.push(p) }),
      b.call('slow', { ms: 600, tag: 'BBB' }, { onprogress: (p) => pb.push(p) }),
    ]);
    assert.equal(textOf(ra), 'done');
    assert.equal(textOf(rb), 'done');
    assert.deepEqual(pa.map((p) => p.message), [1, 2, 3, 4, 5, 6].map((i) => `slow AAA ${i * 100}/600`));
    assert.deepEqual(pb.map((p) => p.message), [1, 2, 3, 4, 5, 6].map((i) => `slow BBB ${i * 100}/600`));

    await a.client.setLoggingLevel('error');
    await b.client.setLoggingLevel('debug');
    const [la, lb] = await Promise.all([a.call('emit_logs', {}), b.call('emit_logs', {})]);
    assert.deepEqual(JSON.parse(textOf(la)).sent, ['error', 'critical', 'alert', 'emergency']);
    assert.deepEqual(JSON.parse(textOf(lb)).sent, F.LOG_LEVELS);
    await waitUntil(() => a.logs.length >= 4 && b.logs.length >= 8, { what: 'log notifications on both sessions' });
    await sleep(100);
    assert.deepEqual(a.logs.map((l) => l.level), ['error', 'critical', 'alert', 'emergency']);
    assert.deepEqual(b.logs.map((l) => l.level), F.LOG_LEVELS);
  });
});
