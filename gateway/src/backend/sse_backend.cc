#include "backend/sse_backend.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

namespace mcpgw {

namespace {

constexpr auto tuple_awaitable = net::as_tuple(net::use_awaitable);

}  // namespace

sse_channel::sse_channel(http_backend& http, logger& log, std::string tenant)
    : message_channel(http.executor()), http_(http), tenant_(std::move(tenant)), log_(log) {}

sse_channel::~sse_channel() = default;

std::string sse_channel::resolve_endpoint(std::string_view data, std::string& error) const {
  // RFC 3986 resolution against the stream's URL, as the SDK's client does it; then only the
  // backend's own origin: an endpoint event must not send the session's messages elsewhere.
  auto base = boost::urls::parse_uri(http_.config().http.url);
  auto ref = boost::urls::parse_uri_reference(data);
  boost::urls::url resolved;
  if (!base || !ref || data.empty() || !boost::urls::resolve(*base, *ref, resolved)) {
    error = "its endpoint event is not a URL: '" + std::string(data.substr(0, 200)) + "'";
    return {};
  }
  if (resolved.scheme() != base->scheme() ||
      resolved.encoded_authority() != base->encoded_authority()) {
    error = "its endpoint event names another origin: '" + std::string(data.substr(0, 200)) + "'";
    return {};
  }
  resolved.normalize_path();
  std::string target(resolved.encoded_path());
  if (target.empty()) {
    target = "/";
  }
  if (resolved.has_query()) {
    target += '?';
    target += resolved.encoded_query();
  }
  return target;  // without the fragment, which never goes on the wire
}

net::awaitable<bool> sse_channel::open(std::string& error) {
  backend_request get;
  get.method = http::verb::get;
  get.stream = true;
  get.tenant = tenant_;
  auto [failure, exchange] = co_await http_.send(get);
  if (failure != backend_failure::none) {
    error = failure == backend_failure::timeout ? "did not answer in time" : "is unavailable";
    co_return false;
  }
  if (exchange->status() != 200 || !exchange->is_sse()) {
    error = "answered its SSE URL with HTTP " + std::to_string(exchange->status()) +
            (exchange->is_sse() ? "" : " and no event stream");
    co_return false;
  }
  stream_ = std::move(exchange);
  // The endpoint event comes first; a backend that never sends it is given up on.
  net::steady_timer deadline(http_.executor());
  deadline.expires_after(http_.config().http.timeout);
  bool timed_out = false;
  auto* stream = stream_.get();
  deadline.async_wait([stream, &timed_out](boost::system::error_code ec) {
    if (!ec) {
      timed_out = true;
      stream->cancel();
    }
  });
  sse::event ev;
  while (endpoint_.empty()) {
    if (co_await stream_->next_event(ev) != event_status::event) {
      break;
    }
    if (ev.type == "endpoint") {
      endpoint_ = resolve_endpoint(ev.data, error);
      if (endpoint_.empty()) {
        break;
      }
    }
  }
  deadline.cancel();
  if (endpoint_.empty()) {
    if (error.empty()) {
      error = timed_out ? "sent no endpoint event within http.timeout"
                        : "closed its SSE stream before the endpoint event";
    }
    stream_.reset();
    co_return false;
  }
  auto me = self();
  net::co_spawn(
      http_.executor(), [me]() { return me->read_loop(); }, net::detached);
  start_delivery();
  co_return true;
}

net::awaitable<void> sse_channel::read_loop() {
  sse::event ev;
  event_status st = event_status::end;
  while ((st = co_await stream_->next_event(ev)) == event_status::event) {
    if (ev.type == "endpoint") {
      std::string error;
      if (std::string target = resolve_endpoint(ev.data, error); !target.empty()) {
        endpoint_ = std::move(target);
      }
      continue;
    }
    if ((ev.type.empty() || ev.type == "message") && !ev.data.empty()) {
      co_await queue(std::move(ev.data));
    }
  }
  std::string reason = stopping_ ? "the session ended"
                       : st == event_status::end
                           ? "closed its SSE stream"
                           : (stream_->failure() == backend_failure::protocol
                                  ? "sent an SSE event over limits.max_backend_message"
                                  : "lost its SSE stream");
  end(std::move(reason));
}

bool sse_channel::send(std::string_view message) {
  if (stopping_ || source_finished()) {
    return false;
  }
  if (outbox_bytes_ + message.size() > http_.max_message()) {
    return false;
  }
  outbox_bytes_ += message.size();
  outbox_.emplace_back(message);
  if (!writing_) {
    writing_ = true;
    auto me = self();
    net::co_spawn(
        http_.executor(), [me]() { return me->write_loop(); }, net::detached);
  }
  return true;
}

net::awaitable<void> sse_channel::write_loop() {
  // One POST at a time, in order: the backend sees messages as the client sent them.
  while (!outbox_.empty() && !stopping_) {
    // Taken off the queue before the POST: stop() may clear the queue while it is in flight.
    std::string message = std::move(outbox_.front());
    outbox_.pop_front();
    outbox_bytes_ -= message.size();
    backend_request post;
    post.body = message;
    post.target = endpoint_;
    post.tenant = tenant_;
    auto [failure, exchange] = co_await http_.send(post);
    std::string ignored;
    if (exchange) {
      failure = co_await exchange->read_body(ignored);
    }
    unsigned status = exchange ? exchange->status() : 0;
    if (failure != backend_failure::none || status / 100 != 2) {
      log_.warn("legacy SSE backend refused a message",
                {{"backend", http_.name()},
                 {"session", session_id()},
                 {"status", std::to_string(status)},
                 {"body", std::string_view(ignored).substr(0, 200)}});
      if (status == 404) {
        // The backend forgot the session: nothing more can reach it.
        end("no longer knows the session (HTTP 404 on its message endpoint)");
        if (stream_) {
          stream_->cancel();
        }
        break;
      }
    }
  }
  writing_ = false;
}

void sse_channel::end(std::string reason) { source_done(std::move(reason)); }

void sse_channel::stop() {
  if (stopping_) {
    return;
  }
  stopping_ = true;
  detach_listener();
  outbox_.clear();
  outbox_bytes_ = 0;
  if (stream_) {
    stream_->cancel();  // closes the backend's session with its stream
  }
}

}  // namespace mcpgw
