#!/usr/bin/env node
// A stdio MCP server that asks the client things (node built-ins only), for the aggregation
// tests: right after notifications/initialized it sends roots/list (id "r0"), before the
// gateway has answered the client's initialize; tool flood {n} sends n more roots/list
// requests (ids "r1".."rn") at once; tool answers returns the ids of the requests the client
// has answered so far, as JSON.
import { createInterface } from 'node:readline';

const answered = [];
const send = (m) => process.stdout.write(`${JSON.stringify(m)}\n`);
const rootsList = (id) => send({ jsonrpc: '2.0', id, method: 'roots/list' });
const text = (id, t) => send({ jsonrpc: '2.0', id, result: { content: [{ type: 'text', text: t }] } });

createInterface({ input: process.stdin }).on('line', (line) => {
  let m;
  try { m = JSON.parse(line); } catch { return; }
  if (m.method === undefined && m.id !== undefined) {
    answered.push(m.id);
    return;
  }
  switch (m.method) {
    case 'initialize':
      send({ jsonrpc: '2.0', id: m.id, result: { protocolVersion: m.params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: 'asking', version: '1' } } });
      break;
    case 'notifications/initialized':
      rootsList('r0');
      break;
    case 'tools/list':
      send({ jsonrpc: '2.0', id: m.id, result: { tools: ['flood', 'answers'].map((name) => ({ name, inputSchema: { type: 'object' } })) } });
      break;
    case 'tools/call':
      if (m.params.name === 'flood') {
        for (let i = 1; i <= Number(m.params.arguments?.n ?? 1); i++) rootsList(`r${i}`);
        text(m.id, 'flooded');
      } else {
        text(m.id, JSON.stringify(answered));
      }
      break;
    default:
      if (m.id !== undefined) send({ jsonrpc: '2.0', id: m.id, error: { code: -32601, message: `no ${m.method}` } });
  }
});
process.stdin.on('end', () => process.exit(0));
