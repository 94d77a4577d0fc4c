// SDK 1.x client helpers shared by the e2e tests.
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';

export const REQUEST_TIMEOUT_MS = 10_000;
export const CLIENT_INFO = Object.freeze({ name: 'mcpgw-e2e-client', version: '1.2.3' });

/**
 * Connect an SDK Client over Streamable HTTP.
 * Records log and resource-updated notifications, and sampling/elicitation requests
 * (answered by `sampling` / `elicitation` callbacks if given).
 */
export async function connect(url, { capabilities = { sampling: {}, elicitation: {} }, sampling, elicitation, sessionId } = {}) {
  const client = new Client({ ...CLIENT_INFO }, { capabilities });
  const rec = { logs: [], resourceUpdates: [], samplingRequests: [], elicitationRequests: [] };
  installRecorders(client, rec, { capabilities, sampling, elicitation });
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => { rec.resourceUpdates.push(n.params); });
  const errors = [];
  const transport = new StreamableHTTPClientTransport(new URL(url), sessionId ? { sessionId } : undefined);
  client.onerror = (e) => errors.push(e);
  await client.connect(transport, { timeout: REQUEST_TIMEOUT_MS });
  return {
    client,
    transport,
    ...rec,
    errors,
    call: (name, args, options = {}) => client.callTool({ name, arguments: args }, undefined, { timeout: REQUEST_TIMEOUT_MS, ...options }),
    close: async () => { await client.close().catch(() => {}); },
  };
}

/**
 * Records log notifications in rec.logs and sampling/elicitation requests in
 * rec.samplingRequests / rec.elicitationRequests, answering them with the given callbacks
 * (no sampling callback: an error; no elicitation callback: decline). Any transport.
 */
export function installRecorders(client, rec, { capabilities, sampling, elicitation }) {
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => { rec.logs.push(n.params); });
  if (capabilities.sampling) {
    client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
      rec.samplingRequests.push(req);
      if (!sampling) throw new Error('no sampling handler installed');
      return sampling(req);
    });
  }
  if (capabilities.elicitation) {
    client.setRequestHandler(ElicitRequestSchema, async (req) => {
      rec.elicitationRequests.push(req);
      return elicitation ? elicitation(req) : { action: 'decline' };
    });
  }
}

/**
 * Calls the backend's `slow` tool for 500 ms and checks its progress notifications: 100..500
 * in order, with total and message, all before the result, none after it.
 */
export async function expectSlowProgress(assert, c, tag) {
  const events = [];
  const result = await c.call('slow', { ms: 500, tag }, { onprogress: (p) => events.push(p) });
  const atResult = events.length;
  assert.equal(textOf(result), 'done');
  await sleep(300);
  assert.equal(events.length, atResult, 'progress arrived after the result');
  assert.deepEqual(events.map((e) => e.progress), [100, 200, 300, 400, 500]);
  for (const [i, e] of events.entries()) {
    assert.equal(e.total, 500);
    assert.equal(e.message, `slow ${tag} ${(i + 1) * 100}/500`);
  }
}

export function textOf(result) {
  if (!Array.isArray(result?.content) || result.content.length !== 1 || result.content[0].type !== 'text') {
    throw new Error(`expected exactly one text content item, got ${JSON.stringify(result)}`);
  }
  return result.content[0].text;
}

export async function waitUntil(predicate, { timeoutMs = 3000, intervalMs = 20, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await predicate();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

export { Client, StreamableHTTPClientTransport, sleep };
