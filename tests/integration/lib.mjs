// Harness for the mcpgw integration tests (tests/integration/*.test.mjs, run with `node --test`).
//
// Starts real processes on free ports (port 0 everywhere), writes a temporary config, keeps
// every child's stdout/stderr for diagnostics, and makes sure nothing outlives the test file:
// children are stopped by PID (SIGTERM, then SIGKILL), a process 'exit' hook SIGKILLs
// leftovers, and a watchdog kills everything if the file runs past its hard timeout.
//
// Only Node built-ins are used here; the conformance backend brings its own SDK
// (tests/e2e/node_modules, resolved relative to the backend script).
//
// Environment:
//   MCPGW_BIN                  gateway binary (default <repo>/build/ci/gateway/mcpgw)
//   MCPGW_CONFORMANCE_BACKEND  Node backend script (default <repo>/tests/backends/conformance-server.mjs)
//   MCPGW_DEMO_BACKEND         C++ demo backend (default <repo>/build/ci/tests/backends/mcpgw-demo-backend;
//                              the tests that need it are skipped when it is missing)
//   MCPGW_NODE                 node binary for the backend (default: the node running the tests)
//   MCPGW_IT_HARD_TIMEOUT_MS   hard cap per test file (default 55000)
//   MCPGW_IT_VERBOSE=1         print the gateway's stderr tail after every test, not only failures
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, afterEach } from 'node:test';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(here, '..', '..');

export const MCPGW_BIN = path.resolve(process.env.MCPGW_BIN ?? path.join(REPO_ROOT, 'build', 'ci', 'gateway', 'mcpgw'));
export const BACKEND_SCRIPT = path.resolve(
  process.env.MCPGW_CONFORMANCE_BACKEND ?? path.join(REPO_ROOT, 'tests', 'backends', 'conformance-server.mjs'),
);
export const DEMO_BACKEND = path.resolve(
  process.env.MCPGW_DEMO_BACKEND ?? path.join(REPO_ROOT, 'build', 'ci', 'tests', 'backends', 'mcpgw-demo-backend'),
);
export const NODE_BIN = process.env.MCPGW_NODE ?? process.execPath;
export const haveDemoBackend = () => { try { return statSync(DEMO_BACKEND).isFile(); } catch { return false; } };

export const SUPPORTED_VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26'];
export const LATEST = '2025-11-25';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------
// Preconditions, checked once per file so a missing binary gives one clear message.
export function requireGatewayBinary() {
  let ok = false;
  try { ok = statSync(MCPGW_BIN).isFile(); } catch { ok = false; }
  if (!ok) {
    throw new Error(`gateway binary not found at ${MCPGW_BIN}; build it or set MCPGW_BIN=/path/to/mcpgw`);
  }
  return MCPGW_BIN;
}

export function requireBackend() {
  if (!existsSync(BACKEND_SCRIPT)) throw new Error(`backend script not found at ${BACKEND_SCRIPT} (set MCPGW_CONFORMANCE_BACKEND)`);
  const nm = path.join(REPO_ROOT, 'tests', 'e2e', 'node_modules', '@modelcontextprotocol', 'sdk');
  if (!process.env.MCPGW_CONFORMANCE_BACKEND && !existsSync(nm)) {
    throw new Error(`the conformance backend needs ${nm}; run "npm ci" in tests/e2e`);
  }
}

// ---------------------------------------------------------------------------------------
// Child processes.
const children = new Set();
const tail = (lines, n = 60) => lines.slice(-n).join('\n');

/** Spawn and track a child. Returns an entry with stdout/stderr line arrays, exit promise, stop(). */
export function spawnTracked(name, cmd, args, options = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  const entry = {
    name, child, pid: child.pid, stdout: [], stderr: [], exited: false, exitCode: null, signal: null,
    listeners: new Set(),
  };
  children.add(entry);
  const pump = (stream, sink, which) => {
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        sink.push(line);
        if (sink.length > 5000) sink.shift();
        for (const l of entry.listeners) l(which, line);
      }
    });
    stream.on('end', () => { if (buf) { sink.push(buf); for (const l of entry.listeners) l(which, buf); buf = ''; } });
  };
  pump(child.stdout, entry.stdout, 'stdout');
  pump(child.stderr, entry.stderr, 'stderr');
  entry.exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      entry.exited = true;
      entry.exitCode = code;
      entry.signal = signal;
      entry.exitedAt = Date.now();
      children.delete(entry);
      resolve({ code, signal });
    });
    child.on('error', (err) => {
      entry.spawnError = err;
      entry.exited = true;
      children.delete(entry);
      resolve({ code: null, signal: null, error: err });
    });
  });
  entry.diagnostics = (n = 60) =>
    `--- ${name} (pid ${child.pid}) ${entry.exited ? `exited code=${entry.exitCode} signal=${entry.signal}` : 'running'}\n` +
    `--- stdout (tail)\n${tail(entry.stdout, n)}\n--- stderr (tail)\n${tail(entry.stderr, n)}`;
  entry.stop = (graceMs) => stopChild(entry, graceMs);
  /** Resolve with the first truthy predicate(stream, line) value; reject on timeout or exit. */
  entry.waitForLine = (predicate, timeoutMs, what) => new Promise((resolve, reject) => {
    let settled = false;
    const finish = (fn, v) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      entry.listeners.delete(check);
      entry.exitPromise.then(() => {}); // keep the promise referenced
      fn(v);
    };
    const check = (which, line) => {
      let v;
      try { v = predicate(which, line); } catch { v = undefined; }
      if (v) finish(resolve, v);
    };
    const timer = setTimeout(() => finish(reject, new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${entry.diagnostics()}`)), timeoutMs);
    for (const l of entry.stdout) check('stdout', l);
    for (const l of entry.stderr) check('stderr', l);
    if (!settled) {
      entry.listeners.add(check);
      entry.exitPromise.then(() => finish(reject, new Error(`${name} exited before ${what}\n${entry.diagnostics()}`)));
    }
  });
  return entry;
}

/** SIGTERM, then SIGKILL after graceMs; resolves with {code, signal} once the child is gone. */
export async function stopChild(entry, graceMs = 3000) {
  if (!entry) return undefined;
  if (entry.exited) return entry.exitPromise;
  try { process.kill(entry.pid, 'SIGTERM'); } catch { /* already gone */ }
  const killer = setTimeout(() => { try { process.kill(entry.pid, 'SIGKILL'); } catch { /* gone */ } }, graceMs);
  const res = await entry.exitPromise;
  clearTimeout(killer);
  return res;
}

export async function stopAll() {
  await Promise.all([...children].map((e) => stopChild(e)));
}

process.on('exit', () => {
  for (const e of children) { try { process.kill(e.pid, 'SIGKILL'); } catch { /* gone */ } }
});

// Watchdog: nothing may hang the suite.
const HARD_TIMEOUT_MS = Number(process.env.MCPGW_IT_HARD_TIMEOUT_MS ?? 55_000);
const fileStarted = Date.now();
let watchdog;
function armWatchdog(totalMs) {
  clearTimeout(watchdog);
  watchdog = setTimeout(() => {
    console.error(`[integration] hard timeout of ${totalMs} ms reached; killing children and exiting`);
    for (const e of children) {
      console.error(e.diagnostics());
      try { process.kill(e.pid, 'SIGKILL'); } catch { /* gone */ }
    }
    process.exit(124);
  }, Math.max(0, fileStarted + totalMs - Date.now()));
  watchdog.unref();
}
armWatchdog(HARD_TIMEOUT_MS);

/**
 * Give this test file a different hard cap (ms since the file started) than the default 55 s,
 * for files that need more. An explicit MCPGW_IT_HARD_TIMEOUT_MS in the environment wins.
 */
export function setHardTimeout(totalMs) {
  if (process.env.MCPGW_IT_HARD_TIMEOUT_MS === undefined) armWatchdog(totalMs);
}

// Every test file: always stop children and close helper servers; print diagnostics of the
// registered processes after a failed test.
const diagnosticSources = new Set();
const cleanups = [];
export function onCleanup(fn) { cleanups.push(fn); }
after(async () => {
  for (const fn of cleanups.splice(0).reverse()) { try { await fn(); } catch { /* best effort */ } }
  await stopAll();
});
afterEach((t) => {
  if (t.passed === false || process.env.MCPGW_IT_VERBOSE === '1') {
    for (const src of diagnosticSources) {
      const d = src();
      if (d) console.error(`[diagnostics for "${t.name}"]\n${d}`);
    }
  }
});
export function addDiagnostics(fn) { diagnosticSources.add(fn); return () => diagnosticSources.delete(fn); }

/**
 * generateKeyPairSync(type, options) for test tokens, as KeyObjects that are safe to export.
 * Node 20 can deadlock in KeyObject.export({ format: 'jwk' }) of a key straight from
 * generateKeyPairSync: the export holds the key's mutex, a garbage collection during it
 * destroys the generation job, and the job's destructor waits for the same mutex (a whole
 * integration file hung that way in CI). The pair is made as PEM and read back, so no
 * exported KeyObject shares its mutex with a generation job.
 */
export function keyPair(type, options) {
  const pem = generateKeyPairSync(type, {
    ...options,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { publicKey: createPublicKey(pem.publicKey), privateKey: createPrivateKey(pem.privateKey) };
}

// ---------------------------------------------------------------------------------------
// Backends.

/** tests/backends/conformance-server.mjs on a free port. */
export async function startConformanceBackend({ args = [], timeoutMs = 15_000 } = {}) {
  requireBackend();
  const entry = spawnTracked('conformance-backend', NODE_BIN, [BACKEND_SCRIPT, '--port', '0', '--host', '127.0.0.1', ...args], {
    cwd: path.dirname(BACKEND_SCRIPT),
    env: process.env,
  });
  const url = await entry.waitForLine((s, l) => s === 'stdout' && /^listening (http:\/\/\S+)$/.exec(l)?.[1], timeoutMs, 'backend "listening" line')
    .catch(async (err) => { await stopChild(entry); throw err; });
  const backend = { url, origin: new URL(url).origin, proc: entry, stop: () => stopChild(entry), diagnostics: () => entry.diagnostics(30) };
  addDiagnostics(backend.diagnostics);
  return backend;
}

/** The C++ demo backend (answers POSTs with application/json unless --sse). */
export async function startDemoBackend({ args = [], timeoutMs = 10_000 } = {}) {
  const entry = spawnTracked('demo-backend', DEMO_BACKEND, ['--listen', '127.0.0.1:0', ...args], { env: process.env });
  const url = await entry.waitForLine((s, l) => s === 'stdout' && /^listening (http:\/\/\S+)$/.exec(l)?.[1], timeoutMs, 'demo backend "listening" line')
    .catch(async (err) => { await stopChild(entry); throw err; });
  const backend = { url, origin: new URL(url).origin, proc: entry, stop: () => stopChild(entry), diagnostics: () => entry.diagnostics(30) };
  addDiagnostics(backend.diagnostics);
  return backend;
}

/** GET <backend origin>/debug/sessions of the conformance backend. */
export async function backendSessions(backend) {
  const r = await request(`${backend.origin}/debug/sessions`, { method: 'GET' });
  return JSON.parse(r.text);
}

/** A TCP server that accepts connections and never answers (a hung backend). */
export async function startSilentServer() {
  const sockets = new Set();
  let accepted = 0;
  const server = net.createServer((s) => {
    accepted += 1;
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    s.resume(); // read and discard, never write
  });
  await new Promise((resolve, reject) => { server.once('error', reject); server.listen(0, '127.0.0.1', resolve); });
  const { port } = server.address();
  const close = () => new Promise((resolve) => {
    for (const s of sockets) s.destroy();
    server.close(() => resolve());
  });
  onCleanup(close);
  return { port, url: `http://127.0.0.1:${port}/mcp`, connections: () => sockets.size, accepted: () => accepted, close };
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function closedPort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * A real redis-server on a free loopback port, without persistence. Returns
 * { port, url, proc, stop(), restart(), pause(), resume(), cli(...args) }; restart() starts a
 * fresh server on the same port (every key gone, as after a restart without persistence).
 */
export async function startRedis({ args = [], timeoutMs = 10_000 } = {}) {
  const port = await closedPort();
  const redis = { port, url: `redis://127.0.0.1:${port}/0`, proc: undefined };
  const launch = async () => {
    const entry = spawnTracked('redis-server', 'redis-server', [
      '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args,
    ]);
    await entry.waitForLine((s, l) => s === 'stdout' && /Ready to accept connections/.test(l), timeoutMs,
      'redis-server "Ready to accept connections" (is redis-server installed? scripts/deps.sh test installs it)')
      .catch(async (err) => { await stopChild(entry); throw err; });
    redis.proc = entry;
  };
  await launch();
  redis.stop = () => stopChild(redis.proc);
  redis.restart = async () => { await stopChild(redis.proc, 500); await launch(); };
  redis.pause = () => process.kill(redis.proc.pid, 'SIGSTOP');
  redis.resume = () => process.kill(redis.proc.pid, 'SIGCONT');
  redis.cli = (...cmd) => new Promise((resolve, reject) => {
    const c = spawn('redis-cli', ['-p', String(port), '--raw', ...cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d) => { out += d; });
    c.on('error', reject);
    c.on('exit', () => resolve(out.trim()));
  });
  onCleanup(() => { try { process.kill(redis.proc.pid, 'SIGCONT'); } catch { /* gone */ } });
  addDiagnostics(() => redis.proc.diagnostics(20));
  return redis;
}

// ---------------------------------------------------------------------------------------
// Gateway.

/** Minimal YAML emitter for JSON-like data (block style, double-quoted strings). */
export function toYaml(value, indent = 0) {
  const pad = ' '.repeat(indent);
  const scalar = (v) => (typeof v === 'string' ? JSON.stringify(v) : String(v));
  const isObj = (v) => v !== null && typeof v === 'object';
  if (Array.isArray(value)) {
    if (value.length === 0) return `${pad}[]\n`;
    return value.map((item) => {
      if (isObj(item) && !Array.isArray(item) && Object.keys(item).length > 0) {
        return `${pad}- ${toYaml(item, indent + 2).slice(indent + 2)}`;
      }
      return `${pad}- ${scalar(item)}\n`;
    }).join('');
  }
  if (isObj(value)) {
    return Object.entries(value).map(([k, v]) => {
      if (isObj(v) && (Array.isArray(v) ? v.length > 0 : Object.keys(v).length > 0)) return `${pad}${k}:\n${toYaml(v, indent + 2)}`;
      if (isObj(v)) return `${pad}${k}: ${Array.isArray(v) ? '[]' : '{}'}\n`;
      return `${pad}${k}: ${scalar(v)}\n`;
    }).join('');
  }
  return `${pad}${scalar(value)}\n`;
}

/** Objects merge recursively; arrays and scalars in `extra` replace; undefined deletes. */
export function deepMerge(base, extra) {
  if (extra === undefined) return base;
  if (base && extra && typeof base === 'object' && typeof extra === 'object' && !Array.isArray(base) && !Array.isArray(extra)) {
    const out = { ...base };
    for (const [k, v] of Object.entries(extra)) {
      if (v === undefined) delete out[k];
      else out[k] = deepMerge(base[k], v);
    }
    return out;
  }
  return extra;
}

export function makeTempDir(prefix = 'mcpgw-it-') {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Start mcpgw with a generated config: one backend "conf" at backendUrl routed at /mcp,
 * listen and admin on 127.0.0.1:0, deep-merged with `config`. Arrays replace, so a config
 * with its own `backends` (e.g. a stdio backend) needs no backendUrl. `env`: variables added
 * to the gateway's environment (on top of process.env).
 * Returns { url, origin, port, adminUrl, adminPort, proc, configPath, yaml, logs(), stop() }.
 */
export async function startGateway({ backendUrl, config = {}, timeoutMs = 15_000, name = 'gateway', env = {}, args = [] } = {}) {
  requireGatewayBinary();
  const base = {
    listen: '127.0.0.1:0',
    admin_listen: '127.0.0.1:0',
    backends: [{ name: 'conf', http: { url: backendUrl, timeout: '10s', connect_timeout: '2s' } }],
    routes: [{ path: '/mcp', backend: 'conf' }],
    log_level: 'info',
  };
  const cfg = deepMerge(base, config);
  const dir = makeTempDir();
  const configPath = path.join(dir, 'gateway.yaml');
  const yaml = `# generated by tests/integration/lib.mjs\n${toYaml(cfg)}`;
  writeFileSync(configPath, yaml);
  const entry = spawnTracked(name, MCPGW_BIN, ['--config', configPath, ...args], { cwd: dir, env: { ...process.env, ...env } });
  const listening = await entry.waitForLine((s, l) => {
    if (s !== 'stderr' || !l.startsWith('{')) return undefined;
    const o = JSON.parse(l);
    return o.msg === 'listening' && typeof o.listen === 'string' ? o : undefined;
  }, timeoutMs, 'gateway {"msg":"listening"} line on stderr').catch(async (err) => { await stopChild(entry); throw err; });
  const portOf = (hp) => Number(hp.slice(hp.lastIndexOf(':') + 1));
  const port = portOf(listening.listen);
  const adminPort = typeof listening.admin === 'string' ? portOf(listening.admin) : undefined;
  const gw = {
    port,
    origin: `http://127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}/mcp`,
    adminPort,
    adminUrl: adminPort ? `http://127.0.0.1:${adminPort}` : undefined,
    listening,
    proc: entry,
    configPath,
    yaml,
    logs: () => entry.stderr.flatMap((l) => { try { return [JSON.parse(l)]; } catch { return []; } }),
    stop: (graceMs) => stopChild(entry, graceMs),
    diagnostics: () => `${entry.diagnostics(40)}\n--- config ${configPath}\n${yaml}`,
  };
  addDiagnostics(gw.diagnostics);
  return gw;
}

/** Run mcpgw to completion with the given arguments (e.g. --check-config). */
export async function runGateway(args, { timeoutMs = 10_000, cwd } = {}) {
  requireGatewayBinary();
  const entry = spawnTracked('mcpgw-cli', MCPGW_BIN, args, { cwd, env: process.env });
  const timer = setTimeout(() => { try { process.kill(entry.pid, 'SIGKILL'); } catch { /* gone */ } }, timeoutMs);
  const { code, signal } = await entry.exitPromise;
  clearTimeout(timer);
  // let the pipes drain
  await sleep(20);
  return { code, signal, stdout: entry.stdout.join('\n'), stderr: entry.stderr.join('\n') };
}

// ---------------------------------------------------------------------------------------
// Processes seen through /proc (Linux): a gateway's children, and whether a pid is gone.

export { childPids, processGone, procStat } from '../lib/proc.mjs';

/** Poll fn() every intervalMs until it returns a truthy value (returned); throws after timeoutMs. */
export async function waitUntil(fn, timeoutMs, what = 'condition', intervalMs = 50) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

// ---------------------------------------------------------------------------------------
// HTTP (node:http with a fresh connection per request, so Host/Origin and anything else can
// be set exactly, and nothing is pooled between tests).

/** Parse SSE text into events {id, event, data, retry, comments}. */
export function parseSse(text) {
  const events = [];
  for (const block of text.replace(/\r\n/g, '\n').split('\n\n')) {
    if (!block.trim()) continue;
    const ev = { id: undefined, event: undefined, data: undefined, retry: undefined, comments: [] };
    const data = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) { ev.comments.push(line.slice(1)); continue; }
      const i = line.indexOf(':');
      const field = i < 0 ? line : line.slice(0, i);
      let value = i < 0 ? '' : line.slice(i + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') data.push(value);
      else if (field === 'id') ev.id = value;
      else if (field === 'event') ev.event = value;
      else if (field === 'retry') ev.retry = Number(value);
    }
    if (data.length) ev.data = data.join('\n');
    events.push(ev);
  }
  return events;
}

export function safeJson(s) {
  try { return JSON.parse(s); } catch { return undefined; }
}

/**
 * One HTTP request. `body`: string, Buffer or JSON value. For an SSE response the body is read
 * until `until(messages)` is true, the stream ends, or timeoutMs passes (then timedOut=true).
 * Default `until`: a JSON-RPC response whose id equals body.id (when body is an object with id).
 * `onMessages(messages)` is called with all messages so far after every SSE chunk.
 * Returns { status, headers, contentType, text, json, events, messages, timedOut, elapsedMs }.
 */
export function request(url, { method = 'POST', headers = {}, body, timeoutMs = 10_000, until, onMessages } = {}) {
  const u = new URL(url);
  const payload = body === undefined ? undefined
    : Buffer.isBuffer(body) ? body
      : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  const wantId = body && typeof body === 'object' && !Buffer.isBuffer(body) && !Array.isArray(body) ? body.id : undefined;
  const wantIds = Array.isArray(body) ? body.filter((m) => m && m.id !== undefined && m.method).map((m) => m.id) : undefined;
  const done = until ?? ((msgs) => {
    if (wantId !== undefined) return msgs.some((m) => m && m.id === wantId && !('method' in m));
    if (wantIds?.length) return wantIds.every((id) => msgs.some((m) => m && m.id === id && !('method' in m)));
    return false;
  });
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const h = { ...headers };
    if (payload !== undefined && !Object.keys(h).some((k) => k.toLowerCase() === 'content-length')) h['content-length'] = payload.length;
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers: h, agent: false });
    let finished = false;
    let res;
    let text = '';
    const result = (timedOut) => {
      const contentType = res?.headers['content-type'] ?? '';
      const isSse = contentType.includes('text/event-stream');
      const events = isSse ? parseSse(text) : [];
      const messages = isSse
        ? events.filter((e) => e.data).map((e) => safeJson(e.data)).filter((m) => m !== undefined).flat()
        : [safeJson(text)].filter((m) => m !== undefined).flat();
      return {
        status: res?.statusCode, headers: res?.headers ?? {}, contentType, text, json: isSse ? undefined : safeJson(text),
        events, messages, timedOut, elapsedMs: Date.now() - started,
      };
    };
    const finish = (timedOut) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      const r = result(timedOut);
      req.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => {
      if (!res) { finished = true; req.destroy(); reject(new Error(`${method} ${url}: no response headers within ${timeoutMs} ms`)); return; }
      finish(true);
    }, timeoutMs);
    req.on('error', (err) => {
      if (finished) return;
      if (res) { finish(false); return; } // connection closed mid-body: report what arrived
      finished = true;
      clearTimeout(timer);
      reject(err);
    });
    req.on('response', (r) => {
      res = r;
      r.setEncoding('utf8');
      const sse = (r.headers['content-type'] ?? '').includes('text/event-stream');
      r.on('data', (d) => {
        text += d;
        if (sse) {
          const msgs = parseSse(text).filter((e) => e.data).map((e) => safeJson(e.data)).filter(Boolean).flat();
          onMessages?.(msgs);
          if (done(msgs)) finish(false);
        }
      });
      r.on('end', () => finish(false));
      r.on('error', () => finish(false));
      r.on('aborted', () => finish(false));
    });
    req.end(payload);
  });
}

export const MCP_POST_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

/** POST a JSON-RPC message (or any body) to the MCP endpoint with the usual headers. */
export function mcpPost(url, body, { sessionId, protocolVersion, headers = {}, ...rest } = {}) {
  return request(url, {
    method: 'POST',
    headers: {
      ...MCP_POST_HEADERS,
      ...(sessionId !== undefined ? { 'mcp-session-id': sessionId } : {}),
      ...(protocolVersion !== undefined ? { 'mcp-protocol-version': protocolVersion } : {}),
      ...headers,
    },
    body,
    ...rest,
  });
}

export const initializeBody = (protocolVersion = LATEST, id = 0) => ({
  jsonrpc: '2.0', id, method: 'initialize',
  params: { protocolVersion, capabilities: {}, clientInfo: { name: 'mcpgw-integration', version: '0.0.0' } },
});

/**
 * initialize + notifications/initialized. Returns { sessionId, protocolVersion, result, response }.
 * Throws with the response text if anything is off.
 */
export async function initialize(url, { protocolVersion = LATEST, headers = {} } = {}) {
  const response = await mcpPost(url, initializeBody(protocolVersion), { headers });
  const msg = response.messages.find((m) => m.id === 0);
  if (response.status !== 200 || !msg?.result) {
    throw new Error(`initialize failed: HTTP ${response.status} ${response.text}`);
  }
  const sessionId = response.headers['mcp-session-id'];
  const negotiated = msg.result.protocolVersion;
  const ack = await mcpPost(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, { sessionId, protocolVersion: negotiated, headers });
  if (ack.status !== 202) throw new Error(`notifications/initialized: expected 202, got ${ack.status} ${ack.text}`);
  return { sessionId, protocolVersion: negotiated, result: msg.result, response };
}

let nextId = 1000;
/** tools/call on a session; returns the whole response plus `message` (the JSON-RPC response). */
export async function callTool(url, session, name, args = {}, opts = {}) {
  const { id = nextId++, ...rest } = opts;
  const r = await mcpPost(url, { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } },
    { sessionId: session.sessionId, protocolVersion: session.protocolVersion, ...rest });
  return { ...r, id, message: r.messages.find((m) => m && m.id === id && !('method' in m)) };
}

/**
 * Open a GET SSE stream and keep reading. Returns { status, headers, events(), text(), waitFor(pred, ms), close() }.
 * Resolves once the response headers arrive (or rejects after timeoutMs).
 */
export function openGetStream(url, { headers = {}, timeoutMs = 5000 } = {}) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: 'GET', headers: { accept: 'text/event-stream', ...headers }, agent: false });
    let text = '';
    let ended = false;
    const waiters = new Set();
    const notify = () => { for (const w of waiters) w(); };
    const timer = setTimeout(() => { req.destroy(); reject(new Error(`GET ${url}: no response headers within ${timeoutMs} ms`)); }, timeoutMs);
    req.on('error', (err) => { clearTimeout(timer); ended = true; notify(); reject(err); });
    req.on('response', (res) => {
      clearTimeout(timer);
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; notify(); });
      const end = () => { ended = true; notify(); };
      res.on('end', end);
      res.on('error', end);
      res.on('aborted', end);
      resolve({
        status: res.statusCode,
        headers: res.headers,
        text: () => text,
        events: () => parseSse(text),
        ended: () => ended,
        /** Wait until pred({text, events}) is truthy; rejects after ms or when the stream ends first. */
        waitFor: (pred, ms = 5000) => new Promise((res2, rej2) => {
          const check = () => {
            let v;
            try { v = pred({ text, events: parseSse(text) }); } catch { v = undefined; }
            if (v) { cleanup(); res2(v); } else if (ended) { cleanup(); rej2(new Error(`stream ended before condition; got:\n${text}`)); }
          };
          const t = setTimeout(() => { cleanup(); rej2(new Error(`condition not met within ${ms} ms; stream so far:\n${text}`)); }, ms);
          const cleanup = () => { clearTimeout(t); waiters.delete(check); };
          waiters.add(check);
          check();
        }),
        /** Resolve once the server ended the stream; reject after ms. */
        waitEnded: (ms = 5000) => new Promise((res2, rej2) => {
          const check = () => { if (ended) { cleanup(); res2(); } };
          const t = setTimeout(() => { cleanup(); rej2(new Error(`stream still open after ${ms} ms; so far:\n${text}`)); }, ms);
          const cleanup = () => { clearTimeout(t); waiters.delete(check); };
          waiters.add(check);
          check();
        }),
        close: () => { req.destroy(); },
      });
    });
    req.end();
  });
}

// ---------------------------------------------------------------------------------------
// Raw TCP.

/**
 * Connect, optionally write `data`, and collect everything until the peer closes or
 * timeoutMs passes. Returns { text, closedByPeer, elapsedMs, status }.
 * `writes`: optional array of [delayMs, chunk] written after connecting.
 */
export function rawExchange(port, { data, writes = [], timeoutMs = 5000, host = '127.0.0.1' } = {}) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const sock = net.connect({ port, host });
    let text = '';
    let settled = false;
    const timers = [];
    const finish = (closedByPeer) => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      sock.destroy();
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ text, closedByPeer, elapsedMs: Date.now() - started, status: m ? Number(m[1]) : undefined });
    };
    sock.setEncoding('latin1');
    sock.on('connect', () => {
      if (data !== undefined) sock.write(data);
      for (const [delay, chunk] of writes) timers.push(setTimeout(() => { if (!settled && !sock.destroyed) sock.write(chunk); }, delay));
    });
    sock.on('data', (d) => { text += d; });
    sock.on('end', () => finish(true));
    sock.on('close', () => finish(true));
    sock.on('error', (err) => {
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') finish(true);
      else if (!settled) { settled = true; reject(err); }
    });
    timers.push(setTimeout(() => finish(false), timeoutMs));
  });
}

/** Split a raw HTTP response text into { status, headers, body }. */
export function parseRawResponse(text) {
  const i = text.indexOf('\r\n\r\n');
  const head = i < 0 ? text : text.slice(0, i);
  const body = i < 0 ? '' : text.slice(i + 4);
  const [statusLine, ...lines] = head.split('\r\n');
  const headers = {};
  for (const l of lines) {
    const j = l.indexOf(':');
    if (j > 0) headers[l.slice(0, j).trim().toLowerCase()] = l.slice(j + 1).trim();
  }
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '');
  return { status: m ? Number(m[1]) : undefined, headers, body, json: safeJson(body) };
}

// ---------------------------------------------------------------------------------------
// Assertion helpers.

// Prometheus text format → Map of 'name{a="x",b="y"}' (labels sorted) → number.
export function parseMetrics(text) {
  const out = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    const labels = [...(m[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)]
      .map(([, k, v]) => `${k}="${v}"`).sort().join(',');
    out.set(labels ? `${m[1]}{${labels}}` : m[1], Number(m[3]));
  }
  return out;
}
export const series = (name, labels) =>
  `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort().join(',')}}`;

/**
 * Assert an HTTP error carrying a JSON-RPC error body: status, error.code, id null, and that
 * the message matches every pattern in `mentions` (strings are matched case-insensitively).
 */
export function assertJsonRpcError(r, { status, code, mentions = [] }) {
  const where = `HTTP ${r.status} ${r.contentType ?? ''} body=${r.text}`;
  assert.equal(r.status, status, `status: ${where}`);
  const body = r.json ?? r.messages?.[0];
  assert.ok(body && typeof body === 'object', `expected a JSON-RPC error body: ${where}`);
  assert.equal(body.jsonrpc, '2.0', `jsonrpc: ${where}`);
  assert.ok(body.error && typeof body.error === 'object', `expected "error": ${where}`);
  if (code !== undefined) assert.equal(body.error.code, code, `error.code: ${where}`);
  assert.equal(typeof body.error.message, 'string', `error.message: ${where}`);
  for (const m of [].concat(mentions)) {
    const re = m instanceof RegExp ? m : new RegExp(m.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'i');
    assert.match(body.error.message, re, `error.message should mention ${re}: ${where}`);
  }
  return body;
}
