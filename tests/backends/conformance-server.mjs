#!/usr/bin/env node
// MCP backend for the mcpgw end-to-end tests.
//
// A stateful Streamable HTTP MCP server built on the official TypeScript SDK 1.32.2
// (McpServer + StreamableHTTPServerTransport, one pair per session, with an in-memory
// EventStore for SSE resumability). It implements everything the 32 server scenarios of
// @modelcontextprotocol/conformance 0.1.16 exercise, plus helpers for tests/e2e:
//   echo {text}                 returns the text unchanged
//   slow {ms, tag?}             sleeps, progress every 100 ms, honours cancellation, returns "done"
//   last_cancelled {tag}        what the server saw for the `slow` call with that tag
//   emit_logs {via?}            one notifications/message per level (filtered by logging/setLevel)
//   trigger_resource_update {uri}  notifications/resources/updated if the session subscribed
//   session_info                backend session id, negotiated version, client info/capabilities
//   remember {value} / recall   per-session state (isolation checks)
//   request_headers             (HTTP modes; callable, not in tools/list) the headers of the HTTP
//                               request that carried the call, as a JSON object
//   request_meta                (callable, not in tools/list) the call's params._meta
//
// Server->client requests (sampling, elicitation) are sent on the POST stream of the tool
// call that caused them (relatedRequestId; spec: "SHOULD relate to the originating
// request"). That avoids the reference everything-server's race, where a request sent on
// the standalone GET stream before the client attached it is stored but never delivered.
// `--server-requests get` (or a tool argument via:"get") sends them on the GET stream
// instead, like the reference server, but first waits (up to 5 s) for the GET stream to be
// attached, so the race is not reproduced; `--server-requests get-nowait` reproduces the
// reference server exactly (race included), to test how a gateway buffers for it.
//
// Deliberate differences from the SDK defaults / reference server:
//   * unknown or terminated session id -> 404 (the everything-server answers 400);
//   * Host and Origin are both validated (403), not only Host;
//   * the session's negotiated protocol version, not the per-request MCP-Protocol-Version
//     header, decides SSE priming/closeSSEStream (a supported-but-different header value is
//     replaced by the negotiated one before the SDK sees it; unsupported values still get
//     the SDK's 400). The conformance suite's raw requests send 2025-03-26 on 2025-11-25
//     sessions; without this the SDK would neither prime nor allow closing the stream.
//     Disable with --strict-version-header.
//
// CLI: node conformance-server.mjs --port 0 [--host 127.0.0.1] [--server-requests post|get|get-nowait]
//      [--retry-ms 500] [--strict-version-header] [--verbose]
// Prints exactly one stdout line, `listening http://<host>:<port>/mcp`, once bound.
// Non-MCP debug endpoint: GET /debug/sessions -> {"active":[ids],"closed":[{id,how}]}.
//
// Stdio mode: node conformance-server.mjs --stdio [--stdio-banner] [--ignore-sigterm] [--verbose]
// One McpServer (the same per-session factory, same tools/prompts/resources/completions)
// on the SDK's StdioServerTransport: newline-delimited JSON-RPC on stdin/stdout, one
// process = one MCP session (that is how a gateway runs a stdio backend). Nothing but
// JSON-RPC is written to stdout (no `listening` line; diagnostics go to stderr) except
// where a flag/tool below says so. Server->client requests (sampling, elicitation) and
// all notifications share the one connection; `via`/--server-requests make no difference.
// session_info reports sessionId null and transport "stdio"; test_reconnection returns
// without closing anything (there is no SSE stream). The process exits with code 0 on
// stdin EOF (after letting in-flight requests finish for up to 500 ms), on SIGTERM/SIGINT,
// or when stdout is closed (EPIPE). Stdio-only helper tools (not listed in HTTP mode):
//   pid                         process.pid as a decimal string
//   env                         [JSON of the sorted env var names, JSON of {cwd}] (two text items)
//   crash {code?, after_ms?}    after after_ms (default 0) exits with code (default 3), never answers
//   stdout_garbage {text}       writes the line `this is not json` to stdout, then returns text
//   stderr_line {text}          writes text + "\n" to stderr, returns "ok"
//   big {bytes}                 returns one text item of `bytes` 'x' characters (max 256 MiB)
//   hang {tag?}                 never answers; on cancellation it stops (still no answer, as for
//                               any cancelled request) and last_cancelled {tag} reports it
//   --stdio-banner              writes the non-JSON line `banner: starting` to stdout before
//                               the transport is connected
//   --ignore-sigterm            SIGTERM is ignored and so is stdin EOF (the process stays alive
//                               until SIGKILL; exercises a supervisor's escalation)

import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';

import {
  CallToolRequestSchema,
  CreateMessageResultSchema,
  ElicitResultSchema,
  ErrorCode,
  LATEST_PROTOCOL_VERSION,
  ListToolsRequestSchema,
  McpError,
  McpServer,
  ResourceTemplate,
  StdioServerTransport,
  StreamableHTTPServerTransport,
  SUPPORTED_PROTOCOL_VERSIONS,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  completable,
  z,
  SSEServerTransport,
} from '../e2e/lib/sdk-server.mjs';
import * as F from '../e2e/lib/fixtures.mjs';

const { values: opts } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    'server-requests': { type: 'string', default: 'post' },
    'retry-ms': { type: 'string', default: '500' },
    'strict-version-header': { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false },
    stdio: { type: 'boolean', default: false },
    'stdio-banner': { type: 'boolean', default: false },
    'ignore-sigterm': { type: 'boolean', default: false },
    'legacy-sse': { type: 'boolean', default: false },
  },
  strict: true,
});
if (!opts.stdio && (opts['stdio-banner'] || opts['ignore-sigterm'])) {
  console.error('--stdio-banner and --ignore-sigterm need --stdio');
  process.exit(2);
}
if (!['post', 'get', 'get-nowait'].includes(opts['server-requests'])) {
  console.error(`--server-requests must be post, get or get-nowait, got ${opts['server-requests']}`);
  process.exit(2);
}
const RETRY_MS = Number(opts['retry-ms']);
const MAX_BODY = 4 * 1024 * 1024;
const MCP_PATH = '/mcp';

const log = (...a) => { if (opts.verbose) console.error('[backend]', ...a); };

// ---------------------------------------------------------------------------------------
// Event store (resumability). One per session; event ids are `<streamId>::<seq>`, unique
// across all streams of the session (streamIds are UUIDs or "_GET_stream").
class InMemoryEventStore {
  constructor(limit = 5000) {
    this.limit = limit;
    this.seq = 0;
    this.events = new Map(); // eventId -> { streamId, seq, message }
    this.streams = new Set(); // every streamId this session has used
  }

  async storeEvent(streamId, message) {
    const seq = ++this.seq;
    const eventId = `${streamId}::${seq}`;
    this.streams.add(streamId);
    this.events.set(eventId, { streamId, seq, message });
    if (this.events.size > this.limit) this.events.delete(this.events.keys().next().value);
    return eventId;
  }

  async getStreamIdForEventId(eventId) {
    const e = this.events.get(eventId);
    if (e) return e.streamId;
    // Evicted but well-formed ids of this session still name their stream; anything else
    // (another session's ids, garbage) is rejected by the SDK with 400.
    const i = eventId.lastIndexOf('::');
    const streamId = i > 0 ? eventId.slice(0, i) : undefined;
    return streamId !== undefined && this.streams.has(streamId) ? streamId : undefined;
  }

  async replayEventsAfter(lastEventId, { send }) {
    const streamId = await this.getStreamIdForEventId(lastEventId);
    if (!streamId) return '';
    const last = this.events.get(lastEventId);
    const afterSeq = last ? last.seq : Number(lastEventId.slice(lastEventId.lastIndexOf('::') + 2)) || 0;
    for (const [eventId, e] of this.events) {
      if (e.streamId !== streamId || e.seq <= afterSeq) continue;
      if (!e.message || typeof e.message !== 'object' || !('jsonrpc' in e.message)) continue; // priming
      await send(eventId, e.message);
    }
    return streamId;
  }
}

// ---------------------------------------------------------------------------------------
// Global state.
const sessions = new Map(); // sessionId -> session
const closedSessions = []; // { id, how }
const cancellations = new Map(); // slow-call tag -> record
const allowedHosts = [];
const allowedOrigins = [];

function jsonRpcError(res, status, code, message, extraHeaders = {}) {
  if (res.headersSent) return res.end();
  res.writeHead(status, { 'Content-Type': 'application/json', ...extraHeaders });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }));
}

const text = (t) => ({ content: [{ type: 'text', text: t }] });

// Sleep that rejects when the signal aborts.
function abortableSleep(ms, signal) {
  return sleep(ms, undefined, { signal });
}

// Wait until the SDK transport has a standalone GET stream attached (private field of the
// pinned SDK 1.32.2; if it is missing we do not wait).
async function waitForStandaloneStream(session, timeoutMs = 5000) {
  const inner = session.transport._webStandardTransport;
  const mapping = inner?._streamMapping;
  if (!(mapping instanceof Map)) return false;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (mapping.has(inner._standaloneSseStreamId ?? '_GET_stream')) return true;
    await sleep(20);
  }
  return false;
}

// Options for a server->client request: related to the tool call (POST stream) or not (GET).
async function serverRequestOptions(session, extra, via) {
  const mode = via ?? opts['server-requests'];
  const base = { signal: extra.signal, timeout: 30_000 };
  if (mode === 'get' || mode === 'get-nowait') {
    if (mode === 'get') await waitForStandaloneStream(session);
    return base;
  }
  return { ...base, relatedRequestId: extra.requestId };
}

// ---------------------------------------------------------------------------------------
// Tools. Registered with raw JSON Schemas (McpServer.registerTool only accepts zod, which
// cannot reproduce json_schema_2020_12_tool's $schema/$defs exactly), so tools/list and
// tools/call are served by handlers on the underlying low-level Server.
const VIA = { type: 'string', enum: ['post', 'get', 'get-nowait'], description: 'Stream for the server->client request/notification' };
const EMPTY = { type: 'object', properties: {} };

function buildTools(session) {
  const { mcp } = session;
  const server = mcp.server;

  const requireCapability = (name) => {
    const caps = server.getClientCapabilities() ?? {};
    if (!caps[name]) throw new Error(`Client does not support ${name} (capability not declared)`);
  };

  const elicit = async (extra, via, params) => {
    requireCapability('elicitation');
    const options = await serverRequestOptions(session, extra, via);
    return server.request({ method: 'elicitation/create', params }, ElicitResultSchema, options);
  };

  const tools = {
    test_simple_text: {
      description: 'Returns simple text content',
      inputSchema: EMPTY,
      run: async () => text(F.SIMPLE_TEXT),
    },
    test_image_content: {
      description: 'Returns image content (1x1 PNG)',
      inputSchema: EMPTY,
      run: async () => ({ content: [{ type: 'image', data: F.PNG_1X1_BASE64, mimeType: 'image/png' }] }),
    },
    test_audio_content: {
      description: 'Returns audio content (tiny WAV)',
      inputSchema: EMPTY,
      run: async () => ({ content: [{ type: 'audio', data: F.WAV_BASE64, mimeType: 'audio/wav' }] }),
    },
    test_embedded_resource: {
      description: 'Returns an embedded resource',
      inputSchema: EMPTY,
      run: async () => ({ content: [{ type: 'resource', resource: { ...F.EMBEDDED_RESOURCE } }] }),
    },
    test_multiple_content_types: {
      description: 'Returns text, image and resource content',
      inputSchema: EMPTY,
      run: async () => ({ content: structuredClone(F.MIXED_CONTENT) }),
    },
    test_tool_with_logging: {
      description: 'Sends three info log notifications during execution',
      inputSchema: EMPTY,
      run: async (_args, extra) => {
        const msgs = ['Tool execution started', 'Tool processing data', 'Tool execution completed'];
        for (let i = 0; i < msgs.length; i++) {
          if (i > 0) await abortableSleep(50, extra.signal);
          await sendLog(session, extra, 'info', msgs[i], 'post');
        }
        return text('Tool with logging executed successfully');
      },
    },
    test_error_handling: {
      description: 'Always returns a tool execution error (isError: true)',
      inputSchema: EMPTY,
      run: async () => ({ isError: true, content: [{ type: 'text', text: F.ERROR_TEXT }] }),
    },
    test_tool_with_progress: {
      description: 'Reports progress 0, 50, 100 (of 100) when a progressToken is given',
      inputSchema: EMPTY,
      run: async (_args, extra) => {
        const token = extra._meta?.progressToken;
        for (const p of [0, 50, 100]) {
          if (p > 0) await abortableSleep(50, extra.signal);
          if (token !== undefined) {
            await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: p, total: 100 } });
          }
        }
        return text('Tool with progress executed successfully');
      },
    },
    test_sampling: {
      description: 'Requests LLM sampling (sampling/createMessage) from the client',
      inputSchema: {
        type: 'object',
        properties: { prompt: { type: 'string', description: 'The prompt to send to the LLM' }, via: VIA },
        required: ['prompt'],
      },
      run: async (args, extra) => {
        requireCapability('sampling');
        const options = await serverRequestOptions(session, extra, args.via);
        const result = await server.request(
          {
            method: 'sampling/createMessage',
            params: { messages: [{ role: 'user', content: { type: 'text', text: String(args.prompt) } }], maxTokens: 100 },
          },
          CreateMessageResultSchema,
          options,
        );
        const reply = result.content?.type === 'text' ? result.content.text : JSON.stringify(result.content);
        return text(`LLM response: ${reply}`);
      },
    },
    test_elicitation: {
      description: 'Requests user input (elicitation/create) from the client',
      inputSchema: {
        type: 'object',
        properties: { message: { type: 'string', description: 'The message to show the user' }, via: VIA },
        required: ['message'],
      },
      run: async (args, extra) => {
        const r = await elicit(extra, args.via, { message: String(args.message), requestedSchema: structuredClone(F.ELICITATION_SCHEMA) });
        return text(`User response: action=${r.action}, content=${JSON.stringify(r.content ?? {})}`);
      },
    },
    test_elicitation_sep1034_defaults: {
      description: 'Elicitation whose schema has defaults for every primitive type (SEP-1034)',
      inputSchema: { type: 'object', properties: { via: VIA } },
      run: async (args, extra) => {
        const r = await elicit(extra, args.via, {
          message: 'Please review and update the form fields with defaults',
          requestedSchema: structuredClone(F.SEP1034_SCHEMA),
        });
        return text(`Elicitation completed: action=${r.action}, content=${JSON.stringify(r.content ?? {})}`);
      },
    },
    test_elicitation_sep1330_enums: {
      description: 'Elicitation with titled/untitled single/multi-select enums (SEP-1330)',
      inputSchema: { type: 'object', properties: { via: VIA } },
      run: async (args, extra) => {
        const r = await elicit(extra, args.via, {
          message: 'Please select options from the enum fields',
          requestedSchema: structuredClone(F.SEP1330_SCHEMA),
        });
        return text(`Elicitation completed: action=${r.action}, content=${JSON.stringify(r.content ?? {})}`);
      },
    },
    [F.JSON_SCHEMA_2020_12_TOOL]: {
      description: 'Tool with JSON Schema 2020-12 features',
      inputSchema: F.JSON_SCHEMA_2020_12_INPUT,
      run: async (args) => text(`Received: ${JSON.stringify(args)}`),
    },
    test_reconnection: {
      description: 'Closes the POST SSE stream mid-call (SEP-1699); the result arrives after the client reconnects',
      inputSchema: EMPTY,
      run: async (_args, extra) => {
        if (!extra.closeSSEStream) {
          return text(`${F.RECONNECTION_TEXT} (stream not closed: client protocol version < 2025-11-25)`);
        }
        await abortableSleep(100, extra.signal);
        extra.closeSSEStream();
        await abortableSleep(300, extra.signal);
        return text(F.RECONNECTION_TEXT);
      },
    },

    // ---- helpers for tests/e2e --------------------------------------------------------
    echo: {
      description: 'Returns its text argument unchanged',
      inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
      run: async (args) => {
        if (typeof args.text !== 'string') throw new McpError(ErrorCode.InvalidParams, 'echo: "text" must be a string');
        return text(args.text);
      },
    },
    slow: {
      description: 'Sleeps ms milliseconds, reporting progress every 100 ms; honours cancellation; returns "done"',
      inputSchema: {
        type: 'object',
        properties: { ms: { type: 'integer', minimum: 0, maximum: 120000 }, tag: { type: 'string' } },
        required: ['ms'],
      },
      run: async (args, extra) => {
        const ms = Math.max(0, Math.min(120_000, Number(args.ms) || 0));
        const tag = typeof args.tag === 'string' ? args.tag : undefined;
        const token = extra._meta?.progressToken;
        const started = Date.now();
        const record = (r) => { if (tag !== undefined) cancellations.set(tag, { tag, sessionId: session.id, requestId: extra.requestId, ...r }); };
        record({ state: 'running' });
        try {
          let elapsed = 0;
          while (elapsed < ms) {
            const step = Math.min(100, ms - elapsed);
            await abortableSleep(step, extra.signal);
            elapsed += step;
            if (token !== undefined) {
              await extra.sendNotification({
                method: 'notifications/progress',
                params: { progressToken: token, progress: elapsed, total: ms, message: `slow ${tag ?? ''} ${elapsed}/${ms}`.replace('  ', ' ') },
              });
            }
          }
        } catch (err) {
          if (extra.signal.aborted) {
            const note = session.cancelNotes.find((n) => n.requestId === extra.requestId);
            record({
              state: 'cancelled',
              viaCancelledNotification: note !== undefined,
              reason: note?.reason ?? null,
              elapsedMs: Date.now() - started,
            });
          }
          throw err;
        }
        record({ state: 'completed', elapsedMs: Date.now() - started });
        return text('done');
      },
    },
    last_cancelled: {
      description: 'Reports what the server saw for the slow call with the given tag',
      inputSchema: { type: 'object', properties: { tag: { type: 'string' } }, required: ['tag'] },
      run: async (args) => {
        const r = cancellations.get(String(args.tag));
        return text(JSON.stringify(r ? { found: true, ...r, sessionId: undefined, requestId: undefined } : { found: false }));
      },
    },
    emit_logs: {
      description: 'Emits one notifications/message per log level (debug..emergency), honouring logging/setLevel',
      inputSchema: { type: 'object', properties: { via: VIA } },
      run: async (args, extra) => {
        const sent = [];
        for (const [i, level] of F.LOG_LEVELS.entries()) {
          if (await sendLog(session, extra, level, { level, seq: i }, args.via ?? 'post')) sent.push(level);
        }
        return text(JSON.stringify({ sent }));
      },
    },
    trigger_resource_update: {
      description: 'Sends notifications/resources/updated (standalone GET stream) if this session subscribed to uri',
      inputSchema: { type: 'object', properties: { uri: { type: 'string' } }, required: ['uri'] },
      run: async (args) => {
        const uri = String(args.uri);
        if (!session.subscriptions.has(uri)) return text('not-subscribed');
        session.watchedVersion += 1;
        await waitForStandaloneStream(session);
        await server.sendResourceUpdated({ uri });
        return text('sent');
      },
    },
    session_info: {
      description: 'Backend session id, negotiated protocol version, client info and capabilities',
      inputSchema: EMPTY,
      run: async () =>
        text(
          JSON.stringify({
            sessionId: session.id ?? null,
            transport: session.stdio ? 'stdio' : 'http',
            protocolVersion: session.protocolVersion ?? null,
            clientInfo: server.getClientVersion() ?? null,
            clientCapabilities: server.getClientCapabilities() ?? null,
          }),
        ),
    },
    remember: {
      description: 'Stores a value in this session',
      inputSchema: { type: 'object', properties: { value: { type: 'string' } }, required: ['value'] },
      run: async (args) => { session.remembered = String(args.value); return text('ok'); },
    },
    recall: {
      description: 'Returns the value stored in this session (empty string if none)',
      inputSchema: EMPTY,
      run: async () => text(session.remembered ?? ''),
    },
  };
  if (session.stdio) Object.assign(tools, buildStdioTools(session));
  // HTTP-mode helper for the gateway's auth tests: the headers of the HTTP request that
  // carried this tools/call, as the backend received them (lower-case names, JSON object).
  // Callable but deliberately not enumerable, so tools/list (and the tests/e2e tool lists
  // that compare it exactly) stays unchanged.
  if (!session.stdio) {
    Object.defineProperty(tools, 'request_headers', {
      enumerable: false,
      value: {
        description: 'Returns the headers of the HTTP request that carried this tools/call (JSON object)',
        inputSchema: EMPTY,
        run: async (_args, extra) => text(JSON.stringify(extra.requestInfo?.headers ?? null)),
      },
    });
  }
  // Trace-context tests: the params._meta of this tools/call as the server received it (any
  // mode; callable, not enumerable, like request_headers).
  Object.defineProperty(tools, 'request_meta', {
    enumerable: false,
    value: {
      description: 'Returns the params._meta of this tools/call (JSON object)',
      inputSchema: EMPTY,
      run: async (_args, extra) => text(JSON.stringify(extra._meta ?? null)),
    },
  });
  return tools;
}

// Helpers that only make sense when the process is the session (stdio mode): they crash,
// hang or write to the process's stdout/stderr.
const MAX_BIG_BYTES = 256 * 1024 * 1024;

function intArg(args, name, { def, min, max }) {
  const v = args[name];
  if (v === undefined || v === null) return def;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new McpError(ErrorCode.InvalidParams, `"${name}" must be an integer in [${min}, ${max}]`);
  }
  return v;
}

function buildStdioTools(session) {
  return {
    pid: {
      description: 'Returns the backend process id (decimal string)',
      inputSchema: EMPTY,
      run: async () => text(String(process.pid)),
    },
    env: {
      description: 'Returns the sorted environment variable names (JSON array) and, in a second item, {"cwd": ...}',
      inputSchema: EMPTY,
      run: async () => ({
        content: [
          { type: 'text', text: JSON.stringify(Object.keys(process.env).sort()) },
          { type: 'text', text: JSON.stringify({ cwd: process.cwd() }) },
        ],
      }),
    },
    crash: {
      description: 'Exits the backend process with the given code (default 3) after after_ms (default 0); never answers',
      inputSchema: {
        type: 'object',
        properties: { code: { type: 'integer', minimum: 0, maximum: 255 }, after_ms: { type: 'integer', minimum: 0, maximum: 120000 } },
      },
      run: async (args) => {
        const code = intArg(args, 'code', { def: 3, min: 0, max: 255 });
        const afterMs = intArg(args, 'after_ms', { def: 0, min: 0, max: 120_000 });
        log(`crash: exit(${code}) in ${afterMs} ms`);
        if (afterMs === 0) process.exit(code);
        setTimeout(() => process.exit(code), afterMs);
        return new Promise(() => {});
      },
    },
    stdout_garbage: {
      description: 'Writes the non-JSON line "this is not json" to stdout, then returns its text argument',
      inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
      run: async (args) => {
        // The SDK writes every message as one JSON text + "\n" in one write, so stdout is
        // always at the start of a line here and this is a line of its own.
        process.stdout.write('this is not json\n');
        return text(typeof args.text === 'string' ? args.text : '');
      },
    },
    stderr_line: {
      description: 'Writes its text argument plus a newline to stderr, returns "ok"',
      inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
      run: async (args) => {
        process.stderr.write(`${typeof args.text === 'string' ? args.text : ''}\n`);
        return text('ok');
      },
    },
    big: {
      description: `Returns one text item of "bytes" 'x' characters (at most ${MAX_BIG_BYTES})`,
      inputSchema: {
        type: 'object',
        properties: { bytes: { type: 'integer', minimum: 0, maximum: MAX_BIG_BYTES } },
        required: ['bytes'],
      },
      run: async (args) => {
        if (args.bytes === undefined) throw new McpError(ErrorCode.InvalidParams, 'big: "bytes" is required');
        return text('x'.repeat(intArg(args, 'bytes', { def: 0, min: 0, max: MAX_BIG_BYTES })));
      },
    },
    hang: {
      description: 'Never answers; stops when cancelled (last_cancelled {tag} reports it)',
      inputSchema: { type: 'object', properties: { tag: { type: 'string' } } },
      run: async (args, extra) => {
        const tag = typeof args.tag === 'string' ? args.tag : undefined;
        const started = Date.now();
        const record = (r) => { if (tag !== undefined) cancellations.set(tag, { tag, requestId: extra.requestId, ...r }); };
        record({ state: 'running' });
        await new Promise((resolve) => {
          if (extra.signal.aborted) resolve();
          else extra.signal.addEventListener('abort', resolve, { once: true });
        });
        const note = session.cancelNotes.find((n) => n.requestId === extra.requestId);
        record({ state: 'cancelled', viaCancelledNotification: note !== undefined, reason: note?.reason ?? null, elapsedMs: Date.now() - started });
        // The request is aborted: the SDK sends no response for it.
        return text('cancelled');
      },
    },
  };
}

async function sendLog(session, extra, level, data, via) {
  const server = session.mcp.server;
  if (server.isMessageIgnored(level, session.id)) return false;
  const params = { level, logger: 'conformance-backend', data };
  if (via === 'get' || via === 'get-nowait') {
    if (via === 'get') await waitForStandaloneStream(session);
    await server.notification({ method: 'notifications/message', params });
  } else {
    await extra.sendNotification({ method: 'notifications/message', params });
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// Per-session MCP server (both modes). `stdio` adds the stdio-only tools; the caller
// connects a transport.
function createMcpSession(protocolVersion, { stdio = false } = {}) {
  const session = {
    id: undefined,
    stdio,
    protocolVersion,
    subscriptions: new Set(),
    cancelNotes: [], // { requestId, reason } from notifications/cancelled
    watchedVersion: 0,
    remembered: undefined,
  };

  const mcp = new McpServer(
    { ...F.SERVER_INFO },
    {
      capabilities: {
        tools: { listChanged: true },
        resources: { subscribe: true, listChanged: true },
        prompts: { listChanged: true },
        logging: {},
        completions: {},
      },
      instructions: F.SERVER_INSTRUCTIONS,
    },
  );
  session.mcp = mcp;
  const server = mcp.server;

  // Observe notifications/cancelled (Protocol dispatches them to this._oncancel).
  const origOnCancel = server._oncancel.bind(server);
  server._oncancel = async (notification) => {
    session.cancelNotes.push({ requestId: notification.params?.requestId, reason: notification.params?.reason ?? null });
    if (session.cancelNotes.length > 100) session.cancelNotes.shift();
    return origOnCancel(notification);
  };

  // Tools.
  const tools = buildTools(session);
  server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: Object.entries(tools).map(([name, t]) => ({ name, description: t.description, inputSchema: t.inputSchema })),
  }));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const tool = tools[request.params.name];
    if (!tool) throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${request.params.name}`);
    const args = request.params.arguments ?? {};
    try {
      return await tool.run(args, extra);
    } catch (err) {
      if (err instanceof McpError) throw err;
      if (extra.signal.aborted) throw err; // no response is sent for a cancelled request
      return { isError: true, content: [{ type: 'text', text: `Tool ${request.params.name} failed: ${err?.message ?? err}` }] };
    }
  });

  // Resources.
  mcp.registerResource(F.RESOURCES.staticText.name, F.RESOURCES.staticText.uri,
    { mimeType: F.RESOURCES.staticText.mimeType, description: F.RESOURCES.staticText.description },
    async (uri) => ({ contents: [{ uri: uri.href, mimeType: 'text/plain', text: F.STATIC_TEXT }] }));
  mcp.registerResource(F.RESOURCES.staticBinary.name, F.RESOURCES.staticBinary.uri,
    { mimeType: F.RESOURCES.staticBinary.mimeType, description: F.RESOURCES.staticBinary.description },
    async (uri) => ({ contents: [{ uri: uri.href, mimeType: 'image/png', blob: F.PNG_1X1_BASE64 }] }));
  mcp.registerResource(F.RESOURCES.watched.name, F.RESOURCES.watched.uri,
    { mimeType: F.RESOURCES.watched.mimeType, description: F.RESOURCES.watched.description },
    async (uri) => ({ contents: [{ uri: uri.href, mimeType: 'text/plain', text: `Watched resource, version ${session.watchedVersion}` }] }));
  mcp.registerResource(
    F.TEMPLATE.name,
    new ResourceTemplate(F.TEMPLATE.uriTemplate, {
      list: undefined,
      complete: { id: (value) => F.TEMPLATE_IDS.filter((id) => id.startsWith(value ?? '')) },
    }),
    { mimeType: F.TEMPLATE.mimeType, description: F.TEMPLATE.description },
    async (uri, { id }) => ({ contents: [{ uri: uri.href, mimeType: 'application/json', text: F.templateText(String(id)) }] }),
  );
  server.setRequestHandler(SubscribeRequestSchema, async (request) => {
    session.subscriptions.add(request.params.uri);
    return {};
  });
  server.setRequestHandler(UnsubscribeRequestSchema, async (request) => {
    session.subscriptions.delete(request.params.uri);
    return {};
  });

  // Prompts.
  mcp.registerPrompt('test_simple_prompt', { description: 'A simple prompt without arguments' }, async () => ({
    messages: [{ role: 'user', content: { type: 'text', text: F.PROMPT_SIMPLE_TEXT } }],
  }));
  mcp.registerPrompt(
    'test_prompt_with_arguments',
    {
      description: 'A prompt with required arguments',
      argsSchema: {
        arg1: completable(z.string().describe('First test argument'), (value) =>
          F.ARG1_COMPLETIONS.filter((c) => c.startsWith(value ?? ''))),
        arg2: z.string().describe('Second test argument'),
      },
    },
    async ({ arg1, arg2 }) => ({
      messages: [{ role: 'user', content: { type: 'text', text: F.promptWithArgsText(arg1, arg2) } }],
    }),
  );
  mcp.registerPrompt(
    'test_prompt_with_embedded_resource',
    {
      description: 'A prompt that embeds a resource',
      argsSchema: { resourceUri: z.string().describe('URI of the resource to embed') },
    },
    async ({ resourceUri }) => ({
      messages: [
        { role: 'user', content: { type: 'resource', resource: { uri: resourceUri, mimeType: 'text/plain', text: F.PROMPT_EMBEDDED_TEXT } } },
        { role: 'user', content: { type: 'text', text: 'Please process the embedded resource above.' } },
      ],
    }),
  );
  mcp.registerPrompt('test_prompt_with_image', { description: 'A prompt with image content' }, async () => ({
    messages: [
      { role: 'user', content: { type: 'image', data: F.PNG_1X1_BASE64, mimeType: 'image/png' } },
      { role: 'user', content: { type: 'text', text: 'Please analyze the image above.' } },
    ],
  }));

  return session;
}

// HTTP mode: one McpServer + StreamableHTTPServerTransport per session.
function createSession(protocolVersion) {
  const session = createMcpSession(protocolVersion);
  const eventStore = new InMemoryEventStore();
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: () => randomUUID(),
    eventStore,
    retryInterval: RETRY_MS,
    enableDnsRebindingProtection: true,
    allowedHosts,
    allowedOrigins,
    onsessioninitialized: (id) => {
      session.id = id;
      sessions.set(id, session);
      log('session initialized', id, protocolVersion);
    },
    onsessionclosed: (id) => {
      closedSessions.push({ id, how: 'delete' });
      log('session deleted', id);
    },
  });
  transport.onclose = () => {
    if (session.id && sessions.get(session.id) === session) sessions.delete(session.id);
  };
  transport.onerror = (err) => log('transport error:', err?.message ?? err);
  session.transport = transport;
  return session;
}

// ---------------------------------------------------------------------------------------
// HTTP routing.
function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) { reject(Object.assign(new Error('body too large'), { status: 413 })); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function isInitialize(msg) {
  return msg && typeof msg === 'object' && !Array.isArray(msg) && msg.method === 'initialize' && msg.id !== undefined;
}

// See header comment: let the session's negotiated version drive the SDK's version gating.
function applyNegotiatedVersion(req, session) {
  if (opts['strict-version-header']) return;
  const v = req.headers['mcp-protocol-version'];
  if (!v || v === session.protocolVersion || !SUPPORTED_PROTOCOL_VERSIONS.includes(v)) return;
  req.headers['mcp-protocol-version'] = session.protocolVersion;
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i].toLowerCase() === 'mcp-protocol-version') req.rawHeaders[i + 1] = session.protocolVersion;
  }
}

async function handle(req, res) {
  const url = new URL(req.url, 'http://placeholder');

  // DNS rebinding protection, for every path.
  const host = req.headers.host;
  if (!host || !allowedHosts.includes(host)) return jsonRpcError(res, 403, -32000, `Invalid Host header: ${host}`);
  const origin = req.headers.origin;
  if (origin !== undefined && !allowedOrigins.includes(origin)) return jsonRpcError(res, 403, -32000, `Invalid Origin header: ${origin}`);

  if (url.pathname === '/debug/sessions' && req.method === 'GET') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    return res.end(JSON.stringify({ active: [...sessions.keys()], closed: closedSessions }));
  }
  if (url.pathname !== MCP_PATH) return jsonRpcError(res, 404, -32000, 'Not found');
  if (!['GET', 'POST', 'DELETE'].includes(req.method)) {
    return jsonRpcError(res, 405, -32000, 'Method not allowed.', { Allow: 'GET, POST, DELETE' });
  }

  let body;
  if (req.method === 'POST') {
    let raw;
    try {
      raw = await readBody(req);
    } catch (err) {
      return jsonRpcError(res, err.status ?? 400, -32000, String(err.message));
    }
    try {
      body = JSON.parse(raw);
    } catch {
      return jsonRpcError(res, 400, -32700, 'Parse error: Invalid JSON');
    }
  }

  const sid = req.headers['mcp-session-id'];
  if (sid !== undefined) {
    const session = sessions.get(sid);
    if (!session) return jsonRpcError(res, 404, -32001, 'Session not found');
    applyNegotiatedVersion(req, session);
    return session.transport.handleRequest(req, res, body);
  }

  // No session id: only an initialize POST may create a session.
  if (req.method === 'POST' && isInitialize(body)) {
    const requested = body.params?.protocolVersion;
    const negotiated = SUPPORTED_PROTOCOL_VERSIONS.includes(requested) ? requested : LATEST_PROTOCOL_VERSION;
    const session = createSession(negotiated);
    await session.mcp.connect(session.transport);
    await session.transport.handleRequest(req, res, body);
    if (!session.id) {
      // initialize was rejected by the transport (bad Accept etc.): nothing to keep.
      await session.mcp.close().catch(() => {});
    }
    return;
  }
  return jsonRpcError(res, 400, -32000, 'Bad Request: Mcp-Session-Id header is required');
}

// ---------------------------------------------------------------------------------------
// HTTP mode.
function runHttp() {
  const httpServer = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      console.error('[backend] request failed:', err);
      jsonRpcError(res, 500, -32603, 'Internal server error');
    });
  });

  httpServer.listen(Number(opts.port), opts.host, () => {
    const { port } = httpServer.address();
    const hostForUrl = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
    const names = new Set([hostForUrl, 'localhost', '127.0.0.1', '[::1]']);
    allowedHosts.push(...[...names].map((h) => `${h}:${port}`));
    allowedOrigins.push(...[...names].map((h) => `http://${h}:${port}`));
    process.stdout.write(`listening http://${hostForUrl}:${port}${MCP_PATH}\n`);
  });

  let shuttingDown = false;
  async function shutdown(signal) {
    if (shuttingDown) return;
    shuttingDown = true;
    console.error(`[backend] ${signal} received: closing ${sessions.size} session(s) and exiting`);
    const hard = setTimeout(() => process.exit(0), 3000);
    hard.unref();
    for (const [id, s] of sessions) {
      closedSessions.push({ id, how: 'shutdown' });
      await s.transport.close().catch(() => {});
    }
    sessions.clear();
    httpServer.close(() => process.exit(0));
    httpServer.closeAllConnections?.();
  }
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

// ---------------------------------------------------------------------------------------
// Stdio mode: this process is one MCP session on stdin/stdout.
async function runStdio() {
  const ignoreSigterm = opts['ignore-sigterm'];
  const session = createMcpSession(undefined, { stdio: true });
  const server = session.mcp.server;

  // Record the negotiated version (the SDK's rule) synchronously, as the SDK records the
  // client's info/capabilities, so requests pipelined behind initialize see it too.
  const origInit = server._oninitialize.bind(server);
  server._oninitialize = (request) => {
    const requested = request.params?.protocolVersion;
    session.protocolVersion = SUPPORTED_PROTOCOL_VERSIONS.includes(requested) ? requested : LATEST_PROTOCOL_VERSION;
    log('initialize, protocol version', session.protocolVersion);
    return origInit(request);
  };

  let exiting = false;
  const exit = async (why, code = 0) => {
    if (exiting) return;
    exiting = true;
    log(`${why}: exiting with code ${code}`);
    // Let requests already being handled answer (e.g. `printf ... | node this --stdio`).
    const inFlight = server._requestHandlerAbortControllers;
    const deadline = Date.now() + 500;
    while (inFlight instanceof Map && inFlight.size > 0 && Date.now() < deadline) await sleep(10);
    process.exit(code);
  };

  // EPIPE etc. on stdout/stderr: the client is gone.
  process.stdout.on('error', (err) => { if (!ignoreSigterm) { exiting = true; process.exit(0); } else log('stdout error:', err?.message); });
  process.stderr.on('error', () => {});

  if (ignoreSigterm) {
    process.on('SIGTERM', () => log('SIGTERM ignored'));
    setInterval(() => {}, 60_000); // stdin EOF must not end the process either
  } else {
    process.stdin.on('end', () => exit('stdin EOF'));
    process.stdin.on('close', () => exit('stdin closed'));
    process.on('SIGTERM', () => exit('SIGTERM'));
  }
  process.on('SIGINT', () => exit('SIGINT'));

  if (opts['stdio-banner']) process.stdout.write('banner: starting\n');

  const transport = new StdioServerTransport();
  transport.onerror = (err) => console.error('[backend] stdio transport error:', err?.message ?? err);
  session.transport = transport;
  server.onclose = () => { if (!ignoreSigterm) exit('transport closed'); };
  await session.mcp.connect(transport);
  log('stdio transport connected, pid', process.pid);
}

// ---------------------------------------------------------------------------------------
// Legacy HTTP+SSE mode (2024-11-05): GET /sse opens a session's stream (SDK SSEServerTransport),
// POST /messages?sessionId=... carries the client's messages. Prints
// `listening http://<host>:<port>/sse`.
function runLegacySse() {
  const legacy = new Map(); // sessionId -> { session, transport }
  const httpServer = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url, 'http://localhost');
      if (req.method === 'GET' && url.pathname === '/sse') {
        const session = createMcpSession(undefined);
        const transport = new SSEServerTransport('/messages', res);
        session.transport = transport;
        session.id = transport.sessionId;
        legacy.set(transport.sessionId, { session, transport });
        transport.onclose = () => {
          legacy.delete(transport.sessionId);
          closedSessions.push({ id: transport.sessionId, how: 'stream closed' });
        };
        await session.mcp.connect(transport);
        log('legacy session opened', transport.sessionId);
        return;
      }
      if (req.method === 'POST' && url.pathname === '/messages') {
        const entry = legacy.get(url.searchParams.get('sessionId') ?? '');
        if (!entry) return jsonRpcError(res, 404, -32001, 'Session not found');
        await entry.transport.handlePostMessage(req, res);
        return;
      }
      if (req.method === 'GET' && url.pathname === '/debug/sessions') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ active: [...legacy.keys()], closed: closedSessions }));
        return;
      }
      jsonRpcError(res, 404, -32000, 'Not found');
    } catch (err) {
      console.error('[backend] legacy request failed:', err);
      if (!res.headersSent) jsonRpcError(res, 500, -32603, 'Internal server error');
    }
  });
  httpServer.listen(Number(opts.port), opts.host, () => {
    const { port } = httpServer.address();
    const hostForUrl = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
    process.stdout.write(`listening http://${hostForUrl}:${port}/sse\n`);
  });
  const shutdown = () => {
    for (const { transport } of legacy.values()) transport.close().catch(() => {});
    httpServer.close(() => process.exit(0));
    httpServer.closeAllConnections?.();
    setTimeout(() => process.exit(0), 3000).unref();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

if (opts['legacy-sse']) {
  runLegacySse();
} else if (opts.stdio) {
  runStdio().catch((err) => {
    console.error('[backend] stdio start-up failed:', err);
    process.exit(1);
  });
} else {
  runHttp();
}
