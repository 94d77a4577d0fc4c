// W3C Trace Context (traceparent, tracestate) for requests crossing the gateway: read from the
// client's HTTP headers or params._meta, continued with a span of the gateway's own, and sent
// to the backend in both places. Sans-I/O; the endpoint and the session call it.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mcpgw::trace {

struct context {
  std::array<char, 32> trace_id{};  // lower-case hex
  std::array<char, 16> span_id{};   // the caller's span (parent-id in the header)
  std::uint8_t flags = 0;

  std::string_view trace() const { return {trace_id.data(), trace_id.size()}; }
  std::string_view span() const { return {span_id.data(), span_id.size()}; }
};

// tracestate longer than this is not passed on (W3C: 512 characters at least must be kept).
constexpr std::size_t max_tracestate = 512;
// "00-" + 32 + "-" + 16 + "-" + 2
constexpr std::size_t traceparent_size = 55;

// A traceparent header value, or nullopt when it is not one: W3C level 1 (version 00: exactly
// the four fields; a later version: at least them, version ff refused), lower-case hex, trace
// and parent ids not all zero.
std::optional<context> parse_traceparent(std::string_view text);

// A tracestate worth passing on: at most max_tracestate characters of printable ASCII.
bool valid_tracestate(std::string_view text);

// Random ids from a fast generator seeded once from the OS: trace ids only need to be unique.
// SplitMix64: a 64-bit counter through a mixing function, every output distinct until the
// counter wraps; a few instructions a draw where mt19937_64 regenerated 2.5 KiB of state every
// 312 draws (each request draws four times).
class id_source {
 public:
  id_source();
  context new_trace();
  std::array<char, 16> new_span();

 private:
  void fill(char* out, std::size_t hex_digits);
  std::uint64_t next();
  std::uint64_t state_;
};

// What one HTTP request carried for correlation (views into it; empty when absent): its trace
// context headers and its X-Request-Id (the client's, or one the gateway minted).
struct carried {
  std::string_view traceparent;
  std::string_view tracestate;
  std::string_view request_id;
};

// The context a message continues: its params._meta.traceparent (`meta_raw`, the JSON string
// token with its quotes) when valid, else its HTTP request's header, else none.
std::optional<context> incoming(std::string_view meta_raw, std::string_view header);

// X-Request-Id values taken as given: 1 to 128 characters of [A-Za-z0-9._:-]. Others are
// replaced by a minted id.
bool valid_request_id(std::string_view id);

// observability.tracing, with the endpoint's id source.
struct settings {
  id_source ids;
  bool generate = true;  // begin a trace for requests that carry none
  bool meta = true;      // carry it in params._meta to backends as well as in headers
};

// "00-<trace>-<span>-<flags>": the header value a backend receives, `span` being the gateway's.
std::array<char, traceparent_size> format(const context& trace, const std::array<char, 16>& span);

}  // namespace mcpgw::trace
