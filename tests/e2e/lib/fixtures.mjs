// Constants shared by the backend (tests/backends/conformance-server.mjs) and the tests,
// so the tests can assert exact, byte-for-byte pass-through of what the backend sends.
// Plain data only: no imports, safe to load from either side.

export const SERVER_INFO = Object.freeze({ name: 'mcpgw-conformance-backend', version: '1.0.0' });
export const SERVER_INSTRUCTIONS = 'mcpgw e2e backend: conformance test_* tools plus echo/slow helpers.';

// 1x1 red pixel PNG.
export const PNG_1X1_BASE64 =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';

// Minimal valid RIFF/WAVE: mono, 16-bit, 8 kHz, 8 silent samples.
export const WAV_BASE64 = (() => {
  const samples = 8;
  const dataLen = samples * 2;
  const b = new Uint8Array(44 + dataLen);
  const v = new DataView(b.buffer);
  const ascii = (off, s) => { for (let i = 0; i < s.length; i++) b[off + i] = s.charCodeAt(i); };
  ascii(0, 'RIFF'); v.setUint32(4, 36 + dataLen, true); ascii(8, 'WAVE');
  ascii(12, 'fmt '); v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true);
  v.setUint32(24, 8000, true); v.setUint32(28, 16000, true); v.setUint16(32, 2, true); v.setUint16(34, 16, true);
  ascii(36, 'data'); v.setUint32(40, dataLen, true);
  return Buffer.from(b).toString('base64');
})();

export const SIMPLE_TEXT = 'This is a simple text response for testing.';
export const ERROR_TEXT = 'This tool intentionally returns an error for testing';
export const STATIC_TEXT = 'This is the content of the static text resource.';
export const EMBEDDED_RESOURCE = Object.freeze({
  uri: 'test://embedded-resource',
  mimeType: 'text/plain',
  text: 'This is an embedded resource content.',
});
export const MIXED_CONTENT = Object.freeze([
  { type: 'text', text: 'Multiple content types test:' },
  { type: 'image', data: PNG_1X1_BASE64, mimeType: 'image/png' },
  {
    type: 'resource',
    resource: { uri: 'test://mixed-content-resource', mimeType: 'application/json', text: '{"test":"data","value":123}' },
  },
]);

// Exactly the schema from the conformance suite's json-schema-2020-12 scenario. Key order
// matters for the byte-level pass-through test: this is the order the backend emits.
export const JSON_SCHEMA_2020_12_TOOL = 'json_schema_2020_12_tool';
export const JSON_SCHEMA_2020_12_INPUT = Object.freeze({
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  $defs: {
    address: {
      type: 'object',
      properties: { street: { type: 'string' }, city: { type: 'string' } },
    },
  },
  properties: {
    name: { type: 'string' },
    address: { $ref: '#/$defs/address' },
  },
  additionalProperties: false,
});

export const ELICITATION_SCHEMA = Object.freeze({
  type: 'object',
  properties: {
    username: { type: 'string', description: "User's response" },
    email: { type: 'string', description: "User's email address" },
  },
  required: ['username', 'email'],
});

export const SEP1034_SCHEMA = Object.freeze({
  type: 'object',
  properties: {
    name: { type: 'string', description: 'User name', default: 'John Doe' },
    age: { type: 'integer', description: 'User age', default: 30 },
    score: { type: 'number', description: 'User score', default: 95.5 },
    status: { type: 'string', description: 'User status', enum: ['active', 'inactive', 'pending'], default: 'active' },
    verified: { type: 'boolean', description: 'Verification status', default: true },
  },
  required: [],
});

export const SEP1330_SCHEMA = Object.freeze({
  type: 'object',
  properties: {
    untitledSingle: { type: 'string', description: 'Untitled single-select', enum: ['option1', 'option2', 'option3'] },
    titledSingle: {
      type: 'string',
      description: 'Titled single-select',
      oneOf: [
        { const: 'value1', title: 'First Option' },
        { const: 'value2', title: 'Second Option' },
        { const: 'value3', title: 'Third Option' },
      ],
    },
    legacyEnum: {
      type: 'string',
      description: 'Legacy titled enum',
      enum: ['opt1', 'opt2', 'opt3'],
      enumNames: ['Option One', 'Option Two', 'Option Three'],
    },
    untitledMulti: {
      type: 'array',
      description: 'Untitled multi-select',
      items: { type: 'string', enum: ['option1', 'option2', 'option3'] },
    },
    titledMulti: {
      type: 'array',
      description: 'Titled multi-select',
      items: {
        anyOf: [
          { const: 'value1', title: 'First Choice' },
          { const: 'value2', title: 'Second Choice' },
          { const: 'value3', title: 'Third Choice' },
        ],
      },
    },
  },
  required: [],
});

export const RESOURCES = Object.freeze({
  staticText: { uri: 'test://static-text', name: 'static-text', mimeType: 'text/plain', description: 'A static text resource' },
  staticBinary: { uri: 'test://static-binary', name: 'static-binary', mimeType: 'image/png', description: 'A static binary resource (1x1 PNG)' },
  watched: { uri: 'test://watched-resource', name: 'watched-resource', mimeType: 'text/plain', description: 'A resource that supports subscriptions' },
});
export const TEMPLATE = Object.freeze({
  uriTemplate: 'test://template/{id}/data',
  name: 'template-data',
  mimeType: 'application/json',
  description: 'A resource template with an id parameter',
});
export const templateText = (id) => JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` });
export const TEMPLATE_IDS = Object.freeze(['1', '12', '123', '42']);
export const ARG1_COMPLETIONS = Object.freeze(['test1', 'test2', 'testValue1', 'other']);

export const PROMPT_SIMPLE_TEXT = 'This is a simple prompt for testing.';
export const promptWithArgsText = (a1, a2) => `Prompt with arguments: arg1='${a1}', arg2='${a2}'`;
export const PROMPT_EMBEDDED_TEXT = 'Embedded resource content for testing.';

export const LOG_LEVELS = Object.freeze(['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency']);
export const RECONNECTION_TEXT = 'Reconnection test completed successfully';
