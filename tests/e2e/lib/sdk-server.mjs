// Re-exports of the server-side SDK pieces used by tests/backends/conformance-server.mjs.
//
// The backend lives in tests/backends/, outside this npm package, so a bare
// `import '@modelcontextprotocol/sdk/...'` from there would not find
// tests/e2e/node_modules. Importing through this module resolves every package from
// tests/e2e/node_modules (honouring the packages' "exports" maps), and keeps one copy of
// each module (SDK, zod) in the process.
export { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
export { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
export { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
export { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
export { completable } from '@modelcontextprotocol/sdk/server/completable.js';
export {
  CallToolRequestSchema,
  CreateMessageResultSchema,
  ElicitResultSchema,
  ErrorCode,
  LATEST_PROTOCOL_VERSION,
  ListToolsRequestSchema,
  McpError,
  SUPPORTED_PROTOCOL_VERSIONS,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
export * as z from 'zod';
