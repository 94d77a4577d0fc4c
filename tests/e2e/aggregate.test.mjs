// End-to-end: the official SDK client (1.x) on an aggregated route of three backends of both
// kinds: the conformance server over Streamable HTTP (`conf`), the reference "everything"
// server over stdio (`every`) and the scripted server over Streamable HTTP (`script`).
// It lists and uses the tools, prompts and resources of each, answers a backend's sampling
// request, then the conformance server is killed mid-session: the other two keep working in
// the same SDK session, the client hears list_changed, and when the server is started again
// on its port it rejoins (list_changed again, its tools callable). The conformance suite on a
// single-backend route runs in conformance.test.mjs.
//
// Gateway only: skipped with E2E_TARGET=direct.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';

import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';

import { BACKEND_SCRIPT, E2E_DIR, REPO_ROOT, startBackend, startGateway, stopAll, targetMode } from './lib/harness.mjs';
import { REQUEST_TIMEOUT_MS, connect, textOf, waitUntil } from './lib/client.mjs';
import * as F from './lib/fixtures.mjs';

const EVERYTHING = path.join(E2E_DIR, 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');
const SCRIPTED = path.join(REPO_ROOT, 'tests', 'backends', 'scripted-server.mjs');
const ROUTE = '/agg';
const skip = targetMode() !== 'gateway';

function startScripted() {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SCRIPTED, '--port', '0', '--name', 'script'], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      const m = /listening (http:\/\/\S+)/.exec(d);
      if (m) resolve({ url: m[1], stop: () => child.kill('SIGKILL') });
    });
    child.on('error', reject);
  });
}

describe('SDK client on an aggregated route of three backends', { skip }, () => {
  let conf;
  let script;
  let gateway;
  let url;
  before(async () => {
    conf = await startBackend({ name: 'conf-backend' });
    script = await startScripted();
    gateway = await startGateway({
      backendUrl: conf.url,
      addBackends: [
        { name: 'every', stdio: { command: [process.execPath, EVERYTHING, 'stdio'], pool: { warm: 1, max: 10 }, shutdown_timeout: '1s' } },
        { name: 'script', http: { url: script.url, timeout: '10s' } },
      ],
      addRoutes: [{ path: ROUTE, backends: ['conf', 'every', 'script'], rejoin_interval: '500ms' }],
    });
    url = `${gateway.origin}${ROUTE}`;
  }, { timeout: 60_000 });
  after(async () => {
    await gateway?.stop();
    await conf?.stop();
    script?.stop();
    await stopAll();
  }, { timeout: 30_000 });

  const withDiagnostics = (fn) => async (t) => {
    try {
      await fn(t);
    } catch (err) {
      for (const line of (gateway?.diagnostics() ?? '').split('\n')) t.diagnostic(line);
      throw err;
    }
  };

  test('lists and uses the tools, prompts and resources of each backend', { timeout: 60_000 }, withDiagnostics(async () => {
    const c = await connect(url, { sampling: async () => ({ role: 'assistant', model: 'e2e', content: { type: 'text', text: 'sampled' } }) });
    try {
      const caps = c.client.getServerCapabilities();
      assert.ok(caps.tools && caps.prompts && caps.resources, JSON.stringify(caps));
      assert.equal(c.client.getServerVersion().name, 'mcpgw');

      const tools = [];
      let cursor;
      do {
        const page = await c.client.listTools(cursor ? { cursor } : undefined, { timeout: REQUEST_TIMEOUT_MS });
        tools.push(...page.tools);
        cursor = page.nextCursor;
      } while (cursor);
      const names = tools.map((t) => t.name);
      for (const n of ['conf__test_simple_text', 'every__echo', 'every__get-sum', 'script__whoami']) assert.ok(names.includes(n), `${n} listed`);
      assert.ok(names.every((n) => /^[A-Za-z0-9_.-]{1,64}$/.test(n)), 'names clients accept');

      assert.equal(textOf(await c.call('conf__test_simple_text', {})), F.SIMPLE_TEXT);
      assert.equal(textOf(await c.call('every__echo', { message: 'hi' })), 'Echo: hi');
      assert.equal(textOf(await c.call('every__get-sum', { a: 2, b: 3 })), 'The sum of 2 and 3 is 5.');
      assert.equal(textOf(await c.call('script__whoami', {})), 'script');
      assert.equal(textOf(await c.call('script__ask', { prompt: 'q' })), 'script heard: sampled');
      assert.equal(c.samplingRequests.length, 1);

      const prompts = (await c.client.listPrompts()).prompts.map((p) => p.name);
      assert.ok(prompts.includes('conf__test_simple_prompt') && prompts.includes('script__script_prompt_1'), prompts.join(', '));
      const everyPrompt = prompts.find((p) => p.startsWith('every__'));
      assert.ok(everyPrompt, 'a prompt of the stdio backend');
      const simple = await c.client.getPrompt({ name: 'conf__test_simple_prompt' });
      assert.ok(simple.messages.length > 0);
      const scripted = await c.client.getPrompt({ name: 'script__script_prompt_3' });
      assert.equal(scripted.messages[0].content.text, 'script_prompt_3 from script');

      const resources = (await c.client.listResources()).resources;
      const confStatic = resources.find((r) => r.uri === 'conf+test://static-text');
      assert.ok(confStatic, resources.map((r) => r.uri).join(', '));
      assert.equal((await c.client.readResource({ uri: confStatic.uri })).contents[0].text, F.STATIC_TEXT);
      const everyResource = resources.find((r) => r.uri.startsWith('every+'));
      assert.ok(everyResource, 'a resource of the stdio backend');
      const read = await c.client.readResource({ uri: everyResource.uri });
      assert.equal(read.contents[0].uri, everyResource.uri, 'URIs in answers are the ones the client sees');
      const scriptRead = await c.client.readResource({ uri: 'script+res://script/1' });
      assert.equal(scriptRead.contents[0].text, 'content of res://script/1');
      const templates = (await c.client.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate);
      assert.ok(templates.includes('conf+test://template/{id}/data'), templates.join(', '));
    } finally {
      await c.close();
    }
  }));

  test('a backend killed mid-session: the other two keep working in the same session, then it rejoins', { timeout: 60_000 }, withDiagnostics(async () => {
    const c = await connect(url);
    let changes = 0;
    c.client.setNotificationHandler(ToolListChangedNotificationSchema, () => { changes += 1; });
    const joined = () => gateway.logs().filter((l) => l.msg === 'aggregated backend joined' && l.backend === 'conf').length;
    try {
      assert.equal(textOf(await c.call('conf__echo', { text: 'before' })), 'before');
      const port = new URL(conf.url).port;
      await conf.stop();
      await assert.rejects(c.call('conf__echo', { text: 'during' }), /unavailable|could not be reached/);
      await waitUntil(() => changes >= 1, { timeoutMs: 5000, what: 'list_changed after the loss' });
      const changesWhileDown = changes;
      const during = (await c.client.listTools()).tools.map((t) => t.name);
      assert.ok(!during.some((n) => n.startsWith('conf__')), 'its tools are left out');
      assert.equal(textOf(await c.call('every__echo', { message: 'still' })), 'Echo: still');
      assert.equal(textOf(await c.call('script__echo', { text: 'here' })), 'here');

      conf = await startBackend({ name: 'conf-backend-again', args: ['--port', port] });
      await waitUntil(() => joined() >= 1, { timeoutMs: 10_000, what: 'the gateway logging that conf joined' });
      await waitUntil(() => changes > changesWhileDown, { timeoutMs: 5000, what: 'list_changed after the rejoin' });
      const after = (await c.client.listTools()).tools.map((t) => t.name);
      assert.ok(after.includes('conf__echo'), 'its tools are back');
      assert.equal(textOf(await c.call('conf__echo', { text: 'after' })), 'after');
      assert.equal(textOf(await c.call('every__echo', { message: 'same session' })), 'Echo: same session');
    } finally {
      await c.close();
    }
  }));
});
