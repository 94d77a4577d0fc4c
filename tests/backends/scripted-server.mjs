#!/usr/bin/env node
// A small scripted MCP server (Streamable HTTP, JSON answers) for the aggregation tests: it
// does what the SDK servers cannot be told to do on demand. Node built-ins only.
//
//   --name NAME            tool "whoami" answers it; tool names are <NAME>_<n> unless --tools-named
//   --tools N              tools listed (default 3): echo, whoami, ask, then <NAME>_4 ...
//   --page-size K          tools/list and prompts/list answer K items per page (nextCursor)
//   --long-name            adds a tool whose name is 70 characters long
//   --list-delay-ms D      tools/list answers after D ms
//   --fail-initialize      initialize is answered with a JSON-RPC error
//   --init-delay-ms D      initialize answers after D ms
//
// Tools: echo {text} -> text; whoami -> NAME; ask {prompt} sends sampling/createMessage (id 0,
// the same id every session uses first) on the POST's SSE answer, waits for the client's
// answer and returns its text; any other listed tool returns its own name.
// touch {uri} answers on an event stream: notifications/resources/updated first when the session
// subscribed to uri; subscriptions -> the session's subscribed URIs as JSON.
// Prompts: <NAME>_prompt_<n> (3, paged like tools). Resources: res://<NAME>/<n> (2), which
// resources/subscribe and resources/unsubscribe accept.
//
// Debug: GET /debug/expire ends every session (their next request gets 404);
//        GET /debug/stats -> {"initializes":n,"sessions":n,"deletes":n,"lists":n,"calls":n}.
// Prints `listening http://127.0.0.1:<port>/mcp` on stdout once bound.
import http from 'node:http';
import { randomUUID } from 'node:crypto';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const flag = (name) => args.includes(name);
const NAME = opt('--name', 'scripted');
const PORT = Number(opt('--port', '0'));
const TOOLS = Number(opt('--tools', '3'));
const PAGE = Number(opt('--page-size', '0'));
const LIST_DELAY = Number(opt('--list-delay-ms', '0'));
const INIT_DELAY = Number(opt('--init-delay-ms', '0'));

const tools = [];
const base = ['echo', 'whoami', 'ask', 'touch', 'subscriptions'];
for (let i = 0; i < TOOLS; i++) tools.push(i < base.length ? base[i] : `${NAME}_${i + 1}`);
if (flag('--long-name')) tools.push(`${NAME}_${'x'.repeat(70 - NAME.length - 1)}`);
const prompts = [1, 2, 3].map((n) => `${NAME}_prompt_${n}`);
const resources = [1, 2].map((n) => `res://${NAME}/${n}`);

const sessions = new Map(); // id -> { pending: Map(id -> resolve) }
const stats = { initializes: 0, sessions: 0, deletes: 0, lists: 0, calls: 0 };

function page(items, cursor) {
  const start = cursor ? Number(Buffer.from(cursor, 'base64url').toString()) : 0;
  if (!Number.isInteger(start) || start < 0 || start > items.length) return null;
  if (!PAGE) return { items, next: undefined };
  const end = Math.min(items.length, start + PAGE);
  return { items: items.slice(start, end), next: end < items.length ? Buffer.from(String(end)).toString('base64url') : undefined };
}

const json = (res, status, body, headers = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};
const result = (id, r) => ({ jsonrpc: '2.0', id, result: r });
const error = (id, code, message) => ({ jsonrpc: '2.0', id, error: { code, message } });

async function handle(msg, session, res) {
  const { id, method, params = {} } = msg;
  if (method === 'ping') return json(res, 200, result(id, {}));
  if (method === 'tools/list' || method === 'prompts/list') {
    stats.lists++;
    if (method === 'tools/list' && LIST_DELAY) await new Promise((r) => setTimeout(r, LIST_DELAY));
    const p = page(method === 'tools/list' ? tools : prompts, params.cursor);
    if (!p) return json(res, 200, error(id, -32602, 'bad cursor'));
    const items = method === 'tools/list'
      ? p.items.map((name) => ({ name, description: `tool ${name} of ${NAME}`, inputSchema: { type: 'object' } }))
      : p.items.map((name) => ({ name, description: `prompt ${name} of ${NAME}` }));
    return json(res, 200, result(id, { [method === 'tools/list' ? 'tools' : 'prompts']: items, ...(p.next ? { nextCursor: p.next } : {}) }));
  }
  if (method === 'resources/list') {
    return json(res, 200, result(id, { resources: resources.map((uri) => ({ uri, name: uri })) }));
  }
  if (method === 'resources/subscribe' || method === 'resources/unsubscribe') {
    if (!resources.includes(params.uri)) return json(res, 200, error(id, -32002, `no resource ${params.uri}`));
    if (method === 'resources/subscribe') session.subscribed.add(params.uri);
    else session.subscribed.delete(params.uri);
    return json(res, 200, result(id, {}));
  }
  if (method === 'resources/read') {
    if (!resources.includes(params.uri)) return json(res, 200, error(id, -32002, `no resource ${params.uri}`));
    return json(res, 200, result(id, { contents: [{ uri: params.uri, text: `content of ${params.uri}` }] }));
  }
  if (method === 'prompts/get') {
    if (!prompts.includes(params.name)) return json(res, 200, error(id, -32602, `no prompt ${params.name}`));
    return json(res, 200, result(id, { messages: [{ role: 'user', content: { type: 'text', text: `${params.name} from ${NAME}` } }] }));
  }
  if (method === 'tools/call') {
    stats.calls++;
    const name = params.name;
    if (!tools.includes(name)) return json(res, 200, error(id, -32602, `Unknown tool: ${name}`));
    const text = (t) => json(res, 200, result(id, { content: [{ type: 'text', text: t }] }));
    if (name === 'echo') return text(String(params.arguments?.text ?? ''));
    if (name === 'whoami') return text(NAME);
    if (name === 'subscriptions') return text(JSON.stringify([...session.subscribed]));
    if (name === 'touch') {
      const uri = String(params.arguments?.uri ?? '');
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      if (session.subscribed.has(uri)) {
        res.write(`data: ${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri } })}\n\n`);
      }
      res.end(`data: ${JSON.stringify(result(id, { content: [{ type: 'text', text: 'touched' }] }))}\n\n`);
      return undefined;
    }
    if (name === 'ask') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const answered = new Promise((resolve) => session.pending.set(0, resolve));
      res.write(`data: ${JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'sampling/createMessage', params: { messages: [{ role: 'user', content: { type: 'text', text: String(params.arguments?.prompt ?? '') } }], maxTokens: 10 } })}\n\n`);
      const answer = await answered;
      res.end(`data: ${JSON.stringify(result(id, { content: [{ type: 'text', text: `${NAME} heard: ${answer?.result?.content?.text ?? JSON.stringify(answer)}` }] }))}\n\n`);
      return undefined;
    }
    return text(name);
  }
  return json(res, 200, error(id, -32601, `Method not found: ${method}`));
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/debug/expire') {
    sessions.clear();
    return json(res, 200, { ok: true });
  }
  if (url.pathname === '/debug/stats') return json(res, 200, { ...stats, sessions: sessions.size });
  if (url.pathname !== '/mcp') return json(res, 404, { error: 'not found' });
  const sid = req.headers['mcp-session-id'];
  if (req.method === 'GET') return json(res, 405, { error: 'no GET stream' }, { allow: 'POST, DELETE' });
  if (req.method === 'DELETE') {
    if (sid && sessions.delete(sid)) stats.deletes++;
    res.writeHead(sid ? 200 : 400);
    return res.end();
  }
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', async () => {
    let msg;
    try { msg = JSON.parse(body); } catch { return json(res, 400, error(null, -32700, 'Parse error')); }
    if (msg.method === 'initialize') {
      stats.initializes++;
      if (INIT_DELAY) await new Promise((r) => setTimeout(r, INIT_DELAY));
      if (flag('--fail-initialize')) return json(res, 200, error(msg.id, -32603, `${NAME} refuses to start`));
      const id = randomUUID();
      sessions.set(id, { pending: new Map(), subscribed: new Set() });
      return json(res, 200, result(msg.id, {
        protocolVersion: msg.params?.protocolVersion ?? '2025-06-18',
        capabilities: { tools: { listChanged: true }, prompts: {}, resources: { subscribe: true } },
        serverInfo: { name: NAME, version: '1.0.0' },
        instructions: `${NAME} instructions`,
      }), { 'mcp-session-id': id });
    }
    const session = sid && sessions.get(sid);
    if (!session) return json(res, sid ? 404 : 400, error(null, -32001, 'Session not found'));
    if (!('method' in msg)) {  // the client's answer to our request
      const resolve = session.pending.get(msg.id);
      session.pending.delete(msg.id);
      resolve?.(msg);
      res.writeHead(202);
      return res.end();
    }
    if (!('id' in msg)) {
      res.writeHead(202);
      return res.end();
    }
    handle(msg, session, res).catch((e) => json(res, 500, { error: String(e) }));
  });
});
server.listen(PORT, '127.0.0.1', () => {
  process.stdout.write(`listening http://127.0.0.1:${server.address().port}/mcp\n`);
});
process.on('SIGTERM', () => process.exit(0));
