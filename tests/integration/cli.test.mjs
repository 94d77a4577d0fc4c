// Command line: --version, unknown arguments, --check-config (good file, broken files),
// and --config refusing to start on a broken file.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';

import { REPO_ROOT, makeTempDir, runGateway, startGateway } from './lib.mjs';

const dir = makeTempDir('mcpgw-it-cli-');
const write = (name, text) => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};

const GOOD = `listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
backends:
  - name: conf
    http:
      url: http://127.0.0.1:1/mcp
      timeout: 5s
routes:
  - path: /mcp
    backend: conf
`;

// Line numbers matter: the unknown key is on line 3, the bad durations on lines 8 and 13.
const BROKEN = `listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
listn: 127.0.0.1:1
backends:
  - name: conf
    http:
      url: http://127.0.0.1:1/mcp
      timeout: sixty
routes:
  - path: /mcp
    backend: conf
limits:
  header_timeout: 5sec
`;

describe('mcpgw CLI', () => {
  test('--version prints "mcpgw 0.1.0" and exits 0', async () => {
    const r = await runGateway(['--version']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'mcpgw 0.1.0');
  });

  test('the first log line at start names the version and the allocator', async () => {
    const gw = await startGateway({ backendUrl: 'http://127.0.0.1:1/mcp' });
    try {
      const first = gw.logs()[0];
      assert.equal(first.msg, 'starting', JSON.stringify(first));
      assert.equal(first.version, '0.1.0');
      // jemalloc in release builds (MCPGW_MALLOC=auto), the system's with sanitizers (CI).
      assert.ok(['jemalloc', 'system'].includes(first.malloc), JSON.stringify(first));
    } finally {
      await gw.stop();
    }
  });

  test('an unknown argument exits 2 and names the argument', async () => {
    const r = await runGateway(['--bogus-flag']);
    assert.equal(r.code, 2, `stdout=${r.stdout} stderr=${r.stderr}`);
    assert.match(r.stderr, /--bogus-flag/);
  });

  test('--check-config on a valid file exits 0 and prints "FILE: ok"', async () => {
    const file = write('good.yaml', GOOD);
    const r = await runGateway(['--check-config', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), `${file}: ok`);
  });

  test('--check-config on the shipped example configs exits 0', async () => {
    for (const f of ['gateway.yaml', 'gateway.example.yaml']) {
      const file = path.join(REPO_ROOT, 'conf', f);
      const r = await runGateway(['--check-config', file]);
      assert.equal(r.code, 0, `${f}: ${r.stderr}`);
      assert.match(r.stdout, /: ok$/m);
    }
  });

  describe('--check-config on a broken file', () => {
    const file = write('broken.yaml', BROKEN);
    let r;
    const run = async () => { r ??= await runGateway(['--check-config', file]); return r; };

    test('exits 1 and prints nothing on stdout', async () => {
      await run();
      assert.equal(r.code, 1, `stdout=${r.stdout} stderr=${r.stderr}`);
      assert.doesNotMatch(r.stdout, /: ok/);
    });

    test('unknown key: file:line: key: message with a suggestion', async () => {
      await run();
      assert.match(r.stderr, new RegExp(`^${escape(file)}:3: listn: unknown key "listn".*did you mean "listen"`, 'm'), r.stderr);
    });

    test('bad duration: file:line: dotted key: message quoting the value', async () => {
      await run();
      assert.match(r.stderr, new RegExp(`^${escape(file)}:8: backends\\[0\\]\\.http\\.timeout: .*duration.*"sixty"`, 'm'), r.stderr);
      assert.match(r.stderr, new RegExp(`^${escape(file)}:13: limits\\.header_timeout: .*"5sec"`, 'm'), r.stderr);
    });

    test('every error is reported, one per line, in document order', async () => {
      await run();
      const lines = r.stderr.split('\n').filter((l) => l.startsWith(`${file}:`));
      assert.deepEqual(lines.map((l) => Number(l.slice(file.length + 1).split(':')[0])), [3, 8, 13], r.stderr);
    });
  });

  test('--check-config: YAML syntax error names file:line and "invalid YAML"', async () => {
    const file = write('syntax.yaml', 'listen: 127.0.0.1:0\nbackends: [\n');
    const r = await runGateway(['--check-config', file]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^${escape(file)}:\\d+: invalid YAML`, 'm'), r.stderr);
  });

  test('--check-config: unreadable file exits 1 and names the file', async () => {
    const file = path.join(dir, 'does-not-exist.yaml');
    const r = await runGateway(['--check-config', file]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^${escape(file)}: cannot read the file`, 'm'), r.stderr);
  });

  test('--check-config: a route to an undefined backend and a zero limit are rejected', async () => {
    const file = write('semantic.yaml', `${GOOD.replace('backend: conf', 'backend: cnof')}limits:\n  max_body: 0\n`);
    const r = await runGateway(['--check-config', file]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^${escape(file)}:10: routes\\[0\\]\\.backend: .*"cnof"`, 'm'), r.stderr);
    assert.match(r.stderr, new RegExp(`^${escape(file)}:12: limits\\.max_body: `, 'm'), r.stderr);
  });

  test('--config with a broken file exits 1 with the same errors and never listens', async () => {
    const file = write('broken-run.yaml', BROKEN);
    const r = await runGateway(['--config', file], { timeoutMs: 5000 });
    assert.equal(r.code, 1, `signal=${r.signal} stderr=${r.stderr}`);
    assert.match(r.stderr, new RegExp(`${escape(file)}:3: listn: `));
    assert.doesNotMatch(r.stderr, /"msg":"listening"/);
  });
});

function escape(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
