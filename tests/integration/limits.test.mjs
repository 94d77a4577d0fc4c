// Limits that only show with a client that stops reading or goes away:
//   * limits.write_timeout: a client that does not read is cut off, and only that client;
//   * limits.stream_buffer_events: a POST stream whose client went away keeps the newest N
//     events for a GET with Last-Event-ID (older ones dropped); a GET stream keeps what the
//     backend sent before the client's GET attached (nothing undelivered is dropped there).
//
// Filling the socket buffers of a non-reading client takes more than the kernel holds on
// loopback (sndbuf max 4 MiB + the receiver's unread window, ~4.2 MiB measured). One ~8 MiB
// echo is not possible: the conformance backend takes bodies up to 4 MiB only, and one SSE
// event of a few MiB takes the gateway tens of seconds to parse (its SSE decoder re-scans the
// whole pending line on every read: 2 MiB ~ 26 s under ASan). So the big response is a
// JSON-RPC batch (protocol 2025-03-26) of 512 echo calls of 16 KiB each, which the gateway
// splits, forwards one by one and answers with one ~8.4 MB JSON array in a single write.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { before, describe, test } from 'node:test';

import {
  callTool, initialize, mcpPost, openGetStream, parseRawResponse, request, safeJson, sleep,
  startConformanceBackend, startGateway,
} from './lib.mjs';

let backend;
let backendSession; // a session directly on the backend, to ask it what it has done
before(async () => {
  backend = await startConformanceBackend();
  backendSession = await initialize(backend.url);
}, { timeout: 30_000 });

const sessionHeaders = (s) => ({ 'mcp-session-id': s.sessionId, 'mcp-protocol-version': s.protocolVersion });

/** Poll the backend until its `slow` call with `tag` is no longer running; returns the record. */
async function backendFinished(tag, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    const r = await callTool(backend.url, backendSession, 'last_cancelled', { tag }, { timeoutMs: 3000 });
    last = safeJson(r.message?.result?.content?.[0]?.text ?? '');
    if (last?.found && last.state !== 'running') return last;
    await sleep(50);
  }
  throw new Error(`backend call "${tag}" not finished within ${timeoutMs} ms (last: ${JSON.stringify(last)})`);
}

// ---------------------------------------------------------------------------------------
// limits.write_timeout

const BATCH_CALLS = 512;
const TEXT_BYTES = 16 * 1024; // 512 x 16 KiB = 8 MiB of text in the response, twice what loopback buffers hold

/** The batch: BATCH_CALLS echo calls, then a zero-length `slow` whose completion at the backend
 *  tells the test that the gateway is about to write the answer. */
function bigBatch(tag) {
  const calls = Array.from({ length: BATCH_CALLS }, (_, i) => ({
    jsonrpc: '2.0', id: i + 1, method: 'tools/call',
    params: { name: 'echo', arguments: { text: String.fromCharCode(97 + (i % 26)).repeat(TEXT_BYTES) } },
  }));
  calls.push({ jsonrpc: '2.0', id: 'marker', method: 'tools/call', params: { name: 'slow', arguments: { ms: 0, tag } } });
  return calls;
}

/**
 * POST `body` on a raw connection that does not read (socket paused from the start) until
 * `resumeWhen()` resolves; then read until the gateway closes the connection, the response is
 * complete (Content-Length reached), or timeoutMs passes.
 * Returns { text, bytes, how: 'complete'|'closed'|'timeout', closedByPeer, resumedAtMs, elapsedMs }.
 */
function pausedPost(port, s, body, { resumeWhen, timeoutMs = 20_000 }) {
  return new Promise((resolve, reject) => {
    const payload = Buffer.from(JSON.stringify(body));
    const head = `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\n` +
      `Accept: application/json, text/event-stream\r\nMcp-Session-Id: ${s.sessionId}\r\n` +
      `MCP-Protocol-Version: ${s.protocolVersion}\r\nContent-Length: ${payload.length}\r\n\r\n`;
    const started = Date.now();
    const sock = net.connect({ port, host: '127.0.0.1' });
    const chunks = [];
    let bytes = 0;
    let settled = false;
    let resumedAtMs;
    const finish = (how, closedByPeer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      resolve({ text, bytes, how, closedByPeer, resumedAtMs, elapsedMs: Date.now() - started });
    };
    let fullSize; // head + Content-Length, once the head is in
    const complete = () => {
      if (fullSize === undefined) {
        const text = Buffer.concat(chunks).toString('latin1');
        const i = text.indexOf('\r\n\r\n');
        const len = i < 0 ? undefined : /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, i))?.[1];
        if (len === undefined) return false;
        fullSize = i + 4 + Number(len);
      }
      return bytes >= fullSize;
    };
    sock.pause(); // never read until told to
    sock.on('data', (d) => {
      chunks.push(d);
      bytes += d.length;
      if (complete()) finish('complete', false);
    });
    sock.on('end', () => finish('closed', true));
    sock.on('close', () => finish('closed', true));
    sock.on('error', (err) => {
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') finish('closed', true);
      else if (!settled) { settled = true; clearTimeout(timer); reject(err); }
    });
    sock.on('connect', () => {
      sock.write(head);
      sock.write(payload);
      resumeWhen().then(() => {
        if (settled) return;
        resumedAtMs = Date.now() - started;
        sock.resume();
      }, (err) => { if (!settled) { settled = true; clearTimeout(timer); sock.destroy(); reject(err); } });
    });
    const timer = setTimeout(() => finish('timeout', false), timeoutMs);
  });
}

/** Run the big batch on a paused connection; resume `holdMs` after the gateway started writing. */
async function bigBatchNotReading(gw, holdMs) {
  const s = await initialize(gw.url, { protocolVersion: '2025-03-26' });
  const tag = `wt-${randomUUID()}`;
  const r = await pausedPost(gw.port, s, bigBatch(tag), {
    resumeWhen: async () => {
      await backendFinished(tag, 15_000); // the last element is done: the gateway writes now
      await sleep(holdMs);
    },
  });
  return { s, r };
}

describe('limits.write_timeout', () => {
  test('1s: a client that stops reading is cut off mid-response; the gateway keeps serving', { timeout: 30_000 }, async () => {
    const gw = await startGateway({ backendUrl: backend.url, name: 'gateway-wt1', config: { limits: { write_timeout: '1s', max_body: '16MiB' } } });
    const { s, r } = await bigBatchNotReading(gw, 2500);
    const where = `how=${r.how} bytes=${r.bytes} resumed at ${r.resumedAtMs} ms, ended at ${r.elapsedMs} ms; starts: ${JSON.stringify(r.text.slice(0, 300))}`;
    assert.equal(r.how, 'closed', `the gateway must close the connection of a client that does not read: ${where}`);
    assert.ok(r.closedByPeer, where);
    const res = parseRawResponse(r.text);
    assert.equal(res.status, 200, where);
    const full = Number(res.headers['content-length']);
    assert.ok(full > BATCH_CALLS * TEXT_BYTES, `Content-Length ${full} must cover all the echoed text: ${where}`);
    assert.ok(res.body.length < full, `the body must be cut short (got ${res.body.length} of ${full} bytes): ${where}`);
    assert.ok(r.bytes < BATCH_CALLS * TEXT_BYTES, `received ${r.bytes} bytes, less than the echoed text alone: ${where}`);
    assert.equal(safeJson(res.body), undefined, 'a cut body is no complete JSON array');

    // Only that connection was given up: the process lives, and the same session answers.
    assert.equal(gw.proc.exited, false, 'the gateway process must survive');
    const ping = await mcpPost(gw.url, { jsonrpc: '2.0', id: 'after', method: 'ping' }, { sessionId: s.sessionId, protocolVersion: s.protocolVersion, timeoutMs: 5000 });
    assert.equal(ping.status, 200, ping.text);
    assert.deepEqual(ping.messages.find((m) => m?.id === 'after')?.result, {}, ping.text);
    const fresh = await initialize(gw.url);
    const echo = await callTool(gw.url, fresh, 'echo', { text: 'still here' }, { timeoutMs: 5000 });
    assert.equal(echo.message?.result?.content?.[0]?.text, 'still here', echo.text);
  });

  test('10s (control): the same pause, then the whole response arrives', { timeout: 30_000 }, async () => {
    const gw = await startGateway({ backendUrl: backend.url, name: 'gateway-wt10', config: { limits: { write_timeout: '10s', max_body: '16MiB' } } });
    const { r } = await bigBatchNotReading(gw, 2500);
    const where = `how=${r.how} bytes=${r.bytes} resumed at ${r.resumedAtMs} ms, ended at ${r.elapsedMs} ms; starts: ${JSON.stringify(r.text.slice(0, 300))}`;
    assert.equal(r.how, 'complete', where);
    const res = parseRawResponse(r.text);
    assert.equal(res.status, 200, where);
    assert.equal(res.body.length, Number(res.headers['content-length']), where);
    const answers = res.json;
    assert.ok(Array.isArray(answers), `a JSON array: ${where}`);
    assert.equal(answers.length, BATCH_CALLS + 1);
    for (let i = 0; i < BATCH_CALLS; i++) {
      const a = answers.find((m) => m.id === i + 1);
      assert.equal(a?.result?.content?.[0]?.text, String.fromCharCode(97 + (i % 26)).repeat(TEXT_BYTES), `answer ${i + 1}`);
    }
    assert.equal(answers.find((m) => m.id === 'marker')?.result?.content?.[0]?.text, 'done');
  });
});

// ---------------------------------------------------------------------------------------
// limits.stream_buffer_events

/**
 * On a 2025-11-25 session, POST tools/call slow {ms} with a progress token on a raw connection,
 * read up to the priming event, then drop the connection. Returns { primingId, tag, token, id }.
 */
function startSlowThenDisconnect(gw, s, ms) {
  const tag = `buf-${randomUUID()}`;
  const token = `tok-${randomUUID()}`;
  const id = `slow-${randomUUID()}`;
  const payload = Buffer.from(JSON.stringify({
    jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'slow', arguments: { ms, tag }, _meta: { progressToken: token } },
  }));
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port: gw.port, host: '127.0.0.1' });
    let text = '';
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`no priming event within 5 s; got: ${text}`)); }, 5000);
    sock.setEncoding('latin1');
    sock.on('connect', () => {
      sock.write(`POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${gw.port}\r\nContent-Type: application/json\r\n` +
        `Accept: application/json, text/event-stream\r\nMcp-Session-Id: ${s.sessionId}\r\n` +
        `MCP-Protocol-Version: ${s.protocolVersion}\r\nContent-Length: ${payload.length}\r\n\r\n`);
      sock.write(payload);
    });
    sock.on('data', (d) => {
      text += d;
      const m = /\nid: (\d+_0)\n/.exec(text);
      if (m) {
        clearTimeout(timer);
        sock.destroy(); // gone: not a cancellation, the call goes on
        resolve({ primingId: m[1], tag, token, id, head: text });
      }
    });
    sock.on('error', (err) => { clearTimeout(timer); reject(err); });
    sock.on('close', () => { clearTimeout(timer); reject(new Error(`connection closed before the priming event; got: ${text}`)); });
  });
}

/** After the call finished at the backend, GET the stream back with Last-Event-ID. */
async function replayAfter(gw, s, call) {
  const done = await backendFinished(call.tag, 8000);
  assert.equal(done.state, 'completed', `the backend call must run to completion, not be cancelled: ${JSON.stringify(done)}`);
  await sleep(300); // the gateway relays the result into the stream
  const r = await request(gw.url, {
    method: 'GET',
    headers: { accept: 'text/event-stream', ...sessionHeaders(s), 'last-event-id': call.primingId },
    timeoutMs: 5000,
  });
  const where = `HTTP ${r.status} ${r.contentType} timedOut=${r.timedOut}\n${r.text}`;
  assert.equal(r.status, 200, where);
  assert.match(r.contentType, /^text\/event-stream/, where);
  assert.equal(r.timedOut, false, `the replayed stream must end after the response: ${where}`);
  const stream = call.primingId.split('_')[0];
  const events = r.events.filter((e) => e.data !== undefined && e.data !== '');
  const seqs = events.map((e) => {
    const m = /^(\d+)_(\d+)$/.exec(e.id ?? '');
    assert.ok(m && m[1] === stream, `event id "${e.id}" must be on stream ${stream}: ${where}`);
    return Number(m[2]);
  });
  for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], seqs[i - 1] + 1, `ids consecutive: ${seqs.join(',')}\n${where}`);
  const messages = events.map((e) => JSON.parse(e.data));
  const last = messages.at(-1);
  assert.equal(last?.id, call.id, `the last replayed event is the response: ${where}`);
  assert.equal(last?.result?.content?.[0]?.text, 'done', where);
  const progress = messages.slice(0, -1);
  for (const m of progress) {
    assert.equal(m.method, 'notifications/progress', where);
    assert.equal(m.params.progressToken, call.token, `progress token mapped back to the client's: ${where}`);
  }
  const values = progress.map((m) => m.params.progress);
  assert.deepEqual(values, [...values].sort((a, b) => a - b), `progress in order: ${values}`);
  return { seqs, progress, where };
}

describe('limits.stream_buffer_events', () => {
  test('4: a POST stream whose client left keeps only the newest 4 events for Last-Event-ID', { timeout: 20_000 }, async () => {
    const gw = await startGateway({ backendUrl: backend.url, name: 'gateway-buf4', config: { limits: { stream_buffer_events: 4 } } });
    const s = await initialize(gw.url);
    const call = await startSlowThenDisconnect(gw, s, 1500); // 15 progress events + the response
    const { seqs, where } = await replayAfter(gw, s, call);
    assert.equal(seqs.length, 4, `exactly the newest 4 events: ${where}`);
    assert.ok(seqs[0] > 1, `the oldest events were dropped, the replay starts at ${seqs[0]}: ${where}`);
    assert.equal(seqs[3], 16, `15 progress events + the response = 16 events: ${where}`);
  });

  test('default (control): the same replay has every progress event and the response, no gaps', { timeout: 20_000 }, async () => {
    const gw = await startGateway({ backendUrl: backend.url, name: 'gateway-buf-default' });
    const s = await initialize(gw.url);
    const call = await startSlowThenDisconnect(gw, s, 1500);
    const { seqs, progress, where } = await replayAfter(gw, s, call);
    assert.equal(seqs[0], 1, `nothing dropped: ${where}`);
    assert.ok(progress.length >= 10, `every progress event (got ${progress.length}): ${where}`);
    assert.equal(progress.length, 15, where);
    assert.equal(progress.at(-1).params.progress, 1500, where);
  });

  test('4 on the GET stream: the backend\'s events sent before the client GET are all delivered, first', { timeout: 20_000 }, async () => {
    const gw = await startGateway({ backendUrl: backend.url, name: 'gateway-get-buf4', config: { limits: { stream_buffer_events: 4 } } });
    await getStreamBuffersBeforeAttach(gw);
  });
});

// ---------------------------------------------------------------------------------------
// The GET stream holds what the backend sent before the client's GET attached.

const LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'];

async function getStreamBuffersBeforeAttach(gw) {
  const s = await initialize(gw.url);
  // The gateway opened the backend's GET stream at notifications/initialized; the backend
  // sends these 8 notifications on it (standalone stream), while no client GET exists.
  const r = await callTool(gw.url, s, 'emit_logs', { via: 'get' }, { timeoutMs: 8000 });
  assert.deepEqual(safeJson(r.message?.result?.content?.[0]?.text ?? '')?.sent, LEVELS, r.text);
  await sleep(500); // let the gateway take them in before the client attaches
  const g = await openGetStream(gw.url, { headers: sessionHeaders(s) });
  try {
    assert.equal(g.status, 200, g.text());
    await g.waitFor(({ events }) => events.some((e) => e.data?.includes('"emergency"')), 5000);
    const events = g.events().filter((e) => e.id !== undefined || e.data !== undefined);
    assert.ok(events[0] && !events[0].data && /^0_\d+$/.test(events[0].id ?? ''), `priming event first (2025-11-25): ${g.text()}`);
    const data = events.slice(1);
    const levels = data.slice(0, LEVELS.length).map((e) => safeJson(e.data)).map((m) => (m?.method === 'notifications/message' ? m.params.level : m?.method));
    assert.deepEqual(levels, LEVELS, `the buffered notifications come first, in order:\n${g.text()}`);
    const seqs = data.slice(0, LEVELS.length).map((e) => Number(/^0_(\d+)$/.exec(e.id ?? '')?.[1]));
    for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], seqs[i - 1] + 1, `ids consecutive: ${seqs}\n${g.text()}`);
  } finally {
    g.close();
  }
}

describe('GET stream buffering before the client attaches', () => {
  test('backend notifications sent on its GET stream before any client GET arrive first when the GET attaches', { timeout: 20_000 }, async () => {
    const gw = await startGateway({ backendUrl: backend.url, name: 'gateway-get-buffer' });
    await getStreamBuffersBeforeAttach(gw);
  });
});
