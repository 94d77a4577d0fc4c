// The MCP endpoint's request validation: every HTTP/JSON-RPC error path of a POST/GET/DELETE,
// Host/Origin checks, body and header limits, notifications/responses, batches, and the admin
// listener. One conformance backend and one gateway (small body/header limits) for the file;
// a second gateway for custom allowed_hosts/allowed_origins.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';

import {
  LATEST, MCP_POST_HEADERS, assertJsonRpcError, callTool, haveDemoBackend, initialize, initializeBody, mcpPost,
  parseRawResponse, rawExchange, request, startConformanceBackend, startDemoBackend, startGateway,
} from './lib.mjs';

const MAX_BODY = 64 * 1024;
const MAX_HEADER = 4 * 1024;

let backend;
let gw;
let session; // negotiated at 2025-11-25
let session0326; // negotiated at 2025-03-26

before(async () => {
  backend = await startConformanceBackend();
  gw = await startGateway({ backendUrl: backend.url, config: { limits: { max_body: '64KiB', max_header: '4KiB' } } });
  session = await initialize(gw.url);
  session0326 = await initialize(gw.url, { protocolVersion: '2025-03-26' });
}, { timeout: 30_000 });

const ping = (id = 1) => ({ jsonrpc: '2.0', id, method: 'ping' });
const safeParse = (text) => { try { return JSON.parse(text); } catch { return undefined; } };
// The ids of the JSON-RPC messages in a raw response body, JSON or SSE (chunked or not).
const idsIn = (body) => body.split(/\r?\n/).flatMap((line) => {
  const m = safeParse(line.replace(/^data: ?/, ''));
  return m && typeof m === 'object' && 'id' in m ? [m.id] : [];
});
async function initializeWithCapabilities(capabilities) {
  const body = initializeBody();
  body.params.capabilities = capabilities;
  const r = await mcpPost(gw.url, body);
  assert.equal(r.status, 200, r.text);
  const s = { sessionId: r.headers['mcp-session-id'], protocolVersion: r.messages.find((m) => m.id === 0).result.protocolVersion };
  const ack = await mcpPost(gw.url, { jsonrpc: '2.0', method: 'notifications/initialized' }, { sessionId: s.sessionId, protocolVersion: s.protocolVersion });
  assert.equal(ack.status, 202, ack.text);
  return s;
}
const withSession = (s = session) => ({ sessionId: s.sessionId, protocolVersion: s.protocolVersion });

describe('admin listener', () => {
  test('GET /healthz → 200 {"status":"ok"}', async () => {
    const r = await request(`${gw.adminUrl}/healthz`, { method: 'GET' });
    assert.equal(r.status, 200, r.text);
    assert.match(r.contentType, /application\/json/);
    assert.deepEqual(r.json, { status: 'ok' });
  });

  test('GET /readyz → 200 {"status":"ready",...}', async () => {
    const r = await request(`${gw.adminUrl}/readyz`, { method: 'GET' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json?.status, 'ready', r.text);
  });

  test('the admin paths are not served on the MCP listener, and MCP paths not on admin', async () => {
    const a = await request(`${gw.origin}/healthz`, { method: 'GET' });
    assert.equal(a.status, 404, a.text);
    const b = await mcpPost(`${gw.adminUrl}/mcp`, initializeBody());
    assert.notEqual(b.status, 200, b.text);
  });
});

describe('initialize', () => {
  test('→ 200 with a 32-hex-char Mcp-Session-Id and the backend InitializeResult relayed', async () => {
    const r = await mcpPost(gw.url, initializeBody());
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers['mcp-session-id'] ?? '', /^[0-9a-f]{32}$/, `Mcp-Session-Id: ${r.headers['mcp-session-id']}`);
    assert.match(r.contentType, /^(application\/json|text\/event-stream)/);
    const msg = r.messages.find((m) => m.id === 0);
    assert.ok(msg?.result, r.text);
    assert.equal(msg.result.protocolVersion, LATEST);
    assert.equal(msg.result.serverInfo?.name, 'mcpgw-conformance-backend', r.text);
    assert.ok(msg.result.capabilities?.tools, r.text);
  });

  test('session ids are unique per initialize', async () => {
    const ids = new Set();
    for (let i = 0; i < 3; i++) {
      const r = await mcpPost(gw.url, initializeBody());
      ids.add(r.headers['mcp-session-id']);
    }
    ids.add(session.sessionId);
    assert.equal(ids.size, 4, [...ids].join(' '));
  });

  test('an older supported version is negotiated as requested (2025-06-18, 2025-03-26)', async () => {
    for (const v of ['2025-06-18', '2025-03-26']) {
      const r = await mcpPost(gw.url, initializeBody(v));
      assert.equal(r.status, 200, r.text);
      assert.equal(r.messages.find((m) => m.id === 0)?.result?.protocolVersion, v, r.text);
    }
  });

  test('a tools/call on the session is relayed (echo round-trips exactly)', async () => {
    const text = 'héllo \u{1F600} "quoted" \\ back';
    const r = await callTool(gw.url, session, 'echo', { text });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.message?.result?.content, [{ type: 'text', text }], r.text);
  });

  test('JSON (application/json) bodies from a backend are relayed as JSON', { skip: haveDemoBackend() ? false : 'demo backend not built' }, async () => {
    const demo = await startDemoBackend();
    const g2 = await startGateway({ backendUrl: demo.url, name: 'gateway-demo' });
    try {
      const r = await mcpPost(g2.url, initializeBody());
      assert.equal(r.status, 200, r.text);
      assert.match(r.headers['mcp-session-id'] ?? '', /^[0-9a-f]{32}$/);
      assert.match(r.contentType, /^application\/json/, r.contentType);
      assert.equal(r.json?.id, 0, r.text);
      assert.equal(r.json?.result?.serverInfo?.name, 'mcpgw-demo-backend', r.text);
      const s = { sessionId: r.headers['mcp-session-id'], protocolVersion: r.json.result.protocolVersion };
      const e = await callTool(g2.url, s, 'echo', { text: 'json path' });
      assert.equal(e.status, 200, e.text);
      assert.equal(e.message?.result?.content?.[0]?.text, 'json path', e.text);
    } finally {
      await g2.stop();
      await demo.stop();
    }
  });
});

describe('POST header validation', () => {
  test('Content-Type text/plain → 415 naming Content-Type and the value', async () => {
    const r = await mcpPost(gw.url, ping(), { ...withSession(), headers: { 'content-type': 'text/plain' } });
    assertJsonRpcError(r, { status: 415, mentions: ['Content-Type', 'text/plain'] });
  });

  test('no Content-Type → 415', async () => {
    const r = await request(gw.url, { headers: { accept: MCP_POST_HEADERS.accept, 'mcp-session-id': session.sessionId }, body: ping() });
    assertJsonRpcError(r, { status: 415, mentions: ['Content-Type'] });
  });

  test('Content-Type application/json; charset=utf-8 is accepted', async () => {
    const r = await mcpPost(gw.url, ping(7), { ...withSession(), headers: { 'content-type': 'application/json; charset=utf-8' } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.messages.find((m) => m.id === 7)?.result, {}, r.text);
  });

  for (const accept of ['application/json', 'text/event-stream', 'text/html']) {
    test(`Accept "${accept}" → 406 naming Accept and the value`, async () => {
      const r = await mcpPost(gw.url, ping(), { ...withSession(), headers: { accept } });
      assertJsonRpcError(r, { status: 406, mentions: ['Accept', accept] });
    });
  }

  test('no Accept → 406', async () => {
    const r = await request(gw.url, { headers: { 'content-type': 'application/json', 'mcp-session-id': session.sessionId }, body: ping() });
    assertJsonRpcError(r, { status: 406, mentions: ['Accept'] });
  });

  test('Accept in the other order, with parameters and q-values, is accepted', async () => {
    const r = await mcpPost(gw.url, ping(8), { ...withSession(), headers: { Accept: 'text/event-stream;q=0.9, application/json' } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.messages.find((m) => m.id === 8)?.result, {}, r.text);
  });
});

describe('POST body validation', () => {
  test('malformed JSON → 400 with -32700', async () => {
    for (const body of ['{bad', '{"jsonrpc":"2.0","id":1,"method":"ping"', '']) {
      const r = await mcpPost(gw.url, body, withSession());
      assertJsonRpcError(r, { status: 400, code: -32700 });
    }
  });

  test('malformed JSON on initialize (no session) → 400 with -32700', async () => {
    const r = await mcpPost(gw.url, '{"jsonrpc":"2.0","id":0,"method":"initialize",');
    assertJsonRpcError(r, { status: 400, code: -32700 });
  });

  const notJsonRpc = [
    ['[] (empty batch)', '[]', [/batch|empty|array/]],
    ['42', '42', []],
    ['"str"', '"str"', []],
    ['null', 'null', []],
    ['{"jsonrpc":"2.0"} (no method, no id)', '{"jsonrpc":"2.0"}', []],
    ['jsonrpc "1.0"', '{"jsonrpc":"1.0","id":1,"method":"x"}', ['jsonrpc']],
    ['no jsonrpc member', '{"id":1,"method":"ping"}', ['jsonrpc']],
    ['id null on a request', '{"jsonrpc":"2.0","id":null,"method":"ping"}', ['id']],
    ['id is an object', '{"jsonrpc":"2.0","id":{},"method":"ping"}', ['id']],
    ['id is a boolean', '{"jsonrpc":"2.0","id":true,"method":"ping"}', ['id']],
    ['method is a number', '{"jsonrpc":"2.0","id":1,"method":5}', ['method']],
    ['result and error together', '{"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1,"message":"x"}}', []],
  ];
  for (const [name, body, mentions, todo] of notJsonRpc) {
    test(`not a JSON-RPC message: ${name} → 400 with -32600`, todo ? { todo } : {}, async () => {
      const r = await mcpPost(gw.url, body, withSession());
      assertJsonRpcError(r, { status: 400, code: -32600, mentions });
    });
  }

  test('not a JSON-RPC message without a session → 400 with -32600', async () => {
    const r = await mcpPost(gw.url, '{"jsonrpc":"1.0","id":1,"method":"initialize"}');
    assertJsonRpcError(r, { status: 400, code: -32600, mentions: ['jsonrpc'] });
  });

  test(`body over limits.max_body (${MAX_BODY}) → 413 naming limits.max_body`, async () => {
    const big = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x'.repeat(MAX_BODY) } } });
    const r = await mcpPost(gw.url, big, withSession());
    assertJsonRpcError(r, { status: 413, mentions: ['limits.max_body'] });
  });

  test('body over limits.max_body sent chunked (no Content-Length) → 413', async () => {
    const chunk = Buffer.alloc(16 * 1024, 0x20).toString('latin1');
    const head = `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${gw.port}\r\nContent-Type: application/json\r\n` +
      `Accept: application/json, text/event-stream\r\nMcp-Session-Id: ${session.sessionId}\r\nTransfer-Encoding: chunked\r\n\r\n`;
    let data = head;
    for (let i = 0; i < 5; i++) data += `${chunk.length.toString(16)}\r\n${chunk}\r\n`;
    data += '0\r\n\r\n';
    const r = await rawExchange(gw.port, { data, timeoutMs: 5000 });
    const p = parseRawResponse(r.text);
    assert.equal(p.status, 413, r.text.slice(0, 500));
    assert.match(p.json?.error?.message ?? '', /limits\.max_body/, p.body);
  });

  // Nearly every request is parsed at once from the first read (http/simple_http.h); these
  // are the ones it leaves to Beast's parser, which must read them from where it stopped.
  const rawPing = (id, { version = '1.1', extra = '', body } = {}) => {
    const payload = body ?? JSON.stringify(ping(id));
    return `POST /mcp HTTP/${version}\r\nHost: 127.0.0.1:${gw.port}\r\nContent-Type: application/json\r\n` +
      `Accept: application/json, text/event-stream\r\nMcp-Session-Id: ${session.sessionId}\r\n` +
      `MCP-Protocol-Version: ${session.protocolVersion}\r\n${extra}` +
      (extra.includes('Transfer-Encoding') ? '' : `Content-Length: ${Buffer.byteLength(payload)}\r\n`) +
      `\r\n${payload}`;
  };
  const answers = (text) => text.split(/(?=HTTP\/1\.[01] )/).filter(Boolean).map(parseRawResponse);

  test('a request whose header and body arrive in pieces is served', async () => {
    const data = rawPing(31, { extra: 'Connection: close\r\n' });
    const cut1 = 20;
    const cut2 = data.indexOf('\r\n\r\n') + 6;
    const r = await rawExchange(gw.port, { writes: [[0, data.slice(0, cut1)], [60, data.slice(cut1, cut2)], [120, data.slice(cut2)]] });
    const p = parseRawResponse(r.text);
    assert.equal(p.status, 200, r.text.slice(0, 500));
    assert.deepEqual(idsIn(p.body), [31], p.body);
  });

  test('a chunked request body within the limit is served', async () => {
    const payload = JSON.stringify(ping(32));
    const chunked = `${(10).toString(16)}\r\n${payload.slice(0, 10)}\r\n${(payload.length - 10).toString(16)}\r\n${payload.slice(10)}\r\n0\r\n\r\n`;
    const r = await rawExchange(gw.port, { data: rawPing(32, { extra: 'Transfer-Encoding: chunked\r\nConnection: close\r\n', body: chunked }) });
    const p = parseRawResponse(r.text);
    assert.equal(p.status, 200, r.text.slice(0, 500));
    assert.deepEqual(idsIn(p.body), [32], p.body);
  });

  test('an HTTP/1.0 request is served and its connection closed', async () => {
    const r = await rawExchange(gw.port, { data: rawPing(33, { version: '1.0' }) });
    const p = parseRawResponse(r.text);
    assert.equal(p.status, 200, r.text.slice(0, 500));
    assert.equal(r.closedByPeer, true);
    assert.deepEqual(idsIn(p.body), [33], p.body);
  });

  test('pipelined requests on one connection are answered in order', async () => {
    const r = await rawExchange(gw.port, { data: rawPing(34) + rawPing(35, { extra: 'Connection: close\r\n' }) });
    const [a, b] = answers(r.text);
    assert.equal(a?.status, 200, r.text.slice(0, 800));
    assert.equal(b?.status, 200, r.text.slice(0, 800));
    assert.deepEqual([a, b].map((x) => idsIn(x.body)), [[34], [35]], r.text);
  });

  test('a body of exactly limits.max_body bytes is accepted', async () => {
    const msg = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 'none', progress: 1 } });
    const body = msg + ' '.repeat(MAX_BODY - msg.length);
    assert.equal(Buffer.byteLength(body), MAX_BODY);
    const r = await mcpPost(gw.url, body, withSession());
    assert.equal(r.status, 202, r.text);
  });

  test(`header block over limits.max_header (${MAX_HEADER}) → 431 naming limits.max_header`, async () => {
    const r = await mcpPost(gw.url, ping(), { ...withSession(), headers: { 'x-padding': 'p'.repeat(MAX_HEADER + 100) } });
    assertJsonRpcError(r, { status: 431, mentions: ['limits.max_header'] });
  });

  test('a header block just under limits.max_header is accepted', async () => {
    const r = await mcpPost(gw.url, ping(9), { ...withSession(), headers: { 'x-padding': 'p'.repeat(MAX_HEADER - 600) } });
    assert.equal(r.status, 200, r.text);
  });
});

describe('sessions and protocol version', () => {
  test('a request without Mcp-Session-Id (not initialize) → 400 naming Mcp-Session-Id', async () => {
    const r = await mcpPost(gw.url, ping(), { protocolVersion: LATEST });
    assertJsonRpcError(r, { status: 400, mentions: ['Mcp-Session-Id'] });
  });

  test('an unknown Mcp-Session-Id → 404 with -32001', async () => {
    const r = await mcpPost(gw.url, ping(), { sessionId: '0123456789abcdef0123456789abcdef', protocolVersion: LATEST });
    assertJsonRpcError(r, { status: 404, code: -32001, mentions: [/session/] });
  });

  test('a malformed Mcp-Session-Id → 404 (or 400), never relayed', async () => {
    const r = await mcpPost(gw.url, ping(), { sessionId: 'not-a-session', protocolVersion: LATEST });
    assert.ok([400, 404].includes(r.status), `${r.status} ${r.text}`);
  });

  test('MCP-Protocol-Version not supported → 400 naming the value and the supported ones', async () => {
    for (const v of ['1999-01-01', '2024-11-05', 'garbage']) {
      const r = await mcpPost(gw.url, ping(), { sessionId: session.sessionId, protocolVersion: v });
      assertJsonRpcError(r, { status: 400, mentions: ['MCP-Protocol-Version', v, '2025-11-25'] });
    }
  });

  test('a supported MCP-Protocol-Version different from the negotiated one is accepted', async () => {
    for (const [i, v] of ['2025-03-26', '2025-06-18', '2025-11-25'].entries()) {
      const r = await mcpPost(gw.url, ping(20 + i), { sessionId: session.sessionId, protocolVersion: v });
      assert.equal(r.status, 200, `${v}: ${r.text}`);
      assert.deepEqual(r.messages.find((m) => m.id === 20 + i)?.result, {}, r.text);
    }
  });

  test('no MCP-Protocol-Version header at all is accepted', async () => {
    const r = await mcpPost(gw.url, ping(30), { sessionId: session.sessionId });
    assert.equal(r.status, 200, r.text);
  });
});

describe('notifications and responses', () => {
  test('a notification → 202 with an empty body', async () => {
    const r = await mcpPost(gw.url, { jsonrpc: '2.0', method: 'notifications/roots/list_changed' }, withSession());
    assert.equal(r.status, 202, r.text);
    assert.equal(r.text, '');
  });

  test('a response to a pending server→client request (sampling) → 202, and the tool call then completes', async () => {
    const s = await initializeWithCapabilities({ sampling: {} });
    let answered;
    const r = await callTool(gw.url, s, 'test_sampling', { prompt: 'integration' }, {
      timeoutMs: 3000,
      onMessages: (msgs) => {
        const req = msgs.find((m) => m.method === 'sampling/createMessage');
        if (req && !answered) {
          answered = mcpPost(gw.url, {
            jsonrpc: '2.0', id: req.id,
            result: { role: 'assistant', content: { type: 'text', text: 'sampled-reply' }, model: 'it-model', stopReason: 'endTurn' },
          }, withSession(s));
        }
      },
    });
    assert.ok(answered, `no sampling/createMessage request arrived: ${r.text}`);
    const a = await answered;
    assert.equal(a.status, 202, a.text);
    assert.equal(a.text, '');
    assert.equal(r.message?.result?.content?.[0]?.text, 'LLM response: sampled-reply', r.text);
  });

  test('an error response to a pending server→client request → 202', async () => {
    const s = await initializeWithCapabilities({ elicitation: {} });
    let answered;
    const r = await callTool(gw.url, s, 'test_elicitation', { message: 'integration' }, {
      timeoutMs: 3000,
      onMessages: (msgs) => {
        const req = msgs.find((m) => m.method === 'elicitation/create');
        if (req && !answered) {
          answered = mcpPost(gw.url, { jsonrpc: '2.0', id: req.id, error: { code: -32603, message: 'user went away' } }, withSession(s));
        }
      },
    });
    assert.ok(answered, `no elicitation/create request arrived: ${r.text}`);
    const a = await answered;
    assert.equal(a.status, 202, a.text);
    assert.equal(a.text, '');
    // the backend turns the client's error into an isError tool result
    assert.ok(r.message?.result?.isError || r.message?.error, r.text);
  });

  test('a response with an id no server request used → 202, or 400/-32600 naming the id', async () => {
    for (const [id, body] of [['srv-1', { jsonrpc: '2.0', id: 'srv-1', result: {} }], [77, { jsonrpc: '2.0', id: 77, error: { code: -32601, message: 'nope' } }]]) {
      const r = await mcpPost(gw.url, body, withSession());
      if (r.status === 202) assert.equal(r.text, '');
      else assertJsonRpcError(r, { status: 400, code: -32600, mentions: [String(id)] });
    }
  });
});

describe('batches', () => {
  test('a batch on a 2025-11-25 session → 400 with -32600 naming 2025-03-26', async () => {
    const r = await mcpPost(gw.url, [ping(1), ping(2)], withSession());
    assertJsonRpcError(r, { status: 400, code: -32600, mentions: ['batch', '2025-03-26'] });
  });

  test('a batch on a 2025-06-18 session → 400 with -32600', async () => {
    const s = await initialize(gw.url, { protocolVersion: '2025-06-18' });
    const r = await mcpPost(gw.url, [ping(1)], withSession(s));
    assertJsonRpcError(r, { status: 400, code: -32600, mentions: ['batch'] });
  });

  test('a batch of requests on a 2025-03-26 session → 200 with a JSON array of the responses', async () => {
    const body = [
      ping(101),
      { jsonrpc: '2.0', method: 'notifications/roots/list_changed' },
      { jsonrpc: '2.0', id: 'b', method: 'tools/call', params: { name: 'echo', arguments: { text: 'in a batch' } } },
    ];
    const r = await mcpPost(gw.url, body, { sessionId: session0326.sessionId });
    assert.equal(r.status, 200, r.text);
    // JSON: one array; SSE: the responses may come as one array event or as single events.
    const msgs = r.messages;
    if (r.contentType.startsWith('application/json')) assert.ok(Array.isArray(r.json), `expected a JSON array: ${r.text}`);
    const byId = new Map(msgs.filter((m) => m && m.id !== undefined && !('method' in m)).map((m) => [m.id, m]));
    assert.equal(byId.size, 2, r.text);
    assert.deepEqual(byId.get(101)?.result, {}, r.text);
    assert.deepEqual(byId.get('b')?.result?.content, [{ type: 'text', text: 'in a batch' }], r.text);
  });

  test('a batch of only notifications on a 2025-03-26 session → 202', async () => {
    const r = await mcpPost(gw.url, [{ jsonrpc: '2.0', method: 'notifications/roots/list_changed' }], { sessionId: session0326.sessionId });
    assert.equal(r.status, 202, r.text);
    assert.equal(r.text, '');
  });

  test('a batch with an invalid member on a 2025-03-26 session: that member gets -32600, the others are answered', async () => {
    const r = await mcpPost(gw.url, [ping(201), { jsonrpc: '1.0', id: 202, method: 'ping' }], { sessionId: session0326.sessionId });
    assert.ok(r.status === 200 || r.status === 400, `${r.status} ${r.text}`);
    if (r.status === 200) {
      assert.deepEqual(r.messages.find((m) => m.id === 201)?.result, {}, r.text);
      assert.ok(r.messages.some((m) => m.error?.code === -32600), r.text);
    } else {
      assertJsonRpcError(r, { status: 400, code: -32600 });
    }
  });
});

describe('methods and paths', () => {
  for (const method of ['PUT', 'PATCH']) {
    test(`${method} → 405 with Allow: GET, POST, DELETE`, async () => {
      const r = await request(gw.url, { method, headers: { 'mcp-session-id': session.sessionId } });
      assertJsonRpcError(r, { status: 405, mentions: [method] });
      const allow = (r.headers.allow ?? '').split(',').map((s) => s.trim()).sort();
      assert.deepEqual(allow, ['DELETE', 'GET', 'POST'], `Allow: ${r.headers.allow}`);
    });
  }

  test('an unknown path → 404 naming the path', async () => {
    const r = await mcpPost(`${gw.origin}/nope`, initializeBody());
    assertJsonRpcError(r, { status: 404, mentions: ['/nope'] });
  });

  test('the route path with a query string is still the route', async () => {
    const r = await mcpPost(`${gw.url}?x=1`, ping(40), withSession());
    assert.equal(r.status, 200, r.text);
  });

  test('GET without Accept: text/event-stream → 406', async () => {
    const r = await request(gw.url, { method: 'GET', headers: { accept: 'application/json', 'mcp-session-id': session.sessionId, 'mcp-protocol-version': LATEST }, timeoutMs: 3000 });
    assertJsonRpcError(r, { status: 406, mentions: ['Accept'] });
  });

  test('GET without a session → 400; with an unknown session → 404 (-32001)', async () => {
    const a = await request(gw.url, { method: 'GET', headers: { accept: 'text/event-stream' }, timeoutMs: 3000 });
    assertJsonRpcError(a, { status: 400, mentions: ['Mcp-Session-Id'] });
    const b = await request(gw.url, { method: 'GET', headers: { accept: 'text/event-stream', 'mcp-session-id': 'ffffffffffffffffffffffffffffffff' }, timeoutMs: 3000 });
    assertJsonRpcError(b, { status: 404, code: -32001 });
  });

  test('DELETE without a session → 400; with an unknown session → 404 (-32001)', async () => {
    const a = await request(gw.url, { method: 'DELETE', headers: {} });
    assertJsonRpcError(a, { status: 400, mentions: ['Mcp-Session-Id'] });
    const b = await request(gw.url, { method: 'DELETE', headers: { 'mcp-session-id': 'ffffffffffffffffffffffffffffffff' } });
    assertJsonRpcError(b, { status: 404, code: -32001 });
  });
});

describe('Host and Origin (DNS rebinding), default allow-lists', () => {
  test('Host not in allowed_hosts → 403 naming the host (initialize)', async () => {
    const r = await mcpPost(gw.url, initializeBody(), { headers: { host: 'evil.example.com' } });
    assertJsonRpcError(r, { status: 403, mentions: ['Host', 'evil.example.com'] });
    assert.equal(r.headers['mcp-session-id'], undefined);
  });

  test('Host not allowed, with a port → 403 (on a session request)', async () => {
    const r = await mcpPost(gw.url, ping(), { ...withSession(), headers: { host: `evil.example.com:${gw.port}` } });
    assertJsonRpcError(r, { status: 403, mentions: ['evil.example.com'] });
  });

  test('Host and Origin both evil (conformance dns-rebinding probe) → 403', async () => {
    const r = await mcpPost(gw.url, initializeBody(), { headers: { host: 'evil.example.com', origin: 'http://evil.example.com' } });
    assert.equal(r.status, 403, r.text);
  });

  for (const host of ['localhost', '127.0.0.1', '[::1]', 'LOCALHOST']) {
    test(`Host ${host}:<port> is allowed by default`, async () => {
      const r = await mcpPost(gw.url, ping(50), { ...withSession(), headers: { host: `${host}:${gw.port}` } });
      assert.equal(r.status, 200, r.text);
    });
  }

  test('a present Origin whose host is not allowed → 403 naming the origin', async () => {
    const r = await mcpPost(gw.url, ping(), { ...withSession(), headers: { origin: 'http://evil.example.com' } });
    assertJsonRpcError(r, { status: 403, mentions: ['Origin', 'http://evil.example.com'] });
  });

  test('an Origin that only embeds an allowed host (127.0.0.1.evil.example) → 403', async () => {
    const r = await mcpPost(gw.url, ping(), { ...withSession(), headers: { origin: 'http://127.0.0.1.evil.example' } });
    assert.equal(r.status, 403, r.text);
  });

  test('Origin "null" → 403', async () => {
    const r = await mcpPost(gw.url, ping(), { ...withSession(), headers: { origin: 'null' } });
    assert.equal(r.status, 403, r.text);
  });

  test('Origin with an allowed host (the gateway\'s own origin, localhost) is accepted', async () => {
    for (const origin of [gw.origin, `http://localhost:${gw.port}`]) {
      const r = await mcpPost(gw.url, ping(51), { ...withSession(), headers: { origin } });
      assert.equal(r.status, 200, `${origin}: ${r.text}`);
    }
  });

  test('Host/Origin are checked on GET and DELETE too', async () => {
    const g = await request(gw.url, { method: 'GET', headers: { accept: 'text/event-stream', 'mcp-session-id': session.sessionId, host: 'evil.example.com' }, timeoutMs: 3000 });
    assert.equal(g.status, 403, g.text);
    const d = await request(gw.url, { method: 'DELETE', headers: { 'mcp-session-id': session.sessionId, origin: 'http://evil.example.com' } });
    assert.equal(d.status, 403, d.text);
    // the session survived the refused DELETE
    const p = await mcpPost(gw.url, ping(52), withSession());
    assert.equal(p.status, 200, p.text);
  });
});

describe('Host and Origin, configured allow-lists', () => {
  let g2;
  before(async () => {
    g2 = await startGateway({
      backendUrl: backend.url,
      name: 'gateway-allowlists',
      config: { allowed_hosts: ['gw.example.com', '127.0.0.1'], allowed_origins: ['https://app.example.com'] },
    });
  });

  test('a Host in allowed_hosts is accepted; one left out (localhost) → 403', async () => {
    const ok = await mcpPost(g2.url, initializeBody(), { headers: { host: `gw.example.com:${g2.port}` } });
    assert.equal(ok.status, 200, ok.text);
    const no = await mcpPost(g2.url, initializeBody(), { headers: { host: `localhost:${g2.port}` } });
    assertJsonRpcError(no, { status: 403, mentions: ['localhost'] });
  });

  test('an Origin in allowed_origins is accepted (case-insensitively)', async () => {
    for (const origin of ['https://app.example.com', 'HTTPS://APP.EXAMPLE.COM']) {
      const r = await mcpPost(g2.url, initializeBody(), { headers: { origin } });
      assert.equal(r.status, 200, `${origin}: ${r.text}`);
    }
  });

  test('when allowed_origins is set, an Origin not in it → 403 even if its host is allowed', async () => {
    for (const origin of [`http://127.0.0.1:${g2.port}`, 'http://app.example.com', 'https://app.example.com:8443']) {
      const r = await mcpPost(g2.url, initializeBody(), { headers: { origin } });
      assertJsonRpcError(r, { status: 403, mentions: ['Origin', origin] });
    }
  });
});
