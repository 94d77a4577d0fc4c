// Raw Streamable HTTP helpers (fetch + a small SSE parser) for tests that must see the
// wire: status codes, headers, and JSON exactly as sent (key order included).

export const LATEST = '2025-11-25';

/** Parse a complete or partial SSE text into events {id, event, data, retry}. */
export function parseSse(text) {
  const events = [];
  for (const block of text.replace(/\r\n/g, '\n').split('\n\n')) {
    if (!block.trim()) continue;
    const ev = { id: undefined, event: undefined, data: undefined, retry: undefined };
    const data = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue;
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
    if (ev.data !== undefined || ev.id !== undefined || ev.retry !== undefined) events.push(ev);
  }
  return events;
}

/**
 * POST one JSON-RPC message. For SSE responses, reads until a response whose id equals
 * body.id arrives (or the stream ends / timeoutMs passes), then cancels the stream.
 * Returns { status, headers, contentType, text, events, messages } where messages are the
 * parsed JSON-RPC messages (from SSE data or the JSON body) and rawData their source text.
 * If timeoutMs passes while reading an SSE body, returns what arrived with timedOut: true.
 */
export async function rawPost(url, { body, sessionId, protocolVersion, headers = {}, timeoutMs = 10_000 } = {}) {
  const h = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    ...(sessionId !== undefined ? { 'mcp-session-id': sessionId } : {}),
    ...(protocolVersion !== undefined ? { 'mcp-protocol-version': protocolVersion } : {}),
    ...headers,
  };
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new Error(`rawPost timed out after ${timeoutMs} ms`)), timeoutMs);
  try {
    const res = await fetch(url, { method: 'POST', headers: h, body: typeof body === 'string' ? body : JSON.stringify(body), signal: ac.signal });
    const contentType = res.headers.get('content-type') ?? '';
    let text = '';
    let events = [];
    let timedOut = false;
    if (contentType.includes('text/event-stream') && res.body) {
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      const wantId = body && typeof body === 'object' ? body.id : undefined;
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          text += value;
          events = parseSse(text);
          if (wantId !== undefined && events.some((e) => e.data && safeJson(e.data)?.id === wantId && !('method' in (safeJson(e.data) ?? {})))) break;
        }
      } catch (err) {
        if (!ac.signal.aborted) throw err;
        timedOut = true; // keep what arrived before the deadline
      }
      await reader.cancel().catch(() => {});
      events = parseSse(text);
    } else {
      text = await res.text();
    }
    const rawData = contentType.includes('text/event-stream')
      ? events.filter((e) => e.data).map((e) => e.data)
      : text ? [text] : [];
    const messages = rawData.map(safeJson).filter((m) => m !== undefined).flat();
    return { status: res.status, headers: res.headers, contentType, text, events, rawData, messages, timedOut };
  } finally {
    clearTimeout(timer);
  }
}

export function safeJson(s) {
  try { return JSON.parse(s); } catch { return undefined; }
}

/** Raw initialize + notifications/initialized. Returns { sessionId, protocolVersion, result, response }. */
export async function rawInitialize(url, { protocolVersion = LATEST, capabilities = {}, clientInfo = { name: 'e2e-raw', version: '0.0.0' } } = {}) {
  const response = await rawPost(url, {
    body: { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion, capabilities, clientInfo } },
  });
  if (response.status !== 200) throw new Error(`initialize failed: HTTP ${response.status} ${response.text}`);
  const msg = response.messages.find((m) => m.id === 0);
  if (!msg?.result) throw new Error(`initialize: no result in ${response.text}`);
  const sessionId = response.headers.get('mcp-session-id') ?? undefined;
  const negotiated = msg.result.protocolVersion;
  const ack = await rawPost(url, {
    body: { jsonrpc: '2.0', method: 'notifications/initialized' },
    sessionId,
    protocolVersion: negotiated,
  });
  if (ack.status !== 202) throw new Error(`notifications/initialized: expected 202, got ${ack.status} ${ack.text}`);
  return { sessionId, protocolVersion: negotiated, result: msg.result, response };
}

/** Raw request with method other than POST (GET/DELETE) and the usual MCP headers. */
export async function rawRequest(url, method, { sessionId, protocolVersion, headers = {}, timeoutMs = 5000 } = {}) {
  const h = {
    ...(method === 'GET' ? { accept: 'text/event-stream' } : {}),
    ...(sessionId !== undefined ? { 'mcp-session-id': sessionId } : {}),
    ...(protocolVersion !== undefined ? { 'mcp-protocol-version': protocolVersion } : {}),
    ...headers,
  };
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  try {
    const res = await fetch(url, { method, headers: h, signal: ac.signal });
    // Do not wait for a (possibly endless) SSE body.
    await res.body?.cancel().catch(() => {});
    return { status: res.status, headers: res.headers };
  } finally {
    clearTimeout(timer);
  }
}
