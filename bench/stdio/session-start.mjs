#!/usr/bin/env node
// Session start on a stdio backend, cold vs warm, side by side in one run.
//
// Starts mcpgw twice in front of the same stdio server (tests/backends/conformance-server.mjs
// --stdio): once with pool.warm = 0 (every session spawns a process and initializes it) and
// once with a warm pool (the pool learns the client's initialize from the first session and
// keeps processes initialized with it). For each, opens SESSIONS sessions one after another
// and times initialize (request sent → answer read), then DELETEs the session. The first
// warm-run session is the one that teaches the pool and is not counted.
//
// Usage: node bench/stdio/session-start.mjs [--sessions 40] [--warm 4] [--server node|demo] [--out FILE]
//   --server node  the SDK-based conformance server (a Node.js process; the default)
//   --server demo  mcpgw-demo-backend --stdio (a C++ process that starts in about a millisecond,
//                  so the pool's refills take little CPU from the sessions being timed)
// Env: MCPGW (default build/release/gateway/mcpgw), NODE_FOR_BACKEND (default this node),
// DEMO_BACKEND (default build/release/tests/backends/mcpgw-demo-backend).
// Loopback only; everything it starts is stopped by PID before it exits.
import { spawn } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values: opts } = parseArgs({
  options: {
    sessions: { type: 'string', default: '40' },
    warm: { type: 'string', default: '4' },
    server: { type: 'string', default: 'node' },
    out: { type: 'string' },
  },
});
const SESSIONS = Number(opts.sessions);
const MCPGW = process.env.MCPGW ?? path.join(root, 'build', 'release', 'gateway', 'mcpgw');
const NODE = process.env.NODE_FOR_BACKEND ?? process.execPath;
const BACKEND = path.join(root, 'tests', 'backends', 'conformance-server.mjs');
const DEMO_BACKEND = process.env.DEMO_BACKEND ?? path.join(root, 'build', 'release', 'tests', 'backends', 'mcpgw-demo-backend');
if (opts.server !== 'node' && opts.server !== 'demo') throw new Error(`--server: expected node or demo, got ${opts.server}`);
const COMMAND = opts.server === 'demo' ? [DEMO_BACKEND, '--stdio'] : [NODE, BACKEND, '--stdio'];
const SERVER_WORDS = opts.server === 'demo' ? 'mcpgw-demo-backend --stdio' : 'tests/backends/conformance-server.mjs --stdio';

const INIT = JSON.stringify({
  jsonrpc: '2.0', id: 1, method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'bench', version: '1' } },
});
const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

async function startGateway(warm) {
  const dir = mkdtempSync(path.join(tmpdir(), 'mcpgw-bench-stdio-'));
  const config = path.join(dir, 'gateway.yaml');
  writeFileSync(config, [
    'listen: 127.0.0.1:0',
    'admin_listen: 127.0.0.1:0',
    'log_level: warn',
    'backends:',
    '  - name: files',
    `    stdio: { command: ${JSON.stringify(COMMAND)}, pool: { warm: ${warm}, max: 200 } }`,
    'routes:',
    '  - path: /mcp',
    '    backend: files',
    '',
  ].join('\n'));
  // log_level warn hides the listening line: read the port from --log-level info instead.
  const child = spawn(MCPGW, ['--config', config, '--log-level', 'info'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const url = await new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error('mcpgw did not start')), 15000);
    child.stderr.on('data', (d) => {
      buf += d;
      const m = /"msg":"listening","listen":"([^"]+)"/.exec(buf);
      if (m) { clearTimeout(timer); resolve(`http://${m[1]}/mcp`); }
    });
    child.on('exit', (code) => reject(new Error(`mcpgw exited with ${code}`)));
  });
  child.stderr.resume();
  return { url, stop: async () => { child.kill('SIGTERM'); await new Promise((r) => child.once('exit', r)); rmSync(dir, { recursive: true, force: true }); } };
}

// The timed requests go through node:http on one kept-alive connection: fetch (undici) costs
// about a millisecond of client-side work per request on this kind of machine, which the
// gateway would be charged for.
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
function post(url, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers: { ...headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function oneSession(url) {
  const t0 = process.hrtime.bigint();
  const r = await post(url, HEADERS, INIT);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 200 || !r.body.includes('"result"')) throw new Error(`initialize failed: ${r.status} ${r.body}`);
  const sid = r.headers['mcp-session-id'];
  await fetch(url, { method: 'POST', headers: { ...HEADERS, 'mcp-session-id': sid }, body: '{"jsonrpc":"2.0","method":"notifications/initialized"}' });
  await fetch(url, { method: 'DELETE', headers: { 'mcp-session-id': sid } });
  return ms;
}

const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };

async function measure(warm) {
  const gw = await startGateway(warm);
  try {
    if (warm > 0) {
      await new Promise((r) => setTimeout(r, 1500)); // the pool spawns its processes
      await oneSession(gw.url); // teaches the pool the client's initialize (cold)
      await new Promise((r) => setTimeout(r, 1500)); // warm processes get initialized
    }
    // The floor: a POST the gateway answers by itself (an unknown session, 404), through the
    // same client: what any request costs before a backend is involved.
    const floor = [];
    for (let i = 0; i < SESSIONS; i++) {
      const t0 = process.hrtime.bigint();
      const r = await post(gw.url, { ...HEADERS, 'mcp-session-id': 'no-such-session' }, '{"jsonrpc":"2.0","id":1,"method":"ping"}');
      floor.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (r.status !== 404) throw new Error(`expected 404 for an unknown session, got ${r.status}`);
    }
    const times = [];
    for (let i = 0; i < SESSIONS; i++) {
      times.push(await oneSession(gw.url));
      // Gives the pool time to refill, as sessions arriving some ms apart would.
      if (warm > 0) await new Promise((r) => setTimeout(r, 150));
    }
    return { p50: pct(times, 0.5), p90: pct(times, 0.9), max: Math.max(...times), floor: pct(floor, 0.5) };
  } finally {
    await gw.stop();
  }
}

const cold = await measure(0);
const warm = await measure(Number(opts.warm));
const f = (x) => x.toFixed(2);
const report = [
  '## stdio session start: cold vs warm pool',
  '',
  `- date: ${new Date().toISOString()}; host: ${cpus().length} cores, ${cpus()[0]?.model ?? 'unknown CPU'}; node ${process.version}`,
  `- backend: ${SERVER_WORDS}; ${SESSIONS} sessions one after another per target; time = initialize POST sent → answer read`,
  '',
  '| target | p50 (ms) | p90 (ms) | max (ms) |',
  '|---|---:|---:|---:|',
  `| cold (pool.warm 0: spawn + initialize) | ${f(cold.p50)} | ${f(cold.p90)} | ${f(cold.max)} |`,
  `| warm (pool.warm ${opts.warm}: initialized ahead) | ${f(warm.p50)} | ${f(warm.p90)} | ${f(warm.max)} |`,
  '',
  `Warm start is **${(cold.p50 / warm.p50).toFixed(0)}×** faster at p50. Floor (a POST the gateway answers alone, 404 for an unknown session, same client): ${f(warm.floor)} ms p50.`,
  '',
].join('\n');
process.stdout.write(report);
if (opts.out) writeFileSync(opts.out, report);
