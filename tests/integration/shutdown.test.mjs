// Graceful shutdown on SIGTERM: /readyz reports draining, an in-flight call started before the
// signal completes, the process exits 0 within shutdown_grace + 1 s, and open streams or calls
// longer than the grace do not keep it alive.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';

import { callTool, initialize, mcpPost, openGetStream, parseRawResponse, rawExchange, request, sleep, startConformanceBackend, startGateway } from './lib.mjs';

let backend;
before(async () => {
  backend = await startConformanceBackend();
}, { timeout: 20_000 });

/** Start a slow call with progress; resolves { done, started } once the backend is running it. */
async function startSlowCall(gw, session, ms, id) {
  let firstProgress;
  const inFlight = new Promise((resolve) => { firstProgress = resolve; });
  const done = mcpPost(gw.url, { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'slow', arguments: { ms }, _meta: { progressToken: `sd-${id}` } } }, {
    sessionId: session.sessionId,
    protocolVersion: session.protocolVersion,
    timeoutMs: ms + 5000,
    onMessages: (msgs) => { if (msgs.some((m) => m.method === 'notifications/progress')) firstProgress(); },
  });
  await Promise.race([inFlight, done, sleep(3000).then(() => { throw new Error('the slow call never reported progress'); })]);
  return { done };
}

describe('SIGTERM with a call in flight (shutdown_grace 3s)', () => {
  let gw;
  let session;
  let sigtermAt;
  let readyzDuringDrain = [];
  let call;
  let slowProbe;

  before(async () => {
    gw = await startGateway({ backendUrl: backend.url, name: 'gateway-drain', config: { shutdown_grace: '3s' } });
    session = await initialize(gw.url);
    const r = await request(`${gw.adminUrl}/readyz`, { method: 'GET' });
    assert.equal(r.status, 200, r.text);
    call = await startSlowCall(gw, session, 1500, 'inflight-1');
    sigtermAt = Date.now();
    process.kill(gw.proc.pid, 'SIGTERM');
    // A probe that connects during the drain and sends its request only 150 ms later (several
    // of the drain's 20 ms sweeps of idle connections): answered, not reset.
    const adminPort = new URL(gw.adminUrl).port;
    slowProbe = sleep(100).then(() => rawExchange(adminPort, {
      writes: [[150, 'GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n']],
      timeoutMs: 3000,
    }));
    // Sample /readyz while the call drains (it has ~1.3 s left).
    for (let i = 0; i < 8 && !gw.proc.exited; i++) {
      try {
        const rz = await request(`${gw.adminUrl}/readyz`, { method: 'GET', timeoutMs: 500 });
        readyzDuringDrain.push({ status: rz.status, body: rz.text });
      } catch (err) {
        readyzDuringDrain.push({ error: err.code ?? err.message });
      }
      await sleep(60);
    }
  }, { timeout: 20_000 });

  test('/readyz answers 503 while draining', async () => {
    // The signal is delivered asynchronously, so a probe sent right after kill() may still be
    // answered "ready"; once draining shows, it must stay.
    const samples = JSON.stringify(readyzDuringDrain);
    const firstDraining = readyzDuringDrain.findIndex((r) => r.status === 503);
    assert.ok(firstDraining >= 0, `/readyz never answered 503 during the drain: ${samples}`);
    assert.match(readyzDuringDrain[firstDraining].body, /draining/);
    // The drain may end (the call done, the process exiting) while a probe is on the wire: a
    // connection error then closes the samples, and nothing answers after it.
    const rest = readyzDuringDrain.slice(firstDraining);
    const gone = rest.findIndex((r) => r.error);
    const answered = gone < 0 ? rest : rest.slice(0, gone);
    assert.ok(answered.every((r) => r.status === 503), `ready again after draining: ${samples}`);
    assert.ok(rest.slice(answered.length).every((r) => r.error), `answers after the listener closed: ${samples}`);
  });

  test('a connection opened during the drain is not closed as idle before its request arrives', async () => {
    const r = await slowProbe;
    const p = parseRawResponse(r.text);
    assert.equal(p.status, 503, `no answer (closed by the drain?): ${JSON.stringify(r)}`);
    assert.match(p.body, /draining/);
  });

  test('the in-flight slow call started before SIGTERM completes successfully', async () => {
    const r = await call.done;
    assert.equal(r.status, 200, r.text);
    assert.equal(r.timedOut, false, r.text);
    const msg = r.messages.find((m) => m.id === 'inflight-1');
    assert.deepEqual(msg?.result?.content, [{ type: 'text', text: 'done' }], r.text);
  });

  test('the process exits 0 within shutdown_grace + 1 s', async () => {
    const { code, signal } = await Promise.race([gw.proc.exitPromise, sleep(4500).then(() => ({ code: 'still running', signal: null }))]);
    assert.equal(signal, null, `killed by ${signal}`);
    assert.equal(code, 0, `exit code ${code}`);
    const took = gw.proc.exitedAt - sigtermAt;
    assert.ok(took <= 4000, `exited ${took} ms after SIGTERM (grace 3 s)`);
  });
});

describe('SIGTERM with work longer than the grace (shutdown_grace 1s)', () => {
  let gw;
  let session;

  before(async () => {
    gw = await startGateway({ backendUrl: backend.url, name: 'gateway-grace', config: { shutdown_grace: '1s' } });
    session = await initialize(gw.url);
  });

  test('a 6 s call and an open GET stream do not hold the process: exit 0 within 2 s, client streams end', async () => {
    const g = await openGetStream(gw.url, { headers: { 'mcp-session-id': session.sessionId, 'mcp-protocol-version': session.protocolVersion } });
    assert.equal(g.status, 200);
    const call = await startSlowCall(gw, session, 6000, 'long-1');
    const t0 = Date.now();
    process.kill(gw.proc.pid, 'SIGTERM');
    const { code, signal } = await Promise.race([gw.proc.exitPromise, sleep(3500).then(() => ({ code: 'still running', signal: null }))]);
    const took = Date.now() - t0;
    assert.equal(signal, null, `killed by ${signal}`);
    assert.equal(code, 0, `exit code ${code} after ${took} ms`);
    assert.ok(took <= 2000, `exited ${took} ms after SIGTERM (grace 1 s)`);
    const r = await call.done;
    assert.equal(r.timedOut, false, 'the client POST stream was left hanging after the gateway exited');
    await g.waitEnded(1000);
  });
});

describe('SIGTERM when idle', () => {
  test('exits 0 at once (well under shutdown_grace 10s)', async () => {
    const gw = await startGateway({ backendUrl: backend.url, name: 'gateway-idle-stop' });
    const s = await initialize(gw.url);
    const r = await callTool(gw.url, s, 'echo', { text: 'x' });
    assert.equal(r.status, 200);
    const t0 = Date.now();
    process.kill(gw.proc.pid, 'SIGTERM');
    const { code } = await Promise.race([gw.proc.exitPromise, sleep(3000).then(() => ({ code: 'still running' }))]);
    assert.equal(code, 0);
    assert.ok(Date.now() - t0 < 1500, `took ${Date.now() - t0} ms`);
  });

  test('SIGINT behaves the same', async () => {
    const gw = await startGateway({ backendUrl: backend.url, name: 'gateway-sigint' });
    // a served request proves the event loop (and its signal handler) is running
    assert.equal((await request(`${gw.adminUrl}/healthz`, { method: 'GET' })).status, 200);
    const t0 = Date.now();
    process.kill(gw.proc.pid, 'SIGINT');
    const { code, signal } = await Promise.race([gw.proc.exitPromise, sleep(3000).then(() => ({ code: 'still running' }))]);
    assert.equal(signal, null, `killed by ${signal}`);
    assert.equal(code, 0);
    assert.ok(Date.now() - t0 < 1500, `took ${Date.now() - t0} ms`);
  });

  test('a signal sent right after the "listening" log line still drains and exits 0 (20 tries)', async () => {
    const outcomes = [];
    for (let i = 0; i < 20; i++) {
      const gw = await startGateway({ backendUrl: backend.url, name: `gateway-early-signal-${i}` });
      process.kill(gw.proc.pid, i % 2 ? 'SIGINT' : 'SIGTERM');
      const { code, signal } = await Promise.race([gw.proc.exitPromise, sleep(3000).then(() => ({ code: 'still running', signal: null }))]);
      outcomes.push(signal ? `signal ${signal}` : `code ${code}`);
    }
    assert.deepEqual(outcomes.filter((o) => o !== 'code 0'), [], `outcomes: ${outcomes.join(', ')}`);
  });
});
