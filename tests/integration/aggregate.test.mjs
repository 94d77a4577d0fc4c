// Aggregated routes (routes[].backends): one MCP session made of a session on each backend.
// Lists merged with prefixes (and the 64-character shortening), cursors of several paging
// backends combined, calls routed by name and URI, include/exclude globs, the backends' own
// requests to the client with ids that cannot collide, a backend that is down, slow or
// refuses initialize (the session goes on without it), one lost mid-session and back
// (list_changed both times), a backend session that expires (404: opened again without the
// client noticing), lazy upstream sessions, and the --check-config errors.
//
// Backends: tests/backends/scripted-server.mjs (Streamable HTTP, scripted paging, delays and
// failures), the C++ demo backend (HTTP) and the conformance server in --stdio mode.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';

import {
  BACKEND_SCRIPT, NODE_BIN, REPO_ROOT, closedPort, haveDemoBackend, initialize, makeTempDir, mcpPost,
  openGetStream, request, requireBackend, runGateway, safeJson, setHardTimeout, sleep, spawnTracked, startConformanceBackend,
  startDemoBackend, startGateway, startSilentServer, stopChild, waitUntil,
} from './lib.mjs';

setHardTimeout(120_000);

const SCRIPTED = path.join(REPO_ROOT, 'tests', 'backends', 'scripted-server.mjs');

async function startScripted(name, extra = [], port = 0) {
  const entry = spawnTracked(`scripted-${name}`, NODE_BIN, [SCRIPTED, '--port', String(port), '--name', name, ...extra], { env: process.env });
  const url = await entry.waitForLine((s, l) => s === 'stdout' && /^listening (http:\/\/\S+)$/.exec(l)?.[1], 10_000, 'scripted "listening"');
  return { url, origin: new URL(url).origin, port: Number(new URL(url).port), stop: () => stopChild(entry), entry };
}

const http = (name, url, extra = {}) => ({ name, http: { url, timeout: '5s', connect_timeout: '1s', ...extra } });

function session(gw, s) {
  let id = 1;
  const rpc = async (method, params, opts = {}) => {
    const msgId = id++;
    const r = await mcpPost(gw.url, { jsonrpc: '2.0', id: msgId, method, ...(params ? { params } : {}) },
      { sessionId: s.sessionId, protocolVersion: s.protocolVersion, ...opts });
    const message = r.messages.find((m) => m && m.id === msgId && !('method' in m));
    return { ...r, message, result: message?.result, error: message?.error };
  };
  const listAll = async (method, key) => {
    const items = [];
    let cursor;
    for (let pages = 0; pages < 50; pages++) {
      const r = await rpc(method, cursor ? { cursor } : undefined);
      assert.ok(r.result, `${method}: ${r.text}`);
      items.push(...r.result[key]);
      cursor = r.result.nextCursor;
      if (!cursor) return { items, pages: pages + 1 };
    }
    throw new Error('too many pages');
  };
  const call = async (name, args = {}) => rpc('tools/call', { name, arguments: args });
  return { ...s, rpc, listAll, call, text: (r) => r.result?.content?.[0]?.text };
}

/** The value of mcpgw_aggregate_backend_events_total for one backend and event (0 when absent). */
async function events(gw, backend, event, route = '/mcp') {
  const text = (await request(`${gw.adminUrl}/metrics`, { method: 'GET' })).text;
  const line = text.split('\n').find((l) => l.startsWith('mcpgw_aggregate_backend_events_total{') &&
    l.includes(`backend="${backend}"`) && l.includes(`event="${event}"`) && l.includes(`route="${route}"`));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

async function open(gw) {
  return session(gw, await initialize(gw.url));
}

describe('aggregated route', () => {
  test('merges tools, prompts and resources of HTTP and stdio backends under prefixes and routes calls', async () => {
    requireBackend();
    const a = await startScripted('alpha', ['--tools', '6', '--long-name']);
    const b = await startScripted('beta', ['--tools', '3']);
    const gw = await startGateway({
      config: {
        backends: [http('alpha', a.url), http('beta', b.url),
          { name: 'files', stdio: { command: [NODE_BIN, BACKEND_SCRIPT, '--stdio'], pool: { warm: 0 } } }],
        routes: [{ path: '/mcp', backends: ['alpha', { name: 'beta', prefix: 'b', separator: '.' }, { name: 'files', prefix: 'fs', tools: { include: ['echo', 'test_simple_*'] } }] }],
      },
    });
    const s = await open(gw);
    assert.equal(s.result.serverInfo.name, 'mcpgw');
    assert.deepEqual(Object.keys(s.result.capabilities).sort(), ['completions', 'logging', 'prompts', 'resources', 'tools']);
    assert.equal(s.result.capabilities.tools.listChanged, true);
    assert.match(s.result.instructions, /alpha: alpha instructions/);

    const { items: tools } = await s.listAll('tools/list', 'tools');
    const names = tools.map((t) => t.name);
    for (const n of ['alpha__echo', 'alpha__whoami', 'alpha__ask', 'alpha__alpha_6', 'b.echo', 'b.whoami', 'b.ask', 'fs__echo', 'fs__test_simple_text']) {
      assert.ok(names.includes(n), `${n} in ${names.join(', ')}`);
    }
    assert.ok(!names.some((n) => n.startsWith('fs__test_image')), 'excluded by the include glob');
    const long = names.find((n) => n.startsWith('alpha__alpha_xxx'));
    assert.ok(long, 'the long tool is listed');
    assert.equal(long.length, 64);
    assert.match(long, /_[0-9a-f]{8}$/);
    assert.ok(names.every((n) => n.length <= 64));
    assert.equal(tools.find((t) => t.name === 'b.echo').description, 'tool echo of beta', 'items pass through');

    assert.equal(s.text(await s.call('alpha__whoami')), 'alpha');
    assert.equal(s.text(await s.call('b.whoami')), 'beta');
    assert.equal(s.text(await s.call('fs__echo', { text: 'from stdio' })), 'from stdio');
    assert.equal(s.text(await s.call(long)), `alpha_${'x'.repeat(64)}`, 'the shortened name reaches the long tool');
    const excluded = await s.call('fs__test_image_content');
    assert.equal(excluded.error?.code, -32602, excluded.text);
    assert.match(excluded.error.message, /unknown tool "fs__test_image_content" on route \/mcp/);

    const { items: prompts } = await s.listAll('prompts/list', 'prompts');
    assert.ok(prompts.some((p) => p.name === 'alpha__alpha_prompt_1'));
    assert.ok(prompts.some((p) => p.name === 'fs__test_simple_prompt'));
    const got = await s.rpc('prompts/get', { name: 'b.beta_prompt_2' });
    assert.equal(got.result?.messages?.[0]?.content?.text, 'beta_prompt_2 from beta');

    const { items: resources } = await s.listAll('resources/list', 'resources');
    const uris = resources.map((r) => r.uri);
    assert.ok(uris.includes('alpha+res://alpha/1'), uris.join(', '));
    assert.ok(uris.includes('b+res://beta/2'));
    assert.ok(uris.includes('fs+test://static-text'));
    const read = await s.rpc('resources/read', { uri: 'b+res://beta/2' });
    assert.deepEqual(read.result?.contents, [{ uri: 'b+res://beta/2', text: 'content of res://beta/2' }], 'the URI in the answer is mapped back');
    const stdioRead = await s.rpc('resources/read', { uri: 'fs+test://static-text' });
    assert.equal(stdioRead.result?.contents?.[0]?.uri, 'fs+test://static-text');
    const templates = await s.rpc('resources/templates/list');
    assert.ok(templates.result.resourceTemplates.some((t) => t.uriTemplate === 'fs+test://template/{id}/data'));
    const viaTemplate = await s.rpc('resources/read', { uri: 'fs+test://template/7/data' });
    assert.match(viaTemplate.result?.contents?.[0]?.text ?? '', /Data for ID: 7/);
    const stranger = await s.rpc('resources/read', { uri: 'nobody+x://y' });
    assert.equal(stranger.error?.code, -32602);
    assert.match(stranger.error.message, /"nobody\+x:\/\/y" is not available on route \/mcp/);

    const completion = await s.rpc('completion/complete', { ref: { type: 'ref/prompt', name: 'fs__test_prompt_with_arguments' }, argument: { name: 'arg1', value: 'a' } });
    assert.ok(completion.result?.completion, completion.text);
    const badRef = await s.rpc('completion/complete', { ref: { type: 'ref/other' }, argument: { name: 'x', value: '' } });
    assert.equal(badRef.error?.code, -32602);
    const ping = await s.rpc('ping');
    assert.deepEqual(ping.result, {});
    const unknown = await s.rpc('tasks/list');
    assert.equal(unknown.error?.code, -32601);
    await gw.stop();
    await a.stop();
    await b.stop();
  });

  test('logging/setLevel reaches every backend that logs; requests missing what they route by get -32602', async () => {
    requireBackend();
    const a = await startScripted('plain');
    const gw = await startGateway({
      config: {
        backends: [http('plain', a.url), { name: 'files', stdio: { command: [NODE_BIN, BACKEND_SCRIPT, '--stdio'], pool: { warm: 0 } } }],
        routes: [{ path: '/mcp', backends: ['plain', { name: 'files', prefix: 'fs' }] }],
      },
    });
    const s = await open(gw);
    const sent = async () => JSON.parse(s.text(await s.call('fs__emit_logs')));
    assert.ok((await sent()).sent.includes('info'), 'before: the backend logs at info');
    assert.deepEqual((await s.rpc('logging/setLevel', { level: 'error' })).result, {});
    await waitUntil(async () => !(await sent()).sent.includes('info'), 5000, 'the backend got the level');
    assert.deepEqual((await sent()).sent, ['error', 'critical', 'alert', 'emergency']);
    for (const [method, params, field] of [
      ['logging/setLevel', {}, 'params.level'],
      ['tools/call', { arguments: {} }, 'params.name'],
      ['prompts/get', {}, 'params.name'],
      ['resources/read', {}, 'params.uri'],
      ['completion/complete', { ref: { type: 'ref/prompt' }, argument: { name: 'x', value: '' } }, 'params.ref.name'],
    ]) {
      const r = await s.rpc(method, params);
      assert.equal(r.error?.code, -32602, `${method}: ${r.text}`);
      assert.ok(r.error.message.startsWith(field), `${method}: ${r.error.message}`);
    }
    await gw.stop();
    await a.stop();
  });

  test('pages of several backends travel in one cursor; a forged cursor is refused', async () => {
    const a = await startScripted('pa', ['--tools', '5', '--page-size', '2']);
    const b = await startScripted('pb', ['--tools', '3', '--page-size', '2']);
    const c = await startScripted('pc', ['--tools', '3']);
    const gw = await startGateway({ config: { backends: [http('pa', a.url), http('pb', b.url), http('pc', c.url)], routes: [{ path: '/mcp', backends: ['pa', 'pb', 'pc'] }] } });
    const s = await open(gw);
    const { items, pages } = await s.listAll('tools/list', 'tools');
    assert.equal(items.length, 11);
    assert.equal(new Set(items.map((t) => t.name)).size, 11, 'nothing twice');
    assert.equal(pages, 3, 'pa needs 3 pages of 2, pb 2; pc has one');
    const first = await s.rpc('tools/list');
    assert.equal(first.result.tools.length, 2 + 2 + 3);
    const forged = await s.rpc('tools/list', { cursor: 'bm90LWEtY3Vyc29y' });
    assert.equal(forged.error?.code, -32602);
    assert.match(forged.error.message, /params\.cursor: not a cursor this route gave out/);
    const crossed = await s.rpc('prompts/list', { cursor: first.result.nextCursor });
    assert.equal(crossed.error?.code, -32602, 'a tools cursor is not a prompts cursor');
    await gw.stop();
    await Promise.all([a.stop(), b.stop(), c.stop()]);
  });

  test('route and backend globs leave items out of lists and calls', async () => {
    const a = await startScripted('ga', ['--tools', '4']);
    const b = await startScripted('gb', ['--tools', '3']);
    const gw = await startGateway({
      config: {
        backends: [http('ga', a.url), http('gb', b.url)],
        routes: [{
          path: '/mcp',
          backends: [{ name: 'ga', tools: { exclude: ['ask'] }, prompts: { include: ['*_1'] }, resources: { exclude: ['res://ga/2'] } }, 'gb'],
          tools: { exclude: ['gb__whoami'] },
        }],
      },
    });
    const s = await open(gw);
    const names = (await s.listAll('tools/list', 'tools')).items.map((t) => t.name).sort();
    assert.deepEqual(names, ['ga__echo', 'ga__touch', 'ga__whoami', 'gb__ask', 'gb__echo']);
    assert.equal((await s.call('ga__ask')).error?.code, -32602);
    assert.equal((await s.call('gb__whoami')).error?.code, -32602);
    const prompts = (await s.listAll('prompts/list', 'prompts')).items.map((p) => p.name);
    assert.ok(prompts.includes('ga__ga_prompt_1') && !prompts.includes('ga__ga_prompt_2'));
    assert.equal((await s.rpc('prompts/get', { name: 'ga__ga_prompt_2' })).error?.code, -32602);
    const uris = (await s.listAll('resources/list', 'resources')).items.map((r) => r.uri);
    assert.ok(uris.includes('ga+res://ga/1') && !uris.includes('ga+res://ga/2'));
    assert.equal((await s.rpc('resources/read', { uri: 'ga+res://ga/2' })).error?.code, -32602);
    const completion = await s.rpc('completion/complete', { ref: { type: 'ref/resource', uri: 'ga+res://ga/2' }, argument: { name: 'x', value: '' } });
    assert.equal(completion.error?.code, -32602, 'completion follows the resource globs too');
    await gw.stop();
    await Promise.all([a.stop(), b.stop()]);
  });

  test("the backends' requests to the client get ids that cannot collide, and answers go back", async () => {
    const a = await startScripted('qa');
    const b = await startScripted('qb');
    const gw = await startGateway({ config: { backends: [http('qa', a.url), http('qb', b.url)], routes: [{ path: '/mcp', backends: ['qa', 'qb'] }] } });
    const s = await open(gw);
    const seen = new Map();
    // Both backends ask with id 0; each call's POST stream carries its backend's request.
    const ask = (name, prompt) => mcpPost(gw.url, { jsonrpc: '2.0', id: `call-${name}`, method: 'tools/call', params: { name, arguments: { prompt } } }, {
      sessionId: s.sessionId,
      protocolVersion: s.protocolVersion,
      timeoutMs: 10_000,
      onMessages: (msgs) => {
        for (const m of msgs) {
          if (m.method === 'sampling/createMessage' && !seen.has(m.id)) {
            seen.set(m.id, name);
            mcpPost(gw.url, { jsonrpc: '2.0', id: m.id, result: { role: 'assistant', model: 't', content: { type: 'text', text: `answer to ${m.params.messages[0].content.text}` } } },
              { sessionId: s.sessionId, protocolVersion: s.protocolVersion });
          }
        }
      },
    });
    const [ra, rb] = await Promise.all([ask('qa__ask', 'one'), ask('qb__ask', 'two')]);
    assert.equal(seen.size, 2, `two distinct ids: ${[...seen.keys()]}`);
    const text = (r, id) => r.messages.find((m) => m.id === id && m.result)?.result?.content?.[0]?.text;
    assert.equal(text(ra, 'call-qa__ask'), 'qa heard: answer to one');
    assert.equal(text(rb, 'call-qb__ask'), 'qb heard: answer to two');
    await gw.stop();
    await Promise.all([a.stop(), b.stop()]);
  });

  test("a backend's request during the client's initialize waits for its answer; unanswered requests are bounded", async () => {
    const a = await startScripted('plain', ['--init-delay-ms', '500']);  // the stdio one asks meanwhile
    const asking = path.join(REPO_ROOT, 'tests', 'backends', 'asking-stdio-server.mjs');
    const gw = await startGateway({
      config: {
        backends: [http('plain', a.url), { name: 'asking', stdio: { command: [NODE_BIN, asking], pool: { warm: 0 } } }],
        routes: [{ path: '/mcp', backends: ['plain', 'asking'] }],
      },
    });
    const init = await mcpPost(gw.url, { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: { roots: {} }, clientInfo: { name: 't', version: '0' } } });
    assert.equal(init.status, 200);
    assert.deepEqual(init.messages.map((m) => m.method ?? `answer ${m.id}`), ['answer 0'], 'nothing before the initialize answer');
    const s = session(gw, { sessionId: init.headers['mcp-session-id'], protocolVersion: '2025-11-25' });
    await mcpPost(gw.url, { jsonrpc: '2.0', method: 'notifications/initialized' }, { sessionId: s.sessionId, protocolVersion: s.protocolVersion });
    const get = await openGetStream(gw.url, { headers: { 'mcp-session-id': s.sessionId, 'mcp-protocol-version': s.protocolVersion } });
    const first = await get.waitFor(({ events }) => events.map((e) => safeJson(e.data)).find((m) => m?.method === 'roots/list'), 5000);
    const answer = (id) => mcpPost(gw.url, { jsonrpc: '2.0', id, result: { roots: [] } }, { sessionId: s.sessionId, protocolVersion: s.protocolVersion });
    assert.equal((await answer(first.id)).status, 202);
    await waitUntil(async () => s.text(await s.call('asking__answers')) === '["r0"]', 5000, 'the early request answered with its own id');

    // 1100 requests nobody answers: the gateway remembers the newest 1024.
    assert.equal(s.text(await s.call('asking__flood', { n: 1100 })), 'flooded');
    const requests = await get.waitFor(({ events }) => {
      const r = events.map((e) => safeJson(e.data)).filter((m) => m?.method === 'roots/list');
      return r.length === 1101 ? r : undefined;
    }, 10_000);
    assert.equal(new Set(requests.map((m) => m.id)).size, 1101, 'every request has its own id');
    await answer(requests[1].id);  // r1: forgotten
    await answer(requests[1100].id);  // r1100: still known
    await waitUntil(async () => s.text(await s.call('asking__answers')) === '["r0","r1100"]', 5000, 'only the remembered request answered');
    get.close();
    await gw.stop();
    await a.stop();
  });

  test('a backend that is down, slow or refuses initialize does not fail the session', async () => {
    const up = await startScripted('ok');
    const refuses = await startScripted('no', ['--fail-initialize']);
    const silent = await startSilentServer();
    const down = await closedPort();
    const gw = await startGateway({
      config: {
        backends: [http('ok', up.url), http('no', refuses.url), http('silent', `http://127.0.0.1:${silent.port}/mcp`), http('down', `http://127.0.0.1:${down}/mcp`)],
        routes: [{ path: '/mcp', backends: ['ok', 'no', 'silent', 'down'], list_timeout: '700ms', rejoin_interval: '1s' }],
      },
    });
    const started = Date.now();
    const s = await open(gw);
    assert.ok(Date.now() - started < 5000, 'initialize waited at most about list_timeout for the silent one');
    const names = (await s.listAll('tools/list', 'tools')).items.map((t) => t.name);
    assert.deepEqual(names.sort(), ['ok__ask', 'ok__echo', 'ok__whoami']);
    assert.equal(s.text(await s.call('ok__whoami')), 'ok');
    const gone = await s.call('down__echo');
    assert.equal(gone.error?.code, -32050, gone.text);
    assert.match(gone.error.message, /backend 'down'.*unavailable/);
    const left = gw.logs().filter((l) => l.msg === 'aggregated backend left out of the session for now').map((l) => l.backend).sort();
    assert.deepEqual(left, ['down', 'no', 'silent']);
    assert.ok(gw.logs().some((l) => l.backend === 'no' && /refuses to start/.test(l.error ?? '')), 'the refusal is in the log');
    for (const b of ['no', 'silent', 'down']) assert.ok(await events(gw, b, 'left_out') >= 1, `${b} counted as left out`);
    assert.equal(await events(gw, 'ok', 'left_out'), 0);
    await gw.stop();
    await Promise.all([up.stop(), refuses.stop(), silent.close?.()]);
  });

  test('a slow list answer is left out after list_timeout, and the client hears list_changed when it comes', async () => {
    const fast = await startScripted('fast');
    const slow = await startScripted('slow', ['--list-delay-ms', '1500']);
    const gw = await startGateway({
      config: { backends: [http('fast', fast.url), http('slow', slow.url)], routes: [{ path: '/mcp', backends: ['fast', 'slow'], list_timeout: '500ms' }] },
    });
    const s = await open(gw);
    const get = await openGetStream(gw.url, { headers: { 'mcp-session-id': s.sessionId, 'mcp-protocol-version': s.protocolVersion } });
    const started = Date.now();
    const first = await s.rpc('tools/list');
    assert.ok(Date.now() - started < 1400, `answered at the deadline (${Date.now() - started} ms)`);
    assert.deepEqual(first.result.tools.map((t) => t.name).sort(), ['fast__ask', 'fast__echo', 'fast__whoami']);
    await get.waitFor(({ events }) => events.some((e) => e.data.includes('notifications/tools/list_changed')), 5000);
    get.close();
    await gw.stop();
    await Promise.all([fast.stop(), slow.stop()]);
  });

  test('a backend lost mid-session leaves the others working and rejoins with list_changed', async () => {
    if (!haveDemoBackend()) return;
    const a = await startScripted('stay');
    const demo = await startDemoBackend();
    const port = Number(new URL(demo.url).port);
    const gw = await startGateway({
      config: {
        backends: [http('stay', a.url), http('demo', demo.url), { name: 'files', stdio: { command: [NODE_BIN, BACKEND_SCRIPT, '--stdio'], pool: { warm: 0 } } }],
        routes: [{ path: '/mcp', backends: ['stay', 'demo', 'files'], rejoin_interval: '500ms' }],
      },
    });
    const s = await open(gw);
    const get = await openGetStream(gw.url, { headers: { 'mcp-session-id': s.sessionId, 'mcp-protocol-version': s.protocolVersion } });
    assert.equal(s.text(await s.call('demo__echo', { text: 'before' })), 'before');
    await demo.stop();
    const failed = await s.call('demo__echo', { text: 'during' });
    assert.equal(failed.error?.code, -32050, failed.text);
    await get.waitFor(({ events }) => events.some((e) => e.data.includes('tools/list_changed')), 5000);
    const during = (await s.listAll('tools/list', 'tools')).items.map((t) => t.name);
    assert.ok(!during.includes('demo__echo') && during.includes('stay__echo') && during.includes('files__echo'));
    assert.equal(s.text(await s.call('stay__echo', { text: 'still here' })), 'still here');
    assert.equal(s.text(await s.call('files__echo', { text: 'stdio too' })), 'stdio too');
    // Kill the stdio backend's process: the session goes on, and a new process joins.
    const { childPids } = await import('./lib.mjs');
    const before = childPids(gw.proc.pid);
    assert.ok(before.length >= 1);
    for (const pid of before) process.kill(pid, 'SIGKILL');
    await waitUntil(() => gw.logs().some((l) => l.msg === 'aggregated backend lost; its items are left out until it is back' && l.backend === 'files'), 5000, 'files lost');

    const entry = spawnTracked('demo-again', path.resolve(process.env.MCPGW_DEMO_BACKEND ?? path.join(REPO_ROOT, 'build', 'ci', 'tests', 'backends', 'mcpgw-demo-backend')), ['--listen', `127.0.0.1:${port}`], { env: process.env });
    await entry.waitForLine((st, l) => st === 'stdout' && l.startsWith('listening'), 10_000, 'demo listening');
    await waitUntil(() => gw.logs().filter((l) => l.msg === 'aggregated backend joined').map((l) => l.backend).sort().join() === 'demo,files', 10_000, 'demo and files rejoined');
    const after = (await s.listAll('tools/list', 'tools')).items.map((t) => t.name);
    assert.ok(after.includes('demo__echo') && after.includes('files__echo'), after.join(', '));
    assert.equal(s.text(await s.call('demo__echo', { text: 'after' })), 'after');
    assert.equal(s.text(await s.call('files__echo', { text: 'new process' })), 'new process');
    assert.equal(await events(gw, 'demo', 'lost'), 1);
    assert.equal(await events(gw, 'demo', 'joined'), 1);
    assert.equal(await events(gw, 'files', 'lost'), 1);
    assert.equal(await events(gw, 'stay', 'lost'), 0);
    const changes = get.events().filter((e) => e.data.includes('tools/list_changed')).length;
    assert.ok(changes >= 4, `list_changed when each left and came back (${changes})`);
    get.close();
    await gw.stop();
    await stopChild(entry);
    await a.stop();
  });

  test('a backend session that expires (404) is opened again without the client noticing', async () => {
    const a = await startScripted('exp', ['--tools', '5']);
    const gw = await startGateway({ config: { backends: [http('exp', a.url)], routes: [{ path: '/mcp', backends: ['exp'] }] } });
    const s = await open(gw);
    assert.equal(s.text(await s.call('exp__echo', { text: 'one' })), 'one');
    assert.deepEqual((await s.rpc('resources/subscribe', { uri: 'exp+res://exp/1' })).result, {});
    const touched = await s.call('exp__touch', { uri: 'res://exp/1' });
    const update = touched.messages.find((m) => m.method === 'notifications/resources/updated');
    assert.equal(update?.params?.uri, 'exp+res://exp/1', `the URI in the notification is the one the client knows: ${touched.text}`);
    await request(`${a.origin}/debug/expire`, { method: 'GET' });
    assert.equal(s.text(await s.call('exp__echo', { text: 'two' })), 'two');
    const stats = JSON.parse((await request(`${a.origin}/debug/stats`, { method: 'GET' })).text);
    assert.equal(stats.initializes, 2);
    assert.ok(gw.logs().some((l) => l.msg === 'aggregated backend session expired; opening a new one'));
    assert.equal(await events(gw, 'exp', 'reopened'), 1);
    await waitUntil(async () => s.text(await s.call('exp__subscriptions')) === '["res://exp/1"]', 5000, 'the subscription made again in the new backend session');
    await gw.stop();
    await a.stop();
  });

  test('lazy upstream sessions open at first use; DELETE ends every backend session', async () => {
    const a = await startScripted('la');
    const b = await startScripted('lb');
    const gw = await startGateway({ config: { backends: [http('la', a.url), http('lb', b.url)], routes: [{ path: '/mcp', backends: ['la', 'lb'], upstream_sessions: 'lazy' }] } });
    const stats = async (x) => JSON.parse((await request(`${x.origin}/debug/stats`, { method: 'GET' })).text);
    const first = await open(gw);  // nothing known yet: both are opened to learn what they offer
    assert.equal((await stats(a)).initializes, 1);
    const second = await open(gw);
    assert.equal((await stats(a)).initializes, 1, 'capabilities known: no backend session yet');
    assert.equal(second.result.capabilities.tools.listChanged, true);
    assert.equal(second.text(await second.call('lb__whoami')), 'lb');
    assert.equal((await stats(b)).initializes, 2, 'lb__whoami opened lb (to list it and call)');
    assert.equal((await stats(a)).initializes, 1, 'la is not used by this session yet');
    assert.equal(second.text(await second.call('la__whoami')), 'la');
    assert.equal((await stats(a)).initializes, 2);
    for (const s of [first, second]) {
      const r = await request(gw.url, { method: 'DELETE', headers: { 'mcp-session-id': s.sessionId, 'mcp-protocol-version': s.protocolVersion } });
      assert.equal(r.status, 200);
    }
    await waitUntil(async () => (await stats(a)).sessions === 0 && (await stats(b)).sessions === 0, 5000, 'backend sessions deleted');
    await gw.stop();
    await Promise.all([a.stop(), b.stop()]);
  });

  test('a legacy HTTP+SSE backend on the route, and a legacy HTTP+SSE client of the route', async () => {
    requireBackend();
    const legacy = await startConformanceBackend({ args: ['--legacy-sse'] });
    const a = await startScripted('modern');
    const gw = await startGateway({
      config: {
        backends: [{ name: 'old', sse: { url: legacy.url, timeout: '10s', connect_timeout: '2s' } }, http('modern', a.url)],
        routes: [{ path: '/mcp', backends: ['old', 'modern'] }],
      },
    });
    const s = await open(gw);
    assert.equal(s.text(await s.call('old__echo', { text: 'over sse' })), 'over sse');
    assert.equal(s.text(await s.call('modern__whoami')), 'modern');

    // The 2024-11-05 client transport: GET <route>/sse, POST to the endpoint it names.
    const stream = await openGetStream(`${gw.origin}/mcp/sse`);
    assert.equal(stream.status, 200);
    const ev = await stream.waitFor(({ events }) => events.find((e) => e.event === 'endpoint'), 5000);
    const endpoint = new URL(ev.data, gw.origin).href;
    const post = (body) => request(endpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const answer = (id) => stream.waitFor(({ events }) => events.filter((e) => e.event === 'message').map((e) => safeJson(e.data)).find((m) => m?.id === id && !('method' in m)), 10_000);
    assert.equal((await post({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2024-11-05', capabilities: {}, clientInfo: { name: 'legacy', version: '0' } } })).status, 202);
    assert.equal((await answer(0)).result.protocolVersion, '2024-11-05');
    await post({ jsonrpc: '2.0', method: 'notifications/initialized' });
    await post({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'modern__echo', arguments: { text: 'legacy client' } } });
    assert.equal((await answer(1)).result.content[0].text, 'legacy client');
    stream.close();
    await gw.stop();
    await legacy.stop();
    await a.stop();
  });

  test("a tenant's backends rules decide which backends its sessions hold", async () => {
    const ta = await startScripted('ta');
    const tb = await startScripted('tb');
    const digest = (key) => `sha256:${createHash('sha256').update(key).digest('hex')}`;
    const gw = await startGateway({
      config: {
        backends: [http('ta', ta.url), http('tb', tb.url)],
        routes: [{ path: '/mcp', backends: ['ta', 'tb'] }],
        tenants: [
          { name: 'only-a', api_keys: [digest('key-only-a')], allow: { backends: ['ta'] } },
          { name: 'not-a', api_keys: [digest('key-not-a')], deny: { backends: ['t?'] }, allow: { backends: ['tb'] } },
          { name: 'all', api_keys: [digest('key-all')] },
        ],
        filters: [{ auth: { resource: 'http://127.0.0.1/mcp', api_key_header: 'X-Api-Key' } }],
      },
    });
    const as = async (key) => {
      const headers = { 'x-api-key': key };
      const s = await initialize(gw.url, { headers });
      const sess = session(gw, s);
      const rpc = (method, params) => sess.rpc(method, params, { headers });
      const tools = async () => (await rpc('tools/list')).result?.tools?.map((t) => t.name).sort();
      return { s, rpc, tools };
    };
    const a = await as('key-only-a');
    assert.deepEqual(await a.tools(), ['ta__ask', 'ta__echo', 'ta__whoami']);
    assert.equal((await a.rpc('tools/call', { name: 'tb__whoami', arguments: {} })).error?.code, -32602);
    assert.equal((await a.rpc('resources/read', { uri: 'tb+res://tb/1' })).error?.code, -32602);
    assert.equal((await a.rpc('tools/call', { name: 'ta__whoami', arguments: {} })).result?.content?.[0]?.text, 'ta');
    const none = await as('key-not-a');
    assert.deepEqual(await none.tools(), [], 'deny wins over allow: no backend left, an empty server');
    const all = await as('key-all');
    assert.equal((await all.tools()).length, 6);
    const stats = JSON.parse((await request(`${tb.origin}/debug/stats`, { method: 'GET' })).text);
    assert.equal(stats.initializes, 1, 'only the session that may use tb opened a session there');
    await gw.stop();
    await Promise.all([ta.stop(), tb.stop()]);
  });

  test('a call the client cancels while its backend session opens is never sent; unknown names do not make the gateway list again and again', async () => {
    const a = await startScripted('slowinit', ['--init-delay-ms', '800']);
    const gw = await startGateway({ config: { backends: [http('slowinit', a.url)], routes: [{ path: '/mcp', backends: ['slowinit'], upstream_sessions: 'lazy' }] } });
    const stats = async () => JSON.parse((await request(`${a.origin}/debug/stats`, { method: 'GET' })).text);
    await open(gw);  // learns what the backend offers
    const s = await open(gw);  // lazy: no backend session yet
    const call = mcpPost(gw.url, { jsonrpc: '2.0', id: 'doomed', method: 'tools/call', params: { name: 'slowinit__echo', arguments: { text: 'x' } } },
      { sessionId: s.sessionId, protocolVersion: s.protocolVersion });
    await sleep(200);  // the gateway is opening the backend session (800 ms)
    const cancel = await mcpPost(gw.url, { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'doomed', reason: 'changed my mind' } },
      { sessionId: s.sessionId, protocolVersion: s.protocolVersion });
    assert.equal(cancel.status, 202);
    await call.catch(() => undefined);
    await sleep(1200);
    assert.equal((await stats()).calls, 0, 'the cancelled call never reached the backend');
    assert.equal(s.text(await s.call('slowinit__echo', { text: 'y' })), 'y');
    assert.equal((await stats()).calls, 1);

    const listsBefore = (await stats()).lists;
    for (let i = 0; i < 10; i++) {
      const r = await s.call(`slowinit__nothing_${i}`);
      assert.equal(r.error?.code, -32602);
    }
    const listed = (await stats()).lists - listsBefore;
    assert.ok(listed <= 2, `10 unknown names listed the backend ${listed} times`);
    await gw.stop();
    await a.stop();
  });

  test('--check-config reports aggregated route mistakes with line and key', async () => {
    const dir = makeTempDir();
    const file = path.join(dir, 'gateway.yaml');
    writeFileSync(file, [
      'backends:',
      '  - name: a',
      '    http: { url: http://127.0.0.1:1/mcp }',
      '  - name: b',
      '    http: { url: http://127.0.0.1:2/mcp }',
      'routes:',
      '  - path: /mcp',
      '    backends: [a, { name: b, prefix: a }, nope]',
      '    upstream_sessions: later',
      '',
    ].join('\n'));
    const r = await runGateway(['--check-config', file]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /gateway\.yaml:8: routes\[0\]\.backends\[1\]\.prefix: backends "a" and "b" both name their tools "a__"/);
    assert.match(r.stderr, /gateway\.yaml:8: routes\[0\]\.backends\[2\]: expected the name of a backend defined under backends \(a, b\), got "nope"/);
    assert.match(r.stderr, /gateway\.yaml:9: routes\[0\]\.upstream_sessions: expected eager .* got "later"/);
  });
});
