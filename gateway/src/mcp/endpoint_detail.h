// Pieces shared by the two halves of the Streamable HTTP endpoint (request handling in
// streamable_http.cc, stream relaying in streamable_http_relay.cc). Internal to gateway/src/mcp.
#pragma once

#include "mcp/session.h"
#include "mcp/streamable_http.h"
#include "mcpgw/http_headers.h"
#include "mcpgw/jsonrpc.h"
#include "mcpgw/sse.h"

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace mcpgw::endpoint_detail {

inline constexpr std::string_view json_type = "application/json";
inline constexpr unsigned priming_retry_ms = 1000;
inline constexpr int max_backend_resumptions = 5;
// The HTTP+SSE transport's protocol version; sessions on the legacy endpoints may negotiate it.
inline constexpr std::string_view legacy_protocol_version = "2024-11-05";

// Error codes the TypeScript SDK server uses for transport-level failures, kept for clients
// that match on them.
inline constexpr int transport_error = -32000;
inline constexpr int session_not_found = -32001;

using session_header = std::array<std::pair<std::string_view, std::string_view>, 1>;

inline std::string_view header_of(const client_request& req, http::field f) { return req[f]; }

inline std::string_view header_of(const client_request& req, std::string_view name) {
  return req[name];
}

// Priming events (an id with empty data) only from 2025-11-25: older clients choke on them.
inline bool wants_priming(std::string_view version) {
  return http_headers::at_least(version, "2025-11-25");
}

inline std::string format_event(const event_stream& stream, std::uint64_t seq,
                                std::string_view data) {
  std::string out;
  out.reserve(data.size() + 48);
  sse::append_event(out, stream.legacy() ? std::string() : stream.event_id(seq), data);
  return out;
}

inline int failure_code(backend_failure f) {
  switch (f) {
    case backend_failure::timeout:
      return jsonrpc::backend_timeout;
    case backend_failure::protocol:
      return jsonrpc::backend_protocol_error;
    case backend_failure::unavailable:
    case backend_failure::none:
      break;
  }
  return jsonrpc::backend_unavailable;
}

// An initialize result: the version the backend chose becomes the session's, if the gateway
// speaks it; otherwise the result is replaced by an error (m.body) and false is returned.
inline bool accept_negotiated(session& s, session::mapped& m, std::int64_t upstream_id) {
  if (m.is_error) {
    return true;
  }
  if (http_headers::is_supported_protocol_version(m.protocol_version) ||
      ((s.is_legacy() || s.route().sse) && m.protocol_version == legacy_protocol_version)) {
    s.set_protocol_version(m.protocol_version);
    return true;
  }
  m.body = jsonrpc::make_error(s.client_id_of(upstream_id), jsonrpc::backend_protocol_error,
                               "backend '" + s.backend_name() + "' negotiated protocol version '" +
                                   m.protocol_version.substr(0, 40) +
                                   "', which the gateway does not support");
  m.is_error = true;
  return false;
}

// A batch element the gateway answers itself (invalid, or an initialize, which a batch must
// not carry): the error to put in the batch's answer, else empty.
inline std::string batch_element_error(const jsonrpc::envelope& env, std::string_view id) {
  if (env.kind == jsonrpc::message_kind::invalid) {
    return jsonrpc::make_error(id, env.problem_code, env.problem);
  }
  if (env.kind == jsonrpc::message_kind::request && env.method.str() == "initialize") {
    return jsonrpc::make_error(id, jsonrpc::invalid_request,
                               "initialize must not be part of a JSON-RPC batch");
  }
  return {};
}

// The client request's headers, as filters read them.
class beast_headers final : public request_headers {
 public:
  explicit beast_headers(const client_request& req) : req_(req) {}
  std::string_view get(std::string_view name) const override { return header_of(req_, name); }

 private:
  const client_request& req_;
};

// Starts a stdio pool's refill when the scope ends: an initialize that took a warm process
// answers first and spawns the replacement after (a spawn stalls the event loop briefly).
class refill_after_answer {
 public:
  explicit refill_after_answer(stdio_backend* pool) : pool_(pool) {}
  ~refill_after_answer() {
    if (pool_ != nullptr) {
      pool_->ensure_refill();
    }
  }
  refill_after_answer(const refill_after_answer&) = delete;
  refill_after_answer& operator=(const refill_after_answer&) = delete;

 private:
  stdio_backend* pool_;
};

// A request's staged completion (see session::stage_completion), fired when the scope ends if
// the request was never mapped onto the backend: refused by the gateway before it got there.
class staged_completion {
 public:
  staged_completion(session& s, std::string_view client_id) : s_(s), client_id_(client_id) {}
  ~staged_completion() {
    s_.unstage_completion(client_id_,
                          message_.empty() ? request_outcome::abandoned : request_outcome::error,
                          code_, message_);
  }
  staged_completion(const staged_completion&) = delete;
  staged_completion& operator=(const staged_completion&) = delete;
  // What the gateway answered instead, should the request end unmapped.
  void failed(int code, std::string message) {
    code_ = code;
    message_ = std::move(message);
  }

 private:
  session& s_;
  std::string client_id_;
  int code_ = 0;
  std::string message_;
};

// The trace context a backend request carries, copied out of the session's books before the
// send waits (the request may leave them meanwhile): the traceparent in the object, a
// tracestate (rare) on the heap. Empty for upstream id -1 (no request) or no context.
struct sent_trace {
  sent_trace(const session& s, std::int64_t upstream_id) {
    if (upstream_id >= 0) {
      const session::trace_values values = s.trace_of(upstream_id);
      traceparent.assign(values.traceparent);
      tracestate.assign(values.tracestate);
    }
  }
  inline_text<trace::traceparent_size> traceparent;
  std::string tracestate;
};

// Counts a request in flight on a session for as long as it lives.
class active_request {
 public:
  explicit active_request(std::shared_ptr<session> s) : s_(std::move(s)) {
    ++s_->active_requests();
  }
  ~active_request() {
    --s_->active_requests();
    s_->touch();
  }
  active_request(const active_request&) = delete;
  active_request& operator=(const active_request&) = delete;

 private:
  std::shared_ptr<session> s_;
};

}  // namespace mcpgw::endpoint_detail
