#include "audit/audit_filter.h"

#include "mcpgw/jsonrpc.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <charconv>
#include <chrono>
#include <cstring>
#include <ctime>
#include <vector>

namespace mcpgw::plugins::audit {
namespace {

// "2026-11-21T13:24:39.422Z" at `p` (26 bytes); returns the end. The date and time of day
// change once a second, so they are formatted once per second (per thread) and only the
// milliseconds every time.
char* write_iso_time(char* p, std::chrono::system_clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch());
  const std::time_t secs = static_cast<std::time_t>(ms.count() / 1000);
  thread_local std::time_t cached_secs = -1;
  thread_local char cached[24];  // "YYYY-MM-DDTHH:MM:SS"
  thread_local std::size_t cached_size = 0;
  if (secs != cached_secs) {
    std::tm tm{};
    gmtime_r(&secs, &tm);
    cached_size = std::strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &tm);
    cached_secs = secs;
  }
  const auto milli = static_cast<int>(ms.count() % 1000);
  *p++ = '"';
  std::memcpy(p, cached, cached_size);
  p += cached_size;
  const char frac[6] = {'.',
                        static_cast<char>('0' + milli / 100),
                        static_cast<char>('0' + milli / 10 % 10),
                        static_cast<char>('0' + milli % 10),
                        'Z',
                        '"'};
  std::memcpy(p, frac, sizeof frac);
  return p + sizeof frac;
}

// A writer into a buffer sized for the whole record beforehand: no capacity check per field.
struct cursor {
  char* p;

  void raw(std::string_view text) {
    if (!text.empty()) {  // an empty view may have no data() at all
      std::memcpy(p, text.data(), text.size());
      p += text.size();
    }
  }
  void field(std::string_view key, std::string_view value) {
    raw(key);
    p = jsonrpc::write_quoted(p, value);
  }
  // A value that is hex by construction (trace and span ids, validated or minted; digests):
  // nothing in it to escape, so no scan for it.
  void hex_field(std::string_view key, std::string_view value) {
    raw(key);
    *p++ = '"';
    raw(value);
    *p++ = '"';
  }
  template <typename T>
  void number(std::string_view key, T value) {
    raw(key);
    p = std::to_chars(p, p + max_number, value).ptr;
  }
  // Milliseconds with six decimals, as std::to_string's %f wrote them, from whole nanoseconds.
  void milliseconds(std::string_view key, std::int64_t nanos) {
    raw(key);
    if (nanos < 0) {
      *p++ = '-';
      nanos = -nanos;
    }
    p = std::to_chars(p, p + max_number, nanos / 1000000).ptr;
    *p++ = '.';
    char digits[6];
    std::int64_t rest = nanos % 1000000;
    for (int i = 5; i >= 0; --i, rest /= 10) {
      digits[i] = static_cast<char>('0' + rest % 10);
    }
    raw(std::string_view(digits, sizeof digits));
  }

  static constexpr std::size_t max_number = 24;  // an int64 or a size_t, and a sign
};

std::string_view outcome_of(const request_record& r) {
  switch (r.outcome) {
    case request_outcome::answered:
      return r.tool_error ? "tool_error" : "ok";
    case request_outcome::error:
      return r.error_code <= jsonrpc::backend_unavailable && r.error_code >= -32059
                 ? "backend_failure"
                 : "error";
    case request_outcome::rejected:
      return r.error_code == jsonrpc::rate_limited ? "rate_limited"
             : r.error_code <= jsonrpc::backend_unavailable && r.error_code >= -32059
                 ? "backend_failure"  // a circuit breaker refused it
                 : "denied";
    case request_outcome::cancelled:
      return "cancelled";
    case request_outcome::abandoned:
      return "abandoned";
  }
  return "abandoned";
}

bool has_arguments(std::string_view method) {
  return method == "tools/call" || method == "prompts/get";
}

}  // namespace

audit_filter::audit_filter(audit_config config, const filter_services& services,
                           const void* shared_key)
    : config_(std::move(config)), executor_(services.executor) {
  // Every worker's filter writes into one log: one file, one chain, one writer thread.
  bool made = true;
  const auto make = [&] { return new audit_log(config_.log, services.log); };
  log_ = services.shared != nullptr
             ? services.shared->get_or_make<audit_log>(shared_key, make, &made)
             : std::shared_ptr<audit_log>(make());
  if (services.stats != nullptr && made) {
    count_into(*services.stats);  // once: the counts are the log's, not a worker's
  }
}

void audit_filter::count_into(metrics& m) {
  // The writer thread keeps its own atomic counts; a scrape adds what changed since the last.
  auto* written = &m.audit_written.Add({});
  auto* failures = &m.audit_failures.Add({});
  auto* queue = &m.audit_queue.Add({});
  m.on_scrape([this, written, failures, queue, seen_written = std::uint64_t{0},
               seen_failures = std::uint64_t{0}]() mutable {
    const std::uint64_t w = log_->stats().written.load(std::memory_order_relaxed);
    const std::uint64_t f = log_->stats().write_errors.load(std::memory_order_relaxed);
    written->Increment(static_cast<double>(w - seen_written));
    failures->Increment(static_cast<double>(f - seen_failures));
    seen_written = w;
    seen_failures = f;
    queue->Set(static_cast<double>(log_->depth()));
  });
}

std::string audit_filter::format(const request_record& record, std::string_view arguments,
                                 std::string_view digest) {
  std::string out;
  format_into(out, record, arguments, digest);
  return out;
}

void audit_filter::format_into(std::string& out, const request_record& r,
                               std::string_view arguments, std::string_view digest) {
  using jsonrpc::quoted_bound;
  // This runs on the event loop for every request: the record is written at a pointer into a
  // buffer as large as a bound of its size (every string fully escaped), then appended to
  // `out` in one copy. The buffer grows to the largest record a thread has written.
  const std::string_view message = std::string_view(r.error_message).substr(0, 300);
  const std::string_view outcome = outcome_of(r);
  const std::string_view via = to_string(r.who.via);
  constexpr std::size_t keys_and_numbers = 512;  // the keys, time, code, latency and sizes
  const std::size_t bound =
      keys_and_numbers + quoted_bound(r.who.tenant.size()) + quoted_bound(r.who.subject.size()) +
      quoted_bound(via.size()) + quoted_bound(r.session_id.size()) + quoted_bound(r.route.size()) +
      quoted_bound(r.backend.size()) + quoted_bound(r.method.size()) + quoted_bound(r.name.size()) +
      r.client_id.size() + quoted_bound(outcome.size()) + quoted_bound(message.size()) +
      quoted_bound(r.request_id.size()) + quoted_bound(r.trace_id.size()) +
      quoted_bound(r.span_id.size()) + quoted_bound(r.parent_id.size()) +
      quoted_bound(digest.size()) + arguments.size();
  thread_local std::vector<char> buffer;
  if (buffer.size() < bound) {
    buffer.resize(bound);
  }
  cursor c{buffer.data()};
  c.raw("\"time\":");
  c.p = write_iso_time(c.p, r.started);
  c.field(",\"tenant\":", r.who.tenant);
  c.field(",\"principal\":", r.who.subject);
  c.field(",\"auth\":", via);
  c.field(",\"session\":", r.session_id);
  c.field(",\"route\":", r.route);
  c.field(",\"backend\":", r.backend);
  c.field(",\"method\":", r.method);
  if (!r.name.empty()) {
    c.field(",\"name\":", r.name);
  }
  if (!r.client_id.empty()) {
    c.raw(",\"id\":");
    c.raw(r.client_id);  // the raw JSON token: a number or a string
  }
  c.field(",\"outcome\":", outcome);
  if (r.error_code != 0) {
    c.number(",\"code\":", r.error_code);
    c.field(",\"message\":", message);
  }
  if (!r.request_id.empty()) {
    c.field(",\"request_id\":", r.request_id);
  }
  if (!r.trace_id.empty()) {
    c.hex_field(",\"trace_id\":", r.trace_id);
    if (!r.span_id.empty()) {
      c.hex_field(",\"span_id\":", r.span_id);
    }
    if (!r.parent_id.empty()) {
      c.hex_field(",\"parent_span_id\":", r.parent_id);
    }
  }
  c.milliseconds(",\"latency_ms\":",
                 std::chrono::duration_cast<std::chrono::nanoseconds>(r.elapsed).count());
  c.number(",\"request_bytes\":", r.request_bytes);
  c.number(",\"response_bytes\":", r.response_bytes);
  if (!digest.empty()) {
    c.hex_field(",\"args_sha256\":", digest);
    c.raw(",\"args\":");
    c.raw(arguments);
  }
  out.append(buffer.data(), static_cast<std::size_t>(c.p - buffer.data()));
  if (buffer.size() > (std::size_t{1} << 20)) {
    buffer = {};  // a record with huge arguments does not pin its buffer for ever
  }
}

std::optional<filter_status> audit_filter::try_request(message_context& ctx) {
  if (ctx.kind != jsonrpc::message_kind::request &&
      ctx.kind != jsonrpc::message_kind::notification) {
    return filter_status::next;  // the client's answers to server requests
  }
  if (!log_->has_room()) {
    if (config_.on_full == when_full::wait) {
      return std::nullopt;  // on_request waits for room
    }
    return refuse_full(ctx);
  }
  return note(ctx);
}

net::awaitable<filter_status> audit_filter::on_request(message_context& ctx) {
  if (auto now = try_request(ctx)) {
    co_return *now;
  }
  // The queue is full and on_full is wait. Back-pressure: the request waits (the event loop
  // does not) until the writer catches up.
  ++stats_.waited;
  net::steady_timer timer(executor_);
  const auto deadline = std::chrono::steady_clock::now() + config_.max_wait;
  bool room = false;
  while (!room && std::chrono::steady_clock::now() < deadline) {
    timer.expires_after(std::chrono::milliseconds(2));
    co_await timer.async_wait(net::as_tuple(net::use_awaitable));
    room = log_->has_room();
  }
  co_return room ? note(ctx) : refuse_full(ctx);
}

filter_status audit_filter::refuse_full(message_context& ctx) {
  ++stats_.rejected;
  ctx.reply.status = 503;
  ctx.reply.code = -32000;
  ctx.reply.message =
      "the audit log cannot keep up (audit.queue = " + std::to_string(config_.log.queue) +
      " records waiting); retry shortly";
  ctx.reply.headers.push_back({"Retry-After", "1"});
  return filter_status::stop;  // the refusal is recorded at completion like any other
}

filter_status audit_filter::note(message_context& ctx) {
  if (ctx.kind == jsonrpc::message_kind::notification) {
    request_record r;
    r.who = ctx.who;
    r.route = ctx.route;
    r.backend = ctx.backend;
    r.session_id = ctx.session_id;
    r.method = ctx.method;
    r.name = ctx.name;
    r.started = std::chrono::system_clock::now();
    r.outcome = request_outcome::answered;
    r.request_bytes = ctx.body.size();
    scratch_.clear();
    format_into(scratch_, r, {}, {});
    log_->push(scratch_);
    return filter_status::next;
  }
  if (ctx.record == nullptr) {
    return filter_status::next;  // a context built without its record: nothing to keep
  }
  // What the record needs is kept in the record itself, which travels with the request to its
  // completion (no map keyed by session and id, nothing left behind if a request is lost).
  request_record& record = *ctx.record;
  if (has_arguments(ctx.method)) {
    // The gateway's decoder found params.arguments; a context without them (built elsewhere)
    // has its body searched.
    if (ctx.arguments.empty()) {
      audited_arguments args = audit_arguments(ctx.body, config_.redaction);
      record.arguments = std::move(args.redacted);
      record.arguments_sha256 = args.digest;
    } else {
      // Into the record's own buffer, which records reused per thread keep.
      record.arguments_sha256 =
          audit_argument_value(ctx.arguments, config_.redaction, record.arguments);
    }
  }
  record.arguments_kept = true;
  return filter_status::next;
}

void audit_filter::on_complete(const request_record& record) {
  scratch_.clear();
  if (record.arguments_kept) {
    format_into(scratch_, record, record.arguments, record.arguments_sha256);
  } else {
    // Stopped by a filter before this one (or at the HTTP level): recorded all the same, with
    // its arguments from the body the refusal kept.
    audited_arguments args;
    if (has_arguments(record.method) && !record.request_body.empty()) {
      args = audit_arguments(record.request_body, config_.redaction);
    }
    format_into(scratch_, record, args.redacted, args.digest);
  }
  log_->push(scratch_);
}

}  // namespace mcpgw::plugins::audit
