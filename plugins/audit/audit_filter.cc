#include "audit/audit_filter.h"

#include "mcpgw/jsonrpc.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <charconv>
#include <chrono>
#include <ctime>

namespace mcpgw::plugins::audit {
namespace {

// "2026-11-21T13:24:39.422Z" into `out`. The date and time of day change once a second, so
// they are formatted once per second (per thread) and only the milliseconds every time.
void append_iso_time(std::string& out, std::chrono::system_clock::time_point t) {
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
  const char frac[5] = {'.', static_cast<char>('0' + milli / 100),
                        static_cast<char>('0' + milli / 10 % 10),
                        static_cast<char>('0' + milli % 10), 'Z'};
  out.push_back('"');
  out.append(cached, cached_size);
  out.append(frac, sizeof frac);
  out.push_back('"');
}

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

// Into `key` (whose capacity is reused): one allocation at most, and none once it has grown.
std::string& key_of(std::string& key, std::string_view session, std::string_view id) {
  key.clear();
  key += session;
  key += '\n';
  key += id;
  return key;
}

bool has_arguments(std::string_view method) {
  return method == "tools/call" || method == "prompts/get";
}

}  // namespace

audit_filter::audit_filter(audit_config config, const filter_services& services)
    : config_(std::move(config)),
      executor_(services.executor),
      log_(std::make_unique<audit_log>(config_.log, services.log)) {
  if (services.stats != nullptr) {
    count_into(*services.stats);
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
  using jsonrpc::append_quoted;
  out.reserve(out.size() + 1024 + arguments.size());
  // One buffer, appended to in place: this runs on the event loop for every request.
  const auto field = [&out](std::string_view key, std::string_view value) {
    out += key;
    append_quoted(out, value);
  };
  const auto number = [&out](std::string_view key, auto value) {
    out += key;
    char digits[32];
    const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
    out.append(digits, end);
  };
  out += "\"time\":";
  append_iso_time(out, r.started);
  field(",\"tenant\":", r.who.tenant);
  field(",\"principal\":", r.who.subject);
  field(",\"auth\":", to_string(r.who.via));
  field(",\"session\":", r.session_id);
  field(",\"route\":", r.route);
  field(",\"backend\":", r.backend);
  field(",\"method\":", r.method);
  if (!r.name.empty()) {
    field(",\"name\":", r.name);
  }
  if (!r.client_id.empty()) {
    out += ",\"id\":";
    out += r.client_id;  // the raw JSON token: a number or a string
  }
  field(",\"outcome\":", outcome_of(r));
  if (r.error_code != 0) {
    number(",\"code\":", r.error_code);
    field(",\"message\":", std::string_view(r.error_message).substr(0, 300));
  }
  if (!r.request_id.empty()) {
    field(",\"request_id\":", r.request_id);
  }
  if (!r.trace_id.empty()) {
    field(",\"trace_id\":", r.trace_id);
    if (!r.span_id.empty()) {
      field(",\"span_id\":", r.span_id);
    }
    if (!r.parent_id.empty()) {
      field(",\"parent_span_id\":", r.parent_id);
    }
  }
  // Milliseconds with six decimals, as std::to_string's %f wrote them.
  const auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(r.elapsed).count();
  out += ",\"latency_ms\":";
  char latency[40];
  const auto latency_end =
      std::to_chars(latency, latency + sizeof latency, static_cast<double>(nanos) / 1e6,
                    std::chars_format::fixed, 6)
          .ptr;
  out.append(latency, latency_end);
  number(",\"request_bytes\":", r.request_bytes);
  number(",\"response_bytes\":", r.response_bytes);
  if (!digest.empty()) {
    field(",\"args_sha256\":", digest);
    out += ",\"args\":";
    out += arguments;
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
  audited_arguments args;
  if (has_arguments(ctx.method)) {
    // The gateway's decoder found params.arguments; a context without them (built elsewhere)
    // has its body searched.
    args = ctx.arguments.empty() ? audit_arguments(ctx.body, config_.redaction)
                                 : audit_argument_value(ctx.arguments, config_.redaction);
  }
  pending_.insert_or_assign(key_of(key_, ctx.session_id, ctx.id),
                            std::pair(std::move(args.redacted), std::move(args.digest)));
  return filter_status::next;
}

void audit_filter::on_complete(const request_record& record) {
  auto it = pending_.find(key_of(key_, record.session_id, record.client_id));
  if (it == pending_.end()) {
    // Stopped by a filter before this one (or at the HTTP level): recorded all the same, with
    // its arguments from the body the refusal kept.
    audited_arguments args;
    if (has_arguments(record.method) && !record.request_body.empty()) {
      args = audit_arguments(record.request_body, config_.redaction);
    }
    scratch_.clear();
    format_into(scratch_, record, args.redacted, args.digest);
    log_->push(scratch_);
    return;
  }
  scratch_.clear();
  format_into(scratch_, record, it->second.first, it->second.second);
  log_->push(scratch_);
  pending_.erase(it);
}

}  // namespace mcpgw::plugins::audit
