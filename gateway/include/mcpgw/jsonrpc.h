// The JSON-RPC envelope of an MCP message, decoded once (simdjson on-demand) so the gateway can
// route, map ids and filter without re-serializing: the payload is forwarded as bytes, and the
// few tokens the gateway rewrites (ids, progress tokens) are spliced by offset.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgw::jsonrpc {

// Standard JSON-RPC codes, and the gateway's own in the implementation-defined range.
enum error_code : int {
  parse_error = -32700,
  invalid_request = -32600,
  method_not_found = -32601,
  invalid_params = -32602,
  internal_error = -32603,
  backend_unavailable = -32050,     // the backend could not be reached or failed mid-response
  backend_timeout = -32051,         // the backend did not answer within its deadline
  backend_protocol_error = -32052,  // the backend answered something that is not MCP
  rate_limited = -32029,            // a rate limit refused the call
  unauthorized = -32041,            // no valid credentials (HTTP 401)
  forbidden = -32043,               // valid credentials, not allowed (HTTP 403)
};

enum class message_kind : std::uint8_t { request, notification, result, error, invalid };

// A byte range of the decoded text; length 0 means absent.
struct token {
  std::uint32_t offset = 0;
  std::uint32_t length = 0;
  bool present() const { return length != 0; }
  std::string_view in(std::string_view text) const { return text.substr(offset, length); }
};

// A JSON string value: a view of the source text when it has no escapes, else an owned copy.
struct json_string {
  std::string_view view;
  std::string owned;
  bool escaped = false;
  std::string_view str() const { return escaped ? std::string_view(owned) : view; }
};

struct envelope {
  message_kind kind = message_kind::invalid;
  token id;  // raw id token: `7` or `"abc"`
  json_string method;
  json_string name;      // params.name (tools/call, prompts/get)
  json_string uri;       // params.uri (resources/read, resources/subscribe, ...)
  token arguments;       // params.arguments, the raw JSON value (tools/call, prompts/get)
                         // (a message that repeats it, like name or uri, is invalid)
  token progress_token;  // params._meta.progressToken (requests), params.progressToken (progress)
  token request_id;      // params.requestId (notifications/cancelled)
  // W3C trace context in params._meta: the raw string tokens (quotes included).
  token traceparent;
  token tracestate;
  // Where a key can be inserted: just after the '{' of params and of params._meta (0: that
  // object is absent); `has_params` is true for array params too.
  std::uint32_t params_open = 0;
  std::uint32_t meta_open = 0;
  bool has_params = false;
  json_string protocol_version;  // params.protocolVersion, or result.protocolVersion
  int error_code = 0;            // error.code (error responses)
  bool tool_error = false;       // result.isError is true (a tool that failed)
  json_string error_message;     // error.message (error responses)
  std::string problem;           // why the message is invalid
  int problem_code = 0;          // parse_error or invalid_request when kind == invalid
};

// One decoded body: a single message or a 2025-03-26 batch.
struct decoded_body {
  bool batch = false;
  envelope single;              // when !batch
  std::vector<token> elements;  // when batch: each element's text within the body
  int problem_code = 0;         // parse_error / invalid_request for the body as a whole
  std::string problem;
};

class decoder {
 public:
  decoder();
  ~decoder();
  decoder(const decoder&) = delete;
  decoder& operator=(const decoder&) = delete;

  // `text` must stay alive while the result's views are used.
  decoded_body decode_body(std::string_view text);
  envelope decode(std::string_view text);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// The simdjson kernel the decoder was compiled for ("westmere", "haswell", ...; "fallback" is
// scalar code): the on-demand API has no runtime dispatch, so the build flags decide it.
std::string_view simd_kernel();

// What a request is about, as policies name it: params.uri for resources/*, else params.name.
// Each key is read on its own, so a message carrying both cannot pass a check with one and
// act on the other.
inline std::string_view subject_of(const envelope& env) {
  return env.method.str().starts_with("resources/") ? env.uri.str() : env.name.str();
}

// Replaces the bytes of `at` in `text` with `replacement`.
std::string splice(std::string_view text, token at, std::string_view replacement);
// Two replacements in one copy; tokens must not overlap (order does not matter).
std::string splice(std::string_view text, token a, std::string_view ra, token b,
                   std::string_view rb);
// Any number of replacements in one copy; a token of length 0 is an insertion at its offset.
// Tokens must not overlap; they are applied in offset order whatever their order here.
struct edit {
  token at;
  std::string_view replacement;
};
std::string splice(std::string_view text, std::span<edit> edits);

// {"jsonrpc":"2.0","id":<id_raw or null>,"error":{"code":c,"message":"..."}}
std::string make_error(std::string_view id_raw, int code, std::string_view message);
// The JSON string literal for `text` (quotes included, escaped as needed).
std::string quote(std::string_view text);
// The same, appended to `out` (no temporary string).
void append_quoted(std::string& out, std::string_view text);
// The same, written at `out`, which has room for quoted_bound(text.size()) bytes; returns the
// end of what it wrote. For formatters that size their buffer once.
char* write_quoted(char* out, std::string_view text);
constexpr std::size_t quoted_bound(std::size_t size) { return 6 * size + 2; }  // all \u00XX
// params.capabilities of an initialize request, as the client wrote it ("{}" when absent or
// unreadable): kept in the session record.
std::string client_capabilities(std::string_view initialize_body);

}  // namespace mcpgw::jsonrpc
