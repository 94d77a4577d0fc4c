#!/usr/bin/env node
// Gateway memory per session: SESSIONS client sessions, each holding its GET stream open, and
// the gateway's resident set size (VmRSS) before and after, per session.
//
// The backend is tests/backends/scripted-server.mjs, which offers no GET stream of its own
// (405), so the gateway holds one client connection per session and no backend stream: what is
// measured is the session and its stream in the gateway. Sessions are opened 64 at a time;
// every GET stream is its own connection, held until the measurement is taken.
//
// Usage: node bench/load/sessions-memory.mjs [--sessions 10000] [--out FILE]
// Env: MCPGW (default build/release/gateway/mcpgw). Needs SESSIONS + a few hundred file
// descriptors in this process and in the gateway (ulimit -n). Loopback only; what it starts
// is stopped by PID before it exits.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values: opts } = parseArgs({ options: { sessions: { type: 'string', default: '10000' }, out: { type: 'string' } } });
const SESSIONS = Number(opts.sessions);
const MCPGW = process.env.MCPGW ?? path.join(root, 'build', 'release', 'gateway', 'mcpgw');
const children = [];
const deadline = setTimeout(() => { console.error('sessions-memory: over 10 minutes, giving up'); finish(1); }, 600_000);

function start(cmd, args, ready) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    const look = (d) => {
      out += d;
      const v = ready(out);
      if (v) resolve({ child, value: v });
    };
    child.stdout.setEncoding('utf8').on('data', look);
    child.stderr.setEncoding('utf8').on('data', look);
    child.on('exit', (code) => reject(new Error(`${cmd} exited (${code}): ${out.slice(-500)}`)));
  });
}

function finish(code) {
  clearTimeout(deadline);
  for (const c of children) { try { c.kill('SIGKILL'); } catch { /* gone */ } }
  process.exit(code);
}

const rss = (pid) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function post(url, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d) => { text += d; }).on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

function openStream(url, sid) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'GET', agent: false, headers: { accept: 'text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' } }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`GET stream: HTTP ${res.statusCode}`));
      res.on('data', () => {});
      resolve(req);
    });
    req.on('error', reject);
    req.end();
  });
}

async function openSession(url) {
  const init = await post(url, { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'memory-bench', version: '0' } } });
  const sid = init.headers['mcp-session-id'];
  if (init.status !== 200 || !sid) throw new Error(`initialize: HTTP ${init.status} ${init.text.slice(0, 200)}`);
  await post(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' });
  return openStream(url, sid);
}

async function openMany(url, n, held) {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next += 1;
      held.push(await openSession(url));
    }
  };
  await Promise.all(Array.from({ length: 64 }, worker));
}

const dir = mkdtempSync(path.join(tmpdir(), 'mcpgw-bench-memory-'));
try {
  const backend = await start(process.execPath, [path.join(root, 'tests', 'backends', 'scripted-server.mjs'), '--port', '0', '--name', 'mem'],
    (out) => /listening (http:\/\/\S+)/.exec(out)?.[1]);
  const config = path.join(dir, 'gateway.yaml');
  writeFileSync(config, [
    'listen: 127.0.0.1:0',
    'admin_listen: 127.0.0.1:0',
    'log_level: warn',
    `session_store: { type: memory, max_sessions: ${SESSIONS + 1000} }`,
    `limits: { max_connections: ${SESSIONS + 1000} }`,
    'backends:',
    `  - name: mem`,
    `    http: { url: ${backend.value} }`,
    'routes:',
    '  - path: /mcp',
    '    backend: mem',
    '',
  ].join('\n'));
  const gw = await start(MCPGW, ['--config', config, '--log-level', 'info'], (out) => /"listen":"127\.0\.0\.1:(\d+)"/.exec(out)?.[1]);
  const url = `http://127.0.0.1:${gw.value}/mcp`;
  const held = [];
  await openMany(url, 100, held);  // warm-up: allocator arenas, connection pool, metrics
  const before = rss(gw.child.pid);
  const started = Date.now();
  await openMany(url, SESSIONS, held);
  await new Promise((r) => setTimeout(r, 1000));
  const after = rss(gw.child.pid);
  const perSession = ((after - before) * 1024) / SESSIONS;
  const lines = [
    '## Gateway memory per session (`bench/load/sessions-memory.mjs`)',
    '',
    `- ${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores, ${cpus()[0]?.model ?? ''}; release build`,
    `- ${SESSIONS} sessions (after 100 for warm-up), each holding its GET stream; opened in ${((Date.now() - started) / 1000).toFixed(1)} s, 64 at a time`,
    '',
    '| gateway RSS before | after | per session |',
    '|---:|---:|---:|',
    `| ${(before / 1024).toFixed(1)} MiB | ${(after / 1024).toFixed(1)} MiB | ${(perSession / 1024).toFixed(2)} KiB |`,
    '',
  ];
  const text = lines.join('\n');
  process.stdout.write(text);
  if (opts.out) writeFileSync(opts.out, text);
  for (const req of held) req.destroy();
  rmSync(dir, { recursive: true, force: true });
  finish(0);
} catch (err) {
  console.error(`sessions-memory: ${err.message}`);
  rmSync(dir, { recursive: true, force: true });
  finish(1);
}
