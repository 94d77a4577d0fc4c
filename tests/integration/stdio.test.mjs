// stdio backends: one child process per client session (tests/backends/conformance-server.mjs
// --stdio). The MCP exchange through a process (JSON and SSE answers, batches, cancellation,
// server->client requests), what the child gets (environment, cwd), the gateway's logs of the
// child's stderr and stray stdout, the warm pool (warm-up with the client's initialize,
// replacement of a killed warm process), pool.max, crashes, stdio.timeout, oversized lines,
// the end of the processes (DELETE, idle expiry, SIGTERM with escalation, SIGKILL of the
// gateway) and the --check-config errors of the stdio keys.
//
// Processes are inspected through /proc (children of the gateway pid; a zombie counts as gone).
import assert from 'node:assert/strict';
import { readFileSync, readlinkSync, realpathSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  BACKEND_SCRIPT, DEMO_BACKEND, LATEST, NODE_BIN, assertJsonRpcError, callTool, childPids, initialize, initializeBody, makeTempDir,
  mcpPost, openGetStream, procStat, processGone, request, requireBackend, haveDemoBackend, runGateway, safeJson, setHardTimeout, sleep, startGateway,
  waitUntil,
} from './lib.mjs';

// Up to ~250 node processes are started in this file (the idle-expiry test alone opens 200
// sessions); on 2 cores that needs more than the default 55 s cap.
setHardTimeout(120_000);

const BACKEND_NAME = 'files';

/** A stdio backend running the conformance server; `args` are extra backend flags. */
function stdioBackend({ args = [], ...stdio } = {}) {
  return { name: BACKEND_NAME, stdio: { command: [NODE_BIN, BACKEND_SCRIPT, '--stdio', ...args], ...stdio } };
}

/** A gateway whose only backend is the stdio conformance server, routed at /mcp. */
function startStdioGateway(name, { args, stdio = {}, config = {}, env } = {}) {
  requireBackend();
  return startGateway({
    name,
    env,
    config: { backends: [stdioBackend({ args, ...stdio })], routes: [{ path: '/mcp', backend: BACKEND_NAME }], ...config },
  });
}

const sessionOpts = (s) => ({ sessionId: s.sessionId, protocolVersion: s.protocolVersion });
const response = (r, id) => r.messages.find((m) => m && m.id === id && !('method' in m));
const textOf = (r) => r.message?.result?.content?.[0]?.text;
const logs = (gw, msg) => gw.logs().filter((l) => l.msg === msg);

/** Resolve with the first gateway log object matching pred (already logged or later). */
function waitLog(gw, pred, timeoutMs, what) {
  return gw.proc.waitForLine((s, l) => {
    if (s !== 'stderr' || !l.startsWith('{')) return undefined;
    const o = JSON.parse(l);
    return pred(o) ? o : undefined;
  }, timeoutMs, what);
}

/** The session's backend process id (the `pid` tool), checked to be a child of the gateway. */
async function pidOf(gw, s) {
  const r = await callTool(gw.url, s, 'pid', {});
  assert.equal(r.status, 200, r.text);
  const pid = Number(textOf(r));
  assert.ok(Number.isInteger(pid) && pid > 0, `pid tool answered ${r.text}`);
  assert.equal(procStat(pid)?.ppid, gw.proc.pid, `process ${pid} is not a child of the gateway ${gw.proc.pid}`);
  return pid;
}

const echoOk = async (gw, s, text = 'still alive') => {
  const r = await callTool(gw.url, s, 'echo', { text });
  assert.equal(r.status, 200, r.text);
  assert.equal(textOf(r), text, r.text);
};

const deleteSession = (gw, s) => request(gw.url, {
  method: 'DELETE', headers: { 'mcp-session-id': s.sessionId, 'mcp-protocol-version': s.protocolVersion }, timeoutMs: 5000,
});

const waitGone = (pids, ms, what) => waitUntil(() => pids.every((p) => processGone(p)), ms,
  `${what}; still alive: ${pids.filter((p) => !processGone(p)).map((p) => `${p}(${procStat(p)?.state})`).join(' ')}`);

// A minimal stdio MCP server in POSIX sh for the process-lifecycle tests: it starts in a
// millisecond (the conformance server needs ~0.3 s of CPU, too much for 200 sessions on 2
// cores), answers initialize with whatever id it got, ignores everything else and exits on
// stdin EOF. With STUB_ECHO=1 it copies every input line to stderr as "stdin: <line>".
const SH_STUB = `#!/bin/sh
while IFS= read -r line; do
  if [ "$STUB_ECHO" = 1 ]; then printf 'stdin: %s\\n' "$line" >&2; fi
  case "$line" in
    *'"method":"initialize"'*)
      id=$(printf '%s\\n' "$line" | sed -E 's/^.*"id":([0-9]+|"[^"]*").*$/\\1/')
      printf '{"jsonrpc":"2.0","id":%s,"result":{"protocolVersion":"${LATEST}","capabilities":{},"serverInfo":{"name":"sh-stub","version":"0"}}}\\n' "$id" ;;
  esac
done
`;
let stubPath;
function shStub() {
  if (!stubPath) {
    stubPath = path.join(makeTempDir('mcpgw-it-stdio-stub-'), 'stdio-stub.sh');
    writeFileSync(stubPath, SH_STUB, { mode: 0o755 });
  }
  return stubPath;
}

/** A gateway whose stdio backend is the sh stub. */
function startStubGateway(name, { config = {}, ...stdio } = {}) {
  return startGateway({
    name,
    config: { backends: [{ name: BACKEND_NAME, stdio: { command: ['/bin/sh', shStub()], ...stdio } }], routes: [{ path: '/mcp', backend: BACKEND_NAME }], ...config },
  });
}

/** The JSON-RPC messages the sh stub (STUB_ECHO=1) with this pid read on stdin, in order. */
const stubInput = (gw, pid) => logs(gw, 'backend stderr')
  .filter((l) => l.pid === String(pid) && l.line.startsWith('stdin: '))
  .map((l) => JSON.parse(l.line.slice('stdin: '.length)));

/** Wait until n processes have answered the pool's warm-up initialize (sh stub, STUB_ECHO=1). */
const stubWarmedUp = (gw, n) => waitUntil(
  () => logs(gw, 'backend stderr').filter((l) => l.session === '' && l.line.includes('"method":"notifications/initialized"')).length >= n,
  5000, `${n} warm-up(s) of the pool`);

/** The gateway's "session started" log line of a session (waits for it: logs trail answers). */
const sessionLog = (gw, s) => waitLog(gw, (o) => o.msg === 'session started' && o.session === s.sessionId, 3000, `"session started" of ${s.sessionId}`);

// ---------------------------------------------------------------------------------------
describe('stdio session basics (warm 1, max 20, env FOO, cwd, --stdio-banner, max_backend_message 64KiB)', () => {
  let gw;
  let cwd;
  const gatewayEnv = { MCPGW_TEST_SECRET: 's3cret', LANG: 'C.UTF-8' };

  before(async () => {
    cwd = makeTempDir('mcpgw-it-stdio-cwd-');
    gw = await startStdioGateway('gateway-stdio', {
      args: ['--stdio-banner'],
      stdio: { env: { FOO: 'bar' }, cwd, pool: { warm: 1, max: 20 }, timeout: '10s' },
      config: { limits: { max_backend_message: '64KiB' } },
      env: gatewayEnv,
    });
  }, { timeout: 20_000 });
  after(() => gw?.stop());

  test('initialize → 200 JSON with Mcp-Session-Id; notifications/initialized → 202; echo → JSON result', async () => {
    const init = await mcpPost(gw.url, initializeBody(LATEST, 7));
    assert.equal(init.status, 200, init.text);
    assert.match(init.contentType, /^application\/json/, init.text);
    const sessionId = init.headers['mcp-session-id'];
    assert.match(sessionId ?? '', /^[0-9a-f]{32}$/, JSON.stringify(init.headers));
    assert.equal(init.json?.id, 7, init.text);
    assert.equal(init.json.result?.protocolVersion, LATEST, init.text);
    assert.equal(init.json.result?.serverInfo?.name, 'mcpgw-conformance-backend', init.text);

    const ack = await mcpPost(gw.url, { jsonrpc: '2.0', method: 'notifications/initialized' }, { sessionId, protocolVersion: LATEST });
    assert.equal(ack.status, 202, ack.text);
    assert.equal(ack.text, '');

    const r = await callTool(gw.url, { sessionId, protocolVersion: LATEST }, 'echo', { text: 'hello stdio' }, { id: 11 });
    assert.equal(r.status, 200, r.text);
    assert.match(r.contentType, /^application\/json/, r.text);
    assert.equal(r.json?.id, 11, r.text);
    assert.deepEqual(r.json.result?.content, [{ type: 'text', text: 'hello stdio' }], r.text);
  });

  test('a call with a progressToken → SSE: the progress events, streamed, then the result', async () => {
    const s = await initialize(gw.url);
    const id = 21;
    const arrivals = [];
    const started = Date.now();
    const r = await mcpPost(gw.url, { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'slow', arguments: { ms: 600 }, _meta: { progressToken: 'stdio-p1' } } }, {
      ...sessionOpts(s),
      onMessages: (msgs) => { for (const m of msgs.slice(arrivals.length)) arrivals.push({ at: Date.now() - started, m }); },
    });
    assert.equal(r.status, 200, r.text);
    assert.match(r.contentType, /^text\/event-stream/, r.text);
    const progress = r.messages.filter((m) => m.method === 'notifications/progress');
    assert.deepEqual(progress.map((m) => m.params.progress), [100, 200, 300, 400, 500, 600], r.text);
    assert.ok(progress.every((m) => m.params.progressToken === 'stdio-p1'), r.text);
    const last = r.messages.at(-1);
    assert.equal(last.id, id, r.text);
    assert.equal(last.result?.content?.[0]?.text, 'done', r.text);
    const first = arrivals.find((a) => a.m.method === 'notifications/progress');
    const result = arrivals.find((a) => a.m.id === id);
    assert.ok(result.at - first.at >= 300, `first progress at ${first.at} ms, result at ${result.at} ms: not streamed`);
  });

  test('the child gets only FOO (configured), HOME, LANG and PATH, and the configured cwd', async () => {
    // The gateway itself has the secret, so its absence in the child means it was filtered.
    const gwEnviron = readFileSync(`/proc/${gw.proc.pid}/environ`, 'utf8').split('\0');
    assert.ok(gwEnviron.includes('MCPGW_TEST_SECRET=s3cret'), 'the gateway was not started with MCPGW_TEST_SECRET');

    const s = await initialize(gw.url);
    const r = await callTool(gw.url, s, 'env', {});
    assert.equal(r.status, 200, r.text);
    const [names, where] = r.message.result.content.map((c) => JSON.parse(c.text));
    const expected = ['FOO', ...['HOME', 'LANG', 'PATH'].filter((k) => process.env[k] !== undefined || k in gatewayEnv)].sort();
    assert.deepEqual(names, expected, r.text);
    assert.ok(!names.includes('MCPGW_TEST_SECRET'));
    assert.equal(where.cwd, realpathSync(cwd), r.text);

    // The values, seen from outside the child.
    const pid = await pidOf(gw, s);
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean);
    assert.ok(environ.includes('FOO=bar'), environ.join(' '));
    assert.ok(environ.includes('LANG=C.UTF-8'), environ.join(' '));
    assert.ok(environ.includes(`PATH=${process.env.PATH}`), environ.join(' '));
    assert.ok(!environ.some((e) => e.startsWith('MCPGW_TEST_SECRET=')), environ.join(' '));
    assert.equal(readlinkSync(`/proc/${pid}/cwd`), realpathSync(cwd));
  });

  test('"session started" log names the backend, the child pid and whether it was warm', async () => {
    const s = await initialize(gw.url);
    const pid = await pidOf(gw, s);
    const line = logs(gw, 'session started').find((l) => l.session === s.sessionId);
    assert.ok(line, `no "session started" log for ${s.sessionId}`);
    assert.equal(line.backend, BACKEND_NAME);
    assert.equal(line.route, '/mcp');
    assert.equal(line.pid, String(pid));
    assert.ok(['true', 'false'].includes(line.warm), JSON.stringify(line));
  });

  test('each stderr line of the child is logged as "backend stderr" with backend, session, pid and line', async () => {
    const s = await initialize(gw.url);
    const pid = await pidOf(gw, s);
    const tag = `stderr-${Date.now()}`;
    const r = await callTool(gw.url, s, 'stderr_line', { text: `${tag} one\n${tag} two` });
    assert.equal(textOf(r), 'ok', r.text);
    const one = await waitLog(gw, (o) => o.msg === 'backend stderr' && o.line === `${tag} one`, 3000, 'stderr line one');
    const two = await waitLog(gw, (o) => o.msg === 'backend stderr' && o.line === `${tag} two`, 3000, 'stderr line two');
    for (const l of [one, two]) {
      assert.equal(l.backend, BACKEND_NAME, JSON.stringify(l));
      assert.equal(l.session, s.sessionId, JSON.stringify(l));
      assert.equal(l.pid, String(pid), JSON.stringify(l));
    }
  });

  test('a non-JSON stdout line is logged and skipped; the session keeps working', async () => {
    const s = await initialize(gw.url);
    const pid = await pidOf(gw, s);
    const r = await callTool(gw.url, s, 'stdout_garbage', { text: 'after garbage' });
    assert.equal(r.status, 200, r.text);
    assert.equal(textOf(r), 'after garbage', r.text);
    const l = await waitLog(gw, (o) => o.msg === 'stdio backend wrote a non-JSON line on stdout; skipped' && o.pid === String(pid) && o.line === 'this is not json',
      3000, 'non-JSON stdout log');
    assert.equal(l.backend, BACKEND_NAME, JSON.stringify(l));
    await echoOk(gw, s, 'after garbage, echo');
  });

  test('--stdio-banner: the start-up banner on stdout is logged and skipped; that process serves a session', async () => {
    const s = await initialize(gw.url);
    const pid = await pidOf(gw, s);
    const l = await waitLog(gw, (o) => o.msg === 'stdio backend wrote a non-JSON line on stdout; skipped' && o.pid === String(pid) && o.line === 'banner: starting',
      3000, `banner log of pid ${pid}`);
    assert.equal(l.backend, BACKEND_NAME, JSON.stringify(l));
    await echoOk(gw, s, 'after banner');
  });

  test('crash {after_ms: 100} → -32050 "exit code 3" at once; the session is then gone (404, -32001)', async () => {
    const s = await initialize(gw.url);
    const pid = await pidOf(gw, s);
    const r = await callTool(gw.url, s, 'crash', { after_ms: 100 }, { timeoutMs: 8000 });
    assert.equal(r.timedOut, false, r.text);
    assert.equal(r.status, 200, r.text);
    assert.ok(r.elapsedMs < 3000, `the crash was reported after ${r.elapsedMs} ms (stdio.timeout is 10 s)`);
    assert.equal(r.message?.error?.code, -32050, r.text);
    assert.match(r.message.error.message, /exit code 3/, r.text);
    await waitGone([pid], 2000, 'the crashed process to be reaped');
    const next = await callTool(gw.url, s, 'echo', { text: 'x' });
    assertJsonRpcError(next, { status: 404, code: -32001 });
  });

  test('a stdout line over limits.max_backend_message → -32052 naming it; the session keeps working', async () => {
    const s = await initialize(gw.url);
    const pid = await pidOf(gw, s);
    const fits = await callTool(gw.url, s, 'big', { bytes: 30_000 });
    assert.equal(textOf(fits)?.length, 30_000, fits.text.slice(0, 300));
    const r = await callTool(gw.url, s, 'big', { bytes: 200_000 }, { timeoutMs: 8000 });
    assert.equal(r.timedOut, false);
    assert.ok(r.elapsedMs < 5000, `took ${r.elapsedMs} ms (stdio.timeout 10 s)`);
    assert.equal(r.message?.error?.code, -32052, r.text.slice(0, 500));
    assert.match(r.message.error.message, /max_backend_message/, r.text.slice(0, 500));
    await echoOk(gw, s, 'after oversize');
    assert.equal(await pidOf(gw, s), pid, 'the session moved to another process');
  });

  test('notifications/cancelled for an in-flight call → 202; its POST ends without a result; the process stays usable', async () => {
    const s = await initialize(gw.url);
    const pid = await pidOf(gw, s);
    const id = 31;
    const tag = `cancel-${Date.now()}`;
    let sawProgress;
    const progressed = new Promise((resolve) => { sawProgress = resolve; });
    const call = mcpPost(gw.url, { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'slow', arguments: { ms: 8000, tag }, _meta: { progressToken: tag } } }, {
      ...sessionOpts(s),
      timeoutMs: 9000,
      onMessages: (msgs) => { if (msgs.some((m) => m.method === 'notifications/progress')) sawProgress(); },
    });
    await Promise.race([progressed, sleep(4000).then(() => { throw new Error('the slow call never reported progress'); })]);
    const cancelledAt = Date.now();
    const c = await mcpPost(gw.url, { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: 'test cancel' } }, sessionOpts(s));
    assert.equal(c.status, 202, c.text);
    const r = await call;
    const endedAfter = Date.now() - cancelledAt;
    assert.equal(r.timedOut, false, `the cancelled call's POST was still open after 9 s: ${r.text}`);
    assert.ok(endedAfter < 3000, `the POST ended ${endedAfter} ms after the cancellation`);
    const res = response(r, id);
    assert.ok(res === undefined || res.error, `a cancelled call must not get a result: ${r.text}`);
    assert.ok(!r.messages.some((m) => m.result?.content?.[0]?.text === 'done'), r.text);

    const seen = await callTool(gw.url, s, 'last_cancelled', { tag });
    const rec = JSON.parse(textOf(seen));
    assert.equal(rec.state, 'cancelled', textOf(seen));
    assert.equal(rec.viaCancelledNotification, true, textOf(seen));
    assert.ok(rec.elapsedMs < 8000, textOf(seen));
    await echoOk(gw, s, 'after cancel');
    assert.equal(await pidOf(gw, s), pid);
  });

  test('2025-03-26 batch [request, request] → one JSON array with both results', async () => {
    const s = await initialize(gw.url, { protocolVersion: '2025-03-26' });
    assert.equal(s.protocolVersion, '2025-03-26');
    const body = [
      { jsonrpc: '2.0', id: 51, method: 'tools/call', params: { name: 'echo', arguments: { text: 'first' } } },
      { jsonrpc: '2.0', id: 52, method: 'tools/call', params: { name: 'echo', arguments: { text: 'second' } } },
    ];
    const r = await mcpPost(gw.url, body, sessionOpts(s));
    assert.equal(r.status, 200, r.text);
    assert.match(r.contentType, /^application\/json/, r.text);
    const arr = safeJson(r.text);
    assert.ok(Array.isArray(arr), r.text);
    assert.equal(arr.length, 2, r.text);
    const byId = Object.fromEntries(arr.map((m) => [m.id, m.result?.content?.[0]?.text]));
    assert.deepEqual(byId, { 51: 'first', 52: 'second' }, r.text);
  });

  test('DELETE ends the session\'s process', async () => {
    const s = await initialize(gw.url);
    const pid = await pidOf(gw, s);
    const d = await deleteSession(gw, s);
    assert.ok(d.status >= 200 && d.status < 300, `DELETE → ${d.status} ${d.text}`);
    await waitGone([pid], 3000, `process ${pid} to end after DELETE`);
    const next = await callTool(gw.url, s, 'echo', { text: 'x' });
    assertJsonRpcError(next, { status: 404, code: -32001 });
  });
});

// ---------------------------------------------------------------------------------------
describe('server→client requests (sampling/createMessage during test_sampling; stdio.timeout 10s)', () => {
  let gw;
  before(async () => {
    gw = await startStdioGateway('gateway-stdio-sampling', { stdio: { pool: { warm: 0, max: 5 }, timeout: '10s' } });
  }, { timeout: 20_000 });
  after(() => gw?.stop());

  /** A session whose client declared the sampling capability. */
  async function samplingSession() {
    const init = await mcpPost(gw.url, {
      jsonrpc: '2.0', id: 0, method: 'initialize',
      params: { protocolVersion: LATEST, capabilities: { sampling: {} }, clientInfo: { name: 'mcpgw-it-sampling', version: '0.0.0' } },
    });
    assert.equal(init.status, 200, init.text);
    const s = { sessionId: init.headers['mcp-session-id'], protocolVersion: LATEST };
    const ack = await mcpPost(gw.url, { jsonrpc: '2.0', method: 'notifications/initialized' }, sessionOpts(s));
    assert.equal(ack.status, 202, ack.text);
    return s;
  }
  const samplingResult = (id) => ({
    jsonrpc: '2.0', id, result: { role: 'assistant', content: { type: 'text', text: 'hi from the client' }, model: 'test-model', stopReason: 'endTurn' },
  });

  test('without a GET stream: the request arrives at once on the POST stream; the answer → 202; the tool result follows', async () => {
    const s = await samplingSession();
    const id = 41;
    let answered;
    let requestAt;
    const started = Date.now();
    try {
      // 4 s: far less than stdio.timeout (10 s); the backend sends the request right away.
      const r = await mcpPost(gw.url, { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'test_sampling', arguments: { prompt: 'say hi' } } }, {
        ...sessionOpts(s),
        timeoutMs: 4000,
        onMessages: (msgs) => {
          const req = msgs.find((m) => m.method === 'sampling/createMessage');
          if (req && !answered) {
            requestAt = Date.now() - started;
            answered = mcpPost(gw.url, samplingResult(req.id), sessionOpts(s));
          }
        },
      }).catch((err) => assert.fail(`nothing (not even the sampling/createMessage request) reached the client within 4 s; stdio.timeout is 10 s (${err.message})`));
      assert.ok(answered, `no sampling/createMessage request reached the client: ${r.text}`);
      assert.ok(requestAt < 3000, `the request reached the client after ${requestAt} ms`);
      const a = await answered;
      assert.equal(a.status, 202, a.text);
      assert.match(r.contentType, /^text\/event-stream/);
      const req = r.messages.find((m) => m.method === 'sampling/createMessage');
      assert.equal(req.params?.messages?.[0]?.content?.text, 'say hi', r.text);
      assert.equal(r.timedOut, false, r.text);
      assert.equal(response(r, id)?.result?.content?.[0]?.text, 'LLM response: hi from the client', r.text);
    } finally {
      await deleteSession(gw, s).catch(() => {}); // do not leave a stuck call behind
    }
  });

  test('with a GET stream open: the request arrives there; the answer → 202; the tool result arrives on the POST', async () => {
    const s = await samplingSession();
    const g = await openGetStream(gw.url, { headers: { 'mcp-session-id': s.sessionId, 'mcp-protocol-version': s.protocolVersion } });
    try {
      assert.equal(g.status, 200);
      const id = 42;
      const call = mcpPost(gw.url, { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'test_sampling', arguments: { prompt: 'via get' } } },
        { ...sessionOpts(s), timeoutMs: 8000 });
      const req = await g.waitFor(({ events }) => events.map((e) => safeJson(e.data ?? '')).find((m) => m?.method === 'sampling/createMessage'), 3000);
      assert.equal(req.params?.messages?.[0]?.content?.text, 'via get');
      const a = await mcpPost(gw.url, samplingResult(req.id), sessionOpts(s));
      assert.equal(a.status, 202, a.text);
      const r = await call;
      assert.equal(r.status, 200, r.text);
      assert.equal(response(r, id)?.result?.content?.[0]?.text, 'LLM response: hi from the client', r.text);
      assert.ok(!r.messages.some((m) => m.method === 'sampling/createMessage'), `the request must be delivered once: ${r.text}`);
    } finally {
      g.close();
    }
  });
});

// ---------------------------------------------------------------------------------------
describe('stdio.timeout 1s', () => {
  let gw;
  before(async () => {
    gw = await startStdioGateway('gateway-stdio-timeout', { stdio: { pool: { warm: 0, max: 5 }, timeout: '1s' } });
  }, { timeout: 20_000 });
  after(() => gw?.stop());

  test('a silent call (hang) → -32051 naming stdio.timeout after ~1 s; the backend got notifications/cancelled', async () => {
    const s = await initialize(gw.url);
    const tag = `hang-${Date.now()}`;
    const r = await callTool(gw.url, s, 'hang', { tag }, { timeoutMs: 6000 });
    assert.equal(r.timedOut, false, r.text);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.message?.error?.code, -32051, r.text);
    assert.match(r.message.error.message, /stdio\.timeout/, r.text);
    assert.ok(r.elapsedMs >= 900 && r.elapsedMs < 3000, `answered after ${r.elapsedMs} ms`);
    const seen = await waitUntil(async () => {
      const c = await callTool(gw.url, s, 'last_cancelled', { tag });
      const rec = safeJson(textOf(c) ?? '');
      return rec?.state === 'cancelled' ? rec : undefined;
    }, 2000, 'the backend to record the cancellation', 100);
    assert.equal(seen.viaCancelledNotification, true, JSON.stringify(seen));
    assert.ok(seen.elapsedMs >= 900, JSON.stringify(seen));
  });

  test('progress resets the timeout: a 2.5 s call with progress every 100 ms completes', async () => {
    const s = await initialize(gw.url);
    const id = 61;
    const r = await mcpPost(gw.url, { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'slow', arguments: { ms: 2500 }, _meta: { progressToken: 't' } } },
      { ...sessionOpts(s), timeoutMs: 8000 });
    assert.equal(response(r, id)?.result?.content?.[0]?.text, 'done', r.text);
  });
});

// ---------------------------------------------------------------------------------------
describe('warm pool (warm 1, max 10)', () => {
  let gw;
  before(async () => {
    // --verbose: the backend logs "initialize, protocol version ..." to stderr, which tells
    // when the pool has warmed a process up.
    gw = await startStdioGateway('gateway-stdio-warm', { args: ['--verbose'], stdio: { pool: { warm: 1, max: 10 } } });
  }, { timeout: 20_000 });
  after(() => gw?.stop());

  const warmedUp = (afterPids) => waitLog(gw, (o) => o.msg === 'backend stderr' && o.session === '' && !afterPids.includes(o.pid) &&
    /initialize, protocol version/.test(o.line), 8000, 'the pool to warm a process up');

  test('first session cold; an identical initialize then gets a warm process (202 on initialized); a different one is cold', async () => {
    await waitUntil(() => childPids(gw.proc.pid).length === 1, 5000, 'the warm process');
    const first = await initialize(gw.url);
    assert.equal((await sessionLog(gw, first)).warm, 'false');
    const firstPid = await pidOf(gw, first);

    // Wait until the pool initialized a process with what it learned from the first session.
    await warmedUp([String(firstPid)]);
    await sleep(300);

    const second = await initialize(gw.url); // same initializeBody(): identical bytes
    const log2 = await sessionLog(gw, second);
    assert.equal(log2.warm, 'true', JSON.stringify(log2));
    assert.notEqual(Number(log2.pid), firstPid);
    assert.equal(await pidOf(gw, second), Number(log2.pid));
    await echoOk(gw, second, 'warm session works');
    const info = JSON.parse(textOf(await callTool(gw.url, second, 'session_info', {})));
    assert.equal(info.clientInfo?.name, 'mcpgw-integration', JSON.stringify(info));
    assert.equal(info.protocolVersion, LATEST, JSON.stringify(info));

    const other = await mcpPost(gw.url, {
      jsonrpc: '2.0', id: 0, method: 'initialize',
      params: { protocolVersion: LATEST, capabilities: {}, clientInfo: { name: 'another-client', version: '9.9.9' } },
    });
    assert.equal(other.status, 200, other.text);
    const os = { sessionId: other.headers['mcp-session-id'], protocolVersion: LATEST };
    assert.equal((await sessionLog(gw, os)).warm, 'false');
    const ack = await mcpPost(gw.url, { jsonrpc: '2.0', method: 'notifications/initialized' }, sessionOpts(os));
    assert.equal(ack.status, 202, ack.text);
    const info2 = JSON.parse(textOf(await callTool(gw.url, os, 'session_info', {})));
    assert.equal(info2.clientInfo?.name, 'another-client', JSON.stringify(info2));
  });
});

describe('warm pool, seen from a minimal stdio server that logs its input (sh stub)', () => {
  let gw;
  before(async () => {
    gw = await startStubGateway('gateway-stdio-warm-stub', { pool: { warm: 1, max: 10 }, env: { STUB_ECHO: '1' } });
  }, { timeout: 20_000 });
  after(() => gw?.stop());

  test('a warm process got the client\'s initialize once, with the pool\'s id, and one notifications/initialized; the client\'s is not sent again', async () => {
    const first = await initialize(gw.url);
    assert.equal((await sessionLog(gw, first)).warm, 'false');
    await stubWarmedUp(gw, 1);
    const init = await mcpPost(gw.url, initializeBody(LATEST, 'client-id-1'));
    assert.equal(init.status, 200, init.text);
    assert.equal(init.json?.id, 'client-id-1', `the client must get its own id back: ${init.text}`);
    assert.equal(init.json.result?.serverInfo?.name, 'sh-stub', init.text);
    const s = { sessionId: init.headers['mcp-session-id'], protocolVersion: LATEST };
    const started = await sessionLog(gw, s);
    assert.equal(started.warm, 'true', JSON.stringify(started));
    const ack = await mcpPost(gw.url, { jsonrpc: '2.0', method: 'notifications/initialized' }, sessionOpts(s));
    assert.equal(ack.status, 202, ack.text);
    await sleep(300); // anything forwarded would be logged by now
    const input = stubInput(gw, started.pid).map((m) => m.method);
    assert.deepEqual(input, ['initialize', 'notifications/initialized'], JSON.stringify(stubInput(gw, started.pid)));
    assert.equal(stubInput(gw, started.pid)[0].id, 'mcpgw-warmup');
    assert.deepEqual(stubInput(gw, started.pid)[0].params, initializeBody().params);
  });
});

describe('warm pool size (sh stub)', () => {
  let gw;
  before(async () => {
    gw = await startStubGateway('gateway-stdio-warm-count', { pool: { warm: 1, max: 10 }, env: { STUB_ECHO: '1' } });
  }, { timeout: 20_000 });
  after(() => gw?.stop());

  test('warm 1: once the first session taught the pool its initialize, 1 session + 1 warm process run (not 2 warm)', async () => {
    await waitUntil(() => childPids(gw.proc.pid).length === 1, 5000, 'the warm process');
    const s = await initialize(gw.url);
    const pid = Number((await sessionLog(gw, s)).pid);
    await stubWarmedUp(gw, 1);
    await sleep(1000); // every spawn the first session triggered has happened by now (the stub starts in ms)
    const kids = childPids(gw.proc.pid);
    const warmups = logs(gw, 'backend stderr').filter((l) => l.session === '' && l.line.includes('"id":"mcpgw-warmup"'));
    assert.ok(kids.includes(pid));
    assert.equal(kids.length, 2, `children of the gateway: ${kids.join(' ')}; warmed up: ${warmups.map((l) => l.pid).join(' ')} (1 session + warm: 1 expected)`);
  });
});

describe('warm pool replacement (warm 1)', () => {
  let gw;
  before(async () => {
    gw = await startStdioGateway('gateway-stdio-replace', { stdio: { pool: { warm: 1, max: 5 } } });
  }, { timeout: 20_000 });
  after(() => gw?.stop());

  test('a warm process killed with SIGKILL is replaced within a few seconds, and the new one serves the next session', async () => {
    const [warm] = await waitUntil(() => { const k = childPids(gw.proc.pid); return k.length === 1 ? k : undefined; }, 5000, 'one warm process');
    process.kill(warm, 'SIGKILL');
    const replacement = await waitUntil(() => {
      const k = childPids(gw.proc.pid).filter((p) => p !== warm);
      return k.length === 1 ? k[0] : undefined;
    }, 5000, `a new warm process after killing ${warm}`);
    await waitGone([warm], 2000, 'the killed warm process to be reaped');
    const s = await initialize(gw.url);
    assert.equal(await pidOf(gw, s), replacement, 'the session did not get the replacement warm process');
  });
});

// ---------------------------------------------------------------------------------------
describe('stdio.pool.max 2 (warm 0)', () => {
  let gw;
  before(async () => {
    gw = await startStdioGateway('gateway-stdio-cap', { stdio: { pool: { warm: 0, max: 2 } } });
  }, { timeout: 20_000 });
  after(() => gw?.stop());

  test('warm 0 starts no process; a third concurrent session → 503 + Retry-After, -32050 naming stdio.pool.max; a DELETE makes room', async () => {
    await sleep(300);
    assert.deepEqual(childPids(gw.proc.pid), [], 'warm: 0 must not start a process');
    const a = await initialize(gw.url);
    const b = await initialize(gw.url);
    const pidA = await pidOf(gw, a);
    await pidOf(gw, b);
    const third = await mcpPost(gw.url, initializeBody());
    assertJsonRpcError(third, { status: 503, code: -32050, mentions: ['stdio.pool.max'] });
    assert.match(String(third.headers['retry-after'] ?? ''), /^\d+$/, JSON.stringify(third.headers));
    assert.equal(third.headers['mcp-session-id'], undefined);
    assert.equal(childPids(gw.proc.pid).length, 2);

    const d = await deleteSession(gw, a);
    assert.ok(d.status >= 200 && d.status < 300, `DELETE → ${d.status}`);
    await waitGone([pidA], 3000, 'the deleted session\'s process');
    const c = await waitUntil(async () => {
      const r = await mcpPost(gw.url, initializeBody());
      return r.status === 200 ? r : undefined;
    }, 3000, 'room for a new session after DELETE', 200);
    assert.match(c.headers['mcp-session-id'] ?? '', /^[0-9a-f]{32}$/);
  });
});

// ---------------------------------------------------------------------------------------
describe('idle expiry ends the processes (idle_timeout 1s, 200 sessions, warm 0, max 300, sh stub)', () => {
  let gw;
  before(async () => {
    gw = await startStubGateway('gateway-stdio-idle', {
      pool: { warm: 0, max: 300 },
      config: { session_store: { idle_timeout: '1s', max_sessions: 10000 } },
    });
  }, { timeout: 20_000 });
  after(() => gw?.stop());

  test('200 sessions opened 10 at a time, never deleted: after expiry the gateway has no child process left', { timeout: 60_000 }, async () => {
    const total = 200;
    const parallel = 10;
    let next = 0;
    let peak = 0;
    const failures = [];
    const sampler = setInterval(() => { peak = Math.max(peak, childPids(gw.proc.pid).length); }, 250);
    const started = Date.now();
    try {
      await Promise.all(Array.from({ length: parallel }, async () => {
        while (next < total) {
          next += 1;
          try { await initialize(gw.url); } catch (err) { failures.push(err.message); }
        }
      }));
    } finally {
      clearInterval(sampler);
    }
    const openMs = Date.now() - started;
    assert.deepEqual(failures, [], `initialize failures (${failures.length})`);
    const startedLogs = logs(gw, 'session started');
    const pids = [...new Set(startedLogs.map((l) => Number(l.pid)))];
    assert.equal(startedLogs.length, total);
    assert.equal(pids.length, total, 'every session must have its own process');
    assert.ok(peak >= 2, `never saw more than ${peak} child processes at once`);

    await waitUntil(() => childPids(gw.proc.pid).length === 0, 15_000,
      `all children to end after expiry (left: ${childPids(gw.proc.pid).join(' ')})`, 200);
    await waitGone(pids, 2000, 'every session process to be gone');
    // And they are reaped, not left as zombies.
    await waitUntil(() => childPids(gw.proc.pid, { zombies: true }).length === 0, 3000, 'the gateway to reap its children');
    console.error(`[stdio idle] opened ${total} sessions in ${openMs} ms, peak ${peak} children, all gone after ${Date.now() - started - openMs} ms`);
  });
});

// ---------------------------------------------------------------------------------------
describe('the end of the gateway ends its processes', () => {
  test('SIGKILL of the gateway → every stdio child is gone within 2 s', async () => {
    const gw = await startStdioGateway('gateway-stdio-sigkill', { stdio: { pool: { warm: 1, max: 5 } } });
    const a = await initialize(gw.url);
    const b = await initialize(gw.url);
    const pids = [await pidOf(gw, a), await pidOf(gw, b)];
    await waitUntil(() => childPids(gw.proc.pid).length >= 3, 5000, 'the warm process next to two sessions');
    const all = childPids(gw.proc.pid);
    assert.ok(pids.every((p) => all.includes(p)));
    process.kill(gw.proc.pid, 'SIGKILL');
    await gw.proc.exitPromise;
    await waitGone(all, 2000, 'the children of a SIGKILLed gateway');
  });

  test('SIGTERM → exit 0 and no child left', async () => {
    const gw = await startStdioGateway('gateway-stdio-sigterm', { stdio: { pool: { warm: 1, max: 5 } } });
    const s = await initialize(gw.url);
    const pid = await pidOf(gw, s);
    await waitUntil(() => childPids(gw.proc.pid).length >= 2, 5000, 'a warm process next to the session');
    const all = childPids(gw.proc.pid);
    assert.ok(all.includes(pid));
    const t0 = Date.now();
    process.kill(gw.proc.pid, 'SIGTERM');
    const killer = setTimeout(() => { try { process.kill(gw.proc.pid, 'SIGKILL'); } catch { /* gone */ } }, 10_000);
    const { code, signal } = await gw.proc.exitPromise;
    clearTimeout(killer);
    assert.equal(signal, null, `the gateway did not exit by itself within 10 s (${Date.now() - t0} ms)`);
    assert.equal(code, 0, gw.proc.diagnostics());
    assert.ok(Date.now() - t0 < 5000, `exit took ${Date.now() - t0} ms`);
    await waitGone(all, 1000, 'the children after the gateway exited');
  });

  test('SIGTERM with --ignore-sigterm children and shutdown_timeout 500ms → escalates to SIGKILL, exits within 5 s, no child survives', async () => {
    const gw = await startStdioGateway('gateway-stdio-stubborn', {
      args: ['--ignore-sigterm'],
      stdio: { pool: { warm: 1, max: 5 }, shutdown_timeout: '500ms' },
    });
    const s = await initialize(gw.url);
    const pid = await pidOf(gw, s);
    await waitUntil(() => childPids(gw.proc.pid).length >= 2, 5000, 'a warm process next to the session');
    const all = childPids(gw.proc.pid);
    assert.ok(all.includes(pid));
    const t0 = Date.now();
    process.kill(gw.proc.pid, 'SIGTERM');
    const killer = setTimeout(() => { try { process.kill(gw.proc.pid, 'SIGKILL'); } catch { /* gone */ } }, 10_000);
    const { code, signal } = await gw.proc.exitPromise;
    clearTimeout(killer);
    const took = Date.now() - t0;
    assert.equal(signal, null, `the gateway did not exit by itself within 10 s\n${gw.proc.diagnostics()}`);
    assert.equal(code, 0, gw.proc.diagnostics());
    assert.ok(took < 5000, `exit took ${took} ms`);
    await waitGone(all, 1000, 'the stubborn children after the gateway exited');
  });
});

// ---------------------------------------------------------------------------------------
describe('--check-config: stdio keys', () => {
  const dir = makeTempDir('mcpgw-it-stdio-cli-');
  const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  // Every config has the backend on lines 3+ so line numbers are exact.
  const check = async (name, backendLines) => {
    const file = path.join(dir, `${name}.yaml`);
    writeFileSync(file, `listen: 127.0.0.1:0\nbackends:\n${backendLines.join('\n')}\nroutes:\n  - path: /mcp\n    backend: files\n`);
    return { file, ...(await runGateway(['--check-config', file])) };
  };
  const node = JSON.stringify(NODE_BIN);
  const expectError = (r, line, key, message) => {
    assert.notEqual(r.code, 0, `exit code: ${r.stderr}`);
    assert.doesNotMatch(r.stdout, /: ok/);
    assert.match(r.stderr, new RegExp(`^${escape(r.file)}:${line}: ${escape(key)}: .*${message}`, 'm'), r.stderr);
  };

  test('a valid stdio backend → ok', async () => {
    const r = await check('good', [
      '  - name: files',
      '    stdio:',
      `      command: [${node}, ${JSON.stringify(BACKEND_SCRIPT)}, --stdio]`,
      '      env: { FOO: bar }',
      `      cwd: ${JSON.stringify(dir)}`,
      '      pool: { warm: 2, max: 2 }',
      '      timeout: 60s',
      '      shutdown_timeout: 2s',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), `${r.file}: ok`);
  });

  test('missing command', async () => {
    const r = await check('no-command', ['  - name: files', '    stdio:', '      env: { FOO: bar }']);
    expectError(r, 4, 'backends[0].stdio.command', 'missing');
  });

  test('a program not found in PATH', async () => {
    const r = await check('not-in-path', ['  - name: files', '    stdio:', '      command: [mcpgw-no-such-program-4711, --stdio]']);
    expectError(r, 5, 'backends[0].stdio.command[0]', '"mcpgw-no-such-program-4711".*not found in PATH');
  });

  test('a cwd that does not exist', async () => {
    const missing = path.join(dir, 'no-such-dir');
    const r = await check('bad-cwd', ['  - name: files', '    stdio:', `      command: [${node}]`, `      cwd: ${JSON.stringify(missing)}`]);
    expectError(r, 6, 'backends[0].stdio.cwd', `existing directory.*${escape(missing)}`);
  });

  test('warm > max', async () => {
    const r = await check('warm-max', ['  - name: files', '    stdio:', `      command: [${node}]`, '      pool: { warm: 3, max: 2 }']);
    expectError(r, 6, 'backends[0].stdio.pool.warm', 'warm \\(3\\) must not exceed max \\(2\\)');
  });

  test('an env variable with a bad name', async () => {
    const r = await check('bad-env', ['  - name: files', '    stdio:', `      command: [${node}]`, '      env:', '        GOOD: x', '        1BAD: y']);
    expectError(r, 8, 'backends[0].stdio.env', 'environment variable name.*"1BAD"');
    assert.doesNotMatch(r.stderr, /GOOD/, r.stderr);
  });

  test('a backend with both http and stdio', async () => {
    const r = await check('both', ['  - name: files', '    http: { url: "http://127.0.0.1:1/mcp" }', '    stdio:', `      command: [${node}]`]);
    expectError(r, 5, 'backends[0].stdio', 'one of http, sse or stdio');
  });
});

describe('the C++ demo backend in --stdio mode (the stdio server of bench/stdio/bridges.sh)', () => {
  test('initialize, tools/list and echo through the gateway; a bad argument gets -32602', async (t) => {
    if (!haveDemoBackend()) {
      t.skip('demo backend not built');
      return;
    }
    const gw = await startGateway({
      name: 'gateway-demo-stdio',
      config: { backends: [{ name: 'demo', stdio: { command: [DEMO_BACKEND, '--stdio'], pool: { warm: 1 } } }], routes: [{ path: '/mcp', backend: 'demo' }] },
    });
    const s = await initialize(gw.url);
    assert.equal(s.result.serverInfo.name, 'mcpgw-demo-backend');
    const list = await mcpPost(gw.url, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, sessionOpts(s));
    assert.deepEqual(list.json.result.tools.map((x) => x.name), ['echo']);
    const r = await callTool(gw.url, s, 'echo', { text: 'over stdio' });
    assert.equal(textOf(r), 'over stdio');
    const bad = await callTool(gw.url, s, 'echo', { text: 7 });
    assert.equal(bad.message.error.code, -32602);
    await gw.stop();
  });
});
