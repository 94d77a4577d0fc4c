// The configured filters in order, and the one place that runs their hooks: requests in config
// order, responses and completions in reverse (the first filter sees a request first and its
// answer last). Built once by the server; sessions and requests share it.
#pragma once

#include "mcpgw/filter.h"

#include <memory>
#include <optional>
#include <vector>

namespace mcpgw {

class filter_chain {
 public:
  filter_chain() = default;
  explicit filter_chain(std::vector<std::unique_ptr<filter>> filters)
      : filters_(std::move(filters)) {}

  // Creates the filters config.filters lists.
  static std::shared_ptr<const filter_chain> build(const filter_services& services);

  bool empty() const { return filters_.empty(); }

  // The hooks that decide at once (filter::try_http, try_request), in order, without a
  // coroutine: the chain's answer, or std::nullopt with `next` at the first filter that must
  // wait; run_http(ctx, next) / run_request(ctx, next) go on from there.
  std::optional<filter_status> try_http(http_context& ctx, std::size_t& next) const;
  std::optional<filter_status> try_request(message_context& ctx, std::size_t& next) const;
  // Every hook from filter `from` on, waiting where one must.
  net::awaitable<filter_status> run_http(http_context& ctx, std::size_t from = 0) const;
  net::awaitable<filter_status> run_request(message_context& ctx, std::size_t from = 0) const;
  void run_response(response_context& ctx) const;
  void run_complete(const request_record& record) const;
  std::vector<filter::endpoint> endpoints() const;
  void start() const;
  void stop() const;

 private:
  std::vector<std::unique_ptr<filter>> filters_;
};

// Completion records reused per thread: a guard takes one, and it comes back (reset, its
// strings' buffers kept) when the guard lets it go. A few hundred are kept per thread.
namespace record_pool {
struct give_back {
  void operator()(request_record* record) const;
};
std::unique_ptr<request_record, give_back> take();
std::size_t kept_now();  // tests
}  // namespace record_pool

// Calls the chain's completion hooks exactly once for one request: when it is destroyed (the
// request left the session's books, or the session ended). Inactive without a chain, so a
// gateway without filters pays nothing.
class completion_guard {
 public:
  completion_guard() = default;
  completion_guard(std::shared_ptr<const filter_chain> chain, request_record&& record)
      : chain_(std::move(chain)), record_(record_pool::take()) {
    *record_ = std::move(record);
  }
  // With an empty record, filled in place through fill() (a record has a dozen strings: a
  // move costs more than the few fields it then gets).
  explicit completion_guard(std::shared_ptr<const filter_chain> chain)
      : chain_(std::move(chain)), record_(record_pool::take()) {}
  completion_guard(completion_guard&& other) noexcept
      : chain_(std::move(other.chain_)),
        record_(std::move(other.record_)),
        forwarded_(other.forwarded_) {
    other.chain_.reset();
  }
  completion_guard& operator=(completion_guard&& other) noexcept {
    if (this != &other) {
      fire();
      chain_ = std::move(other.chain_);
      record_ = std::move(other.record_);
      forwarded_ = other.forwarded_;
      other.chain_.reset();
    }
    return *this;
  }
  completion_guard(const completion_guard&) = delete;
  completion_guard& operator=(const completion_guard&) = delete;
  ~completion_guard() { fire(); }

  bool active() const { return chain_ != nullptr; }
  // Records how the request ended; the last word before the guard fires wins, except that a
  // cancellation stays a cancellation.
  void set_outcome(request_outcome outcome, int code = 0, std::string_view message = {});
  const request_record* record() const { return chain_ ? &*record_ : nullptr; }
  request_record& fill() { return *record_; }  // not on a default-constructed guard
  // The answer the client gets: its size, and whether it is a failed tool call.
  // The request left for the backend, and the backend answered (or failed): the time between
  // is the request's backend time.
  void forwarded() {
    if (chain_) {
      forwarded_ = std::chrono::steady_clock::now();
    }
  }
  void backend_done() {
    if (chain_ && forwarded_.time_since_epoch().count() != 0 &&
        record_->backend_elapsed.count() == 0) {
      record_->backend_elapsed = std::chrono::steady_clock::now() - forwarded_;
    }
  }
  // The W3C trace context the request travels under (see observability/trace.h).
  void set_request_id(std::string_view id) {
    if (chain_) {
      record_->request_id.assign(id);
    }
  }
  void set_trace(std::string_view trace_id, std::string_view parent_id, std::string_view span_id) {
    if (chain_) {
      record_->trace_id.assign(trace_id);
      record_->parent_id.assign(parent_id);
      record_->span_id.assign(span_id);
    }
  }
  void set_answer(std::size_t bytes, bool tool_error) {
    if (chain_) {
      record_->response_bytes = bytes;
      record_->tool_error = tool_error;
    }
  }
  void keep_body(std::string_view body) {
    if (chain_) {
      record_->request_body.assign(body);
    }
  }
  void fire();

 private:
  std::shared_ptr<const filter_chain> chain_;
  // On the heap: a guard moves from filter to session to in-flight entry, and a pointer
  // moves for free where a record's fifteen strings would each be moved.
  std::unique_ptr<request_record, record_pool::give_back> record_;
  std::chrono::steady_clock::time_point forwarded_{};
};

}  // namespace mcpgw
