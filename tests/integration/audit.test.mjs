// The audit filter (plugins/audit/README.md) seen from outside: one sealed JSON line per client
// request and per notification, read back from the audit file after the gateway flushed it
// (SIGTERM → exit 0 writes and syncs everything; a running gateway's file is polled with a
// deadline). Exact counts under concurrent load, backend failures of a stdio process (crash
// and SIGKILL), a client that disconnects mid-call and one that cancels, refusals by the auth
// filter before `audit` in the chain (policy and HTTP-level), redaction (built-in and `redact:`
// paths), the fields of one record, the hash chain checked here independently (sha256 of the
// line up to `,"hash"`, prev, seq) and by `mcpgw audit verify` (edited, deleted and swapped
// lines named by file:line), a restart continuing the chain, size rotation, and the start-up
// refusal of a file whose last line is not a sealed record.
//
// One conformance backend over HTTP shared by every gateway; every describe starts its own
// gateway(s) with its own audit file in a temp dir, so each count is exact.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  BACKEND_SCRIPT, MCP_POST_HEADERS, NODE_BIN, callTool, initialize, initializeBody, makeTempDir, mcpPost,
  procStat, request, requireBackend, runGateway, sleep, startConformanceBackend, startGateway, toYaml, waitUntil,
} from './lib.mjs';

// ---------------------------------------------------------------------------------------
// Helpers.

const ZERO = '0'.repeat(64);
const HEX64 = /^[0-9a-f]{64}$/;
const SESSION_ID = /^[0-9a-f]{32}$/;
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const OUTCOMES = ['ok', 'tool_error', 'error', 'backend_failure', 'denied', 'rate_limited', 'cancelled', 'abandoned'];

const sha256 = (s) => createHash('sha256').update(s).digest('hex');
const digest = (key) => `sha256:${sha256(key)}`;
const bearer = (key) => ({ authorization: `Bearer ${key}` });
const textOf = (r) => r.message?.result?.content?.[0]?.text;
const sessionOpts = (s) => ({ sessionId: s.sessionId, protocolVersion: s.protocolVersion });

const KEY_ACME = `acme-${randomBytes(12).toString('hex')}`;
const KEY_GAMMA = `gamma-${randomBytes(12).toString('hex')}`;
const UNKNOWN_KEY = `unknown-${randomBytes(12).toString('hex')}`;
const TENANTS = [
  { name: 'acme', api_keys: [digest(KEY_ACME)] },
  { name: 'gamma', api_keys: [digest(KEY_GAMMA)], deny: { tools: ['*simple*'] } },
];
const AUTH = { auth: { resource: 'https://mcp.example.com/mcp' } };

/** The lines and parsed records of an audit file (every line must be JSON, the file must end in \n). */
function readAudit(file) {
  const text = readFileSync(file, 'utf8');
  assert.ok(text === '' || text.endsWith('\n'), `${file} does not end in a newline:\n${text.slice(-300)}`);
  const lines = text === '' ? [] : text.slice(0, -1).split('\n');
  const records = lines.map((l, i) => {
    try { return JSON.parse(l); } catch { return assert.fail(`${file}:${i + 1} is not JSON: ${l}`); }
  });
  return { text, lines, records };
}

/**
 * Checks the hash chain of `lines` independently of the gateway: every line is
 * {"seq":N,…,"prev":"<64 hex>","hash":"<64 hex>"} with hash = sha256(the line up to ,"hash"),
 * seq counting from firstSeq and prev = the hash of the line before (firstPrev for the first).
 */
function assertChain(lines, { firstSeq = 0, firstPrev = ZERO, where = 'audit file' } = {}) {
  let prev = firstPrev;
  let seq = firstSeq;
  lines.forEach((line, i) => {
    const at = `${where}:${i + 1}`;
    const cut = line.lastIndexOf(',"hash":"');
    assert.ok(cut > 0 && line.endsWith('"}'), `${at}: not a sealed record: ${line}`);
    const hash = line.slice(cut + ',"hash":"'.length, -2);
    assert.match(hash, HEX64, `${at}: hash`);
    assert.equal(sha256(line.slice(0, cut)), hash, `${at}: the hash does not cover the line: ${line}`);
    assert.ok(line.startsWith(`{"seq":${seq},`), `${at}: expected seq ${seq}: ${line}`);
    assert.ok(line.slice(0, cut).endsWith(`,"prev":"${prev}"`), `${at}: prev should be ${prev}: ${line}`);
    const rec = JSON.parse(line);
    assert.equal(rec.seq, seq, at);
    assert.equal(rec.prev, prev, at);
    assert.equal(rec.hash, hash, at);
    prev = hash;
    seq += 1;
  });
  return { nextSeq: seq, prev };
}

/** `mcpgw audit verify FILES…` → { code, stdout, stderr }. */
const verify = (...files) => runGateway(['audit', 'verify', ...files], { timeoutMs: 10_000 });

async function assertVerifies(files, expectedStdout) {
  const v = await verify(...files);
  assert.equal(v.code, 0, `verify ${files.join(' ')}: exit ${v.code}\nstdout: ${v.stdout}\nstderr: ${v.stderr}`);
  assert.equal(v.stdout, expectedStdout, `verify ${files.join(' ')} stdout`);
  return v;
}

/** Poll the file until pred(records) is truthy; returns its value. */
const waitRecords = (file, pred, timeoutMs, what) => waitUntil(() => {
  let records;
  try { records = readAudit(file).records; } catch { return undefined; }
  return pred(records);
}, timeoutMs, what, 50);

/** A gateway with `filters` whose audit file is <dir>/audit.jsonl (or `file`). */
async function startAuditGateway(name, { audit = {}, filters, file, dir = makeTempDir('mcpgw-it-audit-'), config = {}, backendUrl } = {}) {
  const auditFile = file ?? path.join(dir, 'audit.jsonl');
  const auditFilter = { audit: { file: auditFile, fsync: { every_records: 1 }, ...audit } };
  const gw = await startGateway({
    name,
    backendUrl,
    config: { filters: filters ? filters(auditFilter) : [auditFilter], ...config },
  });
  return { gw, file: auditFile, dir };
}

/** SIGTERM and assert exit 0 (which, per the README, flushes and syncs every record). */
async function stopClean(gw) {
  const { code, signal } = await gw.stop(10_000);
  assert.equal(signal, null, `the gateway died of ${signal}\n${gw.diagnostics()}`);
  assert.equal(code, 0, `the gateway exited ${code}\n${gw.diagnostics()}`);
}

/** The bytes of the JSON-RPC answer with `id` as the client got it (the JSON body, or the SSE event's data). */
function answerBytes(r, id) {
  if (r.contentType.includes('text/event-stream')) {
    const ev = r.events.find((e) => e.data && (() => { try { const m = JSON.parse(e.data); return m.id === id && !('method' in m); } catch { return false; } })());
    assert.ok(ev, `no answer with id ${id} in ${r.text}`);
    return Buffer.byteLength(ev.data);
  }
  assert.equal(r.json?.id, id, r.text);
  return Buffer.byteLength(r.text.replace(/\r?\n$/, ''));
}

const count = (records, pred) => records.filter(pred).length;
const describeRecords = (records) => records.map((r) => `${r.seq} ${r.session?.slice(0, 6)} ${r.method} ${r.name ?? ''} id=${JSON.stringify(r.id)} ${r.outcome} ${r.code ?? ''}`).join('\n');

// ---------------------------------------------------------------------------------------
let backend;

before(async () => {
  requireBackend();
  backend = await startConformanceBackend();
}, { timeout: 20_000 });

after(async () => {
  await backend?.stop();
});

// ---------------------------------------------------------------------------------------
describe('concurrent load: 10 sessions × 20 concurrent tools/call through auth + audit', () => {
  test('exactly one record per initialize, notification and call (220), all ok; the chain holds; verify ok', async () => {
    const { gw, file } = await startAuditGateway('gateway-load', {
      backendUrl: backend.url,
      filters: (audit) => [AUTH, audit],
      config: { tenants: TENANTS },
    });
    const SESSIONS = 10;
    const CALLS = 20;
    const sessions = await Promise.all(Array.from({ length: SESSIONS }, () => initialize(gw.url, { headers: bearer(KEY_ACME) })));
    const sent = new Map(); // session id -> [call ids]
    await Promise.all(sessions.map(async (s, si) => {
      const ids = Array.from({ length: CALLS }, (_, c) => 5000 + si * 100 + c);
      sent.set(s.sessionId, ids);
      const results = await Promise.all(ids.map((id) => callTool(gw.url, s, 'echo', { text: `s${si}-c${id}` }, { id, headers: bearer(KEY_ACME), timeoutMs: 20_000 })));
      for (const r of results) {
        assert.equal(r.status, 200, r.text);
        assert.equal(textOf(r), `s${si}-c${r.id}`, r.text);
      }
    }));
    await stopClean(gw);

    const { lines, records } = readAudit(file);
    const expected = SESSIONS * (1 /* initialize */ + 1 /* notifications/initialized */) + SESSIONS * CALLS;
    assert.equal(records.length, expected, `expected ${expected} records, got ${records.length}:\n${describeRecords(records)}`);
    assertChain(lines, { where: file });
    assert.deepEqual(records.filter((r) => r.outcome !== 'ok').map((r) => `${r.seq} ${r.method} ${r.outcome} ${r.code}`), [], 'every outcome ok');
    for (const s of sessions) {
      const mine = records.filter((r) => r.session === s.sessionId);
      assert.equal(count(mine, (r) => r.method === 'initialize'), 1, `initialize of ${s.sessionId}`);
      assert.equal(count(mine, (r) => r.method === 'notifications/initialized'), 1, `notifications/initialized of ${s.sessionId}`);
      const calls = mine.filter((r) => r.method === 'tools/call');
      assert.deepEqual(calls.map((r) => r.id).sort((a, b) => a - b), sent.get(s.sessionId), `tools/call ids of ${s.sessionId}`);
      for (const r of calls) {
        assert.equal(r.name, 'echo');
        assert.equal(r.tenant, 'acme');
        assert.deepEqual(r.args, { text: `s${sessions.indexOf(s)}-c${r.id}` });
      }
      assert.equal(mine.length, 2 + CALLS, `records of ${s.sessionId}`);
    }
    await assertVerifies([file], `ok: ${expected} records in 1 file`);
  });
});

// ---------------------------------------------------------------------------------------
describe('the writer thread', () => {
  // Scheduling policy of every thread of `pid` (field 41 of /proc/<pid>/task/<tid>/stat;
  // 0 SCHED_OTHER, 3 SCHED_BATCH).
  const policyOf = (pid, tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[41 - 3]);
  };
  const policies = (pid) => readdirSync(`/proc/${pid}/task`).map((tid) => policyOf(pid, tid));

  test('the audit writer runs as SCHED_BATCH (its wake-ups do not preempt the event loop); no other thread does', async () => {
    const { gw } = await startAuditGateway('gateway-writer-policy', { backendUrl: backend.url });
    const plain = await startGateway({ name: 'gateway-no-audit', backendUrl: backend.url });
    try {
      // The writer sets its policy as it starts, which may be just after "listening".
      const withAudit = await waitUntil(() => {
        const p = policies(gw.proc.pid);
        return p.includes(3) ? p : undefined;
      }, 5_000, 'a SCHED_BATCH thread');
      assert.equal(withAudit.filter((p) => p === 3).length, 1, `policies: ${withAudit}`);
      assert.equal(policyOf(gw.proc.pid, gw.proc.pid), 0, 'the main thread (the event loop) keeps SCHED_OTHER');
      const without = policies(plain.proc.pid);
      assert.equal(without.filter((p) => p === 3).length, 0, `policies: ${without}`);
    } finally {
      await stopClean(gw);
      await plain.stop();
    }
  });
});

describe('stdio backend processes that die mid-call', () => {
  test('crash and SIGKILL → one backend_failure (-32050) record each; the concurrent call of another session one ok record', async () => {
    const { gw, file } = await startAuditGateway('gateway-stdio', {
      config: {
        backends: [{ name: 'files', stdio: { command: [NODE_BIN, BACKEND_SCRIPT, '--stdio'], pool: { warm: 0, max: 10 }, timeout: '10s' } }],
        routes: [{ path: '/mcp-stdio', backend: 'files' }],
      },
    });
    const url = `${gw.origin}/mcp-stdio`;
    const [a, b, c] = await Promise.all([initialize(url), initialize(url), initialize(url)]);
    const pidCall = await callTool(url, c, 'pid', {}, { id: 70 });
    const pid = Number(textOf(pidCall));
    assert.equal(procStat(pid)?.ppid, gw.proc.pid, `pid tool answered ${pidCall.text}`);

    const crash = callTool(url, a, 'crash', { after_ms: 300 }, { id: 71, timeoutMs: 8000 });
    const slowB = callTool(url, b, 'slow', { ms: 1200 }, { id: 72, timeoutMs: 8000 });
    const slowC = callTool(url, c, 'slow', { ms: 6000 }, { id: 73, timeoutMs: 8000 });
    await sleep(500);
    process.kill(pid, 'SIGKILL');
    const [ra, rb, rc] = await Promise.all([crash, slowB, slowC]);
    assert.equal(ra.message?.error?.code, -32050, `crash: ${ra.text}`);
    assert.equal(textOf(rb), 'done', `slow on b: ${rb.text}`);
    assert.equal(rc.message?.error?.code, -32050, `slow on the SIGKILLed process: ${rc.text}`);
    await stopClean(gw);

    const { lines, records } = readAudit(file);
    assertChain(lines, { where: file });
    // a, b, c: initialize + notifications/initialized; c: pid; then crash, slow, slow
    assert.equal(records.length, 3 * 2 + 1 + 3, describeRecords(records));
    const callsOf = (s) => records.filter((r) => r.session === s.sessionId && r.method === 'tools/call');
    const [crashRec, ...moreA] = callsOf(a);
    assert.equal(moreA.length, 0, describeRecords(records));
    assert.equal(crashRec.id, 71);
    assert.equal(crashRec.name, 'crash');
    assert.equal(crashRec.outcome, 'backend_failure', JSON.stringify(crashRec));
    assert.equal(crashRec.code, -32050, JSON.stringify(crashRec));
    assert.equal(crashRec.message, ra.message.error.message);
    assert.equal(crashRec.response_bytes, answerBytes(ra, 71), `crash answer (${ra.contentType}): ${ra.text}`);
    assert.equal(crashRec.route, '/mcp-stdio');
    assert.equal(crashRec.backend, 'files');
    assert.equal(crashRec.auth, 'none');
    assert.equal(crashRec.tenant, '');
    assert.equal(crashRec.principal, '');

    const bCalls = callsOf(b);
    assert.equal(bCalls.length, 1, describeRecords(records));
    assert.equal(bCalls[0].id, 72);
    assert.equal(bCalls[0].outcome, 'ok', JSON.stringify(bCalls[0]));
    assert.equal(bCalls[0].code, undefined);

    const cCalls = callsOf(c);
    assert.deepEqual(cCalls.map((r) => [r.id, r.name, r.outcome]), [[70, 'pid', 'ok'], [73, 'slow', 'backend_failure']], describeRecords(records));
    assert.equal(cCalls[1].code, -32050, JSON.stringify(cCalls[1]));
    assert.equal(cCalls[1].message, rc.message.error.message);
    assert.equal(cCalls[1].response_bytes, answerBytes(rc, 73), `SIGKILL answer (${rc.contentType}): ${rc.text}`);
    assert.equal(bCalls[0].response_bytes, answerBytes(rb, 72), `slow answer (${rb.contentType}): ${rb.text}`);
    await assertVerifies([file], `ok: ${records.length} records in 1 file`);
  });
});

// ---------------------------------------------------------------------------------------
describe('client disconnect and cancellation', () => {
  let gw;
  let file;
  let s;
  before(async () => {
    ({ gw, file } = await startAuditGateway('gateway-cancel', { backendUrl: backend.url }));
    s = await initialize(gw.url);
  });

  test('the client drops the POST of a slow call: still exactly one record, ok (the backend finished; disconnection is not cancellation)', async () => {
    const tag = `drop-${Date.now()}`;
    const id = 41;
    const payload = Buffer.from(JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'slow', arguments: { ms: 800, tag } } }));
    const u = new URL(gw.url);
    const req = http.request({
      host: u.hostname, port: u.port, path: u.pathname, method: 'POST', agent: false,
      headers: { ...MCP_POST_HEADERS, 'mcp-session-id': s.sessionId, 'mcp-protocol-version': s.protocolVersion, 'content-length': payload.length },
    });
    req.on('error', () => {});
    req.on('response', (res) => { res.on('data', () => {}); res.on('error', () => {}); });
    req.end(payload);
    await sleep(250);
    req.destroy();
    const rec = await waitRecords(file, (rs) => rs.find((r) => r.session === s.sessionId && r.id === id), 5000, 'the record of the dropped call');
    const seen = JSON.parse(textOf(await callTool(gw.url, s, 'last_cancelled', { tag }, { id: 43 })));
    assert.equal(seen.state, 'completed', `the backend's view of the dropped call: ${JSON.stringify(seen)}`);
    assert.equal(rec.outcome, 'ok', JSON.stringify(rec));
    assert.equal(rec.name, 'slow');
    assert.ok(rec.latency_ms >= 700, `latency_ms ${rec.latency_ms}: the record was written before the backend answered`);
    await sleep(300);
    assert.equal(count(readAudit(file).records, (r) => r.session === s.sessionId && r.id === id), 1, 'one record for the dropped call');
  });

  test('notifications/cancelled → the call\'s record has outcome cancelled; the notification has its own record', async () => {
    const id = 42;
    const tag = `cancel-${Date.now()}`;
    let sawProgress;
    const progressed = new Promise((resolve) => { sawProgress = resolve; });
    const call = mcpPost(gw.url, { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'slow', arguments: { ms: 6000, tag }, _meta: { progressToken: tag } } }, {
      ...sessionOpts(s),
      timeoutMs: 8000,
      onMessages: (msgs) => { if (msgs.some((m) => m.method === 'notifications/progress')) sawProgress(); },
    });
    await Promise.race([progressed, sleep(4000).then(() => { throw new Error('the slow call never reported progress'); })]);
    const c = await mcpPost(gw.url, { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: 'audit test' } }, sessionOpts(s));
    assert.equal(c.status, 202, c.text);
    const r = await call;
    assert.equal(r.timedOut, false, r.text);
    const rec = await waitRecords(file, (rs) => rs.find((x) => x.session === s.sessionId && x.id === id), 5000, 'the record of the cancelled call');
    assert.equal(rec.outcome, 'cancelled', JSON.stringify(rec));
    assert.equal(rec.name, 'slow');
    assert.ok(rec.latency_ms < 5000, JSON.stringify(rec));
    const note = readAudit(file).records.filter((x) => x.session === s.sessionId && x.method === 'notifications/cancelled');
    assert.equal(note.length, 1, JSON.stringify(note));
    assert.equal(note[0].outcome, 'ok');
    assert.equal(note[0].id, undefined);
    const seen = JSON.parse(textOf(await callTool(gw.url, s, 'last_cancelled', { tag }, { id: 44 })));
    assert.equal(seen.state, 'cancelled', JSON.stringify(seen));
  });

  test('the session is deleted while a call is in flight → the call\'s record has outcome abandoned', async () => {
    const s2 = await initialize(gw.url);
    const id = 45;
    const call = callTool(gw.url, s2, 'slow', { ms: 3000 }, { id, timeoutMs: 6000 });
    await sleep(300);
    const del = await request(gw.url, { method: 'DELETE', headers: { 'mcp-session-id': s2.sessionId, 'mcp-protocol-version': s2.protocolVersion }, timeoutMs: 3000 });
    assert.ok(del.status >= 200 && del.status < 300, `DELETE: ${del.status} ${del.text}`);
    const r = await call;
    assert.equal(r.message?.result, undefined, `the call of a deleted session got a result: ${r.text}`);
    const rec = await waitRecords(file, (rs) => rs.find((x) => x.session === s2.sessionId && x.id === id), 5000, 'the record of the abandoned call');
    assert.equal(rec.outcome, 'abandoned', JSON.stringify(rec));
    assert.ok(rec.latency_ms < 2500, JSON.stringify(rec));
  });

  test('after SIGTERM: exactly the 10 records sent, one per request and notification; verify ok', async () => {
    await stopClean(gw);
    const { lines, records } = readAudit(file);
    assertChain(lines, { where: file });
    assert.deepEqual(
      records.map((r) => [r.method, r.id ?? null, r.outcome]).sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y))),
      [
        ['initialize', 0, 'ok'],
        ['initialize', 0, 'ok'],
        ['notifications/cancelled', null, 'ok'],
        ['notifications/initialized', null, 'ok'],
        ['notifications/initialized', null, 'ok'],
        ['tools/call', 41, 'ok'],
        ['tools/call', 42, 'cancelled'],
        ['tools/call', 43, 'ok'],
        ['tools/call', 44, 'ok'],
        ['tools/call', 45, 'abandoned'],
      ],
      describeRecords(records),
    );
    await assertVerifies([file], 'ok: 10 records in 1 file');
  });
});

// ---------------------------------------------------------------------------------------
describe('requests refused by the auth filter placed before audit', () => {
  let gw;
  let file;
  let g;
  before(async () => {
    ({ gw, file } = await startAuditGateway('gateway-denied', {
      backendUrl: backend.url,
      filters: (audit) => [AUTH, audit],
      config: { tenants: TENANTS },
    }));
    g = await initialize(gw.url, { headers: bearer(KEY_GAMMA) });
  });

  test('a tool the tenant policy denies → 200 + -32602; its record: outcome denied, code -32602, the policy\'s message', async () => {
    const r = await callTool(gw.url, g, 'test_simple_text', {}, { id: 51, headers: bearer(KEY_GAMMA) });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.message?.error?.code, -32602, r.text);
    const ok = await callTool(gw.url, g, 'echo', { text: 'allowed' }, { id: 52, headers: bearer(KEY_GAMMA) });
    assert.equal(textOf(ok), 'allowed', ok.text);
    const rec = await waitRecords(file, (rs) => rs.find((x) => x.id === 51), 5000, 'the denied call\'s record');
    assert.equal(rec.outcome, 'denied', JSON.stringify(rec));
    assert.equal(rec.code, -32602, JSON.stringify(rec));
    assert.equal(rec.message, r.message.error.message);
    assert.equal(rec.message, 'Tool test_simple_text not found');
    assert.equal(rec.tenant, 'gamma');
    assert.equal(rec.principal, `key:${sha256(KEY_GAMMA)}`);
    assert.equal(rec.auth, 'api_key');
    assert.equal(rec.session, g.sessionId);
    assert.equal(rec.method, 'tools/call');
    assert.equal(rec.name, 'test_simple_text');
  });

  test('the denied call\'s response_bytes is the size of the JSON-RPC error the client got', async () => {
    const r = await callTool(gw.url, g, 'test_simple_text', {}, { id: 57, headers: bearer(KEY_GAMMA) });
    assert.equal(r.message?.error?.code, -32602, r.text);
    const rec = await waitRecords(file, (rs) => rs.find((x) => x.id === 57), 5000, 'the denied call\'s record');
    assert.equal(rec.response_bytes, answerBytes(r, 57), `record: ${JSON.stringify(rec)}\nanswer (${r.contentType}): ${r.text}`);
  });

  test('the denied tools/call still carries args_sha256 and args (README: every tools/call record)', async () => {
    const r = await callTool(gw.url, g, 'test_simple_text', { password: 'hunter2', q: 1 }, { id: 53, headers: bearer(KEY_GAMMA) });
    assert.equal(r.message?.error?.code, -32602, r.text);
    const rec = await waitRecords(file, (rs) => rs.find((x) => x.id === 53), 5000, 'the denied call\'s record');
    assert.equal(rec.outcome, 'denied');
    assert.equal(rec.args_sha256, sha256(JSON.stringify({ password: 'hunter2', q: 1 })), `record: ${JSON.stringify(rec)}`);
    assert.deepEqual(rec.args, { password: '[redacted]', q: 1 });
  });

  test('HTTP-level refusals (unknown key, none) → 401; each request of the refused POST gets a denied -32041 record without a session; its notifications and a refused GET none', async () => {
    const before1 = readAudit(file).records.length;
    const unknown = await mcpPost(gw.url, initializeBody(), { headers: bearer(UNKNOWN_KEY) });
    assert.equal(unknown.status, 401, unknown.text);
    assert.equal(unknown.json?.error?.code, -32041, unknown.text);
    const none = await mcpPost(gw.url, { jsonrpc: '2.0', id: 54, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' } } }, sessionOpts(g));
    assert.equal(none.status, 401, none.text);
    const note = await mcpPost(gw.url, { jsonrpc: '2.0', method: 'notifications/roots/list_changed' }, { ...sessionOpts(g), headers: bearer(UNKNOWN_KEY) });
    assert.equal(note.status, 401, note.text);
    const batch = await mcpPost(gw.url, [
      { jsonrpc: '2.0', id: 55, method: 'tools/call', params: { name: 'echo', arguments: { text: 'b1' } } },
      { jsonrpc: '2.0', method: 'notifications/roots/list_changed' },
      { jsonrpc: '2.0', id: 56, method: 'tools/list' },
    ], { sessionId: g.sessionId, protocolVersion: '2025-03-26' });
    assert.equal(batch.status, 401, batch.text);
    const get = await request(gw.url, { method: 'GET', headers: { accept: 'text/event-stream', 'mcp-session-id': g.sessionId }, timeoutMs: 3000 });
    assert.equal(get.status, 401, get.text);
    const del = await request(gw.url, { method: 'DELETE', headers: { 'mcp-session-id': g.sessionId }, timeoutMs: 3000 });
    assert.equal(del.status, 401, del.text);
    await stopClean(gw);

    const { lines, records } = readAudit(file);
    assertChain(lines, { where: file });
    const refused = records.slice(before1);
    assert.deepEqual(refused.map((r) => [r.method, r.id, r.outcome, r.code, r.session, r.tenant, r.principal, r.auth]), [
      ['initialize', 0, 'denied', -32041, '', '', '', 'none'],
      ['tools/call', 54, 'denied', -32041, '', '', '', 'none'],
      ['tools/call', 55, 'denied', -32041, '', '', '', 'none'],
      ['tools/list', 56, 'denied', -32041, '', '', '', 'none'],
    ], `the records of the HTTP-level refusals (README: "a POST refused at the HTTP level … each request in it gets a denied record"):\n${describeRecords(refused)}`);
    assert.equal(refused[0].message, unknown.json.error.message);
    assert.equal(refused[1].message, none.json.error.message);
    assert.equal(refused[1].name, 'echo');
    for (const r of refused) assert.equal(r.route, '/mcp');
    assert.ok(!readAudit(file).text.includes(UNKNOWN_KEY), 'the unknown key is in the audit file');
    // gamma: initialize, notifications/initialized, 51, 52, 57, 53; then the four refused requests
    assert.equal(records.length, 10, describeRecords(records));
    await assertVerifies([file], 'ok: 10 records in 1 file');
  });
});

// ---------------------------------------------------------------------------------------
describe('redaction', () => {
  const ARGS = { text: 'x', password: 'hunter2', nested: { apiToken: 't' }, auth: 'Bearer abc' };

  test('secret-looking keys and values are [redacted]; args_sha256 is the SHA-256 of the minified arguments; no secret in the file', async () => {
    const { gw, file } = await startAuditGateway('gateway-redact', { backendUrl: backend.url });
    const s = await initialize(gw.url);
    const r = await callTool(gw.url, s, 'echo', ARGS, { id: 61 });
    assert.equal(textOf(r), 'x', r.text);
    await stopClean(gw);
    const { text, records } = readAudit(file);
    const rec = records.find((x) => x.id === 61);
    assert.deepEqual(rec.args, { text: 'x', password: '[redacted]', nested: { apiToken: '[redacted]' }, auth: '[redacted]' }, JSON.stringify(rec));
    assert.match(rec.args_sha256, HEX64);
    assert.equal(rec.args_sha256, sha256(JSON.stringify(ARGS)));
    assert.ok(!text.includes('hunter2'), 'hunter2 is in the audit file');
    assert.ok(!text.includes('Bearer abc'), '"Bearer abc" is in the audit file');
    assert.ok(!text.includes('"apiToken":"t"'), 'the apiToken value is in the audit file');
    assert.equal(records.length, 3);
    await assertVerifies([file], 'ok: 3 records in 1 file');
  });

  test('redact: [text, "items.*.note"] → those paths are [redacted] too', async () => {
    const { gw, file } = await startAuditGateway('gateway-redact-paths', { backendUrl: backend.url, audit: { redact: ['text', 'items.*.note'] } });
    const s = await initialize(gw.url);
    const r = await callTool(gw.url, s, 'echo', ARGS, { id: 62 });
    assert.equal(textOf(r), 'x', r.text);
    const args2 = { text: 'visible-to-backend', items: [{ note: 'n0', keep: 'k0' }, { note: 'n1' }] };
    const r2 = await callTool(gw.url, s, 'echo', args2, { id: 63 });
    assert.equal(textOf(r2), 'visible-to-backend', r2.text);
    await stopClean(gw);
    const { text, records } = readAudit(file);
    const rec = records.find((x) => x.id === 62);
    assert.deepEqual(rec.args, { text: '[redacted]', password: '[redacted]', nested: { apiToken: '[redacted]' }, auth: '[redacted]' }, JSON.stringify(rec));
    assert.equal(rec.args_sha256, sha256(JSON.stringify(ARGS)));
    const rec2 = records.find((x) => x.id === 63);
    assert.deepEqual(rec2.args, { text: '[redacted]', items: [{ note: '[redacted]', keep: 'k0' }, { note: '[redacted]' }] }, JSON.stringify(rec2));
    assert.equal(rec2.args_sha256, sha256(JSON.stringify(args2)));
    for (const secret of ['hunter2', 'visible-to-backend', '"n0"', '"n1"']) assert.ok(!text.includes(secret), `${secret} is in the audit file`);
  });
});

// ---------------------------------------------------------------------------------------
describe('restart continues the chain; verify finds edited, deleted and swapped lines', () => {
  let dir;
  let file;
  before(async () => {
    dir = makeTempDir('mcpgw-it-audit-restart-');
    file = path.join(dir, 'audit.jsonl');
  });

  const oneRun = async (name, base) => {
    const { gw } = await startAuditGateway(name, { backendUrl: backend.url, file, dir });
    const s = await initialize(gw.url);
    for (let i = 0; i < 3; i++) {
      const r = await callTool(gw.url, s, 'echo', { text: `${name}-${i}` }, { id: base + i });
      assert.equal(textOf(r), `${name}-${i}`, r.text);
    }
    await stopClean(gw);
  };

  test('two runs on one file: 5 + 5 records, seq continues (5 after 4), prev links the runs, verify ok: 10 records', async () => {
    await oneRun('gateway-run1', 100);
    const first = readAudit(file);
    assert.equal(first.records.length, 5, describeRecords(first.records));
    await assertVerifies([file], 'ok: 5 records in 1 file');
    await oneRun('gateway-run2', 200);
    const { lines, records } = readAudit(file);
    assert.equal(records.length, 10, describeRecords(records));
    assert.deepEqual(records.slice(0, 5).map((r) => r.hash), first.records.map((r) => r.hash), 'the first run\'s lines are untouched');
    assert.equal(records[5].seq, records[4].seq + 1);
    assert.equal(records[5].prev, records[4].hash);
    assert.equal(records[5].method, 'initialize');
    assert.notEqual(records[5].session, records[0].session);
    assertChain(lines, { where: file });
    await assertVerifies([file], 'ok: 10 records in 1 file');
  });

  const tampered = (label, edit) => {
    const copy = path.join(dir, `audit-${label}.jsonl`);
    const lines = readFileSync(file, 'utf8').slice(0, -1).split('\n');
    writeFileSync(copy, `${edit(lines).join('\n')}\n`);
    return copy;
  };
  const assertBroken = async (copy, line, why) => {
    const v = await verify(copy);
    assert.equal(v.code, 1, `verify ${copy}: exit ${v.code}\nstdout: ${v.stdout}\nstderr: ${v.stderr}`);
    assert.equal(v.stdout, '', v.stdout);
    const first = v.stderr.split('\n')[0];
    assert.ok(first.startsWith(`${copy}:${line}: `), `expected "${copy}:${line}: …", got: ${v.stderr}`);
    assert.match(first, why, v.stderr);
    assert.match(v.stderr, new RegExp(`broken after ${line - 1} good records`), v.stderr);
  };

  test('an untouched copy verifies ok', async () => {
    const copy = tampered('copy', (lines) => lines);
    await assertVerifies([copy], 'ok: 10 records in 1 file');
  });

  test('line 5\'s method edited → exit 1, FILE:5: the record was changed', async () => {
    const copy = tampered('edited', (lines) => {
      assert.ok(lines[4].includes('"method":"tools/call"'), lines[4]);
      lines[4] = lines[4].replace('"method":"tools/call"', '"method":"tools/list"');
      return lines;
    });
    await assertBroken(copy, 5, /changed|hash/);
  });

  test('line 5 deleted → exit 1, FILE:5: expected record 4, found record 5', async () => {
    const copy = tampered('deleted', (lines) => { lines.splice(4, 1); return lines; });
    await assertBroken(copy, 5, /expected record 4, found record 5/);
  });

  test('lines 4 and 5 swapped → exit 1, FILE:4: expected record 3, found record 4', async () => {
    const copy = tampered('swapped', (lines) => { [lines[3], lines[4]] = [lines[4], lines[3]]; return lines; });
    await assertBroken(copy, 4, /expected record 3, found record 4/);
  });
});

// ---------------------------------------------------------------------------------------
describe('rotation by size', () => {
  test('rotate: { size: 2KiB } → several audit.jsonl.<stamp>-<seq>; in name order then audit.jsonl they verify as one chain', async () => {
    const { gw, file, dir } = await startAuditGateway('gateway-rotate', { backendUrl: backend.url, audit: { rotate: { size: '2KiB' } } });
    const s = await initialize(gw.url);
    const CALLS = 20;
    for (let i = 0; i < CALLS; i++) {
      const r = await callTool(gw.url, s, 'echo', { text: `rotate-${i}` }, { id: 300 + i });
      assert.equal(textOf(r), `rotate-${i}`, r.text);
    }
    await stopClean(gw);
    const total = 2 + CALLS;
    const rotated = readdirSync(dir).filter((n) => n.startsWith('audit.jsonl.')).sort();
    for (const n of rotated) assert.match(n, /^audit\.jsonl\.\d{8}T\d{6}Z-\d{12}$/, n);
    assert.ok(rotated.length >= 3, `expected several rotated files, got ${rotated.join(' ')}`);
    const files = [...rotated.map((n) => path.join(dir, n)), file];
    let chain = { nextSeq: 0, prev: ZERO };
    let seen = 0;
    files.forEach((f, i) => {
      const { lines, records } = readAudit(f);
      assert.ok(records.length > 0, `${f} is empty`);
      if (i < rotated.length) {
        // rotated once the file reached 2 KiB: at least 2048 bytes, under 2048 without its last line
        const size = statSync(f).size;
        assert.ok(size >= 2048 && size - lines.at(-1).length - 1 < 2048, `${f}: ${size} bytes`);
        // the name carries the seq of the next file's first record
        assert.equal(Number(rotated[i].slice(-12)), records.at(-1).seq + 1, rotated[i]);
      }
      chain = assertChain(lines, { firstSeq: chain.nextSeq, firstPrev: chain.prev, where: f });
      seen += records.length;
    });
    assert.equal(seen, total);
    await assertVerifies(files, `ok: ${total} records in ${files.length} files`);
    const last = readAudit(file).records.length;
    await assertVerifies([file], `ok: ${last} records in 1 file (the first continues an earlier file, not given)`);
    // a rotated sequence given out of order is refused
    const v = await verify(files[1], files[0]);
    assert.equal(v.code, 1, v.stdout + v.stderr);
  });
});

// ---------------------------------------------------------------------------------------
describe('the fields of one record', () => {
  test('initialize, notification and tools/call of an API-key client: every field (file and stdout: true alike)', async () => {
    const { gw, file } = await startAuditGateway('gateway-fields', {
      backendUrl: backend.url,
      audit: { stdout: true },
      filters: (audit) => [AUTH, audit],
      config: { tenants: TENANTS },
    });
    const t0 = Date.now();
    const s = await initialize(gw.url, { headers: bearer(KEY_ACME) });
    const body = { jsonrpc: '2.0', id: 'call-nine', method: 'tools/call', params: { name: 'echo', arguments: { text: 'fields' } } };
    const tCall = Date.now();
    const r = await mcpPost(gw.url, body, { ...sessionOpts(s), headers: bearer(KEY_ACME) });
    const tDone = Date.now();
    const answer = r.messages.find((m) => m.id === 'call-nine');
    assert.equal(answer?.result?.content?.[0]?.text, 'fields', r.text);
    const n = await callTool(gw.url, s, 'echo', { text: 'numeric' }, { id: 9, headers: bearer(KEY_ACME) });
    assert.equal(textOf(n), 'numeric', n.text);
    const tEnd = Date.now();
    await stopClean(gw);

    const { lines, records } = readAudit(file);
    assertChain(lines, { where: file });
    assert.deepEqual(gw.proc.stdout, lines, 'stdout: true writes the same sealed lines as the file');
    assert.deepEqual(records.map((x) => x.method), ['initialize', 'notifications/initialized', 'tools/call', 'tools/call'], describeRecords(records));
    for (const x of records) {
      assert.equal(x.tenant, 'acme');
      assert.equal(x.principal, `key:${sha256(KEY_ACME)}`);
      assert.ok(x.principal.startsWith('key:'));
      assert.equal(x.auth, 'api_key');
      assert.equal(x.session, s.sessionId);
      assert.match(x.session, SESSION_ID);
      assert.equal(x.route, '/mcp');
      assert.equal(x.backend, 'conf');
      assert.equal(x.outcome, 'ok');
      assert.ok(OUTCOMES.includes(x.outcome));
      assert.match(x.time, ISO_UTC);
      const ms = Date.parse(x.time);
      assert.ok(ms >= t0 - 1 && ms <= tEnd + 1, `time ${x.time} outside the test's window`);
      assert.equal(typeof x.latency_ms, 'number');
      assert.ok(x.latency_ms >= 0);
      assert.ok(x.request_bytes > 0, JSON.stringify(x));
      assert.match(x.prev, HEX64);
      assert.match(x.hash, HEX64);
    }
    const [init, note, call, numeric] = records;
    assert.equal(init.id, 0);
    assert.equal(init.name, undefined);
    assert.ok(init.response_bytes > 0);
    assert.equal(note.id, undefined);
    assert.equal(note.request_bytes, Buffer.byteLength(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' })));

    assert.equal(call.id, 'call-nine');
    assert.equal(call.name, 'echo');
    assert.equal(call.code, undefined);
    assert.equal(call.message, undefined);
    assert.ok(Date.parse(call.time) >= tCall - 1 && Date.parse(call.time) <= tDone + 1, call.time);
    assert.ok(call.latency_ms <= tDone - tCall + 5, `latency_ms ${call.latency_ms} > the client's ${tDone - tCall} ms`);
    assert.equal(call.request_bytes, Buffer.byteLength(JSON.stringify(body)), 'request_bytes: the message as sent');
    assert.ok(call.response_bytes > 0);
    assert.equal(call.response_bytes, answerBytes(r, 'call-nine'), `response_bytes: the answer the client got (${r.contentType}: ${r.text})`);
    assert.equal(call.args_sha256, sha256(JSON.stringify(body.params.arguments)));
    assert.deepEqual(call.args, { text: 'fields' });
    assert.equal(numeric.id, 9);
    // the documented field order, then prev and hash last
    assert.deepEqual(Object.keys(call), ['seq', 'time', 'tenant', 'principal', 'auth', 'session', 'route', 'backend', 'method', 'name', 'id',
      'outcome', 'request_id', 'trace_id', 'span_id', 'latency_ms', 'request_bytes', 'response_bytes', 'args_sha256', 'args', 'prev', 'hash']);
    // No traceparent came with the call: the gateway began its trace (no parent span).
    assert.match(call.request_id, /^[0-9a-f]{16}$/);
    assert.match(call.trace_id, /^[0-9a-f]{32}$/);
    assert.match(call.span_id, /^[0-9a-f]{16}$/);
  });
});

// ---------------------------------------------------------------------------------------
describe('start-up with an existing audit file', () => {
  // Sealed records made here, the way the README describes them: `{"seq":N,<fields>,"prev":"…"`,
  // then `,"hash":"<sha256 of everything before>"}`.
  const sealLines = (n, { seq = 0, prev = ZERO } = {}) => Array.from({ length: n }, (_, i) => {
    const head = `{"seq":${seq + i},"time":"2026-01-01T00:00:0${i}.000Z","tenant":"","principal":"","auth":"none","session":"","route":"/mcp","backend":"conf","method":"ping","id":${i},"outcome":"ok","latency_ms":1.0,"request_bytes":1,"response_bytes":1,"prev":"${prev}"`;
    const hash = sha256(head);
    prev = hash;
    return `${head},"hash":"${hash}"}`;
  });

  const configFor = (dir, auditFile) => {
    const configPath = path.join(dir, 'gateway.yaml');
    writeFileSync(configPath, toYaml({
      listen: '127.0.0.1:0', admin_listen: '127.0.0.1:0',
      backends: [{ name: 'conf', http: { url: backend.url } }],
      routes: [{ path: '/mcp', backend: 'conf' }],
      filters: [{ audit: { file: auditFile } }],
    }));
    return configPath;
  };

  test('records sealed outside the gateway verify ok (the format is as documented)', async () => {
    const dir = makeTempDir('mcpgw-it-audit-start-');
    const f = path.join(dir, 'made.jsonl');
    writeFileSync(f, `${sealLines(3).join('\n')}\n`);
    await assertVerifies([f], 'ok: 3 records in 1 file');
  });

  for (const [label, content] of [
    ['a line that is not a sealed record', '{"hello":1}\n'],
    ['a sealed file whose last record was edited', () => { const l = sealLines(3); l[2] = l[2].replace('"method":"ping"', '"method":"pong"'); return `${l.join('\n')}\n`; }],
  ]) {
    test(`last line: ${label} → the gateway refuses to start, exit non-zero, the message names the file`, async () => {
      const dir = makeTempDir('mcpgw-it-audit-start-');
      const auditFile = path.join(dir, 'audit.jsonl');
      const text = typeof content === 'function' ? content() : content;
      writeFileSync(auditFile, text);
      const r = await runGateway(['--config', configFor(dir, auditFile)], { timeoutMs: 5000 });
      assert.equal(r.signal, null, `the gateway did not exit by itself (killed after 5 s)\n${r.stderr}`);
      assert.notEqual(r.code, 0, r.stderr);
      assert.ok(r.stderr.includes(auditFile), `the message does not name ${auditFile}:\n${r.stderr}`);
      assert.ok(!/"msg":"listening"/.test(r.stderr), r.stderr);
      assert.equal(readFileSync(auditFile, 'utf8'), text, 'the refused file was changed');
    });
  }

  test('a torn last line (no newline: a crash mid-write) → the gateway starts, closes it off, continues the chain; verify names the torn line', async () => {
    const dir = makeTempDir('mcpgw-it-audit-start-');
    const auditFile = path.join(dir, 'audit.jsonl');
    const sealed = sealLines(2);
    writeFileSync(auditFile, `${sealed.join('\n')}\n{"seq":2,"time":"2026-01-01T00:00:02.0`);
    const { gw } = await startAuditGateway('gateway-torn', { backendUrl: backend.url, file: auditFile, dir });
    const s = await initialize(gw.url);
    assert.match(s.sessionId, SESSION_ID);
    await stopClean(gw);
    const lines = readFileSync(auditFile, 'utf8').slice(0, -1).split('\n');
    assert.deepEqual(lines.slice(0, 2), sealed);
    assert.equal(lines[2], '{"seq":2,"time":"2026-01-01T00:00:02.0', 'the partial line is kept as it was, then ended');
    const fresh = lines.slice(3);
    assert.equal(fresh.length, 2, lines.join('\n'));
    assertChain(fresh, { firstSeq: 2, firstPrev: JSON.parse(sealed[1]).hash, where: auditFile });
    const v = await verify(auditFile);
    assert.equal(v.code, 1, v.stdout + v.stderr);
    assert.ok(v.stderr.startsWith(`${auditFile}:3: `), v.stderr);
  });
});
