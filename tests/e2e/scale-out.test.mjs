// Scale-out end to end: three mcpgw replicas sharing one real redis-server, HAProxy
// (round robin, no stickiness) in front, and the official SDK client talking to HAProxy.
// A session works while its requests land on different replicas; killing the replica that
// created an HTTP-backed session does not end it; a stdio-backed session created on one
// replica works through the others (forwarded to its owner); a Redis restart without
// persistence gives clean 404s and a new session works, never a hang.
//
// Gateway only (E2E_TARGET=direct skips it). Needs redis-server and haproxy (scripts/deps.sh
// test installs both). Everything listens on 127.0.0.1 and is stopped by PID.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { STDIO_ROUTE, startBackend, startGateway, stopAll, targetMode } from './lib/harness.mjs';
import { connect, sleep, textOf, waitUntil } from './lib/client.mjs';

const SKIP = targetMode() !== 'gateway';
const SECRET = 'e2e-scale-out-secret-0123456789';
const TIMEOUT = { timeout: 60_000 };

async function freePort() {
  const server = net.createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

// A child process we start and stop ourselves; resolves once `ready` matches a line.
function launch(name, cmd, args, ready) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = [];
  const exited = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })));
  const up = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} not ready in 10 s:\n${lines.slice(-20).join('\n')}`)), 10_000);
    const onData = (d) => {
      for (const l of String(d).split('\n')) {
        lines.push(l);
        if (ready.test(l)) { clearTimeout(timer); resolve(); }
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (e) => { clearTimeout(timer); reject(new Error(`${name}: ${e.message} (scripts/deps.sh test installs it)`)); });
    exited.then(() => { clearTimeout(timer); reject(new Error(`${name} exited:\n${lines.slice(-20).join('\n')}`)); });
  });
  return {
    child, lines, exited, up,
    stop: async () => { if (child.exitCode === null && child.signalCode === null) { child.kill('SIGTERM'); await exited; } },
  };
}

const state = { replicas: [], dir: undefined };

async function startRedis(port) {
  const r = launch('redis-server', 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], /Ready to accept connections/);
  await r.up;
  return r;
}

before(async () => {
  if (SKIP) return;
  state.dir = mkdtempSync(path.join(tmpdir(), 'mcpgw-e2e-scale-'));
  state.redisPort = await freePort();
  state.redis = await startRedis(state.redisPort);
  state.backend = await startBackend();
  for (let i = 0; i < 3; i++) {
    const clusterPort = await freePort();
    const gw = await startGateway({
      backendUrl: state.backend.url,
      env: { MCPGW_CLUSTER_SECRET: SECRET },
      extraConfig: {
        session_store: { type: 'redis', url: `redis://127.0.0.1:${state.redisPort}/0`, cache_ttl: '200ms', timeout: '500ms', connect_timeout: '500ms' },
        cluster: { listen: `127.0.0.1:${clusterPort}`, advertise: `127.0.0.1:${clusterPort}`, secret_env: 'MCPGW_CLUSTER_SECRET', heartbeat: '300ms' },
      },
    });
    state.replicas.push(gw);
  }
  state.haproxyPort = await freePort();
  const servers = state.replicas.map((gw, i) => {
    const port = new URL(gw.origin).port;
    const admin = new URL(gw.adminUrl).port;
    return `  server gw${i} 127.0.0.1:${port} check port ${admin} inter 200ms fall 2 rise 1`;
  });
  const cfg = [
    'global', '  maxconn 512',
    'defaults', '  mode http', '  timeout connect 1s', '  timeout client 30s', '  timeout server 30s',
    '  timeout tunnel 30s', '  option redispatch', '  retries 2', '  retry-on conn-failure empty-response',
    'frontend mcp', `  bind 127.0.0.1:${state.haproxyPort}`, '  default_backend gateways',
    'backend gateways', '  balance roundrobin', '  option httpchk GET /readyz', '  http-check expect status 200',
    ...servers, '',
  ].join('\n');
  const cfgPath = path.join(state.dir, 'haproxy.cfg');
  writeFileSync(cfgPath, cfg);
  state.haproxy = launch('haproxy', 'haproxy', ['-db', '-f', cfgPath], /./);
  // haproxy prints nothing when all is well: wait for its port instead.
  await waitUntil(() => new Promise((r) => {
    const s = net.connect(state.haproxyPort, '127.0.0.1', () => { s.destroy(); r(true); });
    s.on('error', () => r(false));
  }), { timeoutMs: 10_000, what: 'haproxy listening' });
  state.url = `http://127.0.0.1:${state.haproxyPort}/mcp`;
  state.stdioUrl = `http://127.0.0.1:${state.haproxyPort}${STDIO_ROUTE}`;
}, { timeout: 90_000 });

after(async () => {
  if (SKIP) return;
  await state.haproxy?.stop();
  await Promise.all(state.replicas.map((g) => g.stop()));
  await state.backend?.stop();
  await state.redis?.stop();
  await stopAll();
  if (state.dir) rmSync(state.dir, { recursive: true, force: true });
}, { timeout: 30_000 });

// The replicas that logged something about this session.
const replicasWith = (sessionId, msg) => state.replicas.filter((g) => g.logs().some((l) => l.session === sessionId && (!msg || l.msg === msg)));

describe('three replicas behind HAProxy, one Redis', { skip: SKIP && 'gateway only' }, () => {
  test('an SDK session on an HTTP backend works while its requests land on different replicas', TIMEOUT, async () => {
    const c = await connect(state.url);
    try {
      const tools = await c.client.listTools();
      assert.ok(tools.tools.some((t) => t.name === 'echo'));
      const backendIds = new Set();
      for (let i = 0; i < 6; i++) {
        backendIds.add(JSON.parse(textOf(await c.call('session_info', {}))).sessionId);
        assert.equal(textOf(await c.call('echo', { text: `hi ${i}` })), `hi ${i}`);
      }
      assert.equal(backendIds.size, 1, 'one backend session throughout');
      const sid = c.transport.sessionId;
      assert.equal(replicasWith(sid, 'session started').length, 1);
      assert.ok(replicasWith(sid, 'session taken up from the session store').length >= 1, 'another replica served it');
    } finally {
      await c.close();
    }
  });

  test('killing the replica that created an HTTP-backed session does not end it', TIMEOUT, async () => {
    const c = await connect(state.url);
    try {
      const sid = c.transport.sessionId;
      const before = JSON.parse(textOf(await c.call('session_info', {}))).sessionId;
      const [creator] = replicasWith(sid, 'session started');
      process.kill(creator.proc.child.pid, 'SIGKILL');
      await sleep(600); // HAProxy's checks take it out; until then it retries refused connections
      for (let i = 0; i < 4; i++) {
        assert.equal(JSON.parse(textOf(await c.call('session_info', {}))).sessionId, before);
      }
      state.replicas = state.replicas.filter((g) => g !== creator);
    } finally {
      await c.close();
    }
  });

  test('a stdio-backed session created on one replica works through the others', TIMEOUT, async () => {
    const c = await connect(state.stdioUrl);
    try {
      const sid = c.transport.sessionId;
      for (let i = 0; i < 6; i++) {
        assert.equal(textOf(await c.call('echo', { text: `stdio ${i}` })), `stdio ${i}`);
      }
      assert.equal(replicasWith(sid, 'session started').length, 1, 'one process, on its owner');
      // Round robin over two live replicas sent about half of these requests to the one
      // without the process: each of them succeeded only by being forwarded to the owner.
      assert.equal(state.replicas.length, 2);
      assert.ok(c.errors.length === 0, `client errors: ${c.errors.map(String)}`);
    } finally {
      await c.close();
    }
  });

  test('a Redis restart without persistence: clean 404s, no hang, and a new session works', TIMEOUT, async () => {
    const c = await connect(state.url);
    try {
      await c.call('echo', { text: 'before' });
      await state.redis.stop();
      state.redis = await startRedis(state.redisPort);
      await sleep(400); // past cache_ttl: every replica asks Redis again
      const t0 = Date.now();
      let failure;
      for (let i = 0; i < 4 && !failure; i++) {
        try {
          await c.call('echo', { text: 'after' });
        } catch (err) {
          failure = err;
        }
      }
      assert.ok(failure, 'the session is gone with the records');
      assert.match(String(failure), /404|not found/i);
      assert.ok(Date.now() - t0 < 8000, `answered in ${Date.now() - t0} ms`);
    } finally {
      await c.close();
    }
    const again = await connect(state.url);
    try {
      assert.equal(textOf(await again.call('echo', { text: 'new' })), 'new');
    } finally {
      await again.close();
    }
  });
});
